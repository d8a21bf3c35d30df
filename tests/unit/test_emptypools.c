/* Unit tests: a heap's stack of empty pools (src/emptypools.c) -- an emptied
 * pool serves the next fresh pool of any class without the arena, the stack
 * stays bounded, its pools go back to the arena when left unused for the
 * purge delay (those below its low-water mark; the ones in use stay), on
 * trim, and are not kept at all with no purge delay. */
#include "unit.h"
#include "child.h"

#include <signal.h>
#include <string.h>
#include <time.h>

enum { SIZE_A = 64, SIZE_B = 208 };

static pym_heap_t *my_heap(void)
{
    pym_free(pym_malloc(16));   /* this thread has a heap from here on */
    pym_heap_t *heap = pymi_tls.heap;
    assert_true(heap != &pymi_null_heap);
    return heap;
}

static struct pymi_arena_counters arena_counters(void)
{
    struct pymi_arena_counters c;
    pymi_arena_counters(&c);
    return c;
}

/* Fills `pools` whole pools of the class of `size`: blocks[] gets their
 * blocks, in order. */
static void **fill_pools(size_t size, unsigned pools, size_t *count)
{
    size_t per_pool = pymi_class_capacity((unsigned)pymi_size_to_class(size));
    *count = per_pool * pools;
    void **blocks = malloc(*count * sizeof(void *));
    assert_non_null(blocks);
    for (size_t i = 0; i < *count; i++) {
        blocks[i] = pym_malloc(size);
        assert_non_null(blocks[i]);
    }
    return blocks;
}

static void free_blocks(void **blocks, size_t count)
{
    for (size_t i = 0; i < count; i++)
        pym_free(blocks[i]);
    free(blocks);
}

/* With the purge delay given and nothing kept from before (trim), fills
 * `pools` pools' worth of class A and frees them: this thread's heap, its
 * emptied pools on the stack (unless the delay is 0). */
static pym_heap_t *empty_some_pools(long delay_ms, unsigned pools)
{
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, delay_ms), 0);
    pym_trim();
    pym_heap_t *heap = my_heap();
    size_t count;
    void **blocks = fill_pools(SIZE_A, pools, &count);
    free_blocks(blocks, count);
    return heap;
}

static int on_stack(const pym_heap_t *heap, const pym_pool_t *pool)
{
    for (unsigned i = 0; i < heap->empty_count; i++)
        if (pymi_heap_stacked_pool(heap, i) == pool)
            return 1;
    return 0;
}

static pym_pool_t *top_of(const pym_heap_t *heap)
{
    return pymi_heap_stacked_pool(heap, heap->empty_count - 1u);
}

static void an_emptied_pool_is_the_next_fresh_pool_of_another_class(void **state)
{
    (void)state;
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 60000), 0);
    pym_trim();
    pym_heap_t *heap = my_heap();
    unsigned b_class = (unsigned)pymi_size_to_class(SIZE_B);
    void **b_all = malloc((pymi_class_capacity(b_class) + 1) * sizeof(void *));   /* before the stack is looked at */
    assert_non_null(b_all);
    /* Four pools' worth of class A, emptied in order: of the pools they
     * took, one becomes the class's spare, the last stays its current
     * pool, and those between go on the stack, without owner. */
    size_t count;
    void **blocks = fill_pools(SIZE_A, 4, &count);
    pym_pool_t *pools[8];
    unsigned npools = 0;
    for (size_t i = 0; i < count; i++) {
        pym_pool_t *pool = pymi_pool_of(blocks[i]);
        if (npools == 0 || pools[npools - 1] != pool) {
            assert_true(npools < 8);
            pools[npools++] = pool;
        }
    }
    free_blocks(blocks, count);
    unsigned stacked_ours = 0;
    int top_is_ours = 0;
    for (unsigned i = 0; i < npools; i++) {
        if (!on_stack(heap, pools[i]))
            continue;
        assert_null(pymi_pool_owner(pools[i]));
        stacked_ours++;
        top_is_ours |= top_of(heap) == pools[i];
    }
    assert_true(stacked_ours >= 2);
    assert_true(top_is_ours);
    pym_pool_t *top = top_of(heap);

    /* Class B's next fresh pool is the stack's top. */
    pym_pool_t *b_current = heap->pools[b_class];
    uint16_t stacked = heap->empty_count;
    void *b;
    size_t b_blocks = 0;
    do {
        b = b_all[b_blocks++] = pym_malloc(SIZE_B);
        assert_non_null(b);
    } while (pymi_pool_of(b) == b_current);
    assert_ptr_equal(pymi_pool_of(b), top);
    assert_ptr_equal(pymi_pool_owner(top), heap);
    assert_int_equal(heap->empty_count, stacked - 1);
    assert_int_equal(pym_usable_size(b), SIZE_B);
    memset(b, 0xb5, SIZE_B);
    free_blocks(b_all, b_blocks);
}

