#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_api (tests/fuzz/corpus/): a few programs
that reach every operation, so the fuzzer starts from real coverage.
The opcodes are fuzz_api.c's enum op, in order."""
import os
import sys

(MALLOC, CALLOC, REALLOC, MEMALIGN, ALIGNED_ALLOC, POSIX_MEMALIGN, FREE, FREE_SIZED,
 FREE_REMOTE, MALLOC_REMOTE, USABLE, HELPER_RESTART, IMPOSSIBLE, REALLOCARRAY, TRIM) = range(15)


def size(n):
    """The two size bytes fuzz_api's take_size decodes to n (or close)."""
    if n < 256:
        return bytes([0, n])
    if n < 512:
        return bytes([0x80, n - 256])
    q = n // 4
    return bytes([0xC0 | (q >> 8), q & 0xFF])


seeds = {
    # one block of every size class, then freed in an interleaved order
    "every-class": b"".join(bytes([MALLOC]) + size(n) for n in range(0, 264, 8))
                   + b"".join(bytes([FREE, i * 7]) for i in range(33)),
    # remote frees and blocks from the helper's heap, with helper restarts
    "remote": b"".join(bytes([MALLOC]) + size(16 * (i % 16) + 1) for i in range(40))
              + b"".join(bytes([FREE_REMOTE, i * 3]) for i in range(20))
              + b"".join(bytes([MALLOC_REMOTE]) + size(24 + i) for i in range(20))
              + bytes([HELPER_RESTART])
              + b"".join(bytes([FREE, i]) for i in range(20)) + bytes([TRIM]),
    # aligned requests, including bad alignments
    "aligned": b"".join(bytes([op, a]) + size(n)
                        for op in (MEMALIGN, ALIGNED_ALLOC, POSIX_MEMALIGN)
                        for a in (0, 3, 4, 5, 6, 10, 13, 0x83, 0x90)
                        for n in (1, 100, 300)),
    # realloc chains across the small/large edge, reallocarray, usable size
    "realloc": bytes([MALLOC]) + size(10)
               + b"".join(bytes([REALLOC, 0]) + size(n) for n in (20, 200, 256, 257, 4000, 100, 0))
               + bytes([MALLOC]) + size(30) + bytes([REALLOCARRAY, 0]) + size(600)
               + bytes([USABLE, 0, FREE_SIZED, 0]),
    # calloc of every shape, impossible requests
    "calloc": b"".join(bytes([CALLOC, c]) + size(n) for c in (0, 1, 3, 16) for n in (0, 64, 400, 2048))
              + bytes([IMPOSSIBLE, 1, 2, 3]),
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
