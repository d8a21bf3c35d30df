/*
 * remote.c -- frees from a thread that does not own the block's pool, and
 * the full-pool handshake that makes sure the owner sees them.
 *
 * Layout (mimalloc's design, with CPython's pools):
 *
 *   pool->remote   [ block -> block -> ... -> NULL ] | PYM_REMOTE_FULL
 *                  pushed with one CAS by any thread, taken whole with one
 *                  exchange by the owner (pymi_remote_take), so there is
 *                  no ABA: nobody pops single blocks.
 *   heap->reclaim  [ pool -> pool -> ... ] linked through pool->reclaim_next,
 *                  the FULL pools that received a remote free; pushed by the
 *                  freeing thread, taken whole by the owner when it needs a
 *                  pool (or by whoever acts for an abandoned heap).
 *
 * INVARIANT (the full-pool handshake):
 *   - the owner sets PYM_REMOTE_FULL only with a CAS from an empty remote
 *     list, and only when the pool is neither flagged nor queued
 *     (pymi_remote_mark_full);
 *   - the remote free that clears the bit pushes the pool on the owner's
 *     reclaim stack; the owner learns of it either by popping the stack or
 *     by finding the remote list non-empty while `flagged` (then `queued`);
 *   - a queued pool is never returned to its arena: the pop does it.
 * So a pool is on at most one reclaim stack, at most once.  The owner
 * pointer is read before the block is published: while the freeing thread's
 * block is live the pool cannot change hands.
 *
 * Misuse: a block pushed twice in a row would link to itself and the owner
 * would walk the list forever; a push of the list's own head, or a walk
 * longer than the pool's capacity, ends in the double-free diagnostic.
 */
#include "internal.h"

static PYM_NORETURN PYM_COLD void remote_double_free(const pym_pool_t *pool, const void *block)
{
    pymi_fatal("free(%p): double free (freed twice by threads that do not own it; "
               "a block of the %u-byte class)", block, (unsigned)pool->block_size);
}

void pymi_remote_push(pym_heap_t *owner, pym_pool_t *pool, pym_block_t *block)
{
    uintptr_t old = atomic_load_explicit(&pool->remote, memory_order_relaxed);
    do {
        if (pym_unlikely((old & ~PYM_REMOTE_FULL) == (uintptr_t)block))
            remote_double_free(pool, block);
        pymi_block_set_next(block, (pym_block_t *)(old & ~PYM_REMOTE_FULL));
    /* acq_rel, not release: when we find PYM_REMOTE_FULL we go on to write
     * pool->reclaim_next, which the previous notifier wrote; acquiring the
     * owner's flag orders our write after that one (TSan found it). */
    } while (!atomic_compare_exchange_weak_explicit(&pool->remote, &old, (uintptr_t)block,
                                                    memory_order_acq_rel, memory_order_relaxed));
    if (!(old & PYM_REMOTE_FULL))
        return;
    pym_pool_t *head = atomic_load_explicit(&owner->reclaim, memory_order_relaxed);
    do {
        pool->reclaim_next = pymi_pool_number(head);
    } while (!atomic_compare_exchange_weak_explicit(&owner->reclaim, &head, pool,
                                                    memory_order_release, memory_order_relaxed));
}

/* A remote list this long is likely most of the pool: from there on the
 * walk fetches the whole page at once (prefetch) instead of one cache miss
 * per link.  A thread that exits after others freed its blocks walks 63
 * links per pool of 64-byte blocks, in the order they were freed. */
#define PYM_REMOTE_PREFETCH_AFTER 8u

static void pool_prefetch_page(const pym_pool_t *pool)
{
    const char *page = pymi_pool_page(pool);
    for (size_t offset = 0; offset < PYM_POOL_SIZE; offset += 64)
        __builtin_prefetch(page + offset);
}

unsigned pymi_remote_take(pym_pool_t *pool)
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
        if (++count > pool->capacity)
            remote_double_free(pool, next);
        if (count == PYM_REMOTE_PREFETCH_AFTER)
            pool_prefetch_page(pool);
    }
    pymi_block_set_next(tail, pool->free);
    pool->free = head;
    if (pym_unlikely(pool->used < count))
        remote_double_free(pool, head);
    pool->used = (uint16_t)(pool->used - count);
    return count;
}

int pymi_remote_mark_full(pym_pool_t *pool)
{
    if (!pool->flagged && !pool->queued) {
        uintptr_t empty = 0;
        if (!atomic_compare_exchange_strong_explicit(&pool->remote, &empty, PYM_REMOTE_FULL,
                                                     memory_order_acq_rel, memory_order_relaxed)) {
            pymi_remote_take(pool);
            return 0;
        }
        pool->flagged = 1;
    }
    return 1;
}

/* Takes the heap's whole reclaim stack and brings each pool back into use,
 * or into batch when it turned out empty: a thread that exits after others
 * freed its blocks finds every one of its pools here.  Owner context. */
void pymi_remote_reclaim_batched(pym_heap_t *heap, int keep_spare, pym_pool_batch_t *batch)
{
    pym_pool_t *pool = atomic_exchange_explicit(&heap->reclaim, NULL, memory_order_acquire);
    while (pool != NULL) {
        pym_pool_t *next = pymi_pool_at(pool->reclaim_next);
        pool->queued = 0;
        pool->flagged = 0;   /* the push that queued it cleared the flag */
        pymi_remote_take(pool);
        pymi_pool_settle_batched(heap, pool, keep_spare, batch);
        pool = next;
    }
}
