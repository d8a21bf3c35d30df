/*
 * alloc.c -- the pym_* allocation API and the slow paths behind the inline
 * fast paths of alloc_inline.h.
 *
 * Small requests (<= PYM_SMALL_MAX, alignment <= 16) go to the calling
 * thread's heap; everything else, and everything while pymalloc is disabled
 * or cannot get memory, is forwarded to libc (sysalloc.c).  The semantics
 * are glibc's, errno included (see include/pymalloc.h for the contract).
 */
#include "alloc_inline.h"

#include <errno.h>
#include <string.h>

/* ---- slow paths ------------------------------------------------------------ */

void *pymi_heap_alloc_block(pym_heap_t *heap, unsigned sizeclass)
{
    pym_pool_t *pool = heap->pools[sizeclass];
    if (!pymi_pool_has_block(pool) && (pool = pymi_heap_alloc_slow(heap, sizeclass)) == NULL)
        return NULL;   /* no address space left */
    pym_block_t *block = pool->free;
    return !pymi_is_list_end(block) ? pymi_pool_pop(pool, block) : pymi_pool_carve(pool, block);
}

/* Small request, nothing on the current pool's free list; or a thread with
 * no heap yet (its pools are all the exhausted pool). */
static PYM_NOINLINE void *malloc_refill_slow(pym_heap_t *heap, size_t size)
{
    pymi_purger_start_if_wanted();
    if (pym_unlikely(heap == &pymi_null_heap)) {
        if (!pymi_init())
            return pymi_sys.malloc(size);   /* disabled, or still initialising */
        heap = pymi_heap_for_thread();
        if (heap == NULL)
            return pymi_sys.malloc(size);   /* disabled, or still initialising */
        if (pym_unlikely(pymi_debug_on))
            return pymi_debug_malloc(size);
    }
    void *block = pymi_heap_alloc_block(heap, (unsigned)pymi_size_to_class(size));
    return block != NULL ? pymi_decay_count(heap, block) : pymi_sys.malloc(size);
}

/* The common refill first, without the general path's frame (heap.c). */
void *pymi_malloc_refill(pym_heap_t *heap, size_t size)
{
    pym_pool_t *pool = pymi_heap_refill_quick(heap, (unsigned)pymi_size_to_class(size));
    if (pym_likely(pool != NULL))
        return pymi_decay_count(heap, pymi_pool_pop(pool, pool->free));
    return malloc_refill_slow(heap, size);
}

/* Pages wait to go back: dirty pools in the arenas, or more pools on the
 * heap's stack than it may keep at the slow tick that no fresh pool has
 * needed since its last aging step (emptypools.c).  A stack in use, as
 * in binary trees, comes down below that mark between two steps and
 * leaves the tick slow (a fast one took the stack's gain in trees/14 back). */
static int memory_waits(const pym_heap_t *heap)
{
    return pymi_arena_decay_pending() || heap->empty_low > PYM_HEAP_EMPTY_IDLE;
}

/* The heap's stack of empty pools ages at whichever pace the tick has: an
 * aging step waits a purge delay after the last one anyway, and what it
 * returns has waited at least that long (emptypools.c).  The clock
 * is CLOCK_MONOTONIC_COARSE, which moves every few milliseconds: while it
 * reads what it read at this heap's last tick, nothing has come due since
 * that tick looked, and the tick is the clock's read alone (at 32 mallocs
 * a tick, trees/14 spent 7 % of its samples in the looks). */
void *pymi_malloc_tick(pym_heap_t *heap, pym_block_t *block)
{
    int64_t now = pymi_now_ms();
    if (now != heap->tick_ms) {
        heap->tick_ms = now;
        pymi_heap_age_empty_pools(heap, now);   /* first: what it returns may be due too */
        pymi_arena_decay_if_due(now);
    }
    heap->decay_tick = memory_waits(heap) ? PYM_DECAY_TICK_PENDING : PYM_DECAY_TICK_IDLE;
    return block;
}

void pymi_heap_decay_soon(pym_heap_t *heap)
{
    if (heap != &pymi_null_heap && heap->decay_tick > PYM_DECAY_TICK_PENDING && memory_waits(heap))
        heap->decay_tick = PYM_DECAY_TICK_PENDING;
}

