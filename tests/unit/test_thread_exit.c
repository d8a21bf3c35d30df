/* Unit tests: pools that many frees emptied go back to their arenas in
 * batches, under one acquisition of the arena lock per PYM_RETURN_BATCH
 * pools, and none is lost on the way.
 *
 *   a_batch_is_returned_under_one_lock: pymi_arena_return_pools puts pools
 *     of several arenas, in any order, back in their arenas' masks.
 *   an_exiting_thread_returns_every_pool_in_batches: a thread's blocks are
 *     all freed by another thread (remote frees), then it exits; every one
 *     of its pools is back in an arena, with at most one lock round per
 *     PYM_RETURN_BATCH pools, and its empty arenas went back to the kernel.
 *   a_trim_by_the_owner_returns_its_pools_in_batches: the same through
 *     pym_trim on the owner thread, which stays alive.
 *
 * Threads move from phase to phase on barriers; alarm() turns a hang into
 * a failure. */
#include "unit.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

enum {
    BLOCK_SIZE = 64,
    BLOCKS_PER_POOL = PYM_POOL_SIZE / BLOCK_SIZE,   /* no header in the pool */
    ARENAS = 10,
    POOLS = ARENAS * 64 + 13,          /* the last batch is a partial one */
    BLOCKS = POOLS * BLOCKS_PER_POOL,
    TIMEOUT_SECONDS = 120,
};

/* Pools of our class that some heap holds (not free in an arena). */
static size_t pools_held(unsigned sizeclass)
{
    pym_stats_t s;
    pym_stats_get(&s);
    const pym_class_stats_t *c = &s.classes[sizeclass];
    return c->pools_used + c->pools_full + c->pools_empty;
}

static void assert_stats_add_up(void)
{
    pym_stats_t s;
    pym_stats_get(&s);
    assert_int_equal(s.bytes_in_use + s.bytes_free_blocks + s.bytes_pool_waste + s.bytes_free_pools,
                     s.arenas_current * PYM_ARENA_SIZE);
}

static void a_batch_is_returned_under_one_lock(void **state)
{
    (void)state;
    enum { N = PYM_RETURN_BATCH };
    assert_true(pymi_init());
    pym_pool_t *pools[N];
    assert_int_equal(pymi_arena_take_pools(&pymi_tls.heap->home, pools, N), N);
    for (unsigned i = 0; i < N; i++) {
        pymi_pool_init(pools[i], &pymi_null_heap, 0);
        pymi_pool_set_owner(pools[i], NULL);   /* the pool layer's part of giving it back */
    }
    /* Reverse the order and interleave halves: the batch is not sorted. */
    for (unsigned i = 0; i < N / 2; i++) {
        pym_pool_t *t = pools[i];
        pools[i] = pools[N - 1 - i];
        pools[N - 1 - i] = t;
    }
    for (unsigned i = 0; i + 2 < N; i += 3) {
        pym_pool_t *t = pools[i];
        pools[i] = pools[i + 2];
        pools[i + 2] = t;
    }
    pym_pool_t *kept[N];
    memcpy(kept, pools, sizeof pools);
    struct pymi_arena_counters before, after;
    pymi_arena_counters(&before);
    pymi_arena_return_pools(pools, N);
    pymi_arena_counters(&after);
    assert_int_equal(after.return_rounds - before.return_rounds, 1);
    assert_int_equal(after.pools_returned - before.pools_returned, N);
    for (unsigned i = 0; i < N; i++) {
        const char *page = pymi_pool_page(kept[i]);
        const pym_arena_t *arena = pymi_arena_of(page);
        unsigned index = (unsigned)(((uintptr_t)page >> PYM_POOL_SHIFT) & (PYM_POOLS_PER_ARENA - 1));
        if (arena->in_use)   /* a whole arena may have gone back already */
            assert_true(arena->free_mask & ((uint64_t)1 << index));
    }
    assert_stats_add_up();
}

struct owner_run {
    void **blocks;
    int trim_before_exit;
    pthread_barrier_t allocated, freed;
    struct pymi_arena_counters before_trim, after_trim;
};

static void *owner_main(void *arg)
{
    struct owner_run *run = arg;
    for (size_t i = 0; i < BLOCKS; i++)
        run->blocks[i] = pym_malloc(BLOCK_SIZE);
    pthread_barrier_wait(&run->allocated);
    pthread_barrier_wait(&run->freed);   /* every block was freed remotely */
    if (run->trim_before_exit) {
        pymi_arena_counters(&run->before_trim);
        pym_trim();
        pymi_arena_counters(&run->after_trim);
    }
    return NULL;
}