static void the_stack_is_bounded_and_its_oldest_go_back_together(void **state)
{
    (void)state;
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 60000), 0);
    pym_trim();
    pym_heap_t *heap = my_heap();
    enum { POOLS = 3 * PYM_HEAP_EMPTY_POOLS };
    size_t count;
    void **blocks = fill_pools(SIZE_A, POOLS, &count);
    struct pymi_arena_counters before = arena_counters();
    free_blocks(blocks, count);
    struct pymi_arena_counters after = arena_counters();
    assert_true(heap->empty_count <= PYM_HEAP_EMPTY_POOLS);
    /* Every emptied pool is on the stack, the class's spare or current
     * pool, or back in its arena; the arena got them PYM_EMPTY_RETURN a
     * time. */
    uint64_t returned = after.pools_returned - before.pools_returned;
    uint64_t rounds = after.return_rounds - before.return_rounds;
    assert_true(returned + heap->empty_count + 2 >= POOLS);
    assert_true(rounds > 0);
    assert_true(rounds <= returned / PYM_EMPTY_RETURN);
    /* Statistics count the stack's pools as free pools; every byte of the
     * arenas is in one place. */
    pym_stats_t s;
    pym_stats_get(&s);
    assert_true(s.bytes_free_pools_resident >= (size_t)heap->empty_count * PYM_POOL_SIZE);
    assert_int_equal(s.bytes_in_use + s.bytes_free_blocks + s.bytes_pool_waste + s.bytes_free_pools,
                     s.arenas_current * PYM_ARENA_SIZE);
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void a_stack_left_unused_for_the_delay_goes_back_to_the_arena(void **state)
{
    (void)state;
    enum { DELAY_MS = 100 };
    pym_heap_t *heap = empty_some_pools(DELAY_MS, 8);
    assert_true(heap->empty_count > 0);
    int64_t start = now_ms();
    /* Pairs, which need no fresh pool: the stack ages at the decay tick. */
    while (heap->empty_count > 0 && now_ms() - start < 20 * DELAY_MS)
        pym_free(pym_malloc(SIZE_A));
    int64_t waited = now_ms() - start;
    print_message("# the stack went back after %lld ms (delay %d ms)\n", (long long)waited, DELAY_MS);
    assert_int_equal(heap->empty_count, 0);
    assert_true(waited >= DELAY_MS - 10);   /* not before the delay (coarse clock) */
}

static void trim_sends_the_stack_back_and_purges_it(void **state)
{
    (void)state;
    pym_heap_t *heap = empty_some_pools(60000, 8);
    assert_true(heap->empty_count > 0);
    pym_trim();
    assert_int_equal(heap->empty_count, 0);
    pym_stats_t s;
    pym_stats_get(&s);
    assert_int_equal(s.bytes_free_pools_resident, 0);
}

static void no_purge_delay_keeps_nothing(void **state)
{
    (void)state;
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 0), 0);
    pym_trim();
    pym_heap_t *heap = my_heap();
    size_t count;
    void **blocks = fill_pools(SIZE_A, 8, &count);
    assert_int_equal(heap->empty_count, 0);   /* nor pools taken ahead */
    struct pymi_arena_counters before = arena_counters();
    free_blocks(blocks, count);
    struct pymi_arena_counters after = arena_counters();
    assert_int_equal(heap->empty_count, 0);
    /* The six pools neither current nor spare went back, one by one. */
    assert_int_equal(after.pools_returned - before.pools_returned, 6);
    assert_int_equal(after.return_rounds - before.return_rounds, 6);
}

static int free_again(void *block)
{
    child_no_core_dump();
    pym_free(block);
    return 0;
}

static void a_free_into_a_pool_on_the_stack_is_reported(void **state)
{
    (void)state;
    pym_heap_t *heap = empty_some_pools(60000, 4);
    assert_true(heap->empty_count > 0);
    void *block = (void *)pymi_pool_page(top_of(heap));   /* a block once */
    child_result_t result;
    assert_int_equal(child_run(free_again, block, 10000, &result), 0);
    assert_true(child_killed_by(&result, SIGABRT));
    static const char *const words[] = {"free(", "block not allocated", "holds no blocks", NULL};
    assert_true(child_stderr_line_has(&result, words));
}