void pymi_free_invalid(const void *ptr, const char *what)
{
    const pym_pool_t *pool = pymi_pool_of(ptr);
    if (pymi_pool_owner(pool) != NULL)
        pymi_fatal("free(%p): %s (inside a pool of %u-byte blocks)", ptr, what,
                   (unsigned)pool->block_size);
    pymi_fatal("free(%p): %s (inside a pymalloc arena, in a pool that holds no blocks)", ptr, what);
}

static const char not_allocated[] = "block not allocated (double free, or a pointer never returned by malloc)";

/* The fast path's free left pool->used at 0, or wrapped it (the pool had
 * no block in use). */
void pymi_free_emptied(pym_pool_t *pool)
{
    pym_heap_t *heap = pymi_pool_owner(pool);
    /* A pool of this heap's arena with no owner has no block out: free in
     * the arena, or on the heap's stack of empty pools (the fast path
     * trusts the arena's tag for the pools that have blocks out). */
    if (heap == NULL)
        pymi_free_invalid(pool->free, not_allocated);
    /* A current pool's +1 gone, or a count below zero: more frees than blocks. */
    if (pool->used != 0 || pool == heap->pools[pool->sizeclass])
        pymi_free_invalid(pool->free, "double free");
    pymi_pool_settle(heap, pool, 1);
    pymi_heap_decay_soon(heap);
    pymi_purger_start_if_wanted();
}

/* Frees a checked block on behalf of `me`, this thread's heap (or the null
 * heap): locally if it owns the pool, else to the owner. */
void pymi_free_block_from(pym_heap_t *me, pym_pool_t *pool, pym_block_t *block)
{
    pym_heap_t *owner = pymi_pool_owner(pool);
    if (owner == me) {
        pymi_pool_push_free(pool, block);
        /* As on the fast path: a FULL pool stays on its list until malloc
         * looks there (heap.c); an empty one is settled. */
        if (pool->used == (pool == me->pools[pool->sizeclass]))
            pymi_pool_settle(me, pool, 1);
        return;
    }
    if (me != &pymi_null_heap) {
        me->remote_frees++;
        pymi_heap_free_remote(me, owner, pool, block);
        return;
    }
    if (atomic_load_explicit(&owner->state, memory_order_acquire) == PYM_HEAP_ABANDONED)
        pymi_heap_free_abandoned(owner, pool, block);
    else
        pymi_remote_push(owner, pool, block);
}

/* ptr is ours (the fast path looked) and the fast path could not free it:
 * debug mode, another thread's pool, a pool with no owner, not a block
 * start, or the head of its pool's list. */
void pymi_free_slow(void *ptr)
{
    if (pym_unlikely(pymi_debug_on)) {
        pymi_debug_free(ptr);
        return;
    }
    pym_pool_t *pool = pymi_pool_of(ptr);
    pym_heap_t *owner = pymi_pool_owner(pool);
    if (owner == NULL)
        pymi_free_invalid(ptr, not_allocated);
    if (!pymi_is_block_start_shared(pool, ptr)) {
        /* A whole block's start that fails the test is one not carved yet
         * (last_block, unlike carved, is fixed while blocks are out). */
        uintptr_t offset = (uintptr_t)ptr & PYM_POOL_MASK;
        if (offset <= pool->last_block && offset % pool->block_size == 0)
            pymi_free_invalid(ptr, "block not allocated (a pointer never returned by malloc)");
        pymi_free_invalid(ptr, "invalid pointer (not the start of a block)");
    }
    pym_heap_t *me = pymi_tls.heap;
    pymi_free_block_from(me, pool, ptr);
    if (owner != me && me != &pymi_null_heap)
        return;   /* into this thread's outbox: no page of ours waits to decay */
    pymi_heap_decay_soon(me);
    pymi_purger_start_if_wanted();
}

/* ---- the API ------------------------------------------------------------------ */

PYM_FAST_ENTRY void *pym_malloc(size_t size)
{
    return pymi_malloc_inline(size);
}

PYM_FAST_ENTRY void pym_free(void *ptr)
{
    pymi_free_inline(ptr);
}

/* Frees ptrs[0..n).  A run of pointers into one pool (a collector's
 * garbage, freed in address order) is freed as one: the arena's tag
 * test, the count and the emptiness test once per run, and per
 * block only the block-start test, the double-free tests of the fast path
 * and the push.  Anything else goes through pym_free's own paths. */
