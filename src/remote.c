/*
 * remote.c -- frees from a thread that does not own the block's pool.
 *
 * Layout (mimalloc's design, with CPython's pools):
 *
 *   pool->remote   [ block -> block -> ... -> NULL ] | PYM_REMOTE_FULL
 *                  pushed with one CAS by any thread, taken whole with one
 *                  exchange by the owner (pymi_pool_take_remote), so there is
 *                  no ABA: nobody pops single blocks.
 *   heap->reclaim  [ pool -> pool -> ... ] linked through pool->reclaim_next,
 *                  the FULL pools that received a remote free; pushed by the
 *                  freeing thread, taken whole by the owner when it needs a
 *                  pool (or by whoever acts for an abandoned heap).
 *
 * A FULL pool is not on any list its owner looks at, so without the reclaim
 * stack its remote frees would never be seen.  The owner raises
 * PYM_REMOTE_FULL when the pool goes FULL with an empty remote list; exactly
 * one remote free clears it (CAS) and that one pushes the pool (pool.c has
 * the invariant).  The owner pointer is read before the block is published:
 * while our block is live the pool cannot change hands.
 */
#include "internal.h"

void pymi_remote_push(pym_heap_t *owner, pym_pool_t *pool, pym_block_t *block)
{
    uintptr_t old = atomic_load_explicit(&pool->remote, memory_order_relaxed);
    do {
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
        pool->reclaim_next = head;
    } while (!atomic_compare_exchange_weak_explicit(&owner->reclaim, &head, pool,
                                                    memory_order_release, memory_order_relaxed));
}

void pymi_remote_reclaim(pym_heap_t *heap, int keep_spare)
{
    pym_pool_batch_t batch;   /* only count is set: no 512-byte memset */
    batch.count = 0;
    pymi_remote_reclaim_batched(heap, keep_spare, &batch);
    pymi_arena_return_batch(&batch);
}

/* Takes the heap's whole reclaim stack and brings each pool back into use,
 * or into batch when it turned out empty: a thread that exits after others
 * freed its blocks finds every one of its pools here.  Owner context. */
void pymi_remote_reclaim_batched(pym_heap_t *heap, int keep_spare, pym_pool_batch_t *batch)
{
    pym_pool_t *pool = atomic_exchange_explicit(&heap->reclaim, NULL, memory_order_acquire);
    while (pool != NULL) {
        pym_pool_t *next = pool->reclaim_next;
        pool->queued = 0;
        pool->flagged = 0;   /* the push that queued it cleared the flag */
        pymi_pool_take_remote(pool);
        pymi_pool_settle_batched(heap, pool, keep_spare, batch);
        pool = next;
    }
}
