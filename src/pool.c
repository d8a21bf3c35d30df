/*
 * pool.c -- one pool's blocks, its place on its heap's lists, and the
 * handshake that lets other threads free into it.
 *
 * A pool is carved lazily, as CPython does: `free` holds blocks given back
 * plus at most one block just past the carved area; when malloc pops the
 * last one (its next is NULL) the fast path carves the next block from
 * nextoffset (alloc_inline.h), and only when nextoffset passes maxnextoffset
 * is the pool exhausted.  No page is touched before a block on it is needed.
 *
 * Everything here runs in the owner's context: the owning thread, or a
 * thread holding the lock of an abandoned owner heap (heap.c).  The only
 * field other threads write is `remote` (remote.c), and the pool's reclaim
 * link, once, after they cleared PYM_REMOTE_FULL.
 *
 * INVARIANT (the full-pool handshake; remote.c has the other half):
 *   - the owner sets PYM_REMOTE_FULL only with a CAS from an empty remote
 *     list, and only when the pool is neither flagged nor queued;
 *   - the remote free that clears the bit pushes the pool on the owner's
 *     reclaim stack; the owner learns of it either by popping the stack or
 *     by finding the remote list non-empty while `flagged` (then `queued`);
 *   - a queued pool is never returned to its arena: the pop does it.
 * So a pool is on at most one reclaim stack, at most once.
 */
#include "internal.h"

pym_pool_t pymi_exhausted_pool;   /* free == NULL forever */
uintptr_t pymi_freelist_key;
uint64_t pymi_block_starts[PYM_NUM_CLASSES][PYM_POOL_SIZE / 64];

void pymi_block_starts_init(void)
{
    for (unsigned c = 0; c < PYM_NUM_CLASSES; c++) {
        size_t size = pymi_class_to_size(c);
        for (size_t offset = PYM_POOL_HEADER_SIZE; offset + size <= PYM_POOL_SIZE; offset += size)
            pymi_block_starts[c][offset >> 6] |= (uint64_t)1 << (offset & 63);
    }
}

void pymi_freelist_corrupt(const void *block)
{
    pymi_fatal("heap corruption: the free-list link in free block %p was overwritten "
               "(use after free, or an overrun from the block before it)", block);
}

void pymi_pool_init(pym_pool_t *pool, pym_heap_t *heap, unsigned sizeclass)
{
    size_t size = pymi_class_to_size(sizeclass);
    pym_block_t *first = (pym_block_t *)((char *)pool + PYM_POOL_HEADER_SIZE);
    pymi_block_set_next(first, NULL);
    pool->free = first;
    pool->owner = heap;
    pool->nextoffset = (uint16_t)(PYM_POOL_HEADER_SIZE + size);
    pool->maxnextoffset = (uint16_t)(PYM_POOL_SIZE - size);
    pool->used = 0;
    pool->block_size = (uint16_t)size;
    pool->sizeclass = (uint8_t)sizeclass;
    pool->state = PYM_POOL_LINKED;
    pool->flagged = 0;
    pool->queued = 0;
    atomic_store_explicit(&pool->remote, 0, memory_order_relaxed);
    pool->reclaim_next = NULL;
    pool->next = pool->prev = NULL;
}

/* Appends the pool to its class list.  A pool that comes back from FULL
 * goes last (mimalloc's habit, not CPython's front): the pools ahead of it
 * are used first, so it gathers more frees before malloc reaches it and a
 * random churn does not make it full again after one block.  A fresh pool
 * lands on an empty list and is used at once. */
void pymi_pool_link(pym_heap_t *heap, pym_pool_t *pool)
{
    unsigned c = pool->sizeclass;
    pym_pool_t *tail = heap->tails[c];
    pool->next = NULL;
    pool->prev = tail;
    if (tail != NULL)
        tail->next = pool;
    else
        heap->pools[c] = pool;
    heap->tails[c] = pool;
    pool->state = PYM_POOL_LINKED;
}

void pymi_pool_unlink(pym_heap_t *heap, pym_pool_t *pool)
{
    unsigned c = pool->sizeclass;
    if (pool->prev != NULL)
        pool->prev->next = pool->next;
    else
        heap->pools[c] = pool->next != NULL ? pool->next : &pymi_exhausted_pool;
    if (pool->next != NULL)
        pool->next->prev = pool->prev;
    else
        heap->tails[c] = pool->prev;
    pool->next = pool->prev = NULL;
    pool->state = PYM_POOL_FULL;
}

