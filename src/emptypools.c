/*
 * emptypools.c -- a heap's stack of empty pools, between its size classes
 * and the arena.
 *
 * A pool that empties and that its heap does not keep as the class's spare
 * (pool.c) goes on this stack instead of straight back to its arena, and a
 * fresh pool of any class comes off it; when the stack is empty,
 * PYM_EMPTY_TAKE pools come from the arena at once.  The arena lock, its
 * lists and the decay clock are then paid once per PYM_EMPTY_TAKE pools
 * taken and once per PYM_HEAP_EMPTY_POOLS / 2 given back, where each pool
 * paid them before: a batch of 100 000 mixed blocks empties and takes
 * again some 7 000 pools a cycle, and a batch of 1 000 reuses its few dozen
 * without reaching the arena at all (tcmalloc's and jemalloc's thread
 * caches do the same for their spans and slabs).
 *
 * Memory: at most PYM_HEAP_EMPTY_POOLS (128 KiB) a heap.  When the stack
 * is full its older half goes back in one call.  Pools left on it unused
 * for the purge delay go back to the arena at the heap's decay tick
 * (alloc.c), and the arena's decay gives their pages back after that;
 * trim and thread exit send them all back at once; with
 * PYMALLOC_PURGE_DELAY_MS=0 nothing is kept.
 *
 * A pool here has no owner, as one in its arena (a free of one of its
 * blocks is reported as such, alloc.c) and is on no list; statistics count
 * it as a free pool (stats.c).  Owner context only.
 */
#include "internal.h"

pym_pool_t *pymi_heap_take_empty_pool(pym_heap_t *heap)
{
    if (heap->empty_count == 0) {
        /* With no purge delay the stack keeps nothing (the tick would send
         * back what a batch brought): one pool at a time. */
        unsigned want = pymi_option(PYM_OPTION_PURGE_DELAY_MS) == 0 ? 1 : PYM_EMPTY_TAKE;
        pym_pool_t *taken[PYM_EMPTY_TAKE];
        unsigned n = pymi_arena_take_pools(taken, want);
        if (n == 0)
            return NULL;
        for (unsigned i = 0; i < n; i++)   /* the arena's first choice on top */
            heap->empty[i] = taken[n - 1 - i];
        heap->empty_count = (uint16_t)n;
    }
    heap->empty_touched = 1;
    return heap->empty[--heap->empty_count];
}

void pymi_heap_keep_empty_pool(pym_heap_t *heap, pym_pool_t *pool)
{
    if (pymi_option(PYM_OPTION_PURGE_DELAY_MS) == 0) {
        pymi_arena_return_pool(pool);
        return;
    }
    if (heap->empty_count == PYM_HEAP_EMPTY_POOLS) {
        const unsigned half = PYM_HEAP_EMPTY_POOLS / 2;
        pymi_arena_return_pools(heap->empty, half);   /* the older half */
        for (unsigned i = half; i < PYM_HEAP_EMPTY_POOLS; i++)
            heap->empty[i - half] = heap->empty[i];
        heap->empty_count = (uint16_t)(PYM_HEAP_EMPTY_POOLS - half);
    }
    heap->empty[heap->empty_count++] = pool;
    heap->empty_touched = 1;
}

void pymi_heap_release_empty_pools(pym_heap_t *heap, pym_pool_batch_t *batch)
{
    while (heap->empty_count > 0)
        pymi_pool_batch_add(batch, heap->empty[--heap->empty_count]);
}

void pymi_heap_age_empty_pools(pym_heap_t *heap, int64_t now)
{
    if (heap->empty_count == 0)
        return;
    long delay = pymi_option(PYM_OPTION_PURGE_DELAY_MS);
    if (heap->empty_touched && delay != 0) {
        heap->empty_touched = 0;
        heap->empty_idle_since_ms = now;
        return;
    }
    if (now - heap->empty_idle_since_ms < delay)
        return;
    pymi_arena_return_pools(heap->empty, heap->empty_count);
    heap->empty_count = 0;
}
