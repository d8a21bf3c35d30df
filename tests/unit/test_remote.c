/* Unit tests of remote.c: frees from a thread that does not own the pool.
 *
 *   pushes_and_takes: blocks pushed by another thread come back to the
 *     owner in one take, all of them, onto the pool's free list, and the
 *     pool's count follows.
 *   a_full_pool_is_queued_once: the owner's FULL flag makes the first remote
 *     free queue the pool on the reclaim stack, and only the first.  Run
 *     twice: first while the test has started no thread (the flag goes in
 *     with a plain store, and the thread started next must see it), then
 *     with threads about (the CAS).
 *   frees_into_three_pools_in_turn_are_pushed_in_three_batches: a thread
 *     that frees the blocks of three other live threads, one of each in
 *     turn, holds them all back (one outbox each, heap.c) until it trims,
 *     then pushes each pool's 8 with one CAS.
 *   a_remote_free_leaves_the_owners_line_alone: the push writes only the
 *     pool's shared half, never the descriptor its owner's malloc and free
 *     use.
 *   a_block_carved_since_the_last_publish_is_freed_by_another_thread: the
 *     shared half's block-start limit lags the owner's; a block above it is
 *     checked against the owner's, and accepted.
 *   a_block_never_carved_freed_by_another_thread_is_reported: a block
 *     start beyond what malloc carved, freed by another thread, ends in
 *     the one-line diagnostic.
 *   a_double_push_is_a_double_free: the same block pushed twice in a row
 *     (a double free by another thread) ends in the one-line diagnostic,
 *     instead of a self-linked list the owner would walk forever.
 *   a_cycle_in_the_remote_list_is_caught: a block pushed twice further
 *     apart (a, b, a) ends the same way, before malloc hands it out twice.
 */
#include "unit.h"

#include "child.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/single_threaded.h>

struct push_job {
    pym_pool_t *pool;
    void **blocks;
    unsigned count;
};

static void *push_from_thread(void *arg)
{
    struct push_job *job = arg;
    for (unsigned i = 0; i < job->count; i++)
        pym_free(job->blocks[i]);   /* not the owner: a remote push */
    return NULL;
}

static void run_pushes(void **blocks, unsigned count)
{
    struct push_job job = {NULL, blocks, count};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, push_from_thread, &job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
}

/* n blocks of `size` bytes, all of one pool: returns it. */
static pym_pool_t *malloc_in_one_pool(void **blocks, unsigned n, size_t size)
{
    for (unsigned i = 0; i < n; i++)
        blocks[i] = pym_malloc(size);
    pym_pool_t *pool = pymi_pool_of(blocks[0]);
    for (unsigned i = 1; i < n; i++)
        assert_ptr_equal(pymi_pool_of(blocks[i]), pool);
    return pool;
}

static void pushes_and_takes(void **state)
{
    (void)state;
    void *blocks[8];
    pym_pool_t *pool = malloc_in_one_pool(blocks, 8, 96);
    unsigned used = pool->used;
    run_pushes(blocks, 8);
    assert_true(atomic_load(&pymi_pool_remote(pool)->remote) != 0);
    assert_int_equal(pool->used, used);   /* not the owner's count yet */
    assert_int_equal(pymi_remote_take(pool), 8);
    assert_int_equal(pool->used, used - 8);
    assert_int_equal(atomic_load(&pymi_pool_remote(pool)->remote), 0);
    for (int i = 0; i < 8; i++)
        assert_true(on_free_list(pool, blocks[i]));
    assert_int_equal(pymi_remote_take(pool), 0);
}

static void check_full_pool_is_queued_once(void)
{
    unsigned c = pymi_size_to_class(112);
    void *blocks[64 * POOL_SCALE];
    unsigned n = 0;
    blocks[n++] = pym_malloc(112);
    pym_pool_t *pool = pymi_pool_of(blocks[0]);
    pym_heap_t *heap = pymi_tls.heap;
    while (heap->pools[c] == pool && n < 64 * POOL_SCALE)
        blocks[n++] = pym_malloc(112);   /* the last one retired the pool */
    assert_int_equal(pool->state, PYM_POOL_FULL);
    assert_int_equal(atomic_load(&pymi_pool_remote(pool)->remote), PYM_REMOTE_FULL);
    run_pushes(blocks, 2);
    assert_ptr_equal(atomic_load(&heap->reclaim), pool);
    assert_int_equal(pymi_pool_remote(pool)->reclaim_next, 0);   /* alone on the stack */
    pymi_remote_reclaim_batched(heap, 1, NULL);
    assert_null(atomic_load(&heap->reclaim));
    assert_int_equal(pool->state, PYM_POOL_LINKED);
    for (unsigned i = 2; i < n; i++)
        pym_free(blocks[i]);
}

