/*
 * pool.c -- one pool: its descriptor, its blocks and its free list.
 *
 * A pool is one page, so it is linked whole when it is taken (pool_init):
 * the page is touched then in any case, by its first block, and malloc's
 * fast path no longer carves (CPython's nextoffset) -- it only pops.
 * Blocks freed by the owner go back on free; malloc's slow path takes the
 * remote list (remote.c) when free runs dry.
 *
 * Everything here runs in the owner's context: the owning thread, or a
 * thread holding the lock of an abandoned owner heap (heap.c).  The only
 * fields other threads write are `remote` and `reclaim_next` (remote.c).
 * A pool's place on its heap's class list is the heap's business (heap.c):
 * this file only says what a pool whose blocks came back becomes.
 */
#include "internal.h"

pym_pool_t pymi_exhausted_pool;   /* free == NULL forever */
struct pymi_secrets pymi_secrets;

void pymi_freelist_corrupt(const void *block)
{
    pymi_fatal("heap corruption: the free-list link in free block %p is not valid (a double "
               "free, a use after free, or an overrun from the block before it)", block);
}

/* The block-start test (internal.h): offset = q * size + r is a block start
 * iff r == 0 and q < capacity.  With magic = ceil(2^32 / size) and
 * e = magic * size - 2^32 (< size), offset * magic = q * e + r * magic
 * (mod 2^32): at most (capacity - 1) * e (< 4096) for block starts, at
 * least magic (>= 2^24) for everything else, and never wrapping, since
 * (q + 1) * e < 2^16 < magic (Lemire, Kaser, Kurz 2019). */
static void pool_set_block_test(pym_pool_t *pool, uint32_t size, unsigned capacity)
{
    uint32_t magic = (uint32_t)(UINT32_MAX / size + 1);
    uint32_t e = magic * size;   /* wraps: magic * size - 2^32 */
    pool->start_magic = magic;
    pool->start_limit = (uint16_t)((capacity - 1) * e);
}

void pymi_pool_init(pym_pool_t *pool, pym_heap_t *heap, unsigned sizeclass)
{
    size_t size = pymi_class_to_size(sizeclass);
    unsigned capacity = pymi_class_capacity(sizeclass);
    char *page = pymi_pool_page(pool);
    /* Linked in address order and written in address order: the page is
     * usually fresh from the kernel, its lines in no cache, and an ascending
     * stream of stores is what the hardware prefetcher follows best
     * (python3 with PYTHONMALLOC=malloc: this loop went from 10 % to 7 % of
     * the samples, perf; nearly all of it the stores' misses).  Linking a
     * few blocks at a time as malloc reaches them was tried: 6 %, not worth
     * the extra state. */
    pym_block_t *first = (pym_block_t *)page, *block = first;
    for (unsigned i = 1; i < capacity; i++) {
        pym_block_t *next = (pym_block_t *)(page + i * size);
        pymi_block_set_next(block, next);
        block = next;
    }
    pymi_block_set_next(block, NULL);
    pool->free = first;
    pymi_pool_set_owner(pool, heap);
    pool_set_block_test(pool, (uint32_t)size, capacity);
    pool->used = 0;
    pool->block_size = (uint16_t)size;
    pool->sizeclass = (uint8_t)sizeclass;
    pool->state = PYM_POOL_DETACHED;   /* until heap.c links it */
    pool->flagged = 0;
    pool->queued = 0;
    pool->capacity = (uint16_t)capacity;
    pool->next = pool->prev = 0;
    pool->reclaim_next = 0;
    pool->live_xor = 0;
    atomic_store_explicit(&pool->remote, 0, memory_order_relaxed);
}

void pymi_pool_push_free(pym_pool_t *pool, pym_block_t *block)
{
    if (block == pool->free || pool->used == 0)
        pymi_free_invalid(block, "double free");
    pymi_block_set_next(block, pool->free);
    pool->free = block;
    pool->live_xor ^= (uint16_t)(uintptr_t)block;
    pool->used--;
}

void pymi_pool_check_empty(const pym_pool_t *pool)
{
    if (pool->live_xor != 0)
        pymi_fatal("free(): double free in a pool of %u-byte blocks (the pool counts as empty "
                   "while a block of it is still in use)", (unsigned)pool->block_size);
}

/* Decides what an empty pool becomes.  keep_spare: the heap is live and may
 * keep one empty pool per class against malloc/free thrash.  A pool for the
 * arena goes into batch, or straight back when batch is NULL. */
static void pool_empty(pym_heap_t *heap, pym_pool_t *pool, int keep_spare, pym_pool_batch_t *batch)
{
    pymi_pool_check_empty(pool);
    if (pool->queued)
        return;   /* on a reclaim stack: the pop will come back here */
    if (pool->flagged) {
        /* No block is live, so no remote free can race with us. */
        atomic_store_explicit(&pool->remote, 0, memory_order_relaxed);
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
        pymi_arena_return_pool(pool);
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
    if (pool->free != NULL || !pymi_remote_mark_full(pool))
        pymi_heap_link(heap, pool);
}
