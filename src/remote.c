/*
 * remote.c -- frees from a thread that does not own the block's pool, and
 * the full-pool handshake that makes sure the owner sees them.
 *
 * Layout (mimalloc's design, with CPython's pools):
 *
 *   remote         one word of the pool's line in the remote table
 *                  (types.h; the owner's malloc and free never touch it,
 *                  nor do other threads' reads of the owner): how
 *                  many blocks << 32 | the XOR of their addresses' low 16
 *                  bits << 16 | the head block's offset in the pool |
 *                  PYM_REMOTE_FULL.  The blocks are linked
 *                  through their first word as on the free list
 *                  (freelist.h), the last one to NULL.  Pushed with one
 *                  CAS by any thread (a batch at a time: heap.c's outbox),
 *                  taken whole with one exchange by the owner
 *                  (pymi_remote_take), so there is no ABA: nobody pops
 *                  single blocks.  The count
 *                  in the word spares the owner a walk of the list: a walk
 *                  is one cache miss per block, each on a line the freeing
 *                  thread's core holds (it was most of the owner's time in
 *                  the server benchmark).  A pool with nothing on its free
 *                  list takes the list as it stands.
 *   heap->reclaim  [ pool -> pool -> ... ] linked through the remote
 *                  lines' reclaim_next, the FULL pools that received a
 *                  remote free; pushed by the freeing thread, taken whole
 *                  by the owner when it needs a pool (or by whoever acts
 *                  for an abandoned heap).
 *
 * INVARIANT (the full-pool handshake):
 *   - the owner sets PYM_REMOTE_FULL only with a CAS from an empty remote
 *     list (a plain store while the process has one thread), and only
 *     when the pool is neither flagged nor queued (pymi_remote_mark_full);
 *   - the remote free that clears the bit pushes the pool on the owner's
 *     reclaim stack; the owner learns of it either by popping the stack or
 *     by finding the remote list non-empty while `flagged` (then `queued`);
 *   - a queued pool is never returned to its arena: the pop does it.
 * So a pool is on at most one reclaim stack, at most once.  The owner
 * pointer is read before the block is published: while the freeing thread's
 * block is live the pool cannot change hands.
 *
 * Misuse: a push of the list's own head would link it to itself, and a count
 * larger than the blocks in use cannot be; both end in the double-free
 * diagnostic.  A block on the list twice is caught as on the free list
 * (freelist.h): the XOR goes into the pool's back_xor when the list is taken.
 */
#include "internal.h"

#include <sys/single_threaded.h>

static PYM_NORETURN PYM_COLD void remote_double_free(const pym_pool_t *pool, const void *block)
{
    pymi_fatal("free(%p): double free (a free block freed again by a thread that does not "
               "own it; a block of the %u-byte class)", block, (unsigned)pool->block_size);
}

#define REMOTE_COUNT_SHIFT 32
#define REMOTE_XOR_SHIFT 16
#define REMOTE_HEAD_MASK ((uintptr_t)PYM_POOL_MASK & ~PYM_REMOTE_FULL)

static unsigned remote_count(uintptr_t word)
{
    return (unsigned)(word >> REMOTE_COUNT_SHIFT);
}

static uint16_t remote_xor(uintptr_t word)
{
    return (uint16_t)(word >> REMOTE_XOR_SHIFT);
}

static pym_block_t *remote_head(const pym_pool_t *pool, uintptr_t word)
{
    if (remote_count(word) == 0)
        return NULL;
    return (pym_block_t *)(pymi_pool_page(pool) + (word & REMOTE_HEAD_MASK));
}

void pymi_remote_push_list(pym_heap_t *owner, pym_pool_t *pool, pym_block_t *head,
                           pym_block_t *tail, unsigned count, uint16_t live_xor)
{
    pym_pool_remote_t *remote = pymi_pool_remote(pool);
    uintptr_t offset = (uintptr_t)head & PYM_POOL_MASK;
    uintptr_t old = atomic_load_explicit(&remote->remote, memory_order_relaxed);
    uintptr_t word;
    do {
        pym_block_t *next = remote_head(pool, old);
        if (pym_unlikely(next == head || next == tail))
            remote_double_free(pool, next);
        pymi_block_set_next(tail, next);
        word = ((uintptr_t)(remote_count(old) + count) << REMOTE_COUNT_SHIFT) |
               ((uintptr_t)(uint16_t)(remote_xor(old) ^ live_xor) << REMOTE_XOR_SHIFT) | offset;
    /* acq_rel, not release: when we find PYM_REMOTE_FULL we go on to write
     * reclaim_next, which the previous notifier wrote; acquiring the
     * owner's flag orders our write after that one (TSan found it). */
    } while (!atomic_compare_exchange_weak_explicit(&remote->remote, &old, word,
                                                    memory_order_acq_rel, memory_order_relaxed));
    if (!(old & PYM_REMOTE_FULL))
        return;
    pym_pool_t *top = atomic_load_explicit(&owner->reclaim, memory_order_relaxed);
    do {
        remote->reclaim_next = pymi_pool_number(top);
    } while (!atomic_compare_exchange_weak_explicit(&owner->reclaim, &top, pool,
                                                    memory_order_release, memory_order_relaxed));
}

