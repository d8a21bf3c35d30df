/*
 * alloc_inline.h -- the malloc and free fast paths.
 *
 * malloc: TLS heap -> the class's current pool (the heap's table indexed by
 * the request in bytes, types.h) -> pop its free list, clear the block's link
 * word, prefetch the next free block (in random churn it is cold, and the
 * next malloc of the class would wait for it: churn/100k 9-16 % faster when
 * it landed; session 22 measured no gain and no clear loss,
 * docs/design.md); an empty list: carve the page's next block (pool.c) and
 * prefetch the one two ahead.  No lock, no atomic instruction; a pop
 * counts down to the next look at the decay clock (every 32 or 1024 pops
 * and refills).  A carve does not: a heap that carves is taking memory,
 * and nothing of its own waits to decay until it frees (the trees/14 gain
 * first measured for this was code placement: docs/design.md, "Session
 * 30").  A
 * pool with nothing to pop or carve, a class with no pool, a request that
 * is not small: one call to a slow function that takes the fast path's own
 * arguments and returns its result, so the call is a tail call and the fast
 * path saves no registers (jemalloc's imalloc_fastpath habit).  Requests
 * over PYM_SMALL_MAX go to the allocator below (sysalloc.c) through
 * fwdcache.c, which serves those up to 4 KiB from the glibc chunks this
 * thread freed when it can.
 *
 * calloc: malloc's path, a pop counting its tick as malloc's does, then
 * 16-byte stores over the whole block.
 *
 * free: the arena's tag (a subtraction, a shift, a compare, one 16-bit
 * load, internal.h) is this heap's, so the pool is too, if it has a block
 * out (a foreign pointer goes to fwdcache.c; another heap's arena to the
 * slow path, which reads only the pool's shared half: a remote free never
 * waits for the line the owner's malloc writes) -> pool descriptor
 * (arithmetic; FULL pools included: they stay on the FULL list, where
 * malloc's slow path finds their blocks, heap.c) -> the pointer is a block
 * start (one multiply), the block is not the list's head -> push on the
 * pool's free list -> the count of blocks in use was above 1.  The block
 * itself is written, never read.  Anything else (a foreign pointer,
 * another thread's pool, a double free, a pool that becomes empty, a count
 * already at 0: a double free into the heap's empty spare pool, or a free
 * into a pool of this heap's arenas that has no owner) goes to a slow
 * function.
 */
#ifndef PYM_ALLOC_INLINE_H
#define PYM_ALLOC_INLINE_H

#include "internal.h"

/* Takes the head of a pool's non-empty free list; a link that leaves the
 * pool ends in the corruption diagnostic, a NULL one (a remote list's end)
 * becomes the end mark (freelist.h). */
PYM_INLINE pym_block_t *pymi_pool_pop(pym_pool_t *pool, pym_block_t *block)
{
    pym_block_t *next;
    if (pym_hardening) {
        /* The check on the delta, then the link from it in place: no
         * copy of the block's address (one instruction). */
        uintptr_t delta = pymi_block_link_delta(block);
        if (pym_unlikely(!pymi_link_delta_is_sane(delta))) {
            if (delta != (uintptr_t)block)   /* a link to NULL: a remote list's end */
                pymi_freelist_corrupt(block);
            delta ^= (uintptr_t)pymi_list_end(block);
        }
        next = (pym_block_t *)(delta ^ (uintptr_t)block);
    } else {
        next = pymi_block_next(block);
        if (pym_unlikely(next == NULL))
            next = pymi_list_end(block);
    }
    pool->free = next;
    pool->used++;
    pool->out_xor ^= (uint16_t)(uintptr_t)block;
    block->encoded_next = 0;   /* no key material reaches the program */
    __builtin_prefetch(next);   /* the next malloc of the class reads it */
    return block;
}

/* Hands out the pool's first uncarved block (pymi_pool_can_carve): the
 * block-start limit admits one block more (pool.c), and the block's first
 * word, a stale link of the page's last life, is cleared.  end is the
 * pool's free list, empty: its end mark, an address in the page
 * (freelist.h; the pop let no link out of the page), which the caller has
 * in a register already; the page's address from the descriptor's took
 * six instructions more.
 *
 * The block two ahead is prefetched.  A page carved again after a batch's
 * free is cold, and the two stores into each fresh block (this clear, then
 * the program's first write) filled the store buffer: the malloc phase of
 * a 100 000-block batch took 11.1 ns a block, 6.0 with this prefetch
 * (mimalloc 5.4).  The next block instead: 7.5 ns, and trees/14 8 %
 * slower; 256 bytes ahead: 7.9. */
PYM_INLINE pym_block_t *pymi_pool_carve(pym_pool_t *pool, const pym_block_t *end)
{
    unsigned offset = pool->carved;
    pym_block_t *block = (pym_block_t *)(((uintptr_t)end & ~(uintptr_t)PYM_POOL_MASK) + offset);
    size_t size = pool->block_size;
    pool->carved = (uint16_t)(offset + size);
    __builtin_prefetch((char *)block + 2 * size, 1);
    __atomic_store_n(&pool->start_limit, offset * pool->start_magic, __ATOMIC_RELAXED);
    pool->used++;
    pool->out_xor ^= (uint16_t)(uintptr_t)block;
    block->encoded_next = 0;
    return block;
}

/* pool->used--; true when it was 1 (the pool is empty now) or 0 (it had
 * no block out: a double free into a spare pool, which a test of the
 * result alone would miss for good).  On x86-64 a decrement in memory and
 * one branch on its flags (borrow or zero): two instructions where gcc and
 * clang make five of the C below, as they do not branch on the flags of a
 * decrement in memory. */
