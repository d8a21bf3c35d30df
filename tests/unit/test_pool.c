/* Unit tests: the descriptor table, pool lists, the full-pool handshake and
 * pym_free_batch. */
#include "unit.h"

#include "../common/pattern.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

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
    assert_int_equal(pool->last_block, PYM_POOL_SIZE - 64);
    pym_free(a);
}

/* The malloc fast path finds the pool by the request in bytes (types.h):
 * every size's entry, malloc(0)'s included, should be its class's current
 * pool.  Counts the sizes whose entry is not. */
static unsigned sizes_not_reading_their_class_pool(const pym_heap_t *heap)
{
    unsigned wrong = 0;
    for (size_t size = 0; size <= PYM_SMALL_MAX; size++)
        wrong += heap->pool_for_size[size] != heap->pools[pymi_size_to_class(size)];
    return wrong;
}

struct size_table_job {
    unsigned wrong;          /* entries found not to be their class's pool */
    unsigned zero_misplaced; /* malloc(0) blocks not from class 0's pool or not 16 B */
    unsigned changes;        /* times class 0's current pool changed */
};

/* Allocates every size, class 0's most, then frees it all, checking the
 * table as pools fill, are traded and empty.  In a thread of its own, so
 * that the pools it leaves behind are not the next tests' (they expect
 * fresh pools in the classes they use). */
static void *exercise_size_table(void *arg)
{
    struct size_table_job *job = arg;
    enum { PER_POOL = PYM_POOL_SIZE / 16, ROUNDS = 3 * PER_POOL };
    static void *blocks[3 * ROUNDS];
    unsigned n = 0;
    pym_pool_t *current = NULL;
    for (unsigned i = 0; i < ROUNDS; i++) {
        blocks[n++] = pym_malloc(16);
        void *zero = pym_malloc(0);
        blocks[n++] = zero;
        blocks[n++] = pym_malloc(1 + i % PYM_SMALL_MAX);
        pym_heap_t *heap = pymi_tls.heap;
        job->zero_misplaced += pymi_pool_of(zero) != heap->pools[0] || pym_usable_size(zero) != 16;
        job->wrong += sizes_not_reading_their_class_pool(heap);
        if (heap->pools[0] != current) {
            current = heap->pools[0];
            job->changes++;
        }
    }
    job->wrong += sizes_not_reading_their_class_pool(pymi_tls.heap);
    for (unsigned i = 0; i < n; i++) {
        pym_free(blocks[i]);
        job->wrong += sizes_not_reading_their_class_pool(pymi_tls.heap);
    }
    job->wrong += sizes_not_reading_their_class_pool(pymi_tls.heap);
    void *zero = pym_malloc(0);
    job->zero_misplaced += pymi_pool_of(zero) != pymi_tls.heap->pools[0];
    pym_free(zero);
    return NULL;
}

/* The entries follow the current pools as pools fill, are traded and
 * empty; malloc(0) is served by the 16-byte class. */