/* First in the group: the process has had no second thread yet. */
static void a_full_pool_is_queued_once_before_any_thread(void **state)
{
    (void)state;
    if (!__libc_single_threaded)
        skip();   /* a runtime (a sanitizer's) started a thread before main */
    check_full_pool_is_queued_once();
    assert_false(__libc_single_threaded);   /* run_pushes started the first */
}

static void a_full_pool_is_queued_once(void **state)
{
    (void)state;
    check_full_pool_is_queued_once();
}

enum { OWNERS = 3, OWNED = 8 };

struct owner_job {
    void *blocks[OWNED];
    pthread_barrier_t *allocated, *checked;
};

/* Allocates OWNED blocks of 208 B (a class no other test here uses, so
 * that an adopted heap has no pool of it yet) and stays alive, its heap
 * active, until the main thread has checked. */
static void *allocate_and_wait(void *arg)
{
    struct owner_job *job = arg;
    for (unsigned i = 0; i < OWNED; i++)
        job->blocks[i] = pym_malloc(208);
    pthread_barrier_wait(job->allocated);
    pthread_barrier_wait(job->checked);
    return NULL;
}

/* The count of blocks on a pool's remote list (remote.c: the word's high
 * 32 bits). */
static unsigned remote_count_of(const pym_pool_t *pool)
{
    return (unsigned)(atomic_load(&pymi_pool_remote(pool)->remote) >> 32);
}

static void frees_into_three_pools_in_turn_are_pushed_in_three_batches(void **state)
{
    (void)state;
    pym_free(pym_malloc(16));   /* this thread's heap, for its outboxes */
    pthread_barrier_t allocated, checked;
    pthread_barrier_init(&allocated, NULL, OWNERS + 1);
    pthread_barrier_init(&checked, NULL, OWNERS + 1);
    struct owner_job jobs[OWNERS];
    pthread_t threads[OWNERS];
    for (unsigned t = 0; t < OWNERS; t++) {
        jobs[t].allocated = &allocated;
        jobs[t].checked = &checked;
        assert_int_equal(pthread_create(&threads[t], NULL, allocate_and_wait, &jobs[t]), 0);
    }
    pthread_barrier_wait(&allocated);
    pym_pool_t *pools[OWNERS];
    for (unsigned t = 0; t < OWNERS; t++) {
        pools[t] = pymi_pool_of(jobs[t].blocks[0]);
        for (unsigned i = 1; i < OWNED; i++)
            assert_ptr_equal(pymi_pool_of(jobs[t].blocks[i]), pools[t]);
    }
    for (unsigned i = 0; i < OWNED; i++)
        for (unsigned t = 0; t < OWNERS; t++)
            pym_free(jobs[t].blocks[i]);
    for (unsigned t = 0; t < OWNERS; t++)
        assert_int_equal(remote_count_of(pools[t]), 0);   /* all still in our outboxes */
    pym_trim();
    for (unsigned t = 0; t < OWNERS; t++)
        assert_int_equal(remote_count_of(pools[t]), OWNED);
    pthread_barrier_wait(&checked);
    for (unsigned t = 0; t < OWNERS; t++)
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    pthread_barrier_destroy(&allocated);
    pthread_barrier_destroy(&checked);
}

/* The pool's descriptor is its owner's line: a free from another thread
 * reads and writes only the shared half (types.h), so that neither side
 * waits for a line the other has just written. */
static void a_remote_free_leaves_the_owners_line_alone(void **state)
{
    (void)state;
    void *blocks[8];
    pym_pool_t *pool = malloc_in_one_pool(blocks, 8, 176);
    pym_pool_t before;
    memcpy(&before, pool, sizeof before);
    run_pushes(blocks, 8);
    assert_int_equal(remote_count_of(pool), 8);
    assert_memory_equal(pool, &before, sizeof before);
    assert_int_equal(pymi_remote_take(pool), 8);
}

