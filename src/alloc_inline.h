/*
 * alloc_inline.h -- the malloc and free fast paths.
 *
 * malloc: TLS heap -> the class's first pool -> pop its free list.  No lock,
 * no atomic instruction.  When the pop takes the last listed block, the next
 * one is carved from the pool's untouched space (CPython's pool extension);
 * only when the pool is exhausted, or the class has no pool, or the request
 * is not small, does it call a slow function.  Those take the fast path's
 * own arguments and return its result, so the call is a tail call and the
 * fast path saves no registers (jemalloc's imalloc_fastpath habit).
 *
 * free: ownership test (one subtraction, one compare) -> pool header -> is
 * the pointer a block start? -> owner is this thread's heap? -> push on the
 * local free list.  Anything else (a foreign pointer, another thread's pool,
 * a pool that was full or becomes empty) goes to a slow function.
 */
#ifndef PYM_ALLOC_INLINE_H
#define PYM_ALLOC_INLINE_H

#include "internal.h"

/* Pops a block of the class from the heap's current pool; NULL when the
 * class has no usable pool.  Owner context. */
PYM_INLINE pym_block_t *pymi_heap_pop(pym_heap_t *heap, unsigned sizeclass)
{
    pym_pool_t *pool = heap->pools[sizeclass];
    pym_block_t *block = pool->free;
    if (pym_unlikely(block == NULL))
        return NULL;
    pym_block_t *next = block->next;
    pool->used++;
    heap->mallocs[sizeclass]++;
    if (pym_likely(next != NULL)) {
        pool->free = next;
        return block;
    }
    if (pym_likely(pool->nextoffset <= pool->maxnextoffset)) {
        next = (pym_block_t *)((char *)pool + pool->nextoffset);
        pool->nextoffset = (uint16_t)(pool->nextoffset + pool->block_size);
        next->next = NULL;
        pool->free = next;
        return block;
    }
    return pymi_malloc_exhausted(heap, pool, block);
}

/* Pushes a block on its pool's local free list; `heap` owns the pool. */
PYM_INLINE void pymi_heap_push(pym_heap_t *heap, pym_pool_t *pool, pym_block_t *block)
{
    pym_block_t *head = pool->free;
    block->next = head;
    pool->free = block;
    /* Slow: the pool was FULL (head == NULL), a double free of the last
     * freed block (head == block), or the pool became empty and is not the
     * class's current pool (which simply stays). */
    if (pym_likely(head != NULL && head != block) &&
        pym_likely(--pool->used != 0 || pool == heap->pools[pool->sizeclass]))
        return;
    pymi_free_local_slow(pool, block, head);
}

PYM_INLINE void *pymi_malloc_inline(size_t size)
{
    if (pym_likely(size <= PYM_SMALL_MAX)) {
        pym_block_t *block = pymi_heap_pop(pymi_tls_heap, pymi_size_to_class(size));
        if (pym_likely(block != NULL))
            return block;
    }
    return pymi_malloc_slow(size);
}

PYM_INLINE void pymi_free_inline(void *ptr)
{
    if (pym_unlikely(!pymi_owns(ptr))) {
        __libc_free(ptr);   /* forwarded, foreign or NULL: glibc's */
        return;
    }
    pym_pool_t *pool = pymi_pool_of(ptr);
    pym_heap_t *heap = pymi_tls_heap;
    if (pym_likely(pool->owner == heap && pymi_is_block_start(pool, ptr))) {
        pymi_heap_push(heap, pool, ptr);
        return;
    }
    pymi_free_slow(ptr);
}

#endif /* PYM_ALLOC_INLINE_H */
