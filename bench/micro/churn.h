/*
 * churn.h -- the random-replacement loop of churn/100k (working_set.cc) and
 * threads/churn (threads.cc): a working set of `objects` live blocks with
 * the CPython-like size mix; each timed step frees one random block and
 * allocates a replacement of a random size.  The slots and sizes are
 * drawn before timing from `seed`, `plan_length` steps (a power of two)
 * replayed in a ring, so the timed loop spends its time in the allocator.
 * Every new block gets its first bytes written, as a program would.
 */
#ifndef PYM_BENCH_CHURN_H
#define PYM_BENCH_CHURN_H

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "../size_mix.h"

inline void bench_churn(benchmark::State &state, uint64_t seed, size_t objects, size_t plan_length)
{
    bench_rng_t rng = bench_rng_seeded(seed);
    std::vector<void *> live(objects);
    for (void *&slot : live) {
        size_t size = bench_size_cpython_mix(&rng);
        slot = std::malloc(size);
        std::memset(slot, 0xAB, size < 16 ? size : 16);
    }
    struct step { uint32_t slot; uint32_t size; };
    std::vector<step> plan(plan_length);
    for (step &s : plan) {
        s.slot = static_cast<uint32_t>(bench_rng_below(&rng, objects));
        s.size = static_cast<uint32_t>(bench_size_cpython_mix(&rng));
    }

    size_t next = 0;
    for (auto _ : state) {
        const step &s = plan[next];
        next = (next + 1) & (plan_length - 1);
        std::free(live[s.slot]);
        char *p = static_cast<char *>(std::malloc(s.size));
        p[0] = 1;
        live[s.slot] = p;
    }
    state.SetItemsProcessed(state.iterations());
    for (void *p : live)
        std::free(p);
}

#endif
