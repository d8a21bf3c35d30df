/*
 * pool.c -- one pool: its descriptor, its blocks and its free list.
 *
 * A pool is born with an empty free list and all its blocks uncarved:
 * malloc pops the free list and, when it is empty, carves the next block
 * of the page (CPython's nextoffset; alloc_inline.h), so the blocks of a
 * fresh pool are neither linked at its birth nor unlinked again one by one
 * (v2 linked the whole page in pool_init: 12 of 125 instructions per pair
 * in a batch of 100 000 objects, and the pop decoded each link again).
 * The block-start limit grows with each carved block, so a free of a block
 * never handed out fails the block-start test instead of joining the list.
 * Blocks freed by the owner go back on free; malloc's slow path takes the
 * remote list (remote.c) when free runs dry and nothing is left to carve.
 *
 * Everything here runs in the owner's context: the owning thread, or a
 * thread holding the lock of an abandoned owner heap (heap.c).  The only
 * fields other threads write are `remote` and `reclaim_next`, in the
 * pool's line of the remote table (types.h, remote.c).
 * A pool's place on its heap's class list is the heap's business (heap.c):
 * this file only says what a pool whose blocks came back becomes.
 */
#include "internal.h"

/* No block, ever: an empty list and nothing to carve. */
pym_pool_t pymi_exhausted_pool = {.free = (pym_block_t *)PYM_LIST_END_BIT, .carved = UINT16_MAX};
struct pymi_constants pymi_const;

void pymi_freelist_corrupt(const void *block)
{
    pymi_fatal("heap corruption: the free-list link in free block %p is not valid (a double "
               "free, a use after free, or an overrun from the block before it)", block);
}

/* The block-start test (internal.h): offset = q * size + r is a block start
 * iff r == 0 and q < n, the number of blocks carved.  With magic =
 * floor(2^32 / size) + 1 and e = magic * size - 2^32 (0 < e <= size),
 * offset * magic = q * e + r * magic (mod 2^32): at most (n - 1) * e
 * (< PYM_POOL_SIZE) for the carved block starts, at least n * e for the uncarved
 * ones and at least magic (>= 2^24) for everything else, never wrapping,
 * since (q + 1) * e <= PYM_POOL_SIZE < magic (Lemire, Kaser, Kurz 2019).  e > 0
 * even for a power of two (ceil(2^32 / size) would make it 0), so that the
 * limit can count carved blocks: carving the block at offset o sets it to
 * o * magic (mod 2^32), which is (n - 1) * e (alloc_inline.h). */
static void pool_set_block_test(pym_pool_t *pool, pym_pool_shared_t *shared, unsigned sizeclass)
{
    pool->start_magic = shared->start_magic = pymi_class_start_magic(sizeclass);   /* sizeclass.h */
    __atomic_store_n(&pool->start_limit, 0, __ATOMIC_RELAXED);
    atomic_store_explicit(&shared->start_limit, 0, memory_order_relaxed);
}

void pymi_pool_init(pym_pool_t *pool, pym_heap_t *heap, unsigned sizeclass)
{
    size_t size = pymi_class_to_size(sizeclass);
    unsigned capacity = pymi_class_capacity(sizeclass);
    pym_pool_shared_t *shared = pymi_pool_shared(pool);
    pool->free = pymi_list_end(pymi_pool_page(pool));
    pool->carved = 0;
    pymi_pool_set_owner(pool, heap);
    pool_set_block_test(pool, shared, sizeclass);
    pool->used = 0;
    pool->block_size = (uint16_t)size;
    pool->sizeclass = shared->sizeclass = (uint8_t)sizeclass;
    pool->state = PYM_POOL_DETACHED;   /* until heap.c links it */
    pool->flagged = 0;
    pool->queued = 0;
    pool->last_block = (uint16_t)((capacity - 1) * size);
    pool->next = pool->prev = 0;
    pool->out_xor = pool->back_xor = 0;
    pym_pool_remote_t *remote = pymi_pool_remote(pool);
    remote->reclaim_next = 0;
    atomic_store_explicit(&remote->remote, 0, memory_order_relaxed);
}

void pymi_pool_push_free(pym_pool_t *pool, pym_block_t *block)
{
    if (block == pool->free || pool->used == 0)
        pymi_free_invalid(block, "double free");
    pymi_block_set_next(block, pool->free);
    pool->free = block;
    pool->back_xor ^= (uint16_t)(uintptr_t)block;
    pool->used--;
}

void pymi_pool_check_empty(const pym_pool_t *pool)
{
    if (pool->out_xor != pool->back_xor)
        pymi_fatal("free(): double free in a pool of %u-byte blocks (the pool counts as empty "
                   "while a block of it is still in use)", (unsigned)pool->block_size);
}

/* Decides what an empty pool becomes.  keep_spare: the heap is live and may
 * keep one empty pool per class against malloc/free thrash.  Any other
 * goes into batch (for the arena), or onto the heap's stack of empty pools
 * when batch is NULL (the owner's own frees and reclaims, emptypools.c). */
static void pool_empty(pym_heap_t *heap, pym_pool_t *pool, int keep_spare, pym_pool_batch_t *batch)
{
    pymi_pool_check_empty(pool);
    if (pool->queued)
        return;   /* on a reclaim stack: the pop will come back here */
    if (pool->flagged) {
        /* No block is live, so no remote free can race with us. */
        atomic_store_explicit(&pymi_pool_remote(pool)->remote, 0, memory_order_relaxed);
        pool->flagged = 0;
    }
    unsigned c = pool->sizeclass;
    pym_pool_t *spare = heap->spare[c];
    if (keep_spare && (spare == NULL || spare == pool || spare->used != 0)) {
        heap->spare[c] = pool;
        if (pool->state != PYM_POOL_LINKED)
            pymi_heap_link(heap, pool);
        return;
    }
    if (spare == pool)
        heap->spare[c] = NULL;
    pymi_heap_unlink(heap, pool);
    pymi_pool_set_owner(pool, NULL);   /* a later free() of its blocks is then detected */
    if (batch != NULL)
        pymi_pool_batch_add(batch, pool);
    else
        pymi_heap_keep_empty_pool(heap, pool);
}

void pymi_pool_settle(pym_heap_t *heap, pym_pool_t *pool, int keep_spare)
{
    pymi_pool_settle_batched(heap, pool, keep_spare, NULL);
}

/* After blocks came back to a pool that is not its heap's current one (a
 * local free, a drain): relink it if it was FULL, release it if it is empty
 * (into batch, unless NULL). */
void pymi_pool_settle_batched(pym_heap_t *heap, pym_pool_t *pool, int keep_spare,
                              pym_pool_batch_t *batch)
{
    if (pool->used == (pool == heap->pools[pool->sizeclass])) {
        pool_empty(heap, pool, keep_spare, batch);
        return;
    }
    if (pool->state != PYM_POOL_FULL)
        return;
    /* A FULL pool popped from the reclaim stack may have had its remote
     * blocks taken already; if it is still full, flag it again. */
    if (!pymi_is_list_end(pool->free) || !pymi_remote_mark_full(pool))
        pymi_heap_link(heap, pool);
}
