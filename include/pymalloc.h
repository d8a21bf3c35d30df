/*
 * pymalloc.h -- the public, prefixed API of libpymalloc.
 *
 * Requests of 0..PYM_SMALL_MAX bytes (256 by default) with alignment <= 16
 * are served from per-thread pymalloc pools (16 KiB carved into blocks of
 * one size class, inside 1 MiB arenas); everything else is forwarded to
 * the C library's allocator.  These functions work whether or not the
 * library also overrides malloc/free (configure --disable-override leaves the
 * program's own malloc alone), and they may be mixed freely with each other:
 * any pointer returned here may be given to pym_free or pym_realloc.
 *
 * Error contract (the same as glibc's):
 *   - allocation functions return NULL and set errno to ENOMEM when memory
 *     or the size is impossible (including n * size overflow);
 *   - pym_posix_memalign returns EINVAL (alignment not a power of two, or
 *     not a multiple of sizeof(void *)), leaving errno untouched, or ENOMEM,
 *     setting errno to ENOMEM too, as glibc's does;
 *   - pym_memalign is glibc's memalign: an alignment up to 16 gives an
 *     ordinary block, one that is not a power of two is rounded up to one,
 *     and only an alignment above SIZE_MAX / 2 + 1 is EINVAL;
 *   - pym_aligned_alloc is C17's (DR 460) and glibc 2.38's: EINVAL unless the
 *     alignment is a power of two, else pym_memalign.  The overriding name
 *     aligned_alloc answers as the glibc pymalloc was built against: before
 *     2.38 (Debian 12 has 2.36) that is memalign, so aligned_alloc(3, 64)
 *     returns a block;
 *   - pym_free(NULL) does nothing and no free function changes errno;
 *   - freeing a pointer that lies inside our pools but is not a live block's
 *     start prints one line on stderr and calls abort().
 * All functions are thread-safe; a block may be freed by any thread.
 */
#ifndef PYMALLOC_H
#define PYMALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PYM_EXPORT __attribute__((visibility("default")))
#define PYM_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define PYM_EXPORT
#define PYM_MALLOC_ATTR
#endif

#define PYM_VERSION "0.1.0"

/* ---- allocation -------------------------------------------------------- */
PYM_EXPORT PYM_MALLOC_ATTR void *pym_malloc(size_t size);
PYM_EXPORT PYM_MALLOC_ATTR void *pym_calloc(size_t count, size_t size);
PYM_EXPORT void *pym_realloc(void *ptr, size_t size);
PYM_EXPORT void *pym_reallocarray(void *ptr, size_t count, size_t size);
PYM_EXPORT void pym_free(void *ptr);
/* pym_free of ptrs[0..n), cheaper per block when consecutive pointers lie
 * in one pool (for example in address order). */
PYM_EXPORT void pym_free_batch(void *const *ptrs, size_t n);
/* size (and alignment) must be what was asked for.  In debug mode
 * (PYMALLOC_DEBUG=1) they are checked: a size other than the one requested
 * (for a block forwarded to libc: larger than its usable size), or a block
 * not aligned to alignment, prints one line and aborts.  Otherwise they are
 * not used. */
PYM_EXPORT void pym_free_sized(void *ptr, size_t size);
PYM_EXPORT void pym_free_aligned_sized(void *ptr, size_t alignment, size_t size);
PYM_EXPORT PYM_MALLOC_ATTR void *pym_memalign(size_t alignment, size_t size);
PYM_EXPORT PYM_MALLOC_ATTR void *pym_aligned_alloc(size_t alignment, size_t size);
PYM_EXPORT int pym_posix_memalign(void **out, size_t alignment, size_t size);
/* Bytes usable at ptr (>= the size requested); 0 for NULL. */
PYM_EXPORT size_t pym_usable_size(const void *ptr);
/* 1 when ptr lies inside pymalloc's pools (not forwarded to libc), else 0. */
PYM_EXPORT int pym_owns(const void *ptr);

/* ---- giving memory back -------------------------------------------------- */
/* Releases every empty pool and arena we can reach (this thread's cached
 * pools, pools of exited threads) and returns their pages to the kernel.
 * Returns 1 when anything was released, else 0. */
PYM_EXPORT int pym_trim(void);

/* ---- statistics ---------------------------------------------------------- */
#define PYM_STATS_MAX_CLASSES 32

