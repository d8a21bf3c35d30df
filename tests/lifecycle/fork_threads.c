/*
 * fork_threads.c -- fork while other threads allocate and free, 100 times.
 *
 * Four worker threads churn blocks of every small size (and some forwarded
 * ones) for as long as the test runs, so forks land at arbitrary points of
 * their malloc and free paths, including slow paths holding the global lock.
 * Each child must be able to allocate at once: it checks and frees the
 * blocks the workers left published before the forks (their threads do not
 * exist in the child, so these are frees into abandoned heaps), allocates,
 * checks and frees a few thousand blocks on its own and from a new thread,
 * and exits 0 through exit() so atexit handlers and destructors run too.
 * Under ThreadSanitizer, which forbids threads in such a child and makes
 * each fork slow, the child stays single-threaded and there are 10 forks.
 *
 * A deadlock in a child (a lock held across fork and never released) fails
 * the test: the parent waits with a deadline (tests/common/child.c) and
 * kills the child.  alarm() bounds the whole program as a last resort.
 */
#define _GNU_SOURCE 1
#ifdef HAVE_CONFIG_H
#include "pym_build_config.h"   /* PYM_OVERRIDE */
#endif
#include "child.h"
#include "cmocka_all.h"
#include "pattern.h"
#include "pymalloc.h"
#include "sanitizer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef UNDER_ASAN
/* LeakSanitizer would scan every child at exit (half a second each), and
 * pymalloc's blocks are invisible to it anyway. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}
#endif

#ifdef UNDER_TSAN
#define CHILD_STARTS_A_THREAD 0
#define FORKS 10
#else
#define CHILD_STARTS_A_THREAD 1
#define FORKS 100
#endif

#define WORKERS 4
#define KEEPSAKES 64            /* blocks each worker publishes for the children */
#define WORKER_SLOTS 128
#define CHILD_BLOCKS 3000
#define CHILD_TIMEOUT_MS 20000
#define PROGRAM_TIMEOUT_S 300

typedef struct keepsake {
    unsigned char *ptr;
    size_t size;
    uint64_t seed;
} keepsake_t;

static keepsake_t keepsakes[WORKERS][KEEPSAKES];
static pthread_barrier_t keepsakes_published;
static atomic_int stop_workers;
static atomic_long worker_failures;

/* Mostly small sizes, one in eight forwarded to the C library -- except
 * under AddressSanitizer and ThreadSanitizer, whose allocators (what a
 * --disable-override build forwards to) are not fork-safe: a child that asks
 * them for memory can deadlock on a lock a worker held (seen with gcc 12's
 * libtsan: the child waits in SizeClassAllocator64::GetFromAllocator).
 * There every size is a pool size. */
static size_t size_for(uint64_t r)
{
#if !defined(UNDER_ASAN) && !defined(UNDER_TSAN)
    if (r % 8 == 0)
        return 257 + (size_t)(r >> 8) % 2000;
#endif
    return (size_t)(r >> 8) % 257;
}

static void *worker_run(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t rng = (uint64_t)id + 1;
    for (int i = 0; i < KEEPSAKES; i++) {
        keepsake_t *k = &keepsakes[id][i];
        k->size = size_for(rng = pattern_mix(rng));
        k->ptr = pym_malloc(k->size);
        if (k->ptr == NULL) {
            atomic_fetch_add(&worker_failures, 1);
            continue;
        }
        k->seed = pattern_seed(k->ptr, (uint64_t)id);
        pattern_fill(k->ptr, k->size, k->seed);
    }
    pthread_barrier_wait(&keepsakes_published);

    keepsake_t slots[WORKER_SLOTS] = { { 0 } };
    while (!atomic_load_explicit(&stop_workers, memory_order_relaxed)) {
        rng = pattern_mix(rng);
        keepsake_t *slot = &slots[rng % WORKER_SLOTS];
        if (slot->ptr != NULL) {
            if (!pattern_intact(slot->ptr, slot->size, slot->seed))
                atomic_fetch_add(&worker_failures, 1);
            pym_free(slot->ptr);
        }
        slot->size = size_for(rng >> 7);
        slot->ptr = (rng & 64) ? pym_calloc(1, slot->size) : pym_malloc(slot->size);
        if (slot->ptr == NULL) {
            atomic_fetch_add(&worker_failures, 1);
            continue;
        }
        slot->seed = pattern_seed(slot->ptr, rng);
        pattern_fill(slot->ptr, slot->size, slot->seed);
    }
    for (int i = 0; i < WORKER_SLOTS; i++)
        pym_free(slots[i].ptr);
    return NULL;
}