PYM_INLINE int pymi_pool_count_one_back(pym_pool_t *pool)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__ goto("subl $1, %0\n\tjbe %l[emptied]" : "+m"(pool->used) : : "cc" : emptied);
    return 0;
emptied:
    return 1;
#else
    unsigned used = pool->used;
    pool->used = used - 1;
    return used <= 1;
#endif
}

/* A block a pop or a refill hands out: one count down to the heap's next
 * look at the decay clock (the look itself out of line, a tail call). */
PYM_INLINE void *pymi_decay_count(pym_heap_t *heap, pym_block_t *block)
{
    if (pym_unlikely(--heap->decay_tick == 0))
        return pymi_malloc_tick(heap, block);
    return block;
}

PYM_INLINE void *pymi_malloc_inline(size_t size)
{
    if (pym_likely(size <= PYM_SMALL_MAX)) {
        pym_heap_t *heap = pymi_tls.heap;
        pym_pool_t *pool = heap->pool_for_size[size];
        pym_block_t *block = pool->free;
        if (pym_likely(!pymi_is_list_end(block)))
            return pymi_decay_count(heap, pymi_pool_pop(pool, block));
        if (pym_likely(pymi_pool_can_carve(pool)))
            return pymi_pool_carve(pool, block);
        return pymi_malloc_refill(heap, size);
    }
    return pymi_fwd_malloc(pymi_tls.heap, size);
}

/* The whole block (malloc_usable_size says the program may use it), size
 * bytes, a multiple of 16 up to PYM_SMALL_MAX: 16-byte stores from both
 * ends, which overlap where the size is not a power of two, as memset's
 * own small cases do (a 64-byte block is four stores behind two compares;
 * a loop of them took 21 instructions).  Larger blocks: 64 bytes at a
 * time, the last 64 from the end. */
PYM_INLINE void pymi_zero_block(void *block, size_t size)
{
    typedef uint64_t zero16 __attribute__((vector_size(16), aligned(16), may_alias));
    typedef uint64_t zero16u __attribute__((vector_size(16), aligned(1), may_alias));
    const zero16 zero = {0, 0};
    char *p = block, *end = p + size;
    if (size <= 32) {
        *(zero16 *)p = zero;
        *(zero16u *)(end - 16) = zero;
        return;
    }
    if (size <= 64) {
        ((zero16 *)p)[0] = ((zero16 *)p)[1] = zero;
        ((zero16u *)(end - 32))[0] = ((zero16u *)(end - 32))[1] = zero;
        return;
    }
    for (; end - p > 64; p += 64) {
        zero16 *q = (zero16 *)p;
        q[0] = q[1] = q[2] = q[3] = zero;
        pymi_compiler_barrier();   /* or gcc makes it a memset again */
    }
    zero16u *last = (zero16u *)(end - 64);
    last[0] = last[1] = last[2] = last[3] = zero;
}

/* malloc's fast path again, the block then cleared whole: a block of the
 * current pool is known to be a pool's whole block (debug mode and the
 * rest take the slow path), so no test of where it came from comes before
 * the stores, and every call is a tail call (no stack frame).  Inline in
 * override.c's calloc, as malloc's is in malloc: a jump less. */
PYM_INLINE void *pymi_calloc_inline(size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total))
        return pymi_calloc_overflow();
    if (!pymi_is_small(total))
        return pymi_fwd_calloc(pymi_tls.heap, total);
    pym_heap_t *heap = pymi_tls.heap;
    pym_pool_t *pool = heap->pool_for_size[total];
    pym_block_t *block = pool->free;
    if (pym_likely(!pymi_is_list_end(block))) {
        block = pymi_pool_pop(pool, block);
        if (pym_unlikely(--heap->decay_tick == 0))   /* as malloc: a pop counts, a carve does not */
            return pymi_calloc_tick(heap, block, total);
    } else if (pym_likely(pymi_pool_can_carve(pool))) {
        block = pymi_pool_carve(pool, block);
    } else {
        return pymi_calloc_refill(heap, total);
    }
    pymi_zero_block(block, pool->block_size);
    return block;
}

PYM_INLINE void pymi_free_inline(void *ptr)
{
    uintptr_t slot = pymi_arena_slot(ptr);
    if (pym_unlikely(slot >= PYM_WINDOW_ARENAS)) {
        pymi_fwd_free(ptr, pymi_tls.heap);   /* forwarded, foreign or NULL: the allocator below's */
        return;
    }
    unsigned tag = pymi_arena_slot_tag(slot);
    if (pym_unlikely(tag != pymi_tls.arena_tag)) {
        if (tag == PYM_ARENA_TAG_FOREIGN)
            pymi_fwd_free(ptr, pymi_tls.heap);   /* in the window, not ours */
        else
            pymi_free_slow(ptr);   /* another heap's arena: its descriptor's shared half only */
        return;
    }
    pym_pool_t *pool = pymi_pool_of(ptr);
    pym_block_t *block = ptr;
    if (pym_likely(pymi_is_block_start(pool, ptr))) {
        /* Only now: another thread's pool's list is that thread's. */
        pym_block_t *head = pool->free;
        if (pym_likely(block != head)) {
            pymi_block_set_next(block, head);
            pool->free = block;
            pool->back_xor ^= (uint16_t)(uintptr_t)block;
            if (pym_likely(!pymi_pool_count_one_back(pool)))
                return;
            pymi_free_emptied(pool);
            return;
        }
    }
    pymi_free_slow(ptr);
}

#endif /* PYM_ALLOC_INLINE_H */
