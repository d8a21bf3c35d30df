/*
 * internal.h -- prototypes shared between the allocator's files (pymi_*,
 * hidden).  Dependency direction, lowest first (STYLE.md §1):
 *
 *   config/types/freelist/sizeclass -> diag, os -> options -> pagemap -> arena
 *   -> pool -> remote -> heap -> alloc (+ alloc_inline.h) -> sysalloc
 *   -> stats -> init -> override
 *
 * Locks, in the only order they may be taken:
 *   1. pymi_heaps_lock  (heap list: creating and adopting heaps)
 *   2. heap->lock       (acting for an abandoned heap)
 *   3. pymi_arena_lock  (arena lists, taking and returning pools)
 * fork takes none of them (fork.c): each is a leaf, whose holder waits for
 * nothing but the kernel, and a fork child re-initialises the ones that
 * were held when it was made.
 */
#ifndef PYM_INTERNAL_H
#define PYM_INTERNAL_H

#include "config.h"
#include "types.h"
#include "freelist.h"
#include "sizeclass.h"
#include "pymalloc.h"

#include <stdarg.h>

/* ---- diag.c: messages that never allocate ------------------------------ */
PYM_HIDDEN void pymi_message(const char *fmt, ...);
PYM_HIDDEN PYM_NORETURN PYM_COLD void pymi_fatal(const char *fmt, ...);
PYM_HIDDEN size_t pymi_format(char *buf, size_t cap, const char *fmt, va_list ap);
/* The program's argv[0] (from /proc, no allocation) into buf. */
PYM_HIDDEN const char *pymi_program_name(char *buf, size_t cap);

/* ---- os.c: the kernel's memory calls, errno preserved ------------------ */
PYM_HIDDEN void *pymi_os_reserve(size_t *size, size_t alignment);
PYM_HIDDEN void *pymi_os_map(size_t size);
PYM_HIDDEN void pymi_os_purge(void *addr, size_t size);

/* ---- options.c ----------------------------------------------------------- */
PYM_HIDDEN void pymi_options_init(void);
PYM_HIDDEN long pymi_option(pym_option_t option);
PYM_HIDDEN const char *pymi_option_stats_file(void);
/* 1 when the environment set the option (to a valid value). */
PYM_HIDDEN int pymi_option_given(pym_option_t option);
/* Why PYMALLOC_DISABLE has its value, for PYMALLOC_VERBOSE. */
PYM_HIDDEN const char *pymi_option_disable_reason(void);

/* ---- pagemap.c: the reserved range and the ownership test --------------- */
struct pymi_range {
    uintptr_t base;     /* start of the reserved range (256 KiB aligned) */
    size_t size;        /* 0 until the range exists: nothing is ours */
};
PYM_HIDDEN extern struct pymi_range pymi_range;
PYM_HIDDEN extern pym_arena_t *pymi_arena_table;

PYM_HIDDEN int pymi_pagemap_init(void);
PYM_HIDDEN pym_arena_t *pymi_pagemap_new_arena(void);
PYM_HIDDEN size_t pymi_pagemap_arena_count(void);

PYM_INLINE int pymi_owns(const void *ptr)
{
    return (uintptr_t)ptr - pymi_range.base < pymi_range.size;
}
PYM_INLINE pym_pool_t *pymi_pool_of(const void *ptr)
{
    return (pym_pool_t *)((uintptr_t)ptr & ~(uintptr_t)PYM_POOL_MASK);
}
PYM_INLINE pym_arena_t *pymi_arena_of(const void *ptr)
{
    return &pymi_arena_table[((uintptr_t)ptr - pymi_range.base) >> PYM_ARENA_SHIFT];
}
PYM_INLINE uintptr_t pymi_arena_base(const pym_arena_t *arena)
{
    return pymi_range.base + ((uintptr_t)(arena - pymi_arena_table) << PYM_ARENA_SHIFT);
}

/* ---- arena.c: pools in and out of arenas (takes pymi_arena_lock) -------- */
PYM_HIDDEN extern pthread_mutex_t pymi_arena_lock;
PYM_HIDDEN pym_pool_t *pymi_arena_take_pool(void);
PYM_HIDDEN void pymi_arena_return_pool(pym_pool_t *pool);
/* Sorts pools; one lock acquisition for all n (n <= PYM_RETURN_BATCH). */
PYM_HIDDEN void pymi_arena_return_pools(pym_pool_t **pools, size_t n);
/* Returns the batch's pools (if any) and empties it. */
PYM_HIDDEN void pymi_arena_return_batch(pym_pool_batch_t *batch);
PYM_INLINE void pymi_pool_batch_add(pym_pool_batch_t *batch, pym_pool_t *pool)
{
    batch->pools[batch->count++] = pool;
    if (batch->count == PYM_RETURN_BATCH)
        pymi_arena_return_batch(batch);
}
PYM_HIDDEN int pymi_arena_trim(void);
struct pymi_arena_counters {
    size_t current, highwater;
    uint64_t allocated, reclaimed, madvise_calls, pages_purged;
    uint64_t pools_returned;   /* pools given back to their arenas */
    uint64_t return_rounds;    /* arena-lock acquisitions that gave pools back */
};
PYM_HIDDEN void pymi_arena_counters(struct pymi_arena_counters *out);