void pym_free_batch(void *const *ptrs, size_t n)
{
    pym_heap_t *heap = pymi_tls.heap;
    size_t i = 0;
    while (i < n) {
        void *ptr = ptrs[i];
        if (pymi_arena_tag_of(ptr) != heap->arena_tag) {
            pymi_free_inline(ptr);   /* not of this heap's arenas */
            i++;
            continue;
        }
        pym_pool_t *pool = pymi_pool_of(ptr);
        /* In locals: the stores into blocks could alias all of these. */
        uintptr_t page = (uintptr_t)ptr >> PYM_POOL_SHIFT;
        pym_block_t *head = pool->free;
        unsigned used = pool->used;
        uint16_t back_xor = pool->back_xor;
        uint32_t start_magic = pool->start_magic;
        uint32_t start_limit = pool->start_limit;
        uintptr_t key0 = pymi_const.key0, key1 = pymi_const.key1;
        for (; i < n; i++) {
            pym_block_t *block = ptrs[i];
            if (((uintptr_t)block >> PYM_POOL_SHIFT) != page)
                break;
            if (pym_unlikely(!pymi_is_block_start_of(block, start_magic, start_limit) || block == head ||
                             used <= 1))
                break;   /* the slow path below, after the run so far is in */
            block->encoded_next = pymi_encode_link(block, head, key0, key1);
            head = block;
            back_xor ^= (uint16_t)(uintptr_t)block;
            used--;
        }
        pool->free = head;
        pool->back_xor = back_xor;
        pool->used = used;
        if (i < n && ((uintptr_t)ptrs[i] >> PYM_POOL_SHIFT) == page)
            pymi_free_inline(ptrs[i++]);   /* the last block, or a bad pointer */
    }
}

/* The size (and alignment) are checked in debug mode only (debug.c). */
void pym_free_sized(void *ptr, size_t size)
{
    if (pym_unlikely(pymi_debug_on) && ptr != NULL) {
        pymi_debug_free_sized(ptr, 0, size, "free_sized");
        return;
    }
    pymi_free_inline(ptr);
}

void pym_free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
    if (pym_unlikely(pymi_debug_on) && ptr != NULL) {
        pymi_debug_free_sized(ptr, alignment, size, "free_aligned_sized");
        return;
    }
    pymi_free_inline(ptr);
}

/* calloc with malloc's slow path: a pool's block, or debug mode's, or one
 * from below while pymalloc starts or is out of memory. */
void *pymi_calloc_refill(pym_heap_t *heap, size_t total)
{
    void *ptr = pymi_malloc_refill(heap, total);
    if (ptr == NULL)
        return NULL;
    if (pymi_debug_on || !pymi_owns(ptr))
        memset(ptr, 0, total);   /* debug mode: the guard bytes after it stay */
    else
        pymi_zero_block(ptr, pymi_request_block_size(total));
    return ptr;
}

void *pymi_calloc_tick(pym_heap_t *heap, pym_block_t *block, size_t total)
{
    pymi_zero_block(block, pymi_request_block_size(total));
    return pymi_malloc_tick(heap, block);
}

void *pymi_calloc_overflow(void)
{
    errno = ENOMEM;
    return NULL;
}

void *pym_calloc(size_t count, size_t size)
{
    return pymi_calloc_inline(count, size);
}

size_t pym_usable_size(const void *ptr)
{
    if (ptr == NULL)
        return 0;
    if (!pymi_owns(ptr))
        return pymi_sys.usable_size((void *)ptr);
    if (pym_unlikely(pymi_debug_on))
        return pymi_debug_usable_size(ptr);
    return pymi_pool_of(ptr)->block_size;
}

int pym_owns(const void *ptr)
{
    return pymi_owns(ptr);
}

/* Keep the block when the new size still fits it and does not waste more
 * than a quarter of it (or stays in the same class). */
static int realloc_fits(size_t block_size, size_t size)
{
    return size <= block_size &&
           (size >= block_size - block_size / 4 || pymi_size_to_class(size) + 1 == block_size / PYM_ALIGNMENT);
}

