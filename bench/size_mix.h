/*
 * size_mix.h -- the request sizes and the random numbers every benchmark
 * shares, so that the micro benchmarks (C++), the RSS probe and the
 * instruction counter (C) ask the allocators for exactly the same things.
 *
 * The "CPython-like" mix imitates what a running CPython interpreter asks
 * its object allocator for (ints and floats at 24-32 B, tuples, short
 * strings and small lists at 40-80 B, dict keys and frames up to 256 B)
 * plus the occasional large buffer that obmalloc forwards to the system
 * allocator:
 *
 *     8..16 B    5 %        65..128 B   18 %        257..1024 B  1.5 %
 *    17..32 B   20 %       129..256 B   10 %      1025..8192 B   0.5 %
 *    33..64 B   45 %
 *
 * Everything is static inline and header-only; the generator is
 * xorshift64*, seeded explicitly, so runs are reproducible.
 */
#ifndef PYM_BENCH_SIZE_MIX_H
#define PYM_BENCH_SIZE_MIX_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_rng {
    uint64_t state;
} bench_rng_t;

static inline bench_rng_t bench_rng_seeded(uint64_t seed)
{
    bench_rng_t rng;
    rng.state = seed ? seed : 0x9E3779B97F4A7C15ULL;
    return rng;
}

static inline uint64_t bench_rng_next(bench_rng_t *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, bound); bound > 0.  The modulo bias is irrelevant here. */
static inline uint64_t bench_rng_below(bench_rng_t *rng, uint64_t bound)
{
    return (bench_rng_next(rng) >> 11) % bound;
}

/* Uniform in [lo, hi]. */
static inline size_t bench_rng_between(bench_rng_t *rng, size_t lo, size_t hi)
{
    return lo + (size_t)bench_rng_below(rng, (uint64_t)(hi - lo + 1));
}

/* One request size from the CPython-like mix described above. */
static inline size_t bench_size_cpython_mix(bench_rng_t *rng)
{
    uint64_t per_mille = bench_rng_below(rng, 1000);
    if (per_mille < 50)
        return bench_rng_between(rng, 8, 16);
    if (per_mille < 250)
        return bench_rng_between(rng, 17, 32);
    if (per_mille < 700)
        return bench_rng_between(rng, 33, 64);
    if (per_mille < 880)
        return bench_rng_between(rng, 65, 128);
    if (per_mille < 980)
        return bench_rng_between(rng, 129, 256);
    if (per_mille < 995)
        return bench_rng_between(rng, 257, 1024);
    return bench_rng_between(rng, 1025, 8192);
}

/*
 * One request size of the "server" mix (xthread_mixed.h): the buffers,
 * messages and records a threaded server passes between its threads,
 * 16 B to 4 KiB, weighted toward small:
 *
 *    16..64 B   55 %      257..1024 B   11 %
 *   65..256 B   30 %     1025..4096 B    4 %
 */
static inline size_t bench_size_server_mix(bench_rng_t *rng)
{
    uint64_t per_mille = bench_rng_below(rng, 1000);
    if (per_mille < 550)
        return bench_rng_between(rng, 16, 64);
    if (per_mille < 850)
        return bench_rng_between(rng, 65, 256);
    if (per_mille < 960)
        return bench_rng_between(rng, 257, 1024);
    return bench_rng_between(rng, 1025, 4096);
}

/* One request size uniform in 8..256 B: the "small objects only" mix. */
static inline size_t bench_size_small_uniform(bench_rng_t *rng)
{
    return bench_rng_between(rng, 8, 256);
}

#endif /* PYM_BENCH_SIZE_MIX_H */