/* ---- pool.c: one pool's blocks and lists (owner or heap-lock holder) ---- */
/* Stands in for "no usable pool": its free list is always empty. */
PYM_HIDDEN extern pym_pool_t pymi_exhausted_pool;
/* Bit (offset in pool) of row [class] is set where a block of the class starts. */
PYM_HIDDEN extern uint64_t pymi_block_starts[PYM_NUM_CLASSES][PYM_POOL_SIZE / 64];
PYM_HIDDEN void pymi_block_starts_init(void);
PYM_HIDDEN void pymi_pool_init(pym_pool_t *pool, pym_heap_t *heap, unsigned sizeclass);
PYM_HIDDEN void pymi_pool_link(pym_heap_t *heap, pym_pool_t *pool);
PYM_HIDDEN void pymi_pool_unlink(pym_heap_t *heap, pym_pool_t *pool);
PYM_HIDDEN unsigned pymi_pool_take_remote(pym_pool_t *pool);
PYM_HIDDEN void pymi_pool_exhausted(pym_heap_t *heap, pym_pool_t *pool);
PYM_HIDDEN void pymi_pool_settle(pym_heap_t *heap, pym_pool_t *pool, int keep_spare);
/* The same, an empty pool joining batch; the caller returns the batch. */
PYM_HIDDEN void pymi_pool_settle_batched(pym_heap_t *heap, pym_pool_t *pool, int keep_spare,
                                         pym_pool_batch_t *batch);

PYM_INLINE int pymi_is_block_start(const pym_pool_t *pool, const void *ptr)
{
    uintptr_t offset = (uintptr_t)ptr & PYM_POOL_MASK;
    return (int)((pymi_block_starts[pool->sizeclass][offset >> 6] >> (offset & 63)) & 1);
}

/* ---- remote.c: frees from threads that do not own the pool -------------- */
PYM_HIDDEN void pymi_remote_push(pym_heap_t *owner, pym_pool_t *pool, pym_block_t *block);
PYM_HIDDEN void pymi_remote_reclaim(pym_heap_t *heap, int keep_spare);
/* The same, the pools it empties joining batch; the caller returns the batch. */
PYM_HIDDEN void pymi_remote_reclaim_batched(pym_heap_t *heap, int keep_spare, pym_pool_batch_t *batch);

/* ---- heap.c: per-thread heaps ---------------------------------------------- */
PYM_HIDDEN extern PYM_TLS pym_heap_t *pymi_tls_heap;
/* In debug mode pymi_tls_heap stays the null heap, so that every call takes
 * the slow path; the thread's real heap is kept here. */
PYM_HIDDEN extern PYM_TLS pym_heap_t *pymi_tls_debug_heap;
/* The heap of a thread that has none yet: every class points at
 * pymi_exhausted_pool, so the fast path falls through to the slow one. */
PYM_HIDDEN extern pym_heap_t pymi_null_heap;
PYM_HIDDEN extern pthread_mutex_t pymi_heaps_lock;
PYM_HIDDEN pym_heap_t *pymi_heap_for_thread(void);
PYM_HIDDEN int pymi_heap_init_process(void);
PYM_HIDDEN void pymi_heap_free_abandoned(pym_heap_t *owner, pym_pool_t *pool, pym_block_t *block);
PYM_HIDDEN int pymi_heap_collect_abandoned(void);
PYM_HIDDEN int pymi_heap_trim_own(void);
PYM_HIDDEN pym_heap_t *pymi_heap_list(void);
PYM_HIDDEN uint64_t pymi_heaps_adopted(void);

/* ---- alloc.c: slow paths behind alloc_inline.h ------------------------------ */
PYM_HIDDEN PYM_NOINLINE void *pymi_malloc_slow(size_t size);
PYM_HIDDEN PYM_NOINLINE __attribute__((returns_nonnull)) void *pymi_malloc_exhausted(pym_heap_t *heap, pym_pool_t *pool, pym_block_t *block);
PYM_HIDDEN void *pymi_heap_alloc_block(pym_heap_t *heap, unsigned sizeclass);
PYM_HIDDEN void pymi_free_block_from(pym_heap_t *me, pym_pool_t *pool, pym_block_t *block);
PYM_HIDDEN PYM_NOINLINE void pymi_free_slow(void *ptr);
PYM_HIDDEN PYM_NOINLINE void pymi_free_local_slow(pym_pool_t *pool, pym_block_t *block, pym_block_t *head);
PYM_HIDDEN PYM_NORETURN PYM_COLD void pymi_free_invalid(const void *ptr, const char *what);

