/*
 * internal.h -- prototypes shared between the allocator's files (pymi_*,
 * hidden).  Dependency direction, lowest first (STYLE.md §1):
 *
 *   config/types/freelist/sizeclass -> diag, os -> options -> range -> arena
 *   -> pool -> remote -> fwdcache -> heap -> alloc (+ alloc_inline.h) -> sysalloc
 *   -> stats -> init -> override
 *
 * Locks, in the only order they may be taken:
 *   1. pymi_heaps_lock  (heap list: creating and adopting heaps)
 *   2. heap->lock       (acting for an abandoned heap)
 *   3. pymi_arena_lock  (arena lists, taking and returning pools)
 * and, never held with another, pymi_fwd_shared_lock (fwdcache.c's shared
 * cache of glibc chunks).
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
#include <time.h>

/* ---- diag.c: messages that never allocate ------------------------------ */
PYM_HIDDEN void pymi_message(const char *fmt, ...);
PYM_HIDDEN PYM_NORETURN PYM_COLD void pymi_fatal(const char *fmt, ...);
PYM_HIDDEN size_t pymi_format(char *buf, size_t cap, const char *fmt, va_list ap);
/* The program's argv[0] (from /proc, no allocation) into buf. */
PYM_HIDDEN const char *pymi_program_name(char *buf, size_t cap);

/* ---- os.c: the kernel's memory calls, errno preserved ------------------ */
PYM_HIDDEN void *pymi_os_reserve(size_t size, size_t alignment);
PYM_HIDDEN int pymi_os_reserve_at(void *addr, size_t size);
PYM_HIDDEN void *pymi_os_map(size_t size);
PYM_HIDDEN void pymi_os_purge(void *addr, size_t size);
/* Resident bytes of a range of at most one pool (mincore). */
PYM_HIDDEN size_t pymi_os_resident_bytes(void *addr, size_t size);
/* Transparent huge pages for [addr, addr+size) on (MADV_HUGEPAGE) or off. */
PYM_HIDDEN void pymi_os_huge_pages(void *addr, size_t size, int huge);

/* ---- options.c ----------------------------------------------------------- */
PYM_HIDDEN void pymi_options_init(void);
PYM_HIDDEN long pymi_option(pym_option_t option);
PYM_HIDDEN const char *pymi_option_stats_file(void);
/* 1 when the environment set the option (to a valid value). */
PYM_HIDDEN int pymi_option_given(pym_option_t option);
/* Why PYMALLOC_DISABLE has its value, for PYMALLOC_VERBOSE. */
PYM_HIDDEN const char *pymi_option_disable_reason(void);

/* ---- range.c: regions of address space, descriptors, ownership ------------
 * Regions are reserved one at a time, inside a window of PYM_WINDOW_REGIONS
 * region slots around the first one.  pymi_arena_tags[slot] says, for each
 * 1 MiB arena slot of the window, whose it is: 0 not ours, else 1 + the id
 * of the heap whose home the arena is (arena.c; 1: nobody's, or an arena
 * of a region not carved yet).  Ownership is then exact, O(1), and never
 * reads memory that may not be ours (bpo-18859): a subtraction, a shift, a
 * compare and one 16-bit load.  The same load tells free whether the block
 * is its own thread's before it reads any descriptor: every pool with
 * blocks out in an arena tagged with a heap's tag (heap->arena_tag) is that
 * heap's (arena.c keeps it so: a heap takes a pool of another heap's arena
 * only when no memory can be had, and that arena becomes nobody's; heaps
 * without a home have no tag), and the pools there with no block out count
 * 0 blocks, which free's count check catches.  A block of another heap's
 * arena goes to the slow path, which reads only the descriptor's shared
 * half (types.h).  Tags change under pymi_arena_lock, while no pool of the
 * arena has a block out of another heap; free reads them with no lock
 * (relaxed). */
#define PYM_WINDOW_ARENAS (PYM_WINDOW_REGIONS * PYM_ARENAS_PER_REGION)
#define PYM_ARENA_TAG_FOREIGN 0u
#define PYM_ARENA_TAG_NOBODY 1u
#define PYM_ARENA_TAG_NONE 0xffffu   /* the null heap's: matches no arena */
PYM_HIDDEN extern _Atomic uint16_t pymi_arena_tags[PYM_WINDOW_ARENAS];

