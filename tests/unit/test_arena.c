/* Unit tests: arenas are filled fullest-first, reclaimed when empty, reused,
 * and every byte of them is accounted for. */
#include "unit.h"

enum { BLOCKS_PER_ARENA = PYM_ARENA_SIZE / 64 };   /* 64-byte blocks */

static void **fill_arenas(unsigned arenas)
{
    size_t count = (size_t)arenas * BLOCKS_PER_ARENA;
    void **blocks = malloc(count * sizeof(void *));
    assert_non_null(blocks);
    for (size_t i = 0; i < count; i++) {
        blocks[i] = pym_malloc(64);
        assert_non_null(blocks[i]);
        assert_true(pym_owns(blocks[i]));
    }
    return blocks;
}

static void note_fewest_free(pym_arena_t *a, void *arg)
{
    uint32_t *fewest = arg;
    if (a->in_use && a->nfree > 0 && a->nfree < *fewest)
        *fewest = a->nfree;
}

static size_t arenas_carved(void)
{
    pthread_mutex_lock(&pymi_arena_lock);
    size_t n = pymi_range_arenas_carved();
    pthread_mutex_unlock(&pymi_arena_lock);
    return n;
}

static void free_all(void **blocks, unsigned arenas)
{
    for (size_t i = 0; i < (size_t)arenas * BLOCKS_PER_ARENA; i++)
        pym_free(blocks[i]);
    free(blocks);
}

static void every_arena_byte_is_accounted_for(void **state)
{
    (void)state;
    void **blocks = fill_arenas(2);
    for (size_t i = 0; i < 2 * BLOCKS_PER_ARENA; i += 3)
        pym_free(blocks[i]);
    pym_stats_t s;
    pym_stats_get(&s);
    assert_true(s.arenas_current >= 2);
    assert_int_equal(s.bytes_in_use + s.bytes_free_blocks + s.bytes_pool_waste + s.bytes_free_pools,
                     s.arenas_current * PYM_ARENA_SIZE);
    for (size_t i = 0; i < 2 * BLOCKS_PER_ARENA; i++)
        if (i % 3 != 0)
            pym_free(blocks[i]);
    free(blocks);
}

static void pools_come_from_the_fullest_arena(void **state)
{
    (void)state;
    void **blocks = fill_arenas(3);
    /* Empty a few pools in the last arena and many in the first: new pools
     * must come from the last one (fewer free pools). */
    pym_arena_t *first = pymi_arena_of(blocks[0]);
    pym_arena_t *last = pymi_arena_of(blocks[3 * BLOCKS_PER_ARENA - 1]);
    assert_ptr_not_equal(first, last);
    for (size_t i = 0; i < 20 * 63; i++) {
        pym_free(blocks[i]);
        blocks[i] = NULL;
    }
    size_t from_last = 0;
    for (size_t i = 3 * BLOCKS_PER_ARENA - 1; from_last < 2 * 63; i--) {
        if (pymi_arena_of(blocks[i]) != last)
            break;
        pym_free(blocks[i]);
        blocks[i] = NULL;
        from_last++;
    }
    /* The arena that gives the next pool is one with the fewest free pools. */
    uint32_t fewest = PYM_POOLS_PER_ARENA;
    pthread_mutex_lock(&pymi_arena_lock);
    pymi_range_each_arena(note_fewest_free, &fewest);
    pthread_mutex_unlock(&pymi_arena_lock);
    assert_true(fewest < PYM_POOLS_PER_ARENA);
    pym_pool_t *fresh;
    assert_int_equal(pymi_arena_take_pools(&fresh, 1), 1);
    assert_int_equal(pymi_arena_of(pymi_pool_page(fresh))->nfree + 1, fewest);
    pymi_arena_return_pool(fresh);
    for (size_t i = 0; i < 3 * BLOCKS_PER_ARENA; i++)
        pym_free(blocks[i]);
    free(blocks);
}

static void empty_arenas_go_back_in_batches_and_their_addresses_are_reused(void **state)
{
    (void)state;
    pym_trim();
    pym_stats_t before;
    pym_stats_get(&before);
    size_t carved = arenas_carved();

    const unsigned arenas = PYM_RECLAIM_BATCH + 4;
    void **blocks = fill_arenas(arenas);
    /* Arenas that expire together go back in batches: adjacent arenas in
     * one call for the pages and one for their descriptors.  The freeing
     * waits out a long delay (it takes longer than a short one under the
     * sanitizers); a delay of 0 then applies to all that waits. */
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 3600000), 0);
    free_all(blocks, arenas);
    pym_stats_t after;
    pym_stats_get(&after);
    assert_true(after.arenas_reclaimed == before.arenas_reclaimed);
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 0), 0);
    for (int i = 0; i < 1024; i++) {   /* the decay clock is read every 32 mallocs */
        pym_stats_get(&after);
        if (after.arenas_reclaimed >= before.arenas_reclaimed + PYM_RECLAIM_BATCH)
            break;
        pym_free(pym_malloc(64));
    }
    assert_true(after.arenas_reclaimed >= before.arenas_reclaimed + PYM_RECLAIM_BATCH);
    assert_true(after.madvise_calls - before.madvise_calls <= 8);
    /* What may stay: the arenas of the class's current pool and of its
     * spare pool, one spare arena (PYMALLOC_ARENA_CACHE=1) and the
     * draining ones of an unfinished batch, until a trim. */
    assert_true(after.arenas_current <= before.arenas_current + 3 + PYM_RECLAIM_BATCH - 1);
    pym_trim();
    pym_stats_get(&after);
    assert_true(after.arenas_current <= before.arenas_current + 2);

    /* Allocating again reuses reclaimed addresses before carving new ones. */
    size_t carved_after_first = arenas_carved();
    blocks = fill_arenas(arenas);
    assert_int_equal(arenas_carved(), carved_after_first);
    assert_true(carved_after_first <= carved + arenas + 1);
    free_all(blocks, arenas);
}

static void trim_releases_then_has_nothing_left(void **state)
{
    (void)state;
    void **blocks = fill_arenas(1);
    free_all(blocks, 1);
    pym_trim();
    assert_int_equal(pym_trim(), 0);   /* nothing left to give back */
    pym_stats_t s;
    pym_stats_get(&s);
    assert_int_equal(s.classes[pymi_size_to_class(64)].pools_empty, 0);
}

int main(void)
{
    /* These tests are about what goes back, not when: no decay window. */
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 0), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_arena_byte_is_accounted_for),
        cmocka_unit_test(pools_come_from_the_fullest_arena),
        cmocka_unit_test(empty_arenas_go_back_in_batches_and_their_addresses_are_reused),
        cmocka_unit_test(trim_releases_then_has_nothing_left),
    };
    return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