/* A block of one of our pools. */
static PYM_NOINLINE void *realloc_owned(void *ptr, size_t size)
{
    if (pym_unlikely(pymi_debug_on))
        return pymi_debug_realloc(ptr, size);
    pym_pool_t *pool = pymi_pool_of(ptr);
    if (pymi_pool_owner(pool) == NULL || !pymi_is_block_start_shared(pool, ptr))
        pymi_free_invalid(ptr, "realloc of an invalid pointer");
    if (size == 0) {
        pymi_free_inline(ptr);
        return NULL;
    }
    size_t old = pool->block_size;
    if (realloc_fits(old, size))
        return ptr;
    void *fresh = pymi_malloc_inline(size);
    if (fresh == NULL)
        return NULL;   /* errno is ENOMEM; the old block is untouched */
    memcpy(fresh, ptr, old < size ? old : size);
    pymi_free_inline(ptr);
    return fresh;
}

/* realloc(NULL, size), or a block of the allocator below shrinking to a
 * small size: small blocks always live in pools. */
static PYM_NOINLINE void *realloc_into_pool(void *ptr, size_t size)
{
    void *fresh = pymi_malloc_inline(size);
    if (ptr == NULL || fresh == NULL)
        return fresh;
    size_t old = pymi_sys.usable_size(ptr);
    memcpy(fresh, ptr, old < size ? old : size);
    pymi_fwd_free(ptr, pymi_tls.heap);
    return fresh;
}

/* Three cases, each in its own function, so that the common one of the
 * allocator below -- a block that stays over 256 B (a string growing past
 * 256 B reallocs hundreds of times) -- goes to glibc's realloc as a tail
 * call, with no stack frame of ours: when one function served all three,
 * the frame the others need was set up first, 20 instructions of a
 * forwarded realloc's ~150. */
void *pym_realloc(void *ptr, size_t size)
{
    if (pymi_owns(ptr))
        return realloc_owned(ptr, size);
    if (ptr != NULL && size == 0)
        return pymi_sys.realloc(ptr, size);   /* glibc: size 0 frees, returns NULL */
    if (ptr != NULL && !pymi_is_small(size))
        return pymi_fwd_realloc(ptr, size);
    return realloc_into_pool(ptr, size);
}

void *pym_reallocarray(void *ptr, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return pymi_realloc(ptr, total);
}

static int is_power_of_two(size_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* glibc's memalign: a non-power-of-two alignment is rounded up; an
 * impossible one is EINVAL. */
void *pym_memalign(size_t alignment, size_t size)
{
    if (alignment <= PYM_ALIGNMENT)
        return pymi_malloc_inline(size);
    if (alignment > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    /* Round up here rather than trust the allocator below to: ASan's
     * memalign, for one, refuses what glibc's accepts. */
    if (!is_power_of_two(alignment))
        alignment = (size_t)1 << (64 - __builtin_clzll(alignment));
    return pymi_sys.memalign(alignment, size);
}

/* C17 (DR 460) and glibc 2.38: the alignment must be a power of two. */
void *pym_aligned_alloc(size_t alignment, size_t size)
{
    if (!is_power_of_two(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return pymi_memalign(alignment, size);
}

int pym_posix_memalign(void **out, size_t alignment, size_t size)
{
    if (!is_power_of_two(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *ptr = pymi_memalign(alignment, size);
    if (ptr == NULL) {
        errno = ENOMEM;   /* as glibc's: the result and errno both say it */
        return ENOMEM;
    }
    errno = saved;
    *out = ptr;
    return 0;
}

/* The library's own calls of these exported functions (override.c's
 * malloc family, the ones above) go to hidden aliases: a call of an
 * exported name goes through the PLT (two more jumps), where a program
 * could interpose it. */
PYMI_HIDDEN_ALIAS(memalign, __attribute__((malloc)));
PYMI_HIDDEN_ALIAS(aligned_alloc, __attribute__((malloc)));
PYMI_HIDDEN_ALIAS(realloc, );
PYMI_HIDDEN_ALIAS(reallocarray, );
PYMI_HIDDEN_ALIAS(posix_memalign, );
PYMI_HIDDEN_ALIAS(usable_size, );
PYMI_HIDDEN_ALIAS(free_sized, );
PYMI_HIDDEN_ALIAS(free_aligned_sized, );

int pym_trim(void)
{
    if (!pymi_init())
        return 0;
    pymi_heap_trim_own();   /* this thread's cache of glibc chunks included */
    pymi_fwd_flush_shared();
    pymi_heap_collect_abandoned();
    return pymi_arena_trim();
}

const char *pym_version(void)
{
    return PYM_VERSION;
}
