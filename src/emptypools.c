/*
 * emptypools.c -- a heap's stack of empty pools, between its size classes
 * and the arena.
 *
 * A pool that empties and that its heap does not keep as the class's spare
 * (pool.c) goes on this stack instead of straight back to its arena, and a
 * fresh pool of any class comes off it, the newest first; when the stack
 * is empty, PYM_EMPTY_TAKE pools come from the arena at once.  The arena
 * lock, its lists and the decay clock are then paid once per
 * PYM_EMPTY_TAKE pools taken and once per PYM_EMPTY_RETURN given back,
 * where each pool paid them before: a batch of 100 000 mixed blocks
 * empties and takes again some 1 700 pools a cycle, and a batch of 1 000
 * reuses its few without reaching the arena at all (tcmalloc's and
 * jemalloc's thread caches do the same for their spans and slabs).  The
 * stack holds up to PYM_HEAP_EMPTY_POOLS (1 MiB), enough for a program
 * that builds and drops structures of a few hundred KiB over and over
 * (bench's binary trees: 32 pools a tree) to get its own pools back,
 * still in cache, instead of the arena's choice.
 *
 * Memory: when the stack is full, its oldest PYM_EMPTY_RETURN pools go
 * back to their arenas (a ring: nothing moves).  Pools that stay unused
 * for the purge delay go back too: each aging step, at the heap's decay
 * tick (alloc.c) once a delay has passed since the last, returns the
 * pools below the stack's low-water mark since that step, which no fresh
 * pool has needed for a whole delay (tcmalloc ages its thread caches by a
 * low-water mark the same way).  An empty pool thus goes back after one to
 * two delays unused, and the arena's decay gives its pages back a delay
 * after that; trim and thread exit send them all back at once; with
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
        unsigned n = pymi_arena_take_pools(&heap->home, taken, want);
        if (n == 0)
            return NULL;
        heap->empty_bottom = 0;
        for (unsigned i = 0; i < n; i++)   /* the arena's first choice on top */
            heap->empty[i] = taken[n - 1 - i];
        heap->empty_count = (uint16_t)n;
    }
    unsigned top = --heap->empty_count;
    if (top < heap->empty_low)
        heap->empty_low = (uint16_t)top;
    return pymi_heap_stacked_pool(heap, top);
}

/* The n oldest pools go back to their arenas, in one call per run of
 * slots (two when they wrap around the ring's end). */
static void return_oldest(pym_heap_t *heap, unsigned n)
{
    heap->empty_low = (uint16_t)(heap->empty_low > n ? heap->empty_low - n : 0);
    while (n > 0) {
        unsigned bottom = heap->empty_bottom;
        unsigned run = PYM_HEAP_EMPTY_POOLS - bottom;
        if (run > n)
            run = n;
        heap->empty_bottom = (uint16_t)pymi_heap_stack_slot(heap, run);
        heap->empty_count = (uint16_t)(heap->empty_count - run);
        n -= run;
        pymi_arena_return_pools(&heap->empty[bottom], run);   /* sorts the slots it was given */
    }
}

void pymi_heap_keep_empty_pool(pym_heap_t *heap, pym_pool_t *pool)
{
    if (pymi_option(PYM_OPTION_PURGE_DELAY_MS) == 0) {
        pymi_arena_return_pool(pool);
        return;
    }
    if (heap->empty_count == PYM_HEAP_EMPTY_POOLS)
        return_oldest(heap, PYM_EMPTY_RETURN);
    heap->empty[pymi_heap_stack_slot(heap, heap->empty_count++)] = pool;
}

void pymi_heap_release_empty_pools(pym_heap_t *heap, pym_pool_batch_t *batch)
{
    while (heap->empty_count > 0)
        pymi_pool_batch_add(batch, pymi_heap_take_empty_pool(heap));
    heap->empty_low = 0;
}

void pymi_heap_age_empty_pools(pym_heap_t *heap, int64_t now)
{
    long delay = pymi_option(PYM_OPTION_PURGE_DELAY_MS);
    if (now - heap->empty_aged_ms < delay)
        return;
    heap->empty_aged_ms = now;
    /* None of them taken since the last step; with no delay (set since
     * they came), all of them. */
    return_oldest(heap, delay == 0 ? heap->empty_count : heap->empty_low);
    heap->empty_low = heap->empty_count;
}