void pymi_remote_push(pym_heap_t *owner, pym_pool_t *pool, pym_block_t *block)
{
    pymi_remote_push_list(owner, pool, block, block, 1, (uint16_t)(uintptr_t)block);
}

/* The last block of a remote list of count blocks, checking each link. */
static pym_block_t *remote_tail(const pym_pool_t *pool, pym_block_t *head, unsigned count)
{
    pym_block_t *tail = head;
    for (unsigned seen = 1;; seen++) {
        pym_block_t *next = pymi_block_next(tail);
        if (next == NULL)
            return tail;
        if (!pymi_block_link_is_sane(tail, next))
            pymi_freelist_corrupt(tail);
        if (seen >= count)
            remote_double_free(pool, next);   /* longer than counted: a block twice */
        tail = next;
    }
}

unsigned pymi_remote_take(pym_pool_t *pool)
{
    pym_pool_remote_t *remote = pymi_pool_remote(pool);
    uintptr_t word = atomic_load_explicit(&remote->remote, memory_order_relaxed);
    if (remote_count(word) == 0)
        return 0;
    /* Non-empty, so PYM_REMOTE_FULL is clear (a push clears it) and only
     * pushes can happen until we swap the list out. */
    word = atomic_exchange_explicit(&remote->remote, 0, memory_order_acquire);
    pymi_pool_publish_limit(pool);   /* the line is ours now: the next pushes skip the owner's */
    if (pool->flagged) {
        /* Our flag was cleared by the first of these pushes, which queued
         * (or is queueing) the pool on our reclaim stack. */
        pool->flagged = 0;
        pool->queued = 1;
    }
    unsigned count = remote_count(word);
    pym_block_t *head = remote_head(pool, word);
    if (pym_unlikely(pool->used < count))
        remote_double_free(pool, head);
    if (!pymi_is_list_end(pool->free))   /* else the list ends in the remote one's NULL */
        pymi_block_set_next(remote_tail(pool, head, count), pool->free);
    pool->free = head;
    pool->used -= count;
    pool->back_xor ^= remote_xor(word);
    return count;
}

/* The flag goes in with a CAS from an empty list.  While the process has
 * one thread (glibc's __libc_single_threaded, which pthread_create clears
 * before the new thread runs) nobody can push onto the list between our
 * load and our store, and a thread started later sees the store: a plain
 * store does.  The CAS's lock prefix waited for every store before it, in
 * a batch's malloc phase the carving stores into cold blocks: 97 % of this
 * function's samples, 5 % of batch/lifo/100000. */
int pymi_remote_mark_full(pym_pool_t *pool)
{
    pym_pool_remote_t *remote = pymi_pool_remote(pool);
    if (!pool->flagged && !pool->queued) {
        pymi_pool_publish_limit(pool);   /* carved to its end: every block a remote free may bring */
        uintptr_t empty = 0;
        if (__libc_single_threaded &&
            atomic_load_explicit(&remote->remote, memory_order_relaxed) == empty) {
            atomic_store_explicit(&remote->remote, PYM_REMOTE_FULL, memory_order_relaxed);
        } else if (!atomic_compare_exchange_strong_explicit(&remote->remote, &empty, PYM_REMOTE_FULL,
                                                            memory_order_acq_rel,
                                                            memory_order_relaxed)) {
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
        pym_pool_t *next = pymi_pool_at(pymi_pool_remote(pool)->reclaim_next);
        pool->queued = 0;
        pool->flagged = 0;   /* the push that queued it cleared the flag */
        pymi_remote_take(pool);
        pymi_pool_settle_batched(heap, pool, keep_spare, batch);
        pool = next;
    }
}
