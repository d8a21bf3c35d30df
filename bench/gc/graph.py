"""The graph of bench_collect.c as Python objects, collected by CPython's
gc.collect(): a chain of N/2 nodes kept alive and N/8 garbage cycles of 4.
Usage: python3 graph.py [N] [repeats]
Prints: "cpython N objects: best T s, X ns/object, R unreachable"."""
import gc
import sys
import time


class Pair:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = None
        self.b = None


def build(n):
    head = None
    for _ in range(n // 2):
        p = Pair()
        p.a = head
        head = p
    for _ in range(n // 8):
        ring = [Pair(), Pair(), Pair(), Pair()]
        for j in range(4):
            ring[j].a = ring[(j + 1) % 4]
    return head


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    gc.disable()
    gc.collect()
    best, unreachable = float("inf"), 0
    for _ in range(repeats):
        head = build(n)
        t0 = time.perf_counter()
        unreachable = gc.collect()
        best = min(best, time.perf_counter() - t0)
        del head
        # The chain is freed by refcounting (CPython's trashcan keeps it flat).
    print("cpython %d objects: best %.4f s, %.2f ns/object, %d unreachable"
          % (n, best, best * 1e9 / n, unreachable))


main()