/* Runs an owner thread whose blocks main frees remotely; returns the arena
 * counters around the join, and the owner's own around its trim. */
static void run_owner(struct owner_run *run, struct pymi_arena_counters *before,
                      struct pymi_arena_counters *after)
{
    run->blocks = malloc(BLOCKS * sizeof(void *));
    assert_non_null(run->blocks);
    pthread_barrier_init(&run->allocated, NULL, 2);
    pthread_barrier_init(&run->freed, NULL, 2);
    pthread_t owner;
    assert_int_equal(pthread_create(&owner, NULL, owner_main, run), 0);
    pthread_barrier_wait(&run->allocated);
    for (size_t i = 0; i < BLOCKS; i++) {
        assert_non_null(run->blocks[i]);
        assert_true(pym_owns(run->blocks[i]));
        pym_free(run->blocks[i]);
    }
    pymi_arena_counters(before);
    pthread_barrier_wait(&run->freed);
    assert_int_equal(pthread_join(owner, NULL), 0);
    pymi_arena_counters(after);
    pthread_barrier_destroy(&run->allocated);
    pthread_barrier_destroy(&run->freed);
    free(run->blocks);
}

/* The pools came back whole, a lock round per batch, empty arenas reclaimed. */
static void assert_returned_in_batches(const struct pymi_arena_counters *before,
                                       const struct pymi_arena_counters *after,
                                       size_t held_before)
{
    unsigned sizeclass = pymi_size_to_class(BLOCK_SIZE);
    assert_int_equal(pools_held(sizeclass), held_before);
    uint64_t returned = after->pools_returned - before->pools_returned;
    uint64_t rounds = after->return_rounds - before->return_rounds;
    print_message("# %llu pools returned in %llu lock rounds, %llu madvise calls, %llu arenas reclaimed\n",
                  (unsigned long long)returned, (unsigned long long)rounds,
                  (unsigned long long)(after->madvise_calls - before->madvise_calls),
                  (unsigned long long)(after->reclaimed - before->reclaimed));
    assert_true(returned >= POOLS);
    /* One round per full batch, plus the last partial one and a few single
     * returns of the thread's other classes; one per pool would be POOLS. */
    assert_true(rounds <= (returned + PYM_RETURN_BATCH - 1) / PYM_RETURN_BATCH + 4);
    /* All but a spare and the last to empty (it waits for the allocator's
     * next activity) went back: with no decay window, every purge pass
     * gives back its partial reclaim batch too. */
    assert_true(after->reclaimed - before->reclaimed >= ARENAS - 2);
    assert_stats_add_up();
}

static void an_exiting_thread_returns_every_pool_in_batches(void **state)
{
    (void)state;
    pym_trim();
    size_t held = pools_held(pymi_size_to_class(BLOCK_SIZE));
    struct owner_run run = {.trim_before_exit = 0};
    struct pymi_arena_counters before, after;
    run_owner(&run, &before, &after);
    assert_returned_in_batches(&before, &after, held);
    pym_stats_t s;
    pym_stats_get(&s);
    assert_int_equal(s.heaps_abandoned, 0);   /* the exited heap holds no pool */
}

static void a_trim_by_the_owner_returns_its_pools_in_batches(void **state)
{
    (void)state;
    pym_trim();
    size_t held = pools_held(pymi_size_to_class(BLOCK_SIZE));
    struct owner_run run = {.trim_before_exit = 1};
    struct pymi_arena_counters before, after;
    run_owner(&run, &before, &after);
    /* Everything went back during the owner's trim, before it exited. */
    assert_true(run.after_trim.pools_returned - run.before_trim.pools_returned >= POOLS);
    assert_returned_in_batches(&run.before_trim, &run.after_trim, held);
}

int main(void)
{
    /* These tests are about what goes back, not when: no decay window. */
    if (pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 0) != 0)
        return 1;
    alarm(TIMEOUT_SECONDS);   /* SIGALRM's default action ends a hung run */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_batch_is_returned_under_one_lock),
        cmocka_unit_test(an_exiting_thread_returns_every_pool_in_batches),
        cmocka_unit_test(a_trim_by_the_owner_returns_its_pools_in_batches),
    };
    return cmocka_run_group_tests_name("thread_exit", tests, NULL, NULL);
}