/* A fresh pool has published no block-start limit yet (the owner does
 * when it takes its remote list or marks it FULL): another thread's free
 * of a block carved since then is checked against the owner's limit, and
 * accepted. */
static void a_block_carved_since_the_last_publish_is_freed_by_another_thread(void **state)
{
    (void)state;
    void *blocks[3];
    for (int i = 0; i < 3; i++)
        blocks[i] = pym_malloc(240);
    pym_pool_t *pool = pymi_pool_of(blocks[2]);
    const pym_pool_shared_t *shared = pymi_pool_shared(pool);
    uint32_t scaled = (uint32_t)((uintptr_t)blocks[2] & PYM_POOL_MASK) * shared->start_magic;
    assert_true(scaled > atomic_load(&shared->start_limit));   /* not published: the owner's limit decides */
    unsigned before = remote_count_of(pool);
    run_pushes(&blocks[2], 1);
    assert_int_equal(remote_count_of(pool), before + 1);
    pymi_remote_take(pool);
    pym_free(blocks[0]);
    pym_free(blocks[1]);
}

/* Runs `fn` in a child (tests/common/child.h); asserts it died of SIGABRT
 * within the deadline (a hang fails instead of blocking the suite) and
 * said `phrase`. */
static void expect_abort(int (*fn)(void *), const char *phrase)
{
    child_result_t r;
    assert_int_equal(child_run(fn, NULL, 10000, &r), 0);
    if (!child_killed_by(&r, SIGABRT))
        fail_msg("expected SIGABRT (timed out: %d, status 0x%x); stderr: %s", r.timed_out,
                 (unsigned)r.status, r.stderr_text);
    if (strstr(r.stderr_text, phrase) == NULL)
        fail_msg("stderr lacks \"%s\": %s", phrase, r.stderr_text);
}

static int double_push(void *arg)
{
    (void)arg;
    void *block = pym_malloc(48);
    void *twice[2] = {block, block};
    run_pushes(twice, 2);
    return 0;
}

static void a_double_push_is_a_double_free(void **state)
{
    (void)state;
    expect_abort(double_push, "double free");
}

/* Another thread frees a block start of a pool that malloc has not carved
 * that far: the same diagnostic as the owner's free of it. */
static int free_uncarved_from_thread(void *arg)
{
    (void)arg;
    char *first = pym_malloc(224);
    void *uncarved = first + 4 * 224;
    run_pushes(&uncarved, 1);
    return 0;
}

static void a_block_never_carved_freed_by_another_thread_is_reported(void **state)
{
    (void)state;
    expect_abort(free_uncarved_from_thread, "block not allocated");
}

/* The links of a remote list are checked only by the hardened build. */
#if PYM_HARDENING
static int cycle_in_list(void *arg)
{
    (void)arg;
    void *a = pym_malloc(48), *b = pym_malloc(48);
    void *blocks[3] = {a, b, a};
    run_pushes(blocks, 3);   /* a -> b -> a: a cycle the owner must not walk forever */
    pym_pool_t *pool = pymi_pool_of(a);
    void *seen[2 * 256];
    for (unsigned n = 0; n < 2u * pymi_class_capacity(pool->sizeclass); n++) {
        seen[n] = pym_malloc(48);
        for (unsigned i = 0; i < n; i++)
            if (seen[i] == seen[n])
                return 1;   /* handed out twice */
    }
    return 0;   /* returning at all fails the test */
}

static void a_cycle_in_the_remote_list_is_caught(void **state)
{
    (void)state;
    expect_abort(cycle_in_list, "double free");
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_full_pool_is_queued_once_before_any_thread),
        cmocka_unit_test(pushes_and_takes),
        cmocka_unit_test(a_full_pool_is_queued_once),
        cmocka_unit_test(frees_into_three_pools_in_turn_are_pushed_in_three_batches),
        cmocka_unit_test(a_remote_free_leaves_the_owners_line_alone),
        cmocka_unit_test(a_block_carved_since_the_last_publish_is_freed_by_another_thread),
        cmocka_unit_test(a_double_push_is_a_double_free),
        cmocka_unit_test(a_block_never_carved_freed_by_another_thread_is_reported),
#if PYM_HARDENING
        cmocka_unit_test(a_cycle_in_the_remote_list_is_caught),
#endif
    };
    return cmocka_run_group_tests_name("remote", tests, NULL, NULL);
}