PYM_HIDDEN int pymi_range_init(void);
/* The next never-used arena (a new region when needed), or NULL when no
 * address space can be had.  apart: not next to the arena carved last
 * (the one after it is left out as a gap, used only once no region can be
 * had).  Caller holds pymi_arena_lock. */
PYM_HIDDEN pym_arena_t *pymi_range_new_arena(int apart);
/* The arena carved last, when the next one would be carved beside it;
 * else NULL.  Caller holds pymi_arena_lock. */
PYM_HIDDEN const pym_arena_t *pymi_range_last_carved(void);
/* Calls fn for every arena ever carved.  Caller holds pymi_arena_lock. */
PYM_HIDDEN void pymi_range_each_arena(void (*fn)(pym_arena_t *arena, void *arg), void *arg);
PYM_HIDDEN size_t pymi_range_reserved(void);
/* Arenas taken from regions so far (never decreases).  Under pymi_arena_lock. */
PYM_HIDDEN size_t pymi_range_arenas_carved(void);
PYM_HIDDEN void pymi_range_fork_child(void);
/* Gives the pages of [addr, addr+size), arena memory of a region, back to
 * the kernel: page-exact also where a huge page backs part of it (that
 * chunk goes back to 4 KiB pages first).  Caller holds pymi_arena_lock. */
PYM_HIDDEN void pymi_range_purge(uintptr_t addr, size_t size);
/* 1 when the 2 MiB chunk that holds addr (arena memory) is advised huge:
 * its free pages are resident whether used or not.  Under pymi_arena_lock. */
PYM_HIDDEN int pymi_range_is_huge(uintptr_t addr);
/* Chunks of the regions backed by huge pages now (statistics, tests).
 * Under pymi_arena_lock. */
PYM_HIDDEN size_t pymi_range_huge_chunks(void);

/* The window's arena slot that holds ptr; PYM_WINDOW_ARENAS or more for a
 * pointer outside the window. */
PYM_INLINE uintptr_t pymi_arena_slot(const void *ptr)
{
    return ((uintptr_t)ptr - pymi_const.window_base) >> PYM_ARENA_SHIFT;
}
/* The tag of a slot in the window. */
PYM_INLINE unsigned pymi_arena_slot_tag(uintptr_t slot)
{
    return atomic_load_explicit(&pymi_arena_tags[slot], memory_order_relaxed);
}
/* The tag of the arena slot that holds ptr: PYM_ARENA_TAG_FOREIGN for a
 * pointer that is not ours. */
PYM_INLINE unsigned pymi_arena_tag_of(const void *ptr)
{
    uintptr_t slot = pymi_arena_slot(ptr);
    if (pym_unlikely(slot >= PYM_WINDOW_ARENAS))
        return PYM_ARENA_TAG_FOREIGN;
    return pymi_arena_slot_tag(slot);
}
PYM_INLINE int pymi_owns(const void *ptr)
{
    return pymi_arena_tag_of(ptr) != PYM_ARENA_TAG_FOREIGN;
}
/* The tag of the arenas whose home is the heap with this id (0: nobody's). */
PYM_INLINE uint16_t pymi_arena_tag_for_home(uint16_t home_id)
{
    return (uint16_t)(PYM_ARENA_TAG_NOBODY + home_id);
}
/* The tag free compares with (heap->arena_tag): its home's, or none for a
 * heap without a home, whose pools sit in arenas that are nobody's, beside
 * other heaps' pools. */
PYM_INLINE uint16_t pymi_arena_tag_for_heap(uint16_t home_id)
{
    return home_id != 0 ? pymi_arena_tag_for_home(home_id) : (uint16_t)PYM_ARENA_TAG_NONE;
}
/* Sets an arena's tag.  Under pymi_arena_lock. */
PYM_HIDDEN void pymi_range_tag_arena(const pym_arena_t *arena, uint16_t tag);
PYM_INLINE uintptr_t pymi_region_of(uintptr_t addr)
{
    return addr & ~(uintptr_t)PYM_REGION_MASK;
}
/* The descriptor of the pool that holds ptr (ptr must be ours). */
PYM_INLINE pym_pool_t *pymi_pool_of(const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    return (pym_pool_t *)(pymi_region_of(p) +
                          (((p & PYM_REGION_MASK) >> PYM_POOL_SHIFT) << PYM_DESC_SHIFT));
}
/* The shared half of a pool's descriptor (types.h); never of
 * pymi_exhausted_pool, which is no pool of a region. */
