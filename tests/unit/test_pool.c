/* Unit tests: the descriptor table, pool lists and the full-pool handshake. */
#include "unit.h"

#include <pthread.h>

static const size_t size64 = 64;

/* Descriptors live in the region's table, not in the pool's page: blocks
 * start at offset 0 and the page holds no metadata. */
static void descriptors_are_out_of_line(void **state)
{
    (void)state;
    char *a = pym_malloc(size64);
    pym_pool_t *pool = pymi_pool_of(a);
    char *page = pymi_pool_page(pool);
    assert_ptr_equal(page, (char *)((uintptr_t)a & ~(uintptr_t)PYM_POOL_MASK));
    /* The descriptor is in the first 512 KiB of the block's 32 MiB region,
     * at the pool's index times 64 bytes. */
    uintptr_t region = (uintptr_t)a & ~(uintptr_t)PYM_REGION_MASK;
    uintptr_t index = ((uintptr_t)a - region) >> PYM_POOL_SHIFT;
    assert_int_equal((uintptr_t)pool, region + index * PYM_DESC_SIZE);
    assert_true((uintptr_t)pool < region + PYM_REGION_META_ARENAS * PYM_ARENA_SIZE);
    assert_ptr_equal(pymi_pool_of(page + PYM_POOL_SIZE - 1), pool);
    /* Every block of the page maps to that descriptor, the next page's to
     * the next one (a different L1 set: the 64-byte stride). */
    assert_ptr_equal(pymi_pool_of(page + PYM_POOL_SIZE), pool + 1);
    assert_int_equal(pool->block_size, 64);
    assert_int_equal(pool->capacity, PYM_POOL_SIZE / 64);
    pym_free(a);
}

/* A fresh pool is linked whole, in address order, from offset 0. */
static void a_fresh_pool_hands_out_blocks_from_offset_zero(void **state)
{
    (void)state;
    unsigned c = pymi_size_to_class(96);
    void *blocks[200];
    unsigned n = 0;
    pym_heap_t *heap;
    /* Use up whatever pool of this class the thread has. */
    blocks[n++] = pym_malloc(96);
    heap = pymi_tls_heap;
    pym_pool_t *first = pymi_pool_of(blocks[0]);
    while (heap->pools[c] == first && first->free != NULL)
        blocks[n++] = pym_malloc(96);
    char *fresh = pym_malloc(96);
    pym_pool_t *pool = pymi_pool_of(fresh);
    if (pool != first) {
        assert_ptr_equal(fresh, pymi_pool_page(pool));   /* offset 0 */
        char *second = pym_malloc(96);
        assert_ptr_equal(second, fresh + 96);
        pym_free(second);
    }
    pym_free(fresh);
    for (unsigned i = 0; i < n; i++)
        pym_free(blocks[i]);
}

static void block_starts_are_exact(void **state)
{
    (void)state;
    char *p = pym_malloc(48);
    pym_pool_t *pool = pymi_pool_of(p);
    char *page = pymi_pool_page(pool);
    for (unsigned off = 0; off < PYM_POOL_SIZE; off++) {
        int start = off % 48 == 0 && off + 48 <= PYM_POOL_SIZE;
        assert_int_equal(pymi_is_block_start(pool, page + off), start);
    }
    /* Every class: exactly the multiples of its size that fit whole. */
    for (unsigned c = 0; c < PYM_NUM_CLASSES; c++) {
        pym_pool_t fake = {0};
        size_t size = pymi_class_to_size(c);
        void *block = pym_malloc(size);
        fake = *pymi_pool_of(block);
        for (unsigned off = 0; off < PYM_POOL_SIZE; off++)
            assert_int_equal(pymi_is_block_start(&fake, page + off),
                             off % size == 0 && off + size <= PYM_POOL_SIZE);
        pym_free(block);
    }
    pym_free(p);
}

static void a_full_pool_leaves_the_list_and_comes_back_on_free(void **state)
{
    (void)state;
    unsigned c = pymi_size_to_class(size64);
    unsigned cap = pymi_class_capacity(c);
    void *blocks[80];
    blocks[0] = pym_malloc(size64);
    pym_pool_t *pool = pymi_pool_of(blocks[0]);
    pym_heap_t *heap = pymi_tls_heap;
    unsigned n = 1;
    /* Until the pool has nothing left: the malloc after its last block
     * retires it and is served by another pool. */
    while (heap->pools[c] == pool && n < 80)
        blocks[n++] = pym_malloc(size64);
    assert_true(n <= cap + 1);
    assert_int_equal(pool->state, PYM_POOL_FULL);
    assert_ptr_not_equal(heap->pools[c], pool);
    /* Full with an empty remote list: the owner raised the flag. */
    assert_int_equal(atomic_load(&pool->remote), PYM_REMOTE_FULL);

    assert_ptr_equal(heap->full_head[c], pool);   /* the oldest FULL pool */

    /* The owner's free goes into it on the fast path; it stays FULL until
     * malloc runs out of listed pools and takes the oldest FULL one back. */
    pym_free(blocks[0]);
    assert_int_equal(pool->state, PYM_POOL_FULL);
    assert_ptr_equal(pool->free, blocks[0]);
    void *extra[200];
    unsigned e = 0;
    while (heap->pools[c] != pool && e < 200)
        extra[e++] = pym_malloc(size64);
    assert_ptr_equal(heap->pools[c], pool);
    assert_int_equal(pool->state, PYM_POOL_LINKED);
    assert_ptr_equal(extra[e - 1], blocks[0]);   /* the block freed into it, handed out */
    blocks[0] = NULL;
    for (unsigned i = 0; i < e; i++)
        pym_free(extra[i]);
    for (unsigned i = 1; i < n; i++)
        pym_free(blocks[i]);
}

