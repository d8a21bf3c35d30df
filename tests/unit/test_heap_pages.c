/* Unit test: every thread's heap lies on pages that hold no other heap
 * (heap.c: the hardware prefetchers fetch lines within a page, and a
 * neighbour heap's lines fetched into another core slowed its owner's
 * writes).
 *
 *   heaps_of_live_threads_share_no_page: THREADS threads each take a heap
 *     (one pym_malloc) and wait at a barrier, so that none exits and has
 *     its heap adopted; each heap starts a page, and no two heaps (the
 *     main thread's included) come closer than the pages one spans.
 *
 * alarm() turns a hang at the barrier into a failure. */
#include "unit.h"

#include <pthread.h>
#include <unistd.h>

enum { THREADS = 5, TIMEOUT_SECONDS = 60 };

static pthread_barrier_t all_have_heaps;
static pym_heap_t *heaps[THREADS + 1];

static void *take_a_heap(void *arg)
{
    unsigned index = (unsigned)(uintptr_t)arg;
    void *block = pym_malloc(16);
    heaps[index] = pymi_tls.heap;
    pthread_barrier_wait(&all_have_heaps);   /* the main thread reads heaps[] */
    pthread_barrier_wait(&all_have_heaps);   /* ... and is done with them */
    pym_free(block);
    return NULL;
}

static void heaps_of_live_threads_share_no_page(void **state)
{
    (void)state;
    alarm(TIMEOUT_SECONDS);
    void *mine = pym_malloc(16);
    heaps[THREADS] = pymi_tls.heap;
    assert_int_equal(pthread_barrier_init(&all_have_heaps, NULL, THREADS + 1), 0);
    pthread_t threads[THREADS];
    for (unsigned i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, take_a_heap, (void *)(uintptr_t)i), 0);
    pthread_barrier_wait(&all_have_heaps);

    const uintptr_t span = (sizeof(pym_heap_t) + PYM_OS_PAGE_SIZE - 1) & ~(uintptr_t)(PYM_OS_PAGE_SIZE - 1);
    for (unsigned i = 0; i <= THREADS; i++) {
        assert_true(heaps[i] != NULL && heaps[i] != &pymi_null_heap);
        assert_int_equal((uintptr_t)heaps[i] % PYM_OS_PAGE_SIZE, 0);
        for (unsigned j = 0; j < i; j++) {
            uintptr_t a = (uintptr_t)heaps[i], b = (uintptr_t)heaps[j];
            assert_true(a != b);
            assert_true((a > b ? a - b : b - a) >= span);
        }
    }

    pthread_barrier_wait(&all_have_heaps);
    for (unsigned i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&all_have_heaps);
    pym_free(mine);
    alarm(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(heaps_of_live_threads_share_no_page),
    };
    return cmocka_run_group_tests_name("heap_pages", tests, NULL, NULL);
}