/* ---- debug.c: PYMALLOC_DEBUG=1 (CPython's debug allocator for our blocks) ---- */
PYM_HIDDEN extern int pymi_debug_on;
PYM_HIDDEN void *pymi_debug_malloc(size_t size);
PYM_HIDDEN void pymi_debug_free(void *ptr);
/* free_sized / free_aligned_sized: size must be the one requested (and ptr
 * aligned to alignment, when not 0), else one line and abort. */
PYM_HIDDEN void pymi_debug_free_sized(void *ptr, size_t alignment, size_t size, const char *call);
PYM_HIDDEN void *pymi_debug_realloc(void *ptr, size_t size);
PYM_HIDDEN size_t pymi_debug_usable_size(const void *ptr);

/* ---- bigalloc.c: mmap-backed large blocks (fully static executables) ------- */
PYM_HIDDEN void *pymi_big_alloc(size_t size, size_t alignment);
PYM_HIDDEN void *pymi_big_pvalloc(size_t size);
PYM_HIDDEN void pymi_big_free(void *ptr);
PYM_HIDDEN size_t pymi_big_usable_size(const void *ptr);
PYM_HIDDEN void *pymi_big_realloc(void *ptr, size_t size);

/* ---- sysalloc.c: forwarding to the allocator underneath ----------------------- */
PYM_HIDDEN void pymi_sys_free_slow(void *ptr);
#ifdef PYM_OVERRIDE
/* glibc's free, weak: NULL in a fully static executable (bigalloc.c). */
extern void __libc_free(void *ptr) __attribute__((weak));
PYM_INLINE void pymi_sys_free(void *ptr)
{
    if (pym_likely(__libc_free != NULL))
        __libc_free(ptr);
    else
        pymi_sys_free_slow(ptr);
}
#else
/* Not overriding: what we forwarded came from the program's own malloc. */
PYM_INLINE void pymi_sys_free(void *ptr)
{
    pymi_sys_free_slow(ptr);
}
#endif
PYM_HIDDEN void *pymi_sys_malloc(size_t size);
PYM_HIDDEN void *pymi_sys_calloc(size_t count, size_t size);
PYM_HIDDEN void *pymi_sys_realloc(void *ptr, size_t size);
PYM_HIDDEN void *pymi_sys_memalign(size_t alignment, size_t size);
PYM_HIDDEN void *pymi_sys_valloc(size_t size);
PYM_HIDDEN void *pymi_sys_pvalloc(size_t size);
PYM_HIDDEN size_t pymi_sys_usable_size(void *ptr);
PYM_HIDDEN void *pymi_sys_symbol(const char *name);
PYM_HIDDEN void pymi_sys_counters(uint64_t *calls, uint64_t *bytes);

/* ---- stats.c ----------------------------------------------------------------- */
/* At start-up, with PYMALLOC_STATS on: keeps a duplicate of stderr, since
 * programs such as ls close fd 2 before exit. */
PYM_HIDDEN void pymi_stats_prepare(void);
PYM_HIDDEN void pymi_stats_at_exit(void);

/* ---- init.c ------------------------------------------------------------------- */
/* 1 once the process-wide state exists; 0 while it cannot be used (being set
 * up by this very thread, failed, or disabled): the caller forwards to libc. */
PYM_HIDDEN int pymi_init(void);

/* ---- fork.c: fork takes no lock of ours; the child starts over where one was held ---- */
/* Registers the fork handlers; called last in initialisation. */
PYM_HIDDEN int pymi_fork_init(void);
/* In a fork child, alone in the process: 1 when the lock was held at the
 * fork (by a thread that did not come along); it is then re-initialised,
 * free.  0 when it was free (left free). */
PYM_INLINE int pymi_fork_reset_lock(pthread_mutex_t *lock)
{
    if (pthread_mutex_trylock(lock) == 0) {
        pthread_mutex_unlock(lock);
        return 0;
    }
    /* POSIX leaves re-initialising a locked mutex undefined; glibc's init
     * only stores the initial value, as its own fork child does for its
     * locks (__libc_lock_init). */
    pthread_mutex_init(lock, NULL);
    return 1;
}
/* The child handlers of the layers, for the child of a multi-threaded
 * process only (fork.c says why a single-threaded one needs none).  Each
 * is told whether its global lock was held at the fork; if so it gives up
 * (orphans) the structures that lock protects and starts with empty ones. */
PYM_HIDDEN void pymi_arena_fork_child(int arena_lock_was_held);
PYM_HIDDEN void pymi_heap_fork_child(int heaps_lock_was_held);
PYM_HIDDEN void pymi_init_fork_child(void);

#endif /* PYM_INTERNAL_H */
