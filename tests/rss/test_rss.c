/*
 * test_rss.c -- memory goes back to the kernel, measured as the RSS that
 * `top` shows (/proc/self/statm), never as time.
 *
 *   all_freed_from_threads: 4 threads allocate PYM_RSS_MIB MiB in 64-byte
 *     objects, then free all of them in one random order (so most frees are
 *     cross-thread) and exit; RSS must come back within RSS_SLACK of where it
 *     started, without pym_trim/malloc_trim.
 *   every_other_freed: freeing every other object frees no pool, so RSS stays;
 *     trimming must not crash and the statistics must account for every byte
 *     of every arena, with the free blocks showing where the memory is.
 *   arena_churn: allocating and freeing one arena's worth of blocks in a loop
 *     must not map or purge memory on every round.
 *
 * Only the pym_* API is used, so the test means the same in override and
 * --disable-override builds.  The pointer array comes from mmap, outside
 * both allocators, and is touched before the baseline is taken.  Threads
 * move from phase to phase on barriers; alarm() turns a hang into a failure.
 * Sanitizer builds use 64 MiB instead of 512; under TSan the RSS is printed
 * but not asserted (see PYM_RSS_ASSERT).
 */
#define _GNU_SOURCE 1   /* MAP_ANONYMOUS, pthread barriers */

#include <malloc.h>
#include <pthread.h>
#include <time.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"   /* PYM_ARENA_SIZE */
#include "pymalloc.h"
#include "../common/resident.h"

#ifndef PYM_RSS_MIB
#define PYM_RSS_MIB 512            /* sanitizer builds compile with 64 */
#endif
/* TSan keeps shadow memory for every byte ever touched, and does not drop
 * it when we give pages back: TSan builds compile with PYM_RSS_ASSERT=0,
 * print the RSS, and assert only what the statistics say. */
#ifndef PYM_RSS_ASSERT
#define PYM_RSS_ASSERT 1
#endif
#define assert_rss(condition) \
    do { if (PYM_RSS_ASSERT) assert_true(condition); } while (0)
#define MIB ((size_t)1 << 20)
#define OBJECT_SIZE 64
#define THREADS 4
#define RSS_SLACK (16 * MIB)
#define BLOCKS_PER_ARENA (PYM_ARENA_SIZE / OBJECT_SIZE)
#define CHURN_ROUNDS 1000
#define CHURN_ALLOWANCE 4          /* arenas mapped or madvise calls, whole loop */
#define TEST_TIMEOUT_SECONDS 240

static void *map_touched(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 0, bytes);
    return p;
}

static uint64_t rng_next(uint64_t *state)   /* xorshift64*, fixed seed: reproducible */
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void shuffle(void **items, size_t n, uint64_t seed)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(rng_next(&seed) % (i + 1));
        void *t = items[i];
        items[i] = items[j];
        items[j] = t;
    }
}

static void print_rss(const char *what, size_t rss, size_t baseline)
{
    printf("# %-34s RSS %7.1f MiB (%+.1f MiB)\n", what, (double)rss / MIB,
           ((double)rss - (double)baseline) / MIB);
}

/* Every byte of every current arena is in exactly one state. */
static void assert_stats_add_up(const pym_stats_t *s)
{
    assert_int_equal(s->bytes_in_use + s->bytes_free_blocks + s->bytes_pool_waste +
                         s->bytes_free_pools,
                     s->arenas_current * PYM_ARENA_SIZE);
}

/* ---- (a) everything freed, in random order, by four threads -------------- */

struct shared_run {
    void **objects;
    size_t count;
    pthread_barrier_t allocated, shuffled, freed;
};

struct worker {
    struct shared_run *run;
    unsigned index;
    size_t bad_contents;   /* objects whose stamp did not survive */
    size_t failed_mallocs;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared_run *run = w->run;
    size_t share = run->count / THREADS;
    size_t first = w->index * share;