PYM_INLINE pym_pool_shared_t *pymi_pool_shared(const pym_pool_t *pool)
{
    return (pym_pool_shared_t *)((uintptr_t)pool + PYM_REGION_SHARED);
}
/* The pool's remote word and reclaim link (types.h); never of
 * pymi_exhausted_pool either. */
PYM_INLINE pym_pool_remote_t *pymi_pool_remote(const pym_pool_t *pool)
{
    return (pym_pool_remote_t *)((uintptr_t)pool + PYM_REGION_REMOTE);
}
/* The pool's owner (NULL: free in its arena or on a heap's stack of empty
 * pools), in the shared half: any thread.  (The free fast path needs none:
 * the arena's tag says whose the pool is.) */
PYM_INLINE pym_heap_t *pymi_pool_owner(const pym_pool_t *pool)
{
    return (pym_heap_t *)atomic_load_explicit(&pymi_pool_shared(pool)->owner, memory_order_relaxed);
}
/* Owner context only, with no block out. */
PYM_INLINE void pymi_pool_set_owner(pym_pool_t *pool, pym_heap_t *heap)
{
    atomic_store_explicit(&pymi_pool_shared(pool)->owner, (uintptr_t)heap, memory_order_relaxed);
}

/* A descriptor as a 32-bit number and back (types.h): 0 is NULL. */
PYM_INLINE uint32_t pymi_pool_number(const pym_pool_t *pool)
{
    return pool == NULL ? 0 : (uint32_t)(((uintptr_t)pool - pymi_const.window_base) >> PYM_DESC_SHIFT);
}
PYM_INLINE pym_pool_t *pymi_pool_at(uint32_t number)
{
    return number == 0 ? NULL : (pym_pool_t *)(pymi_const.window_base + ((uintptr_t)number << PYM_DESC_SHIFT));
}
/* The first byte of the pool a descriptor describes. */
PYM_INLINE char *pymi_pool_page(const pym_pool_t *pool)
{
    uintptr_t d = (uintptr_t)pool;
    return (char *)(pymi_region_of(d) + (((d & PYM_REGION_MASK) >> PYM_DESC_SHIFT) << PYM_POOL_SHIFT));
}
PYM_INLINE pym_arena_t *pymi_arena_of(const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    return (pym_arena_t *)(pymi_region_of(p) +
                           (((p & PYM_REGION_MASK) >> PYM_ARENA_SHIFT) << PYM_DESC_SHIFT));
}
PYM_INLINE uintptr_t pymi_arena_base(const pym_arena_t *arena)
{
    uintptr_t d = (uintptr_t)arena;
    return pymi_region_of(d) + (((d & PYM_REGION_MASK) >> PYM_DESC_SHIFT) << PYM_ARENA_SHIFT);
}
/* The descriptors of an arena's 64 pools: one page of its region's table. */
PYM_INLINE pym_pool_t *pymi_arena_pools(const pym_arena_t *arena)
{
    return pymi_pool_of((const void *)pymi_arena_base(arena));
}

/* ---- arena.c: pools in and out of arenas (takes pymi_arena_lock) -------- */
/* The coarse monotonic clock, in milliseconds (decay): a read of the vDSO's
 * page, a few nanoseconds; inline, as the decay tick reads it every 32
 * mallocs. */
PYM_INLINE int64_t pymi_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
PYM_HIDDEN extern pthread_mutex_t pymi_arena_lock;
/* Up to `want` free pools into out[], in the order the arena prefers them
 * (the fullest of the heap's own arenas, else an empty one, which becomes
 * the heap's; resident pages first), under one acquisition of the lock;
 * how many (fewer only when no memory can be had). */
PYM_HIDDEN unsigned pymi_arena_take_pools(pym_arena_home_t *home, pym_pool_t **out, unsigned want);
/* Gives a new heap's home its id (none past PYM_ARENA_HOMES). */
PYM_HIDDEN void pymi_arena_home_init(pym_arena_home_t *home);
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
/* Purges what has been dirty longer than the purge delay; called on
 * activity (pool refills) and by the purger thread. */
PYM_HIDDEN void pymi_arena_decay(void);
/* Lock-free: is anything waiting for decay?  Run it if it is due at now
 * (pymi_now_ms). */