static void every_request_size_follows_its_class_current_pool(void **state)
{
    (void)state;
    struct size_table_job job = {0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, exercise_size_table, &job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(job.wrong, 0);
    assert_int_equal(job.zero_misplaced, 0);
    assert_true(job.changes >= 4);   /* more than six pools' worth of class-0 blocks */
}

/* A fresh pool is carved in address order from offset 0: its free list
 * stays empty until a block comes back, and the blocks malloc has not
 * reached are on no list. */
static void a_fresh_pool_hands_out_blocks_from_offset_zero(void **state)
{
    (void)state;
    unsigned c = pymi_size_to_class(96);
    void *blocks[200 * POOL_SCALE];
    unsigned n = 0;
    pym_heap_t *heap;
    /* Use up whatever pool of this class the thread has. */
    blocks[n++] = pym_malloc(96);
    heap = pymi_tls.heap;
    pym_pool_t *first = pymi_pool_of(blocks[0]);
    while (heap->pools[c] == first && pymi_pool_has_block(first))
        blocks[n++] = pym_malloc(96);
    char *fresh = pym_malloc(96);
    pym_pool_t *pool = pymi_pool_of(fresh);
    assert_ptr_not_equal(pool, first);
    assert_ptr_equal(fresh, pymi_pool_page(pool));   /* offset 0 */
    assert_true(pymi_is_list_end(pool->free));
    assert_int_equal(pool->carved, 96);
    char *second = pym_malloc(96);
    assert_ptr_equal(second, fresh + 96);
    assert_int_equal(pool->carved, 2 * 96);
    assert_true(pymi_is_list_end(pool->free));
    /* A freed block is handed out again before the next uncarved one. */
    pym_free(fresh);
    assert_ptr_equal(pool->free, fresh);
    assert_ptr_equal(pym_malloc(96), fresh);
    assert_ptr_equal(pym_malloc(96), fresh + 2 * 96);
    assert_int_equal(pool->carved, 3 * 96);
    pym_free(fresh + 2 * 96);
    pym_free(second);
    pym_free(fresh);
    for (unsigned i = 0; i < n; i++)
        pym_free(blocks[i]);
}

/* The block-start test admits exactly the multiples of the block size that
 * malloc has carved: in a live pool, and for every class at every count of
 * carved blocks from 1 to the pool's capacity (power-of-two sizes too,
 * whose divisibility constant had no room for a count before carving). */
static void block_starts_are_exactly_the_carved_blocks(void **state)
{
    (void)state;
    char *p = pym_malloc(48);
    pym_pool_t *pool = pymi_pool_of(p);
    char *page = pymi_pool_page(pool);
    for (unsigned off = 0; off < PYM_POOL_SIZE; off++)
        assert_int_equal(pymi_is_block_start(pool, page + off), off % 48 == 0 && off < pool->carved);
    for (unsigned c = 0; c < PYM_NUM_CLASSES; c++) {
        size_t size = pymi_class_to_size(c);
        unsigned capacity = pymi_class_capacity(c);
        void *block = pym_malloc(size);
        pym_pool_t fake = *pymi_pool_of(block);
        pym_free(block);
        assert_int_equal(fake.last_block, (capacity - 1) * size);
        for (unsigned carved = 1; carved <= capacity; carved++) {
            fake.start_limit = (uint16_t)((carved - 1) * size * fake.start_magic);
            for (unsigned off = 0; off < PYM_POOL_SIZE; off++)
                assert_int_equal(pymi_is_block_start(&fake, page + off),
                                 off % size == 0 && off < carved * size);
        }
    }
    pym_free(p);
}

static void a_full_pool_leaves_the_list_and_comes_back_on_free(void **state)
{
    (void)state;
    unsigned c = pymi_size_to_class(size64);
    unsigned cap = pymi_class_capacity(c);
    void *blocks[80 * POOL_SCALE];
    blocks[0] = pym_malloc(size64);
    pym_pool_t *pool = pymi_pool_of(blocks[0]);
    pym_heap_t *heap = pymi_tls.heap;
    unsigned n = 1;
    /* Until the pool has nothing left: the malloc after its last block
     * retires it and is served by another pool. */
    while (heap->pools[c] == pool && n < 80 * POOL_SCALE)
        blocks[n++] = pym_malloc(size64);
    assert_true(n <= cap + 1);
    assert_int_equal(pool->state, PYM_POOL_FULL);
    assert_ptr_not_equal(heap->pools[c], pool);
    /* Full with an empty remote list: the owner raised the flag. */
    assert_int_equal(atomic_load(&pymi_pool_remote(pool)->remote), PYM_REMOTE_FULL);

    assert_ptr_equal(heap->full_head[c], pool);   /* the oldest FULL pool */

    /* The owner's frees go into it on the fast path; it stays FULL until
     * malloc runs out of listed pools and takes the oldest FULL one back,
     * which it does once a sixteenth of its blocks are free (heap.c). */
    unsigned need = cap >> PYM_TAKE_BACK_SHIFT;
    for (unsigned i = need; i-- > 0;) {
        pym_free(blocks[i]);
        if (i > 0)
            blocks[i] = NULL;
    }
    assert_int_equal(pool->state, PYM_POOL_FULL);
    assert_ptr_equal(pool->free, blocks[0]);
    void *extra[200 * POOL_SCALE];
    unsigned e = 0;
    while (heap->pools[c] != pool && e < 200 * POOL_SCALE)
        extra[e++] = pym_malloc(size64);
    assert_ptr_equal(heap->pools[c], pool);
    assert_int_equal(pool->state, PYM_POOL_LINKED);
    assert_ptr_equal(extra[e - 1], blocks[0]);   /* the block freed last into it, handed out */
    blocks[0] = NULL;
    for (unsigned i = 0; i < e; i++)
        pym_free(extra[i]);
    for (unsigned i = 1; i < n; i++)
        pym_free(blocks[i]);   /* NULL for the ones freed already */
}

/* Allocates blocks of size, into blocks[*n...], until the class (whose
 * lists must start empty) has had `count` current pools, into pools[]: the
 * first count-1 are FULL then, the last current. */
static void allocate_through_pools(size_t size, pym_pool_t **pools, unsigned count, void **blocks,
                                   unsigned *n, unsigned max)
{
    unsigned c = pymi_size_to_class(size);
    blocks[(*n)++] = pym_malloc(size);
    pym_heap_t *heap = pymi_tls.heap;
    assert_null(heap->full_head[c]);
    pools[0] = pymi_pool_of(blocks[0]);
    for (unsigned k = 1; k < count; k++) {
        while (heap->pools[c] == pools[k - 1]) {
            assert_true(*n < max);
            blocks[(*n)++] = pym_malloc(size);
        }
        pools[k] = heap->pools[c];
    }
}

/* Allocates blocks of size into blocks[*n...] while `pool` is the class's
 * current pool: the last block allocated came from the pool after it. */
static void allocate_while_current(size_t size, const pym_pool_t *pool, void **blocks, unsigned *n,
                                   unsigned max)
{
    unsigned c = pymi_size_to_class(size);
    while (pymi_tls.heap->pools[c] == pool) {
        assert_true(*n < max);
        blocks[(*n)++] = pym_malloc(size);
    }
}

/* Frees up to `count` of the blocks[0..n) that lie in pool (NULLing
 * them); how many it freed. */
static unsigned free_blocks_of(pym_pool_t *pool, void **blocks, unsigned n, unsigned count)
{
    unsigned freed = 0;
    for (unsigned i = 0; i < n && freed < count; i++) {
        if (blocks[i] != NULL && pymi_pool_of(blocks[i]) == pool) {
            pym_free(blocks[i]);
            blocks[i] = NULL;
            freed++;
        }
    }
    return freed;
}

/* Frees all but one of the blocks a FULL pool needs free to be taken back
 * (a sixteenth of them, heap.c), so that the free of one more makes it. */
static void free_all_but_one_for_the_take_back(pym_pool_t *pool, void **blocks, unsigned n)
{
    unsigned need = pymi_class_capacity(pool->sizeclass) >> PYM_TAKE_BACK_SHIFT;
    assert_int_equal(free_blocks_of(pool, blocks, n, need - 1), need - 1);
}

/* Frees back, a block of a FULL pool (which stays FULL), then allocates
 * until the class's current pool, dry, trades places with that pool: the
 * block that comes then is back.  The blocks allocated on the way go to
 * blocks[*n...]. */
static void free_one_then_allocate_until_the_trade(size_t size, void *back, void **blocks, unsigned *n,
                                                   unsigned max)
{
    pym_pool_t *current = pymi_tls.heap->pools[pymi_size_to_class(size)];
    pym_free(back);
    assert_int_equal(pymi_pool_of(back)->state, PYM_POOL_FULL);
    void *got;
    while (pymi_pool_of(got = pym_malloc(size)) == current) {
        assert_true(*n < max);
        blocks[(*n)++] = got;
    }
    assert_ptr_equal(got, back);
}

/* The trade's outcome: taken is the class's current pool, alone on its
 * list; retired is the last of the FULL list. */
static void expect_traded(unsigned c, pym_pool_t *taken, pym_pool_t *retired)
{
    const pym_heap_t *heap = pymi_tls.heap;
    assert_ptr_equal(heap->pools[c], taken);
    assert_ptr_equal(heap->tails[c], taken);
    assert_int_equal(taken->state, PYM_POOL_LINKED);
    assert_int_equal(taken->next, 0);
    assert_int_equal(taken->prev, 0);
    assert_int_equal(retired->state, PYM_POOL_FULL);
    assert_ptr_equal(heap->full_tail[c], retired);
    assert_int_equal(retired->next, 0);
}

/* The refill of random churn: the current pool, alone on its list and
 * dry, trades places with the oldest FULL pool that has enough blocks again.
 * The lists and the pin end as a retire followed by a relink leaves them. */
static void a_dry_current_pool_trades_places_with_the_oldest_full_one(void **state)
{
    (void)state;
    const size_t size = 112;   /* a class no other test here uses: its lists start empty */
    unsigned c = pymi_size_to_class(size);
    unsigned cap = pymi_class_capacity(c);
    void *blocks[200 * POOL_SCALE];
    unsigned n = 0;
    pym_pool_t *pools[3];
    allocate_through_pools(size, pools, 3, blocks, &n, 200 * POOL_SCALE);
    pym_heap_t *heap = pymi_tls.heap;
    /* Two dry FULL pools, in the order the looks left them. */
    pym_pool_t *current = pools[2], *a = heap->full_head[c];
    pym_pool_t *b = pymi_pool_at(a->next);
    assert_true((a == pools[0] && b == pools[1]) || (a == pools[1] && b == pools[0]));
    assert_ptr_equal(heap->full_tail[c], b);

    unsigned i_back = 0;
    while (pymi_pool_of(blocks[i_back]) != a)
        i_back++;
    void *back = blocks[i_back];
    blocks[i_back] = NULL;
    /* It is taken back with a sixteenth of its blocks free (heap.c). */
    unsigned need = cap >> PYM_TAKE_BACK_SHIFT;
    assert_int_equal(free_blocks_of(a, blocks, n, need - 1), need - 1);
    free_one_then_allocate_until_the_trade(size, back, blocks, &n, 200 * POOL_SCALE);
    expect_traded(c, a, current);
    assert_ptr_equal(heap->full_head[c], b);
    assert_int_equal(b->prev, 0);
    assert_ptr_equal(pymi_pool_at(b->next), current);
    assert_ptr_equal(pymi_pool_at(current->prev), b);
    assert_int_equal(a->used, cap + 1 - (need - 1));   /* `back` out again, and the pin */
    assert_int_equal(current->used, cap);     /* the pin left it */

    pym_free(back);
    for (unsigned i = 0; i < n; i++)
        pym_free(blocks[i]);   /* NULL for the one freed already */
}

/* The same trade when the oldest FULL pool is the only one: the FULL list
 * then holds the dry pool alone. */
static void a_dry_current_pool_trades_places_with_the_only_full_one(void **state)
{
    (void)state;
    const size_t size = 192;   /* a class no other test here uses: its lists start empty */
    unsigned c = pymi_size_to_class(size);
    void *blocks[100 * POOL_SCALE];
    unsigned n = 0;
    pym_pool_t *pools[2];
    allocate_through_pools(size, pools, 2, blocks, &n, 100 * POOL_SCALE);
    pym_heap_t *heap = pymi_tls.heap;
    pym_pool_t *first = pools[0], *current = pools[1];
    assert_ptr_equal(heap->full_head[c], first);
    assert_ptr_equal(heap->full_tail[c], first);

    void *back = blocks[0];
    blocks[0] = NULL;
    free_all_but_one_for_the_take_back(first, blocks, n);
    free_one_then_allocate_until_the_trade(size, back, blocks, &n, 100 * POOL_SCALE);
    expect_traded(c, first, current);
    assert_ptr_equal(heap->full_head[c], current);
    assert_int_equal(current->prev, 0);

    pym_free(back);
    for (unsigned i = 0; i < n; i++)
        pym_free(blocks[i]);   /* NULL for the one freed already */
}

/* The trade again, by pymi_heap_refill_quick: a pool that came back from
 * FULL is still flagged with an empty remote list, so when it runs dry
 * again the quick refill trades it for the oldest FULL pool; a pool never
 * flagged (fresh) it leaves to the general path, with nothing changed. */
static void a_pool_dry_again_trades_places_by_the_quick_refill(void **state)
{
    (void)state;
    const size_t size = 144;   /* a class no other test here uses: its lists start empty */
    unsigned c = pymi_size_to_class(size);
    void *blocks[200 * POOL_SCALE];
    unsigned n = 0;
    pym_pool_t *pools[2];
    allocate_through_pools(size, pools, 2, blocks, &n, 200 * POOL_SCALE);
    pym_heap_t *heap = pymi_tls.heap;
    pym_pool_t *first = pools[0], *second = pools[1];
    assert_int_equal(second->flagged, 0);
    assert_null(pymi_heap_refill_quick(heap, c));   /* not flagged: the general path's */
    assert_ptr_equal(heap->pools[c], second);
    assert_ptr_equal(heap->full_head[c], first);

    /* The general path trades them first (and flags second). */
    void *back = blocks[0];
    blocks[0] = NULL;
    free_all_but_one_for_the_take_back(first, blocks, n);
    free_one_then_allocate_until_the_trade(size, back, blocks, &n, 200 * POOL_SCALE);
    expect_traded(c, first, second);
    assert_true(first->flagged);
    assert_int_equal(atomic_load(&pymi_pool_remote(first)->remote), PYM_REMOTE_FULL);

    /* A block of second comes back; first runs dry again. */
    unsigned i_back = 0;
    while (blocks[i_back] == NULL || pymi_pool_of(blocks[i_back]) != second)
        i_back++;
    void *again = blocks[i_back];
    blocks[i_back] = NULL;
    free_all_but_one_for_the_take_back(second, blocks, n);
    pym_free(again);
    while (pymi_pool_has_block(first)) {
        assert_true(n < 200 * POOL_SCALE);
        blocks[n++] = pym_malloc(size);
    }
    pym_pool_t *taken = pymi_heap_refill_quick(heap, c);
    assert_ptr_equal(taken, second);
    expect_traded(c, second, first);
    assert_ptr_equal(heap->full_head[c], first);
    assert_int_equal(first->used, pymi_class_capacity(c));   /* the pin left it */
    assert_ptr_equal(pym_malloc(size), again);

    pym_free(back);
    pym_free(again);
    for (unsigned i = 0; i < n; i++)
        pym_free(blocks[i]);   /* NULL for the ones freed already */
}

/* A FULL pool is taken back only once a sixteenth of its blocks are free
 * (heap.c, worth_taking_back): with one fewer, the dry current pool is
 * retired and a fresh pool taken; with that many, the two trade places. */
static void a_full_pool_comes_back_only_with_a_sixteenth_of_its_blocks_free(void **state)
{
    (void)state;
    const size_t size = 80;   /* a class no other test here uses: its lists start empty */
    unsigned c = pymi_size_to_class(size);
    unsigned need = pymi_class_capacity(c) >> PYM_TAKE_BACK_SHIFT;
    assert_true(need >= 2);
    void *blocks[300 * POOL_SCALE];
    unsigned n = 0;
    pym_pool_t *pools[2];
    allocate_through_pools(size, pools, 2, blocks, &n, 300 * POOL_SCALE);
    pym_heap_t *heap = pymi_tls.heap;
    pym_pool_t *first = pools[0], *second = pools[1];
    assert_ptr_equal(heap->full_head[c], first);

    assert_int_equal(free_blocks_of(first, blocks, n, need - 1), need - 1);
    allocate_while_current(size, second, blocks, &n, 300 * POOL_SCALE);
    pym_pool_t *third = heap->pools[c];
    assert_true(third != first && third != second);   /* a fresh pool */
    assert_ptr_equal(pymi_pool_of(blocks[n - 1]), third);
    assert_int_equal(first->state, PYM_POOL_FULL);
    assert_ptr_equal(heap->full_head[c], second);   /* first went behind it */

    assert_int_equal(free_blocks_of(second, blocks, n, need), need);
    allocate_while_current(size, third, blocks, &n, 300 * POOL_SCALE);
    assert_ptr_equal(heap->pools[c], second);   /* taken back */
    assert_ptr_equal(pymi_pool_of(blocks[n - 1]), second);
    assert_int_equal(third->state, PYM_POOL_FULL);

    for (unsigned i = 0; i < n; i++)
        pym_free(blocks[i]);   /* NULL for the ones freed already */
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
    void *blocks[80 * POOL_SCALE];
    blocks[0] = pym_malloc(size64);
    pym_pool_t *pool = pymi_pool_of(blocks[0]);
    pym_heap_t *heap = pymi_tls.heap;
    unsigned n = 1;
    while (heap->pools[c] == pool && n < 80 * POOL_SCALE)
        blocks[n++] = pym_malloc(size64);
    void *next_pool_block = blocks[--n];   /* the malloc that retired the pool */
    assert_int_equal(pool->state, PYM_POOL_FULL);

    struct remote_job job = {blocks, 3};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, free_blocks_in_thread, &job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);

    /* The first remote free cleared the flag and pushed the pool. */
    assert_ptr_equal(atomic_load(&heap->reclaim), pool);
    uintptr_t remote = atomic_load(&pymi_pool_remote(pool)->remote);
    assert_true(remote != 0 && !(remote & PYM_REMOTE_FULL));

    /* Use up the class's other pools; the owner then takes this one back
     * (from its FULL list or its reclaim stack, whichever malloc reaches
     * first: the other one then finds it in use and leaves it). */
    void *extra[400 * POOL_SCALE];
    unsigned e = 0;
    while (heap->pools[c] != pool && e < 400 * POOL_SCALE)
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
    enum { COUNT = (PYM_POOL_SIZE / 64) * 12 };
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

/* ---- pym_free_batch ------------------------------------------------------------ */

/* The blocks a pool has handed out: used without the current pool's pin. */
static unsigned pool_live(const pym_pool_t *pool)
{
    const pym_heap_t *heap = pymi_pool_owner(pool);
    return pool->used - (heap != NULL && heap->pools[pool->sizeclass] == pool);
}

/* A heap's pools of some classes before a test allocates from them: every
 * pool on a class list or a FULL list, with its live blocks.  A pool not in
 * the census held none of them (it was free in its arena).  Taken by the
 * heap's own thread, which may not be cmocka's: no assertion here. */
#define CENSUS_MAX 512
struct census {
    const pym_heap_t *heap;
    unsigned count;
    int overflow;
    const pym_pool_t *pools[CENSUS_MAX];
    unsigned live[CENSUS_MAX];
};

static void census_add_list(struct census *cs, const pym_pool_t *pool)
{
    for (; pool != NULL && pool != &pymi_exhausted_pool; pool = pymi_pool_at(pool->next)) {
        if (cs->count == CENSUS_MAX) {
            cs->overflow = 1;
            return;
        }
        cs->pools[cs->count] = pool;
        cs->live[cs->count++] = pool_live(pool);
    }
}

static void census_take(struct census *cs, const pym_heap_t *heap, const size_t *sizes, unsigned nsizes)
{
    cs->heap = heap;
    cs->count = 0;
    cs->overflow = 0;
    for (unsigned k = 0; k < nsizes; k++) {
        unsigned c = (unsigned)pymi_size_to_class(sizes[k]);
        census_add_list(cs, heap->pools[c]);
        census_add_list(cs, heap->full_head[c]);
    }
}

/* Takes out of the census a block allocated only to give the thread a heap. */
static void census_forget(struct census *cs, const void *block)
{
    for (unsigned i = 0; i < cs->count; i++)
        if (cs->pools[i] == pymi_pool_of(block) && cs->live[i] > 0)
            cs->live[i]--;
}

static unsigned census_live(const struct census *cs, const pym_pool_t *pool)
{
    for (unsigned i = 0; i < cs->count; i++)
        if (cs->pools[i] == pool)
            return cs->live[i];
    return 0;
}

/* The blocks of ours in pool were all freed but `kept`: the pool has as many
 * blocks out as in the census, plus kept.  One left with none was settled
 * as pym_free settles one: it is its heap's current pool or spare, or back
 * in its arena (no owner), always back when the owner thread has exited. */
static void expect_pool_back(const struct census *before, const pym_pool_t *pool, unsigned kept,
                             int owner_exited)
{
    unsigned expected = census_live(before, pool) + kept;
    const pym_heap_t *owner = pymi_pool_owner(pool);
    if (expected == 0 && owner == NULL)
        return;   /* back in its arena */
    assert_ptr_equal(owner, before->heap);
    assert_int_equal(pool_live(pool), expected);
    if (expected != 0)
        return;
    if (owner_exited)
        fail_msg("pool %p of an exited thread holds no block and was not given back", (void *)pool);
    unsigned c = pool->sizeclass;
    if (owner->pools[c] != pool && owner->spare[c] != pool)
        fail_msg("pool %p holds no block and is neither current, spare nor given back (state %u, "
                 "queued %u)", (void *)pool, pool->state, pool->queued);
}

struct test_block {
    void *ptr;
    size_t size;
    unsigned ordinal;   /* its pool's place among its class's pools, in allocation order */
    unsigned index;     /* its place among its class's blocks */
};

/* Allocates pools_each and a half pools' worth of blocks of each size, the
 * sizes taking turns, and fills each with its pattern.  Returns the count. */
static unsigned alloc_blocks(struct test_block *out, const size_t *sizes, unsigned nsizes,
                             unsigned pools_each, uint64_t salt)
{
    unsigned count[8] = {0}, ordinal[8] = {0}, total = 0, n = 0;
    const pym_pool_t *last[8] = {NULL};
    unsigned want[8];
    for (unsigned k = 0; k < nsizes; k++) {
        unsigned cap = pymi_class_capacity((unsigned)pymi_size_to_class(sizes[k]));
        want[k] = pools_each * cap + cap / 2;
        total += want[k];
    }
    while (n < total) {
        for (unsigned k = 0; k < nsizes; k++) {
            if (count[k] == want[k])
                continue;
            void *p = pym_malloc(sizes[k]);
            const pym_pool_t *pool = pymi_pool_of(p);
            if (last[k] != NULL && pool != last[k])
                ordinal[k]++;
            last[k] = pool;
            pattern_fill(p, sizes[k], pattern_seed(p, salt));
            out[n++] = (struct test_block){p, sizes[k], ordinal[k], count[k]++};
        }
    }
    return n;
}

/* alloc_blocks after the census of this (cmocka's) thread's heap: gives the
 * thread a heap with a malloc and free of sizes[0], takes the census of its
 * pools of those sizes into before (it must not overflow) and, with stats,
 * the statistics, then allocates the blocks.  Returns their count. */
static unsigned alloc_blocks_after_census(struct test_block *out, const size_t *sizes, unsigned nsizes,
                                          unsigned pools_each, uint64_t salt, struct census *before,
                                          pym_stats_t *stats)
{
    pym_free(pym_malloc(sizes[0]));
    census_take(before, pymi_tls.heap, sizes, nsizes);
    assert_false(before->overflow);
    if (stats != NULL)
        pym_stats_get(stats);
    return alloc_blocks(out, sizes, nsizes, pools_each, salt);
}

static int intact(const struct test_block *b, uint64_t salt)
{
    return pattern_intact(b->ptr, b->size, pattern_seed(b->ptr, salt));
}

/* The distinct pools of the blocks, into pools (at most max). */
static unsigned pools_of(const pym_pool_t **pools, unsigned max, const struct test_block *b, unsigned n)
{
    unsigned count = 0;
    for (unsigned i = 0; i < n; i++) {
        const pym_pool_t *pool = pymi_pool_of(b[i].ptr);
        unsigned j = 0;
        while (j < count && pools[j] != pool)
            j++;
        if (j == count) {
            assert_true(count < max);
            pools[count++] = pool;
        }
    }
    return count;
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

static int in_sorted(void *const *sorted, unsigned n, const void *p)
{
    return bsearch(&p, sorted, n, sizeof *sorted, by_address) != NULL;
}

static uint64_t shuffle_state = 42;

static void shuffle(void **v, unsigned n)
{
    for (unsigned i = n; i > 1; i--) {
        shuffle_state = pattern_mix(shuffle_state);
        unsigned j = (unsigned)(shuffle_state % i);
        void *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* The batch: NULL, the blocks with a NULL after every fifth one and the
 * extras (forwarded pointers) spread among them, NULL.  Returns its length
 * (at most n + n / 5 + nextras + 3). */
static unsigned make_batch(void **batch, void *const *blocks, unsigned n, void *const *extras,
                           unsigned nextras)
{
    unsigned m = 0, e = 0;
    batch[m++] = NULL;
    for (unsigned i = 0; i < n; i++) {
        batch[m++] = blocks[i];
        if (i % 5 == 2)
            batch[m++] = NULL;
        if (e < nextras && i + 1 == (e + 1) * n / (nextras + 1))
            batch[m++] = extras[e++];
    }
    while (e < nextras)
        batch[m++] = extras[e++];
    batch[m++] = NULL;
    return m;
}

/* The allocator below's free, recording what pym_free_batch hands it. */
#define SYS_FREED_MAX 64
static void (*real_sys_free)(void *);
static void *sys_freed[SYS_FREED_MAX];
static unsigned sys_freed_count;

static void recording_sys_free(void *ptr)
{
    if (ptr != NULL) {   /* free(NULL) may or may not reach it */
        if (sys_freed_count < SYS_FREED_MAX)
            sys_freed[sys_freed_count] = ptr;
        sys_freed_count++;
    }
    real_sys_free(ptr);
}

static void free_batch_recording(void *const *ptrs, size_t n)
{
    real_sys_free = pymi_sys.free;
    sys_freed_count = 0;
    pymi_sys.free = recording_sys_free;
    pym_free_batch(ptrs, n);
    pymi_sys.free = real_sys_free;
}

/* What reached the allocator below is the batch's foreign pointers (the
 * forwarded ones), each once, in order. */
static void expect_forwarded_exactly(void *const *ptrs, size_t n)
{
    unsigned k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ptrs[i] == NULL || pymi_owns(ptrs[i]))
            continue;
        assert_true(k < sys_freed_count && k < SYS_FREED_MAX);
        assert_ptr_equal(sys_freed[k], ptrs[i]);
        k++;
    }
    assert_int_equal(sys_freed_count, k);
}

static size_t blocks_in_use(const pym_stats_t *stats, size_t size)
{
    return stats->classes[pymi_size_to_class(size)].blocks_in_use;
}

#define LOCAL_MAX (1200 * POOL_SCALE)
#define LOCAL_POOLS 64
static struct test_block local_blocks[LOCAL_MAX];
#define AGAIN_MAX (8192 * POOL_SCALE)
static void *local_freed[LOCAL_MAX], *local_kept[LOCAL_MAX], *local_again[AGAIN_MAX];
static void *local_batch[2 * LOCAL_MAX];

/* Kept by the first batch: every third block of the even-numbered pools of
 * its class; the odd-numbered ones lose all their blocks at once. */
static int kept_first(const struct test_block *b)
{
    return b->ordinal % 2 == 0 && b->index % 3 == 0;
}

static unsigned kept_in(const pym_pool_t *pool, const struct test_block *b, unsigned n,
                        int (*kept)(const struct test_block *))
{
    unsigned count = 0;
    for (unsigned i = 0; i < n; i++)
        count += pymi_pool_of(b[i].ptr) == pool && kept(&b[i]);
    return count;
}

static int kept_all(const struct test_block *b)
{
    (void)b;
    return 1;
}

/* Splits the blocks by kept: the pointers of those it keeps into kept_out,
 * the others into freed_out, each in the blocks' order. */
static void split_kept(const struct test_block *b, unsigned n, int (*kept)(const struct test_block *),
                       void **freed_out, unsigned *nf, void **kept_out, unsigned *nk)
{
    *nf = *nk = 0;
    for (unsigned i = 0; i < n; i++) {
        if (kept(&b[i]))
            kept_out[(*nk)++] = b[i].ptr;
        else
            freed_out[(*nf)++] = b[i].ptr;
    }
}

/* pym_free_batch frees its blocks and nothing else, in any order: 4 classes,
 * 3.5 pools each, the first batch in address order with NULLs and forwarded
 * (1000-byte) pointers among them, the second shuffled.  After each, every
 * pool has as many blocks out as before we allocated plus those we kept,
 * the freed blocks are on its free list and the kept ones are intact, the
 * forwarded pointers went to the allocator below, pools left empty are
 * settled as pym_free settles them (some go back to their arena), and
 * malloc hands the freed blocks out again. */
static void a_batch_frees_exactly_its_blocks_in_any_order(void **state)
{
    (void)state;
    static const size_t sizes[] = {16, 144, 208, 256};
    enum { NSIZES = 4, NFWD = 6 };
    const uint64_t salt = 0xba7c4;
    static struct census before;
    pym_stats_t stats_before, stats_after;
    struct test_block *b = local_blocks;
    unsigned n = alloc_blocks_after_census(b, sizes, NSIZES, 3, salt, &before, &stats_before);
    assert_true(n <= LOCAL_MAX);
    pym_heap_t *heap = pymi_tls.heap;
    void *fwd[NFWD];
    for (unsigned i = 0; i < NFWD; i++) {
        /* Over 4 KiB, past the cache of glibc's chunks (fwdcache.c): each
         * free reaches the allocator below, where it is recorded. */
        fwd[i] = pym_malloc(8000 + 16 * i);
        assert_false(pym_owns(fwd[i]));
    }
    const pym_pool_t *pools[LOCAL_POOLS];
    unsigned npools = pools_of(pools, LOCAL_POOLS, b, n);

    /* First batch: in address order, runs of one pool each. */
    unsigned nf, nk;
    split_kept(b, n, kept_first, local_freed, &nf, local_kept, &nk);
    qsort(local_freed, nf, sizeof local_freed[0], by_address);
    qsort(local_kept, nk, sizeof local_kept[0], by_address);
    unsigned m = make_batch(local_batch, local_freed, nf, fwd, NFWD / 2);
    free_batch_recording(local_batch, m);
    expect_forwarded_exactly(local_batch, m);
    for (unsigned p = 0; p < npools; p++)
        expect_pool_back(&before, pools[p], kept_in(pools[p], b, n, kept_first), 0);
    for (unsigned i = 0; i < n; i++) {
        const pym_pool_t *pool = pymi_pool_of(b[i].ptr);
        if (kept_first(&b[i])) {
            assert_true(intact(&b[i], salt));
            assert_false(on_free_list(pool, b[i].ptr));
        } else if (pymi_pool_owner(pool) == heap) {
            assert_true(on_free_list(pool, b[i].ptr));
        }
    }

    /* malloc hands out again every freed block of the pools still ours. */
    unsigned na = 0;
    for (unsigned k = 0; k < NSIZES; k++) {
        unsigned cap = pymi_class_capacity((unsigned)pymi_size_to_class(sizes[k]));
        unsigned wanted = 0, seen = 0;
        for (unsigned i = 0; i < n; i++)
            wanted += b[i].size == sizes[k] && !kept_first(&b[i]) &&
                      pymi_pool_owner(pymi_pool_of(b[i].ptr)) == heap;
        unsigned limit = na + wanted + 8 * cap;   /* and blocks that were never ours */
        assert_true(limit <= AGAIN_MAX);
        while (seen < wanted && na < limit) {
            void *p = pym_malloc(sizes[k]);
            assert_false(in_sorted(local_kept, nk, p));   /* a live block handed out */
            seen += in_sorted(local_freed, nf, p);
            local_again[na++] = p;
        }
        assert_int_equal(seen, wanted);
    }
    qsort(local_again, na, sizeof local_again[0], by_address);
    for (unsigned i = 1; i < na; i++)
        assert_ptr_not_equal(local_again[i - 1], local_again[i]);   /* handed out twice */
    shuffle(local_again, na);
    pym_free_batch(local_again, na);
    for (unsigned p = 0; p < npools; p++)
        expect_pool_back(&before, pools[p], kept_in(pools[p], b, n, kept_first), 0);

    /* Second batch: the kept blocks, shuffled. */
    for (unsigned i = 0; i < n; i++)
        if (kept_first(&b[i]))
            assert_true(intact(&b[i], salt));
    shuffle(local_kept, nk);
    m = make_batch(local_batch, local_kept, nk, fwd + NFWD / 2, NFWD - NFWD / 2);
    free_batch_recording(local_batch, m);
    expect_forwarded_exactly(local_batch, m);
    unsigned released[NSIZES] = {0};
    for (unsigned p = 0; p < npools; p++) {
        expect_pool_back(&before, pools[p], 0, 0);
        for (unsigned k = 0; k < NSIZES; k++)
            released[k] += pools[p]->block_size == sizes[k] && pymi_pool_owner(pools[p]) == NULL;
    }
    pym_stats_get(&stats_after);
    for (unsigned k = 0; k < NSIZES; k++) {
        assert_true(released[k] > 0);   /* 3 or 4 pools emptied, one current and one spare kept */
        assert_int_equal(blocks_in_use(&stats_after, sizes[k]), blocks_in_use(&stats_before, sizes[k]));
    }
}

/* One pool's state as a test compares it: for a pool its heap still owns,
 * every field the owner keeps and its free list (offsets, head first). */
struct pool_picture {
    uintptr_t owner;
    uintptr_t remote;
    unsigned used, state, flagged, queued, next, prev, out_xor, back_xor, carved, start_limit;
    unsigned free_count;   /* capacity + 1: the list did not end */
    uint16_t free_offsets[PYM_POOL_SIZE / 16 + 1];
};

#define PICTURE_SIZES 3
#define PICTURE_POOLS 32
struct heap_picture {
    uintptr_t lists[PICTURE_SIZES][5];   /* current, tail, FULL head and tail, spare */
    struct pool_picture pools[PICTURE_POOLS];
};

static void picture_take(struct heap_picture *pic, const pym_heap_t *heap, const size_t *sizes,
                         const pym_pool_t *const *pools, unsigned npools)
{
    memset(pic, 0, sizeof *pic);
    for (unsigned k = 0; k < PICTURE_SIZES; k++) {
        unsigned c = (unsigned)pymi_size_to_class(sizes[k]);
        pic->lists[k][0] = (uintptr_t)heap->pools[c];
        pic->lists[k][1] = (uintptr_t)heap->tails[c];
        pic->lists[k][2] = (uintptr_t)heap->full_head[c];
        pic->lists[k][3] = (uintptr_t)heap->full_tail[c];
        pic->lists[k][4] = (uintptr_t)heap->spare[c];
    }
    for (unsigned p = 0; p < npools; p++) {
        const pym_pool_t *pool = pools[p];
        struct pool_picture *pp = &pic->pools[p];
        pp->owner = (uintptr_t)pymi_pool_owner(pool);
        if (pp->owner != (uintptr_t)heap)
            continue;   /* back in its arena: the arena's business */
        pp->remote = atomic_load(&pymi_pool_remote(pool)->remote);
        pp->used = pool->used;
        pp->state = pool->state;
        pp->flagged = pool->flagged;
        pp->queued = pool->queued;
        pp->next = pool->next;
        pp->prev = pool->prev;
        pp->out_xor = pool->out_xor;
        pp->back_xor = pool->back_xor;
        pp->carved = pool->carved;
        pp->start_limit = pool->start_limit;
        uintptr_t page = (uintptr_t)pymi_pool_page(pool);
        for (const pym_block_t *blk = pool->free;
             blk != NULL && !pymi_is_list_end(blk) && pp->free_count <= pymi_class_capacity(pool->sizeclass); blk = pymi_block_next(blk)) {
            if (((uintptr_t)blk & ~(uintptr_t)PYM_POOL_MASK) != page) {
                pp->free_count = pymi_class_capacity(pool->sizeclass) + 1;   /* a link out of the pool */
                break;
            }
            pp->free_offsets[pp->free_count++] = (uint16_t)((uintptr_t)blk - page);
        }
    }
}

static struct test_block picture_blocks[LOCAL_MAX];
static void *picture_freed[LOCAL_MAX], *picture_kept[LOCAL_MAX];

static int kept_picture(const struct test_block *b)
{
    return b->ordinal % 3 == 0 && b->index % 3 == 0;
}

/* pym_free_batch leaves the heap exactly as pym_free of the same pointers,
 * one by one in the same order, does: a forked child frees them that way
 * from the same state and sends its picture back through shared memory.
 * Same class lists, current pools and spares; every pool of the blocks has
 * the same owner (given back to its arena or not), count, state and free
 * list, block for block.  3 classes, 3.5 pools each: two thirds of the
 * blocks of pools 0 and 3, all of pools 1 and 2 (emptied), half the batch
 * in address order, half shuffled, with NULLs and forwarded pointers. */
static void a_batch_leaves_the_pools_as_pym_free_one_by_one_does(void **state)
{
    (void)state;
    static const size_t sizes[PICTURE_SIZES] = {32, 128, 192};
    enum { NFWD = 4 };
    const uint64_t salt = 0xf0c4;
    static struct census before;
    struct test_block *b = picture_blocks;
    unsigned n = alloc_blocks_after_census(b, sizes, PICTURE_SIZES, 3, salt, &before, NULL);
    assert_true(n <= LOCAL_MAX);
    pym_heap_t *heap = pymi_tls.heap;
    const pym_pool_t *pools[PICTURE_POOLS];
    unsigned npools = pools_of(pools, PICTURE_POOLS, b, n);
    void *fwd[NFWD];
    for (unsigned i = 0; i < NFWD; i++)
        fwd[i] = pym_malloc(1000);
    unsigned nf, nk;
    split_kept(b, n, kept_picture, picture_freed, &nf, picture_kept, &nk);
    qsort(picture_freed, nf, sizeof picture_freed[0], by_address);
    shuffle(picture_freed + nf / 2, nf - nf / 2);
    unsigned m = make_batch(local_batch, picture_freed, nf, fwd, NFWD);

    struct heap_picture *theirs = mmap(NULL, sizeof *theirs, PROT_READ | PROT_WRITE,
                                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(theirs != MAP_FAILED);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (unsigned i = 0; i < m; i++)
            pym_free(local_batch[i]);
        picture_take(theirs, heap, sizes, pools, npools);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    pym_free_batch(local_batch, m);
    static struct heap_picture mine;
    picture_take(&mine, heap, sizes, pools, npools);
    for (unsigned k = 0; k < PICTURE_SIZES; k++)
        for (unsigned l = 0; l < 5; l++)
            assert_int_equal(mine.lists[k][l], theirs->lists[k][l]);
    unsigned emptied = 0;
    for (unsigned p = 0; p < npools; p++) {
        const struct pool_picture *a = &mine.pools[p], *z = &theirs->pools[p];
        assert_int_equal(a->owner, z->owner);
        assert_int_equal(a->used, z->used);
        assert_int_equal(a->state, z->state);
        assert_int_equal(a->flagged, z->flagged);
        assert_int_equal(a->queued, z->queued);
        assert_int_equal(a->next, z->next);
        assert_int_equal(a->prev, z->prev);
        assert_int_equal(a->out_xor, z->out_xor);
        assert_int_equal(a->back_xor, z->back_xor);
        assert_int_equal(a->carved, z->carved);
        assert_int_equal(a->start_limit, z->start_limit);
        assert_int_equal(a->remote, z->remote);
        assert_int_equal(a->free_count, z->free_count);
        assert_true(a->free_count <= pymi_class_capacity(pools[p]->sizeclass));
        assert_memory_equal(a->free_offsets, z->free_offsets, a->free_count * sizeof a->free_offsets[0]);
        expect_pool_back(&before, pools[p], kept_in(pools[p], b, n, kept_picture), 0);
        emptied += a->owner == 0;
    }
    assert_true(emptied > 0);
    assert_int_equal(munmap(theirs, sizeof *theirs), 0);

    for (unsigned i = 0; i < n; i++)
        if (kept_picture(&b[i]))
            assert_true(intact(&b[i], salt));
    pym_free_batch(picture_kept, nk);
    for (unsigned p = 0; p < npools; p++)
        expect_pool_back(&before, pools[p], 0, 0);
}

struct nulls_job {
    pym_heap_t *heap_before, *heap_after;
};

static void *free_nulls_in_thread(void *arg)
{
    struct nulls_job *job = arg;
    void *nulls[4] = {NULL, NULL, NULL, NULL};
    job->heap_before = pymi_tls.heap;
    pym_free_batch(nulls, 4);
    pym_free_batch(NULL, 0);
    job->heap_after = pymi_tls.heap;
    return NULL;
}

/* n == 0 reads nothing (not even ptrs), and a batch of NULLs does nothing:
 * the heap, the pool and the block stay as they were, byte for byte, errno
 * too; a thread without a heap does not get one. */
static void an_empty_batch_or_one_of_nulls_changes_nothing(void **state)
{
    (void)state;
    char *block = pym_malloc(96);
    pattern_fill(block, 96, 96);
    pym_heap_t *heap = pymi_tls.heap;
    pym_pool_t *pool = pymi_pool_of(block);
    static pym_heap_t heap_copy;
    pym_pool_t pool_copy;
    memcpy(&heap_copy, heap, sizeof heap_copy);
    memcpy(&pool_copy, pool, sizeof pool_copy);

    void *bad[2] = {block + 8, block};   /* would abort, or free the block, if read */
    errno = ERANGE;
    pym_free_batch(bad, 0);
    pym_free_batch(NULL, 0);
    void *nulls[7] = {NULL};
    pym_free_batch(nulls, 7);
    assert_int_equal(errno, ERANGE);
    assert_memory_equal(heap, &heap_copy, sizeof heap_copy);
    assert_memory_equal(pool, &pool_copy, sizeof pool_copy);
    assert_true(pattern_intact(block, 96, 96));

    struct nulls_job job;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, free_nulls_in_thread, &job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_ptr_equal(job.heap_after, job.heap_before);

    pym_free(block);   /* still live: an ordinary free */
    assert_int_equal(pool->used, pool_copy.used - 1);
}

/* A thread's pym_free_batch of blocks another thread owns. */
#define REMOTE_OWN 40
struct batch_job {
    void **ptrs;
    unsigned n;
    const size_t *sizes;   /* with own: blocks of its own, of these sizes, */
    unsigned nsizes;       /* mixed into the batch */
    int own;
    /* Filled by the thread, read after the join. */
    struct census census;   /* its heap before it allocated its own blocks */
    void *own_blocks[REMOTE_OWN + 1];
    void *mixed[2 * LOCAL_MAX];
};

static void *free_batch_in_thread(void *arg)
{
    struct batch_job *job = arg;
    if (!job->own) {
        pym_free_batch(job->ptrs, job->n);   /* a thread that never allocates */
        return NULL;
    }
    job->own_blocks[0] = pym_malloc(16);   /* a heap, for the census */
    census_take(&job->census, pymi_tls.heap, job->sizes, job->nsizes);
    census_forget(&job->census, job->own_blocks[0]);
    for (unsigned i = 1; i <= REMOTE_OWN; i++)
        job->own_blocks[i] = pym_malloc(job->sizes[i % job->nsizes]);
    /* Its own blocks two at a time between runs of three of the owner's,
     * and a forwarded pointer. */
    unsigned m = 0, o = 0;
    for (unsigned i = 0; i < job->n; i++) {
        job->mixed[m++] = job->ptrs[i];
        for (unsigned j = 0; j < 2 && i % 3 == 2 && o <= REMOTE_OWN; j++)
            job->mixed[m++] = job->own_blocks[o++];
    }
    while (o <= REMOTE_OWN)
        job->mixed[m++] = job->own_blocks[o++];
    job->mixed[m++] = pym_malloc(1000);
    pym_free_batch(job->mixed, m);
    return NULL;
}

static void run_batch_job(struct batch_job *job)
{
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, free_batch_in_thread, job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
}

static struct test_block remote_blocks[LOCAL_MAX];
static void *remote_by_f[LOCAL_MAX], *remote_by_g[LOCAL_MAX], *remote_batch[2 * LOCAL_MAX];
static void *remote_sent[LOCAL_MAX], *remote_kept[LOCAL_MAX], *remote_again[AGAIN_MAX];

/* Batches freed by other threads go back to the owner, who is alive: one
 * thread that never allocates frees a third of the blocks (address order,
 * with NULLs), another frees a third (shuffled) mixed with blocks of its
 * own and a forwarded pointer, and exits.  The owner's counts have not
 * moved (remote frees do not touch them) and its other blocks are intact;
 * its malloc slow path then takes every one of those blocks back and hands
 * it out again; once it frees all, its pools are as before it allocated.
 * The second thread's own blocks went back to their pools, which its exit
 * gave back to the arena. */
static void a_batch_from_other_threads_goes_back_to_the_owner(void **state)
{
    (void)state;
    static const size_t sizes[] = {80, 224};
    static const size_t g_sizes[] = {16, 80, 224};
    enum { NSIZES = 2 };
    const uint64_t salt = 0x4e307e;
    static struct census before;
    pym_stats_t stats_before, stats_after;
    struct test_block *b = remote_blocks;
    unsigned n = alloc_blocks_after_census(b, sizes, NSIZES, 2, salt, &before, &stats_before);
    pym_heap_t *heap = pymi_tls.heap;
    const pym_pool_t *pools[LOCAL_POOLS];
    unsigned npools = pools_of(pools, LOCAL_POOLS, b, n);
    unsigned used_before[LOCAL_POOLS];
    for (unsigned p = 0; p < npools; p++)
        used_before[p] = pools[p]->used;
    unsigned nf = 0, ng = 0, ns = 0, nk = 0;
    for (unsigned i = 0; i < n; i++) {
        if (b[i].index % 3 == 1)
            remote_by_f[nf++] = remote_sent[ns++] = b[i].ptr;
        else if (b[i].index % 3 == 2)
            remote_by_g[ng++] = remote_sent[ns++] = b[i].ptr;
        else
            remote_kept[nk++] = b[i].ptr;
    }
    qsort(remote_by_f, nf, sizeof remote_by_f[0], by_address);
    shuffle(remote_by_g, ng);
    qsort(remote_sent, ns, sizeof remote_sent[0], by_address);
    qsort(remote_kept, nk, sizeof remote_kept[0], by_address);

    static struct batch_job f, g;
    f = (struct batch_job){.ptrs = remote_batch, .n = make_batch(remote_batch, remote_by_f, nf, NULL, 0)};
    run_batch_job(&f);
    g = (struct batch_job){.ptrs = remote_by_g, .n = ng, .sizes = g_sizes, .nsizes = 3, .own = 1};
    run_batch_job(&g);
    assert_false(g.census.overflow);

    for (unsigned p = 0; p < npools; p++) {
        assert_ptr_equal(pymi_pool_owner(pools[p]), heap);
        assert_int_equal(pools[p]->used, used_before[p]);
    }
    for (unsigned i = 0; i < n; i++)
        if (b[i].index % 3 == 0)
            assert_true(intact(&b[i], salt));
    for (unsigned i = 0; i <= REMOTE_OWN; i++)
        expect_pool_back(&g.census, pymi_pool_of(g.own_blocks[i]), 0, 1);

    /* The owner's mallocs drain the remote lists: every block comes back. */
    unsigned na = 0;
    for (unsigned k = 0; k < NSIZES; k++) {
        unsigned cap = pymi_class_capacity((unsigned)pymi_size_to_class(sizes[k]));
        unsigned wanted = 0, seen = 0;
        for (unsigned i = 0; i < n; i++)
            wanted += b[i].size == sizes[k] && b[i].index % 3 != 0;
        unsigned limit = na + wanted + 16 * cap;
        assert_true(limit <= AGAIN_MAX);
        while (seen < wanted && na < limit) {
            void *p = pym_malloc(sizes[k]);
            assert_false(in_sorted(remote_kept, nk, p));
            seen += in_sorted(remote_sent, ns, p);
            remote_again[na++] = p;
        }
        assert_int_equal(seen, wanted);
    }
    qsort(remote_again, na, sizeof remote_again[0], by_address);
    for (unsigned i = 1; i < na; i++)
        assert_ptr_not_equal(remote_again[i - 1], remote_again[i]);
    pym_free_batch(remote_again, na);
    pym_free_batch(remote_kept, nk);
    /* Pools reclaimed from the FULL list stay on the reclaim stack until
     * malloc's slow path pops it; pop it now, as the owner. */
    pymi_remote_reclaim_batched(heap, 1, NULL);
    for (unsigned p = 0; p < npools; p++)
        expect_pool_back(&before, pools[p], 0, 0);
    pym_stats_get(&stats_after);
    for (unsigned k = 0; k < NSIZES; k++)
        assert_int_equal(blocks_in_use(&stats_after, sizes[k]), blocks_in_use(&stats_before, sizes[k]));
}

struct owner_job {
    const size_t *sizes;
    unsigned nsizes;
    uint64_t salt;
    struct test_block *blocks;
    unsigned n;
    struct census census;
};

static void *allocate_and_exit(void *arg)
{
    struct owner_job *job = arg;
    void *first = pym_malloc(16);   /* a heap, for the census */
    census_take(&job->census, pymi_tls.heap, job->sizes, job->nsizes);
    job->n = alloc_blocks(job->blocks, job->sizes, job->nsizes, 2, job->salt);
    pym_free(first);
    return NULL;
}

static struct test_block exited_blocks[LOCAL_MAX];
static void *exited_freed[LOCAL_MAX], *exited_kept[LOCAL_MAX], *exited_batch[2 * LOCAL_MAX];

/* Batches into the pools of a thread that has exited (its heap abandoned,
 * still holding the blocks) act for it, as pym_free does: the first (two
 * thirds, address order, with NULLs and forwarded pointers) leaves its
 * pools with just the kept blocks and gives back to the arena the pools it
 * emptied, the second (the rest, shuffled) gives back every pool. */
static void a_batch_into_the_pools_of_an_exited_thread_gives_them_back(void **state)
{
    (void)state;
    static const size_t sizes[] = {176, 240};
    enum { NSIZES = 2, NFWD = 2 };
    const uint64_t salt = 0xe61;
    pym_stats_t stats_before, stats_after;
    pym_stats_get(&stats_before);
    static struct owner_job w;
    w = (struct owner_job){.sizes = sizes, .nsizes = NSIZES, .salt = salt, .blocks = exited_blocks};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, allocate_and_exit, &w), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_false(w.census.overflow);
    const pym_heap_t *owner = w.census.heap;
    assert_int_equal(atomic_load(&owner->state), PYM_HEAP_ABANDONED);

    struct test_block *b = w.blocks;
    unsigned n = w.n;
    const pym_pool_t *pools[LOCAL_POOLS];
    unsigned npools = pools_of(pools, LOCAL_POOLS, b, n);
    for (unsigned p = 0; p < npools; p++)
        expect_pool_back(&w.census, pools[p], kept_in(pools[p], b, n, kept_all), 1);
    unsigned nf, nk;
    split_kept(b, n, kept_first, exited_freed, &nf, exited_kept, &nk);
    qsort(exited_freed, nf, sizeof exited_freed[0], by_address);
    void *fwd[NFWD];
    for (unsigned i = 0; i < NFWD; i++)
        fwd[i] = pym_malloc(1000);
    static struct batch_job f;
    f = (struct batch_job){.ptrs = exited_batch, .n = make_batch(exited_batch, exited_freed, nf, fwd, NFWD)};
    run_batch_job(&f);
    for (unsigned p = 0; p < npools; p++)
        expect_pool_back(&w.census, pools[p], kept_in(pools[p], b, n, kept_first), 1);
    for (unsigned i = 0; i < n; i++)
        if (kept_first(&b[i]))
            assert_true(intact(&b[i], salt));

    shuffle(exited_kept, nk);
    f = (struct batch_job){.ptrs = exited_batch, .n = make_batch(exited_batch, exited_kept, nk, NULL, 0)};
    run_batch_job(&f);
    for (unsigned p = 0; p < npools; p++)
        expect_pool_back(&w.census, pools[p], 0, 1);
    pym_stats_get(&stats_after);
    for (unsigned k = 0; k < NSIZES; k++)
        assert_int_equal(blocks_in_use(&stats_after, sizes[k]), blocks_in_use(&stats_before, sizes[k]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(descriptors_are_out_of_line),
        cmocka_unit_test(every_request_size_follows_its_class_current_pool),
        cmocka_unit_test(a_fresh_pool_hands_out_blocks_from_offset_zero),
        cmocka_unit_test(block_starts_are_exactly_the_carved_blocks),
        cmocka_unit_test(a_full_pool_leaves_the_list_and_comes_back_on_free),
        cmocka_unit_test(a_dry_current_pool_trades_places_with_the_oldest_full_one),
        cmocka_unit_test(a_dry_current_pool_trades_places_with_the_only_full_one),
        cmocka_unit_test(a_pool_dry_again_trades_places_by_the_quick_refill),
        cmocka_unit_test(a_full_pool_comes_back_only_with_a_sixteenth_of_its_blocks_free),
        cmocka_unit_test(a_remote_free_into_a_full_pool_queues_it_for_its_owner),
        cmocka_unit_test(empty_pools_go_back_to_their_arena),
        cmocka_unit_test(a_batch_frees_exactly_its_blocks_in_any_order),
        cmocka_unit_test(a_batch_leaves_the_pools_as_pym_free_one_by_one_does),
        cmocka_unit_test(an_empty_batch_or_one_of_nulls_changes_nothing),
        cmocka_unit_test(a_batch_from_other_threads_goes_back_to_the_owner),
        cmocka_unit_test(a_batch_into_the_pools_of_an_exited_thread_gives_them_back),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