    for (size_t i = first; i < first + share; i++) {
        uintptr_t *object = pym_malloc(OBJECT_SIZE);
        if (object == NULL) {
            w->failed_mallocs++;
            continue;
        }
        object[0] = (uintptr_t)object;   /* a stamp checked at free: contents survive */
        object[OBJECT_SIZE / sizeof(uintptr_t) - 1] = ~(uintptr_t)object;
        run->objects[i] = object;
    }
    pthread_barrier_wait(&run->allocated);
    pthread_barrier_wait(&run->shuffled);   /* main shuffled the whole array */
    for (size_t i = first; i < first + share; i++) {
        uintptr_t *object = run->objects[i];
        if (object == NULL)
            continue;
        if (object[0] != (uintptr_t)object || object[OBJECT_SIZE / sizeof(uintptr_t) - 1] != ~(uintptr_t)object)
            w->bad_contents++;
        pym_free(object);
    }
    /* Every remote free has been pushed before any owner exits. */
    pthread_barrier_wait(&run->freed);
    return NULL;
}

static void all_freed_from_threads(void **state)
{
    (void)state;
    struct shared_run run;
    run.count = PYM_RSS_MIB * MIB / OBJECT_SIZE;
    size_t array_bytes = run.count * sizeof(void *);
    run.objects = map_touched(array_bytes);
    pthread_barrier_init(&run.allocated, NULL, THREADS + 1);
    pthread_barrier_init(&run.shuffled, NULL, THREADS + 1);
    pthread_barrier_init(&run.freed, NULL, THREADS);

    size_t baseline = resident_bytes();
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        workers[t] = (struct worker){.run = &run, .index = t};
        assert_int_equal(pthread_create(&threads[t], NULL, worker_main, &workers[t]), 0);
    }
    pthread_barrier_wait(&run.allocated);
    size_t peak = resident_bytes();
    pym_stats_t at_peak;
    pym_stats_get(&at_peak);
    shuffle(run.objects, run.count, 0x9E3779B97F4A7C15ULL);
    pthread_barrier_wait(&run.shuffled);
    for (unsigned t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    size_t at_exit = resident_bytes();
    /* The memory contract (purge by decay): freed pages stay resident for
     * PYMALLOC_PURGE_DELAY_MS (250 ms) in case they are wanted again, then
     * go back, with no trim call.  Light activity meanwhile -- a
     * malloc/free pair every 10 ms, as a program that goes on working --
     * and a deadline of two seconds (the one-second target is measured by
     * the benchmark, on a quiet machine). */
    size_t after = at_exit;
    unsigned waited_ms = 0;
    pym_stats_t s;
    pym_stats_get(&s);
    while ((after > baseline + RSS_SLACK || s.arenas_current * PYM_ARENA_SIZE > RSS_SLACK) &&
           waited_ms < 2000) {
        pym_free(pym_malloc(OBJECT_SIZE));
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        waited_ms += 10;
        after = resident_bytes();
        pym_stats_get(&s);
    }

    print_rss("baseline", baseline, baseline);
    print_rss("allocated", peak, baseline);
    print_rss("freed, threads exited (no trim)", at_exit, baseline);
    printf("# after %u ms of light activity\n", waited_ms);
    print_rss("decayed", after, baseline);
    printf("# arenas current %zu (peak %zu), madvise calls %llu, remote frees %llu\n",
           s.arenas_current, at_peak.arenas_current, (unsigned long long)s.madvise_calls,
           (unsigned long long)s.remote_frees);

    for (unsigned t = 0; t < THREADS; t++) {
        assert_int_equal(workers[t].failed_mallocs, 0);
        assert_int_equal(workers[t].bad_contents, 0);
    }
    /* The measurement itself works: the objects were resident. */
    assert_rss(peak >= baseline + run.count * OBJECT_SIZE / 100 * 95);
    assert_true(at_peak.bytes_in_use >= run.count * OBJECT_SIZE);
    assert_true(s.remote_frees > 0);
    /* The property: it all went back without anyone asking. */
    assert_rss(after <= baseline + RSS_SLACK);
    assert_true(s.arenas_current * PYM_ARENA_SIZE <= RSS_SLACK);
    assert_stats_add_up(&s);

    pthread_barrier_destroy(&run.allocated);
    pthread_barrier_destroy(&run.shuffled);
    pthread_barrier_destroy(&run.freed);
    munmap(run.objects, array_bytes);
}

/* ---- (b) every other object freed: fragmentation, explained --------------- */