PYM_HIDDEN int pymi_arena_decay_pending(void);
PYM_HIDDEN void pymi_arena_decay_if_due(int64_t now);
struct pymi_arena_counters {
    size_t current, highwater;
    uint64_t allocated, reclaimed, madvise_calls, pages_purged;
    uint64_t pools_returned;   /* pools given back to their arenas */
    uint64_t return_rounds;    /* arena-lock acquisitions that gave pools back */
    size_t dirty_pools;        /* free pools that may still be resident */
};
PYM_HIDDEN void pymi_arena_counters(struct pymi_arena_counters *out);

/* ---- purger.c: the background purge thread -------------------------------- */
/* Under pymi_arena_lock: the decay queue's next expiry (INT64_MAX: none). */
PYM_HIDDEN void pymi_purger_deadline(int64_t when_ms);
/* Under pymi_arena_lock: this much is dirty; start the thread if worth it. */
PYM_HIDDEN void pymi_purger_want(size_t dirty_bytes);
/* Outside every lock of ours: starts the thread if it was asked for. */
PYM_HIDDEN void pymi_purger_start_if_wanted(void);

/* ---- pool.c: one pool's blocks and lists (owner or heap-lock holder) ---- */
/* Stands in for "no usable pool": its free list is always empty (the bare
 * end mark, freelist.h) and it has nothing to carve. */
PYM_HIDDEN extern pym_pool_t pymi_exhausted_pool;
/* A block of the page is still uncarved (pool.c). */
PYM_INLINE int pymi_pool_can_carve(const pym_pool_t *pool)
{
    return pool->carved <= pool->last_block;
}
/* malloc has a block to take from the pool: a free one or an uncarved one. */
PYM_INLINE int pymi_pool_has_block(const pym_pool_t *pool)
{
    return !pymi_is_list_end(pool->free) || pymi_pool_can_carve(pool);
}
PYM_HIDDEN void pymi_pool_init(pym_pool_t *pool, pym_heap_t *heap, unsigned sizeclass);
PYM_HIDDEN void pymi_pool_settle(pym_heap_t *heap, pym_pool_t *pool, int keep_spare);
/* The same, an empty pool joining batch; the caller returns the batch. */
PYM_HIDDEN void pymi_pool_settle_batched(pym_heap_t *heap, pym_pool_t *pool, int keep_spare,
                                         pym_pool_batch_t *batch);
/* The owner's free of a checked block that is not the fast path's (the
 * pool is FULL, or its owner abandoned it); the free list's head again
 * is a double free. */
PYM_HIDDEN void pymi_pool_push_free(pym_pool_t *pool, pym_block_t *block);
/* A pool that counts as empty must have every block back (freelist.h);
 * one line and abort otherwise. */
PYM_HIDDEN void pymi_pool_check_empty(const pym_pool_t *pool);

/* offset * magic (mod 2^32) is small exactly for multiples of the block
 * size (Lemire's divisibility test); limit also cuts off the blocks not
 * carved yet and the tail too short for a block.  pool.c derives magic,
 * the carve raises limit (alloc_inline.h); a loop over one pool's blocks
 * passes them from registers. */
PYM_INLINE int pymi_is_block_start_of(const void *ptr, uint32_t start_magic, uint32_t start_limit)
{
    uint32_t offset = (uint32_t)((uintptr_t)ptr & PYM_POOL_MASK);
    return (uint32_t)(offset * start_magic) <= start_limit;
}

/* From the owner's line: the free fast path. */
PYM_INLINE int pymi_is_block_start(const pym_pool_t *pool, const void *ptr)
{
    return pymi_is_block_start_of(ptr, pool->start_magic, pool->start_limit);
}
/* The same answer from any thread: the shared line's copy of the limit,
 * and the owner's line only for a block above it (a pool still being
 * carved, or carved since the owner last published its limit). */
PYM_INLINE int pymi_is_block_start_shared(const pym_pool_t *pool, const void *ptr)
{
    const pym_pool_shared_t *shared = pymi_pool_shared(pool);
    uint32_t scaled = (uint32_t)((uintptr_t)ptr & PYM_POOL_MASK) * shared->start_magic;
    return scaled <= atomic_load_explicit(&shared->start_limit, memory_order_relaxed) ||
           scaled <= __atomic_load_n(&pool->start_limit, __ATOMIC_RELAXED);
}
/* Owner context: other threads' block-start test may skip the owner's line
 * for every block carved so far. */