/* Aging steps driven by hand, a delay apart on the allocator's own clock:
 * the pools no fresh pool needed between two steps go back, the one taken
 * and given back in between stays, and it goes at the step after. */
static void pools_below_the_low_water_mark_go_back_and_a_used_one_stays(void **state)
{
    (void)state;
    enum { DELAY_MS = 100 };
    pym_heap_t *heap = empty_some_pools(60000, 8);
    unsigned stacked = heap->empty_count;
    assert_true(stacked >= 3);
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, DELAY_MS), 0);
    int64_t t0 = pymi_now_ms();
    heap->empty_aged_ms = t0 - DELAY_MS;   /* whatever step the ticks took before */
    pymi_heap_age_empty_pools(heap, t0);   /* a step: the mark is where the stack is now */
    assert_int_equal(heap->empty_count, stacked);

    pym_pool_t *used = pymi_heap_take_empty_pool(heap);   /* as a fresh pool would be */
    pymi_heap_keep_empty_pool(heap, used);
    struct pymi_arena_counters before = arena_counters();
    pymi_heap_age_empty_pools(heap, t0 + DELAY_MS / 2);   /* too soon: no step */
    assert_int_equal(heap->empty_count, stacked);

    pymi_heap_age_empty_pools(heap, t0 + DELAY_MS);
    struct pymi_arena_counters after = arena_counters();
    assert_int_equal(heap->empty_count, 1);
    assert_ptr_equal(top_of(heap), used);
    assert_int_equal(after.pools_returned - before.pools_returned, stacked - 1);

    pymi_heap_age_empty_pools(heap, t0 + 2 * DELAY_MS);   /* unused since: it goes too */
    assert_int_equal(heap->empty_count, 0);
    pym_trim();
}

/* With more pools than the slow tick may leave waiting that no fresh pool
 * has needed since the last aging step, the decay tick runs at its fast
 * pace, so that they age on time under light activity; once fresh pools
 * have come from the stack below that mark, it is slow again. */
static void a_big_idle_stack_makes_the_tick_fast_and_a_busy_one_does_not(void **state)
{
    (void)state;
    enum { DELAY_MS = 60000 };
    pym_heap_t *heap = empty_some_pools(DELAY_MS, 2 * PYM_HEAP_EMPTY_IDLE);
    assert_true(heap->empty_count > PYM_HEAP_EMPTY_IDLE);
    assert_false(pymi_arena_decay_pending());   /* nothing went to the arenas */
    int64_t t0 = pymi_now_ms();
    heap->empty_aged_ms = t0 - DELAY_MS;
    pymi_heap_age_empty_pools(heap, t0);   /* a step: the mark is where the stack is now */
    pymi_malloc_tick(heap, NULL);
    assert_int_equal(heap->decay_tick, PYM_DECAY_TICK_PENDING);

    pym_pool_t *taken[2 * PYM_HEAP_EMPTY_IDLE];
    unsigned n = heap->empty_count - PYM_HEAP_EMPTY_IDLE / 2;
    assert_true(n <= 2 * PYM_HEAP_EMPTY_IDLE);
    for (unsigned i = 0; i < n; i++)
        taken[i] = pymi_heap_take_empty_pool(heap);
    for (unsigned i = n; i-- > 0;)
        pymi_heap_keep_empty_pool(heap, taken[i]);
    pymi_malloc_tick(heap, NULL);
    assert_int_equal(heap->decay_tick, PYM_DECAY_TICK_IDLE);
    pym_trim();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_emptied_pool_is_the_next_fresh_pool_of_another_class),
        cmocka_unit_test(the_stack_is_bounded_and_its_oldest_go_back_together),
        cmocka_unit_test(a_stack_left_unused_for_the_delay_goes_back_to_the_arena),
        cmocka_unit_test(trim_sends_the_stack_back_and_purges_it),
        cmocka_unit_test(no_purge_delay_keeps_nothing),
        cmocka_unit_test(a_free_into_a_pool_on_the_stack_is_reported),
        cmocka_unit_test(pools_below_the_low_water_mark_go_back_and_a_used_one_stays),
        cmocka_unit_test(a_big_idle_stack_makes_the_tick_fast_and_a_busy_one_does_not),
    };
    return cmocka_run_group_tests_name("emptypools", tests, NULL, NULL);
}