/* A remote list this long is likely most of the pool: from there on the
 * walk fetches the pool's carved lines all at once (prefetch) instead of one
 * cache miss per link.  A thread that exits after others freed its blocks
 * walks 63 links per pool of 64-byte blocks, in the order they were freed. */
#define PYM_REMOTE_PREFETCH_AFTER 8u

static void pool_prefetch_carved(const pym_pool_t *pool)
{
    for (size_t offset = PYM_POOL_HEADER_SIZE; offset < pool->nextoffset; offset += 64)
        __builtin_prefetch((const char *)pool + offset);
}

/* Moves the remote list onto the local free list; returns how many blocks. */
unsigned pymi_pool_take_remote(pym_pool_t *pool)
{
    uintptr_t word = atomic_load_explicit(&pool->remote, memory_order_relaxed);
    if ((word & ~PYM_REMOTE_FULL) == 0)
        return 0;
    /* Non-empty, so PYM_REMOTE_FULL is clear (a push clears it) and only
     * pushes can happen until we swap the list out. */
    word = atomic_exchange_explicit(&pool->remote, 0, memory_order_acquire);
    if (pool->flagged) {
        /* Our flag was cleared by the first of these pushes, which queued
         * (or is queueing) the pool on our reclaim stack. */
        pool->flagged = 0;
        pool->queued = 1;
    }
    pym_block_t *head = (pym_block_t *)word;
    pym_block_t *tail = head;
    unsigned count = 1;
    for (pym_block_t *next; (next = pymi_block_next(tail)) != NULL; tail = next) {
        if (!pymi_block_link_is_sane(tail, next))
            pymi_freelist_corrupt(tail);
        if (++count == PYM_REMOTE_PREFETCH_AFTER)
            pool_prefetch_carved(pool);
    }
    pymi_block_set_next(tail, pool->free);
    pool->free = head;
    pym_assert(pool->used >= count);
    pool->used = (uint16_t)(pool->used - count);
    return count;
}

/* Marks a pool that has nothing left FULL and unlinked, raising the flag
 * that makes the next remote free notify us.  Returns 0 if remote blocks
 * turned up instead (the pool stays linked with them). */
static int pool_go_full(pym_heap_t *heap, pym_pool_t *pool)
{
    if (!pool->flagged && !pool->queued) {
        uintptr_t empty = 0;
        if (!atomic_compare_exchange_strong_explicit(&pool->remote, &empty, PYM_REMOTE_FULL,
                                                     memory_order_acq_rel, memory_order_relaxed)) {
            pymi_pool_take_remote(pool);
            return 0;
        }
        pool->flagged = 1;
    }
    if (pool->state == PYM_POOL_LINKED)
        pymi_pool_unlink(heap, pool);
    return 1;
}

/* The malloc fast path popped the pool's last block and there is no
 * uncarved space: refill from the remote list or retire the pool. */
void pymi_pool_exhausted(pym_heap_t *heap, pym_pool_t *pool)
{
    if (pymi_pool_take_remote(pool) != 0)
        return;
    pool_go_full(heap, pool);
}

/* Decides what an empty pool (used == 0) becomes.  keep_spare: the heap is
 * live and may keep one empty pool per class against malloc/free thrash.
 * A pool for the arena goes into batch, or straight back when batch is NULL. */
static void pool_empty(pym_heap_t *heap, pym_pool_t *pool, int keep_spare, pym_pool_batch_t *batch)
{
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
            pymi_pool_link(heap, pool);
        return;
    }
    if (spare == pool)
        heap->spare[c] = NULL;
    if (pool->state == PYM_POOL_LINKED)
        pymi_pool_unlink(heap, pool);
    if (batch != NULL)
        pymi_pool_batch_add(batch, pool);
    else
        pymi_arena_return_pool(pool);
}

void pymi_pool_settle(pym_heap_t *heap, pym_pool_t *pool, int keep_spare)
{
    pymi_pool_settle_batched(heap, pool, keep_spare, NULL);
}

/* After blocks came back to the pool (a local free, a drain): relink it if
 * it was FULL, release it if it is empty (into batch, unless NULL). */
void pymi_pool_settle_batched(pym_heap_t *heap, pym_pool_t *pool, int keep_spare,
                              pym_pool_batch_t *batch)
{
    if (pool->used == 0) {
        pool_empty(heap, pool, keep_spare, batch);
        return;
    }
    if (pool->state != PYM_POOL_FULL)
        return;
    /* A FULL pool popped from the reclaim stack may have had its remote
     * blocks taken already; if it is still full, flag it again. */
    if (pool->free != NULL || !pool_go_full(heap, pool))
        pymi_pool_link(heap, pool);
}