PYM_INLINE void pymi_pool_publish_limit(pym_pool_t *pool)
{
    /* Stored only when it grew: a store to a line other threads keep
     * reading makes each of their next reads a miss, and a pool carved
     * to its end is drained many times. */
    pym_pool_shared_t *shared = pymi_pool_shared(pool);
    uint16_t limit = (uint16_t)pool->start_limit;
    if (atomic_load_explicit(&shared->start_limit, memory_order_relaxed) != limit)
        atomic_store_explicit(&shared->start_limit, limit, memory_order_relaxed);
}

/* ---- remote.c: frees from other threads, the full-pool handshake ---------- */
PYM_HIDDEN void pymi_remote_push(pym_heap_t *owner, pym_pool_t *pool, pym_block_t *block);
/* count blocks linked from head to tail (tail's link is written here), whose
 * low address bits XOR to live_xor, with one CAS. */
PYM_HIDDEN void pymi_remote_push_list(pym_heap_t *owner, pym_pool_t *pool, pym_block_t *head,
                                      pym_block_t *tail, unsigned count, uint16_t live_xor);
/* Moves the remote list onto the pool's free list; returns how many blocks. */
PYM_HIDDEN unsigned pymi_remote_take(pym_pool_t *pool);
/* A pool with no free block: flag it FULL (the next remote free queues it
 * on the owner's reclaim stack) and return 1, or take remote blocks that
 * turned up and return 0. */
PYM_HIDDEN int pymi_remote_mark_full(pym_pool_t *pool);
/* Takes the heap's reclaim stack; each pool's remote blocks come back and
 * the pool is settled (into batch, unless NULL). */
PYM_HIDDEN void pymi_remote_reclaim_batched(pym_heap_t *heap, int keep_spare, pym_pool_batch_t *batch);

/* ---- fwdcache.c: glibc's chunks of 257 B-4 KiB kept per thread ----------------
 * heap is the calling thread's (the null heap, whose fwd_on is 0, when it
 * has none): requests and frees go straight to the allocator below when
 * the heap keeps no cache, and for sizes outside the classes. */
PYM_HIDDEN extern int pymi_fwd_enabled;
PYM_HIDDEN PYM_NOINLINE void *pymi_fwd_malloc(pym_heap_t *heap, size_t size);
PYM_HIDDEN void *pymi_fwd_calloc(pym_heap_t *heap, size_t size);
PYM_HIDDEN PYM_NOINLINE void pymi_fwd_free(void *ptr, pym_heap_t *heap);
/* realloc of a chunk of the allocator below (ptr not NULL) to a size over
 * PYM_SMALL_MAX: the same chunk where glibc would keep it as it is. */
PYM_HIDDEN void *pymi_fwd_realloc(void *ptr, size_t size);
/* Gives every cached chunk back to glibc (owner context). */
PYM_HIDDEN void pymi_fwd_flush(pym_heap_t *heap);
/* A new heap's bins: empty, at their first capacity, on if glibc is below. */
PYM_HIDDEN void pymi_fwd_heap_init(pym_heap_t *heap);
/* The shared cache's lock (a leaf: glibc is called outside it). */
PYM_HIDDEN extern pthread_mutex_t pymi_fwd_shared_lock;
/* Empties the cache the threads share into glibc (trim). */
PYM_HIDDEN void pymi_fwd_flush_shared(void);
PYM_HIDDEN void pymi_fwd_count(const pym_heap_t *heap, size_t *chunks, size_t *bytes);
/* Adds what the cache shared between threads holds. */
PYM_HIDDEN void pymi_fwd_count_shared(size_t *chunks, size_t *bytes);

/* ---- heap.c: per-thread heaps ---------------------------------------------- */
/* The thread's heap, and a copy of its arena_tag, which the free fast path
 * compares with: side by side in one TLS block, free reads the tag without
 * the heap's address first (one instruction).  heap.c writes both. */
struct pymi_tls {
    pym_heap_t *heap;
    uint16_t arena_tag;
};
PYM_HIDDEN extern PYM_TLS struct pymi_tls pymi_tls;
/* In debug mode pymi_tls.heap stays the null heap, so that every call takes
 * the slow path; the thread's real heap is kept here. */
