"""The loop of bench_gen0.c in CPython: per iteration a parent/child
2-cycle and a temporary pair (3 containers), default thresholds; the time
spent in automatic collections (gc.callbacks start/stop) per container.
Usage: python3 gen0.py [N containers] [repeats]
Prints: "cpython gen0 N containers: C collections, X ns/container"."""
import gc
import sys
import time


class Pair:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = None
        self.b = None


state = {"t0": 0.0, "total": 0.0, "n": 0}


def timer(phase, info):
    if phase == "start":
        state["t0"] = time.perf_counter()
    else:
        state["total"] += time.perf_counter() - state["t0"]
        state["n"] += 1


def run(iterations):
    state["total"], state["n"] = 0.0, 0
    for _ in range(iterations):
        parent = Pair()
        child = Pair()
        parent.a = child
        child.b = parent
        tmp = Pair()
        tmp.a = parent
        del tmp, parent, child
    return state["total"] * 1e9 / (3 * iterations)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    gc.collect()
    gc.set_threshold(700, 10, 10)
    gc.enable()
    gc.callbacks.append(timer)
    best, ncoll = float("inf"), 0
    for _ in range(repeats):
        t = run(n // 3)
        if t < best:
            best, ncoll = t, state["n"]
    print("cpython gen0 %d containers: %d collections, %.2f ns/container" % (n, ncoll, best))


main()
