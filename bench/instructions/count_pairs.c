/*
 * count_pairs.c -- instructions per malloc+free pair, counted by callgrind.
 *
 *   valgrind --tool=callgrind count_pairs N
 *
 * For each workload the same loop runs twice through function pointers:
 * once with the real malloc/free (whatever allocator is preloaded), once
 * with a stub pair (malloc returns a static block, free returns at once).
 * Callgrind client requests dump the instruction count of each loop to its
 * own file, so startup and setup never enter the figure; bench/run.py then
 * reports (Ir(real) - Ir(stub)) / N: the instructions the allocator spends
 * per pair beyond a call that does nothing (the stub itself costs 3
 * instructions per pair: mov+ret and ret).
 *
 * Workloads: pair/16, pair/64, pair/256, pair/1024 (malloc then free of one
 * size, after a warm-up) and churn/10k (free a random block of a 10 000
 * block working set and allocate a replacement from the CPython-like mix;
 * the plan is precomputed) and batch/random (N blocks of 8..256 B, the
 * micro benchmark's batch mix, allocated, then freed in a shuffled order:
 * every pool of the cycle is taken and given back, so what a pool's life
 * costs shows here and not in the pairs; one cycle as warm-up, one
 * counted).  churn runs last: its stub loop overwrites the
 * working set with the stub block, which is never freed.
 *
 * Without the valgrind headers the program still builds and runs; it then
 * prints no counts.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../size_mix.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND_H 1
#endif
#endif
#ifndef HAVE_CALLGRIND_H
#define CALLGRIND_DUMP_STATS_AT(label) ((void)(label))
#define CALLGRIND_ZERO_STATS ((void)0)
#endif

typedef void *(*malloc_fn_t)(size_t);
typedef void (*free_fn_t)(void *);

static _Alignas(16) char stub_block[8192];

__attribute__((noinline)) static void *stub_malloc(size_t size)
{
    (void)size;
    return stub_block;
}

__attribute__((noinline)) static void stub_free(void *p)
{
    (void)p;
}

/* Volatile so the compiler cannot see which pair a loop calls. */
static malloc_fn_t volatile chosen_malloc;
static free_fn_t volatile chosen_free;
static void *volatile sink;

__attribute__((noinline)) static void pairs_loop(size_t size, unsigned long n)
{
    malloc_fn_t do_malloc = chosen_malloc;
    free_fn_t do_free = chosen_free;
    for (unsigned long i = 0; i < n; i++) {
        void *p = do_malloc(size);
        sink = p;
        do_free(p);
    }
}

struct churn_step {
    unsigned slot;
    unsigned size;
};

__attribute__((noinline)) static void churn_loop(void **live, const struct churn_step *plan,
                                                 unsigned long n)
{
    malloc_fn_t do_malloc = chosen_malloc;
    free_fn_t do_free = chosen_free;
    for (unsigned long i = 0; i < n; i++) {
        do_free(live[plan[i].slot]);
        char *p = do_malloc(plan[i].size);
        p[0] = 1;
        live[plan[i].slot] = p;
    }
}

__attribute__((noinline)) static void batch_loop(char **blocks, const unsigned *sizes,
                                                 const unsigned *order, unsigned long n)
{
    malloc_fn_t do_malloc = chosen_malloc;
    free_fn_t do_free = chosen_free;
    for (unsigned long i = 0; i < n; i++) {
        char *p = do_malloc(sizes[i]);
        p[0] = 1;
        blocks[i] = p;
    }
    for (unsigned long i = 0; i < n; i++)
        do_free(blocks[order[i]]);
}

static void use_real(void)
{
    chosen_malloc = malloc;
    chosen_free = free;
}

static void use_stub(void)
{
    chosen_malloc = stub_malloc;
    chosen_free = stub_free;
}

static void dump(const char *which, const char *workload)
{
    char label[96];
    snprintf(label, sizeof label, "%s %s", which, workload);
    CALLGRIND_DUMP_STATS_AT(label);
}

static void count_pairs(size_t size, unsigned long n)
{
    char workload[32];
    snprintf(workload, sizeof workload, "pair/%zu", size);
    use_real();
    pairs_loop(size, n / 10 + 1); /* warm-up: the first pool/page is made here */
    dump("setup", workload);
    pairs_loop(size, n);
    dump("real", workload);
    use_stub();
    pairs_loop(size, n);
    dump("stub", workload);
}

static void *table_alloc(size_t bytes)
{
    void *table = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (table == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return table;
}

enum { CHURN_OBJECTS = 10000 };

static void count_churn(unsigned long n)
{
    bench_rng_t rng = bench_rng_seeded(99);
    void **live = table_alloc(CHURN_OBJECTS * sizeof *live);
    struct churn_step *plan = table_alloc(n * sizeof *plan);
    for (unsigned long i = 0; i < n; i++) {
        plan[i].slot = (unsigned)bench_rng_below(&rng, CHURN_OBJECTS);
        plan[i].size = (unsigned)bench_size_cpython_mix(&rng);
    }
    use_real();
    for (size_t i = 0; i < CHURN_OBJECTS; i++)
        live[i] = malloc(bench_size_cpython_mix(&rng));
    churn_loop(live, plan, n / 10 + 1); /* warm-up: reach the steady state */
    dump("setup", "churn/10k");
    churn_loop(live, plan, n);
    dump("real", "churn/10k");
    use_stub();
    churn_loop(live, plan, n);
    dump("stub", "churn/10k");
}

static void count_batch(unsigned long n)
{
    bench_rng_t rng = bench_rng_seeded(42);
    char **blocks = table_alloc(n * sizeof *blocks);
    unsigned *sizes = table_alloc(n * sizeof *sizes);
    unsigned *order = table_alloc(n * sizeof *order);
    for (unsigned long i = 0; i < n; i++) {
        sizes[i] = (unsigned)bench_size_small_uniform(&rng);
        order[i] = (unsigned)i;
    }
    for (unsigned long i = n - 1; i > 0; i--) {
        unsigned long j = bench_rng_below(&rng, i + 1);
        unsigned t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    use_real();
    batch_loop(blocks, sizes, order, n); /* warm-up: the pools exist and went back once */
    dump("setup", "batch/random");
    batch_loop(blocks, sizes, order, n);
    dump("real", "batch/random");
    use_stub();
    batch_loop(blocks, sizes, order, n);
    dump("stub", "batch/random");
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
    if (n == 0) {
        fprintf(stderr, "usage: valgrind --tool=callgrind count_pairs N\n");
        return 2;
    }
    CALLGRIND_ZERO_STATS;
    static const size_t sizes[] = {16, 64, 256, 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        count_pairs(sizes[i], n);
    count_batch(n);
    count_churn(n);
    printf("count_pairs: %lu pairs per workload\n", n);
    return 0;
}