PYM_HIDDEN extern PYM_TLS pym_heap_t *pymi_tls_debug_heap;
/* The heap of a thread that has none yet: every class points at
 * pymi_exhausted_pool, so the fast path falls through to the slow one. */
PYM_HIDDEN extern pym_heap_t pymi_null_heap;
PYM_HIDDEN extern pthread_mutex_t pymi_heaps_lock;
PYM_HIDDEN pym_heap_t *pymi_heap_for_thread(void);
PYM_HIDDEN int pymi_heap_init_process(void);
/* Appends the pool to its class list (taking it off the FULL list). */
PYM_HIDDEN void pymi_heap_link(pym_heap_t *heap, pym_pool_t *pool);
/* Takes the pool off whichever list holds it. */
PYM_HIDDEN void pymi_heap_unlink(pym_heap_t *heap, pym_pool_t *pool);
/* The class's current pool once it has a block (pymi_pool_has_block): the
 * current pool refilled, another pool, reclaimed pools, or a fresh pool;
 * NULL when no memory can be had. */
PYM_HIDDEN pym_pool_t *pymi_heap_alloc_slow(pym_heap_t *heap, unsigned sizeclass);
/* The common case of pymi_heap_alloc_slow alone, for a current pool with
 * no block: the class's current pool with a block when it is the case,
 * else NULL with nothing changed. */
PYM_HIDDEN pym_pool_t *pymi_heap_refill_quick(pym_heap_t *heap, unsigned sizeclass);
PYM_HIDDEN void pymi_heap_free_abandoned(pym_heap_t *owner, pym_pool_t *pool, pym_block_t *block);
/* A free by `me` into a pool of `owner`, another heap: into one of me's
 * outboxes for that pool's class, pushed in batches (heap.c). */
PYM_HIDDEN void pymi_heap_free_remote(pym_heap_t *me, pym_heap_t *owner, pym_pool_t *pool,
                                      pym_block_t *block);
PYM_HIDDEN int pymi_heap_collect_abandoned(void);
PYM_HIDDEN int pymi_heap_trim_own(void);
PYM_HIDDEN pym_heap_t *pymi_heap_list(void);
PYM_HIDDEN uint64_t pymi_heaps_adopted(void);

/* ---- emptypools.c: a heap's empty pools, kept for its next fresh pool ---- */
/* A pool for pymi_pool_init: from the stack, else a few from the arena;
 * NULL when no memory can be had. */
PYM_HIDDEN pym_pool_t *pymi_heap_take_empty_pool(pym_heap_t *heap);
/* An empty, unlinked pool without owner: onto the stack (the stack's
 * oldest PYM_EMPTY_RETURN to the arena when it is full). */
PYM_HIDDEN void pymi_heap_keep_empty_pool(pym_heap_t *heap, pym_pool_t *pool);
/* Every pool of the stack into batch (trim, thread exit). */
PYM_HIDDEN void pymi_heap_release_empty_pools(pym_heap_t *heap, pym_pool_batch_t *batch);
/* At the decay tick: the pools no fresh pool has needed for a whole purge
 * delay go to the arena. */
PYM_HIDDEN void pymi_heap_age_empty_pools(pym_heap_t *heap, int64_t now);
/* The stack is a ring: the slot of its i-th pool from the oldest. */
_Static_assert((PYM_HEAP_EMPTY_POOLS & (PYM_HEAP_EMPTY_POOLS - 1)) == 0,
               "the stack is a ring of 2^n slots");
PYM_INLINE unsigned pymi_heap_stack_slot(const pym_heap_t *heap, unsigned i)
{
    return (heap->empty_bottom + i) & (PYM_HEAP_EMPTY_POOLS - 1);
}
PYM_INLINE pym_pool_t *pymi_heap_stacked_pool(const pym_heap_t *heap, unsigned i)
{
    return heap->empty[pymi_heap_stack_slot(heap, i)];
}

/* ---- alloc.c: slow paths behind alloc_inline.h ------------------------------ */
/* The fast path found no block on the current pool (or no heap): same
 * arguments, so it is a tail call. */