typedef struct pym_class_stats {
    size_t block_size;      /* bytes per block of this class */
    size_t blocks_in_use;   /* handed out and not yet freed */
    size_t blocks_free;     /* in pools of this class, available */
    size_t pools_used;      /* pools with both live and free blocks */
    size_t pools_full;      /* pools with no free block */
    size_t pools_empty;     /* pools of this class with no live block */
    uint64_t mallocs;       /* blocks made available to malloc since start (counted
                               per refill: at most the free blocks above the requests) */
} pym_class_stats_t;

typedef struct pym_stats {
    size_t num_classes;
    pym_class_stats_t classes[PYM_STATS_MAX_CLASSES];
    /* arenas (1 MiB each) */
    size_t arenas_current;      /* arenas with pages mapped for us */
    size_t arenas_highwater;    /* most arenas at once */
    uint64_t arenas_allocated;  /* arenas taken into use since start */
    uint64_t arenas_reclaimed;  /* arenas given back to the kernel */
    size_t bytes_reserved;      /* address space reserved for arenas (32 MiB regions) */
    /* Every byte of the current arenas is in exactly one of these: */
    size_t bytes_in_use;        /* live blocks (block size, not request size) */
    size_t bytes_free_blocks;   /* free blocks inside pools in use */
    size_t bytes_pool_waste;    /* pool tails too small for a block */
    size_t bytes_free_pools;    /* whole pools free inside arenas */
    size_t bytes_free_pools_resident; /* the part of bytes_free_pools whose pages
                                         are still resident (not yet purged) */
    /* threads */
    uint64_t remote_frees;      /* blocks freed by a thread that did not own them */
    size_t heaps_active;        /* heaps owned by a live thread */
    size_t heaps_abandoned;     /* heaps of exited threads still holding blocks */
    uint64_t heaps_adopted;     /* heaps taken over by a new thread */
    /* kernel calls */
    uint64_t madvise_calls;     /* page ranges returned to the kernel */
    uint64_t pages_purged;      /* 4 KiB pages returned that way */
    /* glibc's chunks of 257 B-4 KiB that threads freed and keep for their
     * next malloc (PYMALLOC_FWD_CACHE; at most 1 MiB a thread, and 1 MiB
     * shared between them) */
    size_t fwd_cache_chunks;
    size_t fwd_cache_bytes;
} pym_stats_t;

/* Fills *out with a snapshot.  Counters of other live threads are read
 * without stopping them, so they may be a few operations old. */
PYM_EXPORT void pym_stats_get(pym_stats_t *out);
/* Prints the snapshot in the layout of CPython's sys._debugmallocstats(). */
PYM_EXPORT void pym_stats_print(FILE *out);

/* ---- options --------------------------------------------------------------
 * Read once from the environment (PYMALLOC_<NAME>) at start-up; pym_option_set
 * changes one at run time where that makes sense. */
typedef enum pym_option {
    PYM_OPTION_STATS = 0,       /* PYMALLOC_STATS: print statistics at exit */
    PYM_OPTION_DEBUG,           /* PYMALLOC_DEBUG: fill patterns, guard bytes, checks */
    PYM_OPTION_ARENA_CACHE,     /* PYMALLOC_ARENA_CACHE: empty arenas kept mapped */
    PYM_OPTION_DISABLE,         /* PYMALLOC_DISABLE: forward everything to libc */
    PYM_OPTION_VERBOSE,         /* PYMALLOC_VERBOSE: report decisions on stderr */
    PYM_OPTION_PURGE_DELAY_MS,  /* PYMALLOC_PURGE_DELAY_MS: free pages stay this long for reuse */
    PYM_OPTION_PURGE_THREAD,    /* PYMALLOC_PURGE_THREAD: 1 (default) a thread purges an idle program */
    PYM_OPTION_FWD_CACHE,       /* PYMALLOC_FWD_CACHE: 1 (default) threads keep freed 257 B-4 KiB chunks */
    PYM_OPTION_HUGE_PAGES,      /* PYMALLOC_HUGE_PAGES: 1 (default) 2 MiB pages for a heap past 8 MiB */
    PYM_OPTION_COUNT_
} pym_option_t;

PYM_EXPORT long pym_option_get(pym_option_t option);
/* Returns 0, or -1 with errno = EINVAL for an unknown option or bad value.
 * DISABLE and DEBUG are start-up only.  A new PURGE_DELAY_MS applies to the
 * pages already waiting too: 0 sends them back at the next allocator call.
 * A new HUGE_PAGES applies to the chunks carved or emptied from then on. */
PYM_EXPORT int pym_option_set(pym_option_t option, long value);

PYM_EXPORT const char *pym_version(void);

#ifdef __cplusplus
}
#endif
#endif /* PYMALLOC_H */