/* Allocates, checks and frees count blocks of mixed sizes; returns failures. */
static int churn(int count, uint64_t salt)
{
    enum { LIVE = 256 };
    keepsake_t live[LIVE] = { { 0 } };
    int failures = 0;
    uint64_t rng = salt;
    for (int i = 0; i < count; i++) {
        keepsake_t *slot = &live[i % LIVE];
        if (slot->ptr != NULL) {
            failures += !pattern_intact(slot->ptr, slot->size, slot->seed);
            pym_free(slot->ptr);
        }
        rng = pattern_mix(rng);
        slot->size = size_for(rng);
        slot->ptr = pym_malloc(slot->size);
        if (slot->ptr == NULL)
            return failures + 1;
        slot->seed = pattern_seed(slot->ptr, salt);
        pattern_fill(slot->ptr, slot->size, slot->seed);
    }
    for (int i = 0; i < LIVE; i++) {
        if (live[i].ptr != NULL) {
            failures += !pattern_intact(live[i].ptr, live[i].size, live[i].seed);
            pym_free(live[i].ptr);
        }
    }
#ifdef PYM_OVERRIDE
    /* The libc names must work in the child too, and be ours. */
    void *block = malloc(48);
    failures += block == NULL || !pym_owns(block);
    free(block);
#endif
    return failures;
}

static void *child_thread_run(void *arg)
{
    return (void *)(intptr_t)churn(CHILD_BLOCKS / 2, (uint64_t)(intptr_t)arg);
}

/* The child: free the workers' keepsakes, allocate on its own and from a new
 * thread.  Its exit status is the number of failures (0 on success). */
static int child_body(void *arg)
{
    int fork_number = (int)(intptr_t)arg;
    int failures = 0;
    for (int w = 0; w < WORKERS; w++) {
        for (int i = 0; i < KEEPSAKES; i++) {
            keepsake_t *k = &keepsakes[w][i];
            failures += k->ptr == NULL || !pattern_intact(k->ptr, k->size, k->seed);
            pym_free(k->ptr);
        }
    }
    failures += churn(CHILD_BLOCKS, (uint64_t)fork_number);
    if (CHILD_STARTS_A_THREAD) {
        pthread_t thread;
        void *thread_failures = NULL;
        if (pthread_create(&thread, NULL, child_thread_run, (void *)(intptr_t)fork_number) != 0
            || pthread_join(thread, &thread_failures) != 0)
            return 100;
        failures += (int)(intptr_t)thread_failures;
    } else {
        failures += (int)(intptr_t)child_thread_run((void *)(intptr_t)fork_number);
    }
    return failures > 99 ? 99 : failures;
}

static void hundred_forks_while_four_threads_allocate(void **state)
{
    (void)state;
    pthread_t workers[WORKERS];
    pthread_barrier_init(&keepsakes_published, NULL, WORKERS + 1);
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&workers[i], NULL, worker_run, (void *)(intptr_t)i), 0);
    pthread_barrier_wait(&keepsakes_published);

    int failed_forks = 0;
    for (int n = 0; n < FORKS; n++) {
        child_result_t result;
        assert_int_equal(child_run(child_body, (void *)(intptr_t)n, CHILD_TIMEOUT_MS, &result), 0);
        if (result.timed_out)
            fail_msg("fork %d: the child did not finish in %d ms (deadlock?)", n, CHILD_TIMEOUT_MS);
        if (!child_exited_with(&result, 0)) {
            print_error("fork %d: child status 0x%x, stderr: %s\n", n, result.status,
                        result.stderr_text);
            failed_forks++;
        }
    }
    atomic_store(&stop_workers, 1);
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_join(workers[i], NULL), 0);
    pthread_barrier_destroy(&keepsakes_published);
    assert_int_equal(failed_forks, 0);
    assert_int_equal(atomic_load(&worker_failures), 0);

    /* The parent's copies of the keepsakes are untouched by the children. */
    for (int w = 0; w < WORKERS; w++) {
        for (int i = 0; i < KEEPSAKES; i++) {
            keepsake_t *k = &keepsakes[w][i];
            assert_non_null(k->ptr);
            assert_true(pattern_intact(k->ptr, k->size, k->seed));
            pym_free(k->ptr);
        }
    }
}

int main(void)
{
    alarm(PROGRAM_TIMEOUT_S);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hundred_forks_while_four_threads_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