static void every_other_freed(void **state)
{
    (void)state;
    size_t count = PYM_RSS_MIB / 4 * MIB / OBJECT_SIZE;
    size_t total = count * OBJECT_SIZE;
    size_t array_bytes = count * sizeof(void *);
    void **objects = map_touched(array_bytes);
    /* Freed memory an earlier test left resident (up to a batch of empty
     * arenas and the dirty pools) would be reused without raising RSS. */
    pym_trim();
    size_t baseline = resident_bytes();

    for (size_t i = 0; i < count; i++) {
        objects[i] = pym_malloc(OBJECT_SIZE);
        assert_non_null(objects[i]);
        memset(objects[i], (int)(i & 0xff), OBJECT_SIZE);
    }
    size_t full = resident_bytes();
    for (size_t i = 0; i < count; i += 2)
        pym_free(objects[i]);
    size_t half = resident_bytes();
    pym_stats_t s;
    pym_stats_get(&s);
    int trimmed = pym_trim();
    int libc_trimmed = malloc_trim(0);
    size_t after_trim = resident_bytes();

    print_rss("baseline", baseline, baseline);
    print_rss("allocated", full, baseline);
    print_rss("every other freed", half, baseline);
    print_rss("then pym_trim + malloc_trim", after_trim, baseline);
    printf("# pym_trim %d, malloc_trim %d; in use %zu, free blocks %zu, pool waste %zu, "
           "free pools %zu, arenas %zu\n", trimmed, libc_trimmed, s.bytes_in_use,
           s.bytes_free_blocks, s.bytes_pool_waste, s.bytes_free_pools, s.arenas_current);

    assert_rss(full >= baseline + total / 100 * 95);
    /* No pool emptied, so no page could go back: RSS stays. */
    assert_rss(half >= baseline + total / 100 * 90);
    assert_rss(after_trim >= baseline + total / 100 * 90);
    /* ... and the statistics say where it is. */
    assert_stats_add_up(&s);
    assert_true(s.bytes_in_use >= total / 2);
    assert_true(s.bytes_free_blocks >= total / 2);
    assert_true(s.bytes_free_blocks <= total / 2 + 2 * MIB);

    /* The survivors are intact, and once they go too the memory follows. */
    for (size_t i = 1; i < count; i += 2) {
        const unsigned char *bytes = objects[i];
        assert_int_equal(bytes[0], i & 0xff);
        assert_int_equal(bytes[OBJECT_SIZE - 1], i & 0xff);
        pym_free(objects[i]);
    }
    pym_trim();
    size_t end = resident_bytes();
    pym_stats_get(&s);
    print_rss("rest freed, pym_trim", end, baseline);
    assert_rss(end <= baseline + RSS_SLACK);
    assert_true(s.arenas_current * PYM_ARENA_SIZE <= RSS_SLACK);
    munmap(objects, array_bytes);
}

/* ---- (c) one arena's worth, allocated and freed in a loop ----------------- */

static void arena_churn(void **state)
{
    (void)state;
    void **objects = map_touched(BLOCKS_PER_ARENA * sizeof(void *));
    pym_stats_t before, after;
    pym_stats_get(&before);
    for (int round = 0; round < CHURN_ROUNDS; round++) {
        for (size_t i = 0; i < BLOCKS_PER_ARENA; i++) {
            objects[i] = pym_malloc(OBJECT_SIZE);
            assert_non_null(objects[i]);
        }
        for (size_t i = 0; i < BLOCKS_PER_ARENA; i++)
            pym_free(objects[i]);
    }
    pym_stats_get(&after);
    uint64_t mapped = after.arenas_allocated - before.arenas_allocated;
    uint64_t madvised = after.madvise_calls - before.madvise_calls;
    printf("# %d rounds of %zu blocks: %llu arenas taken into use, %llu madvise calls\n",
           CHURN_ROUNDS, BLOCKS_PER_ARENA, (unsigned long long)mapped, (unsigned long long)madvised);
    assert_true(mapped <= CHURN_ALLOWANCE);
    assert_true(madvised <= CHURN_ALLOWANCE);
    munmap(objects, BLOCKS_PER_ARENA * sizeof(void *));
}

int main(void)
{
    alarm(TEST_TIMEOUT_SECONDS);   /* a hang fails (SIGALRM) instead of blocking make check */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_freed_from_threads),
        cmocka_unit_test(every_other_freed),
        cmocka_unit_test(arena_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