PYM_HIDDEN PYM_NOINLINE void *pymi_malloc_refill(pym_heap_t *heap, size_t size);
/* The fast path's block, after a look at the decay clock. */
PYM_HIDDEN PYM_NOINLINE void *pymi_malloc_tick(pym_heap_t *heap, pym_block_t *block);
/* calloc's: malloc's refill, then the block cleared. */
PYM_HIDDEN PYM_NOINLINE void *pymi_calloc_refill(pym_heap_t *heap, size_t total);
/* calloc's: the block cleared, then malloc's look at the clock. */
PYM_HIDDEN PYM_NOINLINE void *pymi_calloc_tick(pym_heap_t *heap, pym_block_t *block, size_t total);
/* count * size does not fit a size_t: NULL and ENOMEM, as glibc's calloc.
 * Out of line, so that calloc makes no call that is not a tail call (the
 * call to __errno_location gave it a stack frame). */
PYM_HIDDEN PYM_NOINLINE PYM_COLD void *pymi_calloc_overflow(void);
/* After a slow free of this thread: look at the clock soon if pages wait. */
PYM_HIDDEN void pymi_heap_decay_soon(pym_heap_t *heap);
/* Pops a block of the class for a heap that may be a debug-mode heap. */
PYM_HIDDEN void *pymi_heap_alloc_block(pym_heap_t *heap, unsigned sizeclass);
PYM_HIDDEN void pymi_free_block_from(pym_heap_t *me, pym_pool_t *pool, pym_block_t *block);
PYM_HIDDEN PYM_NOINLINE void pymi_free_slow(void *ptr);
/* The fast path's push left a pool that is not current empty. */
PYM_HIDDEN PYM_NOINLINE void pymi_free_emptied(pym_pool_t *pool);
PYM_HIDDEN PYM_NORETURN PYM_COLD void pymi_free_invalid(const void *ptr, const char *what);
/* pymi_NAME is pym_NAME, called without the PLT (alloc.c defines them;
 * override.c's malloc family calls them).  attrs: attributes of pym_NAME's
 * that the alias must repeat (malloc), or nothing. */
#define PYMI_HIDDEN_ALIAS(name, attrs) \
    extern __typeof(pym_##name) pymi_##name __attribute__((alias("pym_" #name), visibility("hidden"))) attrs
PYM_HIDDEN void *pymi_realloc(void *ptr, size_t size);
PYM_HIDDEN void *pymi_reallocarray(void *ptr, size_t count, size_t size);
PYM_HIDDEN void *pymi_memalign(size_t alignment, size_t size);
PYM_HIDDEN void *pymi_aligned_alloc(size_t alignment, size_t size);
PYM_HIDDEN int pymi_posix_memalign(void **out, size_t alignment, size_t size);
PYM_HIDDEN size_t pymi_usable_size(const void *ptr);
PYM_HIDDEN void pymi_free_sized(void *ptr, size_t size);
PYM_HIDDEN void pymi_free_aligned_sized(void *ptr, size_t alignment, size_t size);

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
PYM_HIDDEN void pymi_big_free(void *ptr);
PYM_HIDDEN size_t pymi_big_usable_size(const void *ptr);
PYM_HIDDEN void *pymi_big_realloc(void *ptr, size_t size);

/* ---- sysalloc.c: forwarding to the allocator underneath ----------------------- */
/* glibc's own functions, found in libc.so.6 itself (never through the
 * global scope, where another preloaded allocator may stand), the program's
 * malloc in a --disable-override build, or bigalloc.c in a fully static
 * executable.  Until pymi_sys_init they point at stubs that initialise. */
struct pymi_sys {
    void *(*malloc)(size_t size);
    void (*free)(void *ptr);
    void *(*calloc)(size_t count, size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void *(*memalign)(size_t alignment, size_t size);
    size_t (*usable_size)(void *ptr);
};
PYM_HIDDEN extern struct pymi_sys pymi_sys;
PYM_HIDDEN void pymi_sys_init(void);
/* 1 when the allocator below is glibc's (the override build, dynamic). */
PYM_HIDDEN int pymi_sys_is_glibc(void);
PYM_HIDDEN void *pymi_sys_valloc(size_t size);
PYM_HIDDEN void *pymi_sys_pvalloc(size_t size);
PYM_HIDDEN void *pymi_sys_symbol(const char *name);

/* ---- override.c --------------------------------------------------------------- */
#ifdef PYM_OVERRIDE
PYM_HIDDEN int pymi_override_lost(void);
#else
PYM_INLINE int pymi_override_lost(void)
{
    return 0;
}
#endif

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
PYM_HIDDEN void pymi_fwd_fork_child(int shared_lock_was_held);

#endif /* PYM_INTERNAL_H */
