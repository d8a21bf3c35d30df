/* Unit tests: carving, pool states and the full-pool handshake. */
#include "unit.h"

#include <pthread.h>

static const size_t size64 = 64;

static void carving_is_lazy_one_block_ahead(void **state)
{
    (void)state;
    char *a = pym_malloc(size64);
    char *b = pym_malloc(size64);
    pym_pool_t *pool = pymi_pool_of(a);
    assert_ptr_equal(pymi_pool_of(b), pool);
    assert_ptr_equal(b, a + 64);   /* consecutive blocks of a fresh pool */
    /* Only the blocks handed out plus one are carved. */
    size_t carved_end = (size_t)((b + 64) - (char *)pool) + 64;
    assert_int_equal(pool->nextoffset, carved_end);
    pym_free(b);
    pym_free(a);
}

static void block_starts_are_exact(void **state)
{
    (void)state;
    char *p = pym_malloc(48);
    pym_pool_t *pool = pymi_pool_of(p);
    assert_true(pymi_is_block_start(pool, p));
    for (int off = 1; off < 48; off++)
        assert_false(pymi_is_block_start(pool, p + off));
    assert_false(pymi_is_block_start(pool, (char *)pool));   /* the header */
    pym_free(p);
}

static void a_full_pool_leaves_the_list_and_comes_back_on_free(void **state)
{
    (void)state;
    unsigned c = pymi_size_to_class(size64);
    unsigned cap = pymi_class_capacity(c);
    void *blocks[64];
    /* Start on a fresh pool: fill whatever the current one holds first. */
    blocks[0] = pym_malloc(size64);
    pym_pool_t *pool = pymi_pool_of(blocks[0]);
    unsigned n = 1;
    while (pymi_pool_of(blocks[n - 1]) == pool && pool->free != NULL)
        blocks[n++] = pym_malloc(size64);
    assert_true(n <= cap + 1);
    pym_heap_t *heap = pymi_tls_heap;
    assert_int_equal(pool->state, PYM_POOL_FULL);
    assert_ptr_not_equal(heap->pools[c], pool);
    /* Full with an empty remote list: the owner raised the flag. */
    assert_int_equal(atomic_load(&pool->remote), PYM_REMOTE_FULL);

    pym_free(blocks[0]);
    assert_int_equal(pool->state, PYM_POOL_LINKED);
    assert_ptr_equal(heap->pools[c], pool);
    assert_ptr_equal(pym_malloc(size64), blocks[0]);   /* LIFO reuse */
    for (unsigned i = 0; i < n; i++)
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
    void *blocks[64];
    blocks[0] = pym_malloc(size64);
    pym_pool_t *pool = pymi_pool_of(blocks[0]);
    unsigned n = 1;
    while (pool->free != NULL)
        blocks[n++] = pym_malloc(size64);
    pym_heap_t *heap = pymi_tls_heap;
    assert_int_equal(pool->state, PYM_POOL_FULL);
    unsigned used_before = pool->used;   /* cmocka's own blocks may share the pool */

    struct remote_job job = {blocks, 3};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, free_blocks_in_thread, &job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);

    /* The first remote free cleared the flag and pushed the pool. */
    assert_ptr_equal(atomic_load(&heap->reclaim), pool);
    uintptr_t remote = atomic_load(&pool->remote);
    assert_true(remote != 0 && !(remote & PYM_REMOTE_FULL));

    /* Use up the class's other pools; the owner then reclaims this one. */
    void *extra[200];
    unsigned e = 0;
    while (heap->pools[c] != pool && e < 200)
        extra[e++] = pym_malloc(size64);
    assert_ptr_equal(heap->pools[c], pool);
    assert_int_equal(pool->state, PYM_POOL_LINKED);
    assert_null(atomic_load(&heap->reclaim));
    /* The malloc that reclaimed the pool was served from it. */
    assert_true(e > 0);
    assert_ptr_equal(pymi_pool_of(extra[e - 1]), pool);
    assert_int_equal(pool->used, used_before - 3 + 1);
    for (unsigned i = 3; i < n; i++)
        pym_free(blocks[i]);
    for (unsigned i = 0; i < e; i++)
        pym_free(extra[i]);
}

static void empty_pools_go_back_to_their_arena(void **state)
{
    (void)state;
    enum { COUNT = 63 * 12 };
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
    assert_null(pymi_pool_of(middle)->owner);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(carving_is_lazy_one_block_ahead),
        cmocka_unit_test(block_starts_are_exact),
        cmocka_unit_test(a_full_pool_leaves_the_list_and_comes_back_on_free),
        cmocka_unit_test(a_remote_free_into_a_full_pool_queues_it_for_its_owner),
        cmocka_unit_test(empty_pools_go_back_to_their_arena),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