struct remote_job {
    void **blocks;
    unsigned count;
};

static void *free_blocks_in_thread(void *arg)
{
    struct remote_job *job = arg;
    for (unsigned i = 0; i < job->count; i++)
        pym_free(job->blocks[i]);
    return NULL;
}

static void a_remote_free_into_a_full_pool_queues_it_for_its_owner(void **state)
{
    (void)state;
    unsigned c = pymi_size_to_class(size64);
    void *blocks[80];
    blocks[0] = pym_malloc(size64);
    pym_pool_t *pool = pymi_pool_of(blocks[0]);
    pym_heap_t *heap = pymi_tls_heap;
    unsigned n = 1;
    while (heap->pools[c] == pool && n < 80)
        blocks[n++] = pym_malloc(size64);
    void *next_pool_block = blocks[--n];   /* the malloc that retired the pool */
    assert_int_equal(pool->state, PYM_POOL_FULL);

    struct remote_job job = {blocks, 3};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, free_blocks_in_thread, &job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);

    /* The first remote free cleared the flag and pushed the pool. */
    assert_ptr_equal(atomic_load(&heap->reclaim), pool);
    uintptr_t remote = atomic_load(&pool->remote);
    assert_true(remote != 0 && !(remote & PYM_REMOTE_FULL));

    /* Use up the class's other pools; the owner then takes this one back
     * (from its FULL list or its reclaim stack, whichever malloc reaches
     * first: the other one then finds it in use and leaves it). */
    void *extra[400];
    unsigned e = 0;
    while (heap->pools[c] != pool && e < 400)
        extra[e++] = pym_malloc(size64);
    assert_ptr_equal(heap->pools[c], pool);
    assert_int_equal(pool->state, PYM_POOL_LINKED);
    /* The three blocks came back: the malloc that reclaimed the pool got
     * one, the next two get the others. */
    assert_true(e > 0);
    assert_ptr_equal(pymi_pool_of(extra[e - 1]), pool);
    void *again[2];
    for (int i = 0; i < 2; i++) {
        again[i] = pym_malloc(size64);
        assert_ptr_equal(pymi_pool_of(again[i]), pool);
    }
    for (int i = 0; i < 2; i++)
        pym_free(again[i]);
    for (unsigned i = 3; i < n; i++)
        pym_free(blocks[i]);
    for (unsigned i = 0; i < e; i++)
        pym_free(extra[i]);
    pym_free(next_pool_block);
}

static void empty_pools_go_back_to_their_arena(void **state)
{
    (void)state;
    enum { COUNT = 64 * 12 };
    static void *blocks[COUNT];
    unsigned c = pymi_size_to_class(size64);
    for (unsigned i = 0; i < COUNT; i++)
        blocks[i] = pym_malloc(size64);
    void *middle = blocks[COUNT / 2];   /* its pool held only our blocks */
    for (unsigned i = 0; i < COUNT; i++)
        pym_free(blocks[i]);
    pym_stats_t stats;
    pym_stats_get(&stats);
    /* The heap keeps its current pool and one spare; the rest went back. */
    assert_true(stats.classes[c].pools_empty <= 2);
    assert_int_equal(stats.classes[c].blocks_in_use, 0);
    assert_true(stats.bytes_free_pools >= 9 * PYM_POOL_SIZE);
    /* That pool was released: a free of its blocks now is detected. */
    assert_null(pymi_pool_owner(pymi_pool_of(middle)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(descriptors_are_out_of_line),
        cmocka_unit_test(a_fresh_pool_hands_out_blocks_from_offset_zero),
        cmocka_unit_test(block_starts_are_exact),
        cmocka_unit_test(a_full_pool_leaves_the_list_and_comes_back_on_free),
        cmocka_unit_test(a_remote_free_into_a_full_pool_queues_it_for_its_owner),
        cmocka_unit_test(empty_pools_go_back_to_their_arena),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
