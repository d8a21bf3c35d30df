/*
 * config.h -- geometry of the pymalloc "memory pyramid" and compiler helpers.
 *
 *   region 32 MiB, 32 MiB-aligned, reserved from the kernel one at a time as
 *          arenas are needed; its first 128 KiB hold the descriptors of its
 *          arenas and pools (range.c), the next 128 KiB the pools'
 *          descriptors' shared halves, the next 128 KiB their remote
 *          words, the next 16 KiB debug mode's word per pool (debug.c),
 *          and the rest of its first arena is never used
 *   arena  1 MiB, 64 pools
 *   pool   16 KiB (four pages), one size class, blocks from offset 0; its
 *          64-byte descriptor lives in its region's table
 *   block  16..PYM_SMALL_MAX bytes in steps of 16 (16-byte aligned)
 *
 * 16 KiB pools in 1 MiB arenas are CPython's own geometry on 64-bit since
 * 3.10 (obmalloc's USE_LARGE_POOLS and USE_LARGE_ARENAS, with its radix
 * tree).  pymalloc used 3.9's 4 KiB pools in 256 KiB arenas until session
 * 27, which measured 16 KiB pools 11-24 % faster on every workload that
 * allocates more than a few pools (docs/design.md, "Geometry").
 *
 * Every constant that others depend on is checked here with _Static_assert,
 * the way CPython's "Main tunable settings section" enforced itself with #error.
 */
#ifndef PYM_CONFIG_H
#define PYM_CONFIG_H

#include "pym_build_config.h"   /* configure: PYM_SMALL_MAX, PYM_OVERRIDE, PYM_DEBUG_LEVEL */

#include <stddef.h>
#include <stdint.h>

#ifndef PYM_SMALL_MAX
#define PYM_SMALL_MAX 256
#endif
#ifndef PYM_DEBUG_LEVEL
#define PYM_DEBUG_LEVEL 0
#endif

#define PYM_ALIGNMENT        16u
#define PYM_ALIGNMENT_SHIFT  4u
#define PYM_NUM_CLASSES      (PYM_SMALL_MAX / PYM_ALIGNMENT)

/* The kernel's page: the unit of madvise, and of the statistics' pages. */
#define PYM_OS_PAGE_SIZE     4096u

#define PYM_POOL_SHIFT       14u
#define PYM_POOL_SIZE        ((size_t)1 << PYM_POOL_SHIFT)          /* 16 KiB */
#define PYM_POOL_MASK        (PYM_POOL_SIZE - 1)
#define PYM_DESC_SIZE        64u                                     /* one cache line */
#define PYM_DESC_SHIFT       6u

#define PYM_ARENA_SHIFT      20u
#define PYM_ARENA_SIZE       ((size_t)1 << PYM_ARENA_SHIFT)         /* 1 MiB */
#define PYM_POOLS_PER_ARENA  (PYM_ARENA_SIZE / PYM_POOL_SIZE)        /* 64 */

#define PYM_REGION_SHIFT     25u
#define PYM_REGION_SIZE      ((size_t)1 << PYM_REGION_SHIFT)        /* 32 MiB */
#define PYM_REGION_MASK      (PYM_REGION_SIZE - 1)
#define PYM_ARENAS_PER_REGION (PYM_REGION_SIZE / PYM_ARENA_SIZE)     /* 32 */
#define PYM_POOLS_PER_REGION (PYM_REGION_SIZE / PYM_POOL_SIZE)       /* 2048 */
/* One descriptor per pool of the region: 2048 x 64 B = 128 KiB, at the
 * start of the first arena, which holds nothing else.  That arena's own
 * pools' descriptor slots are free, and hold the 32 arena descriptors. */
#define PYM_REGION_DESC_BYTES (PYM_POOLS_PER_REGION * PYM_DESC_SIZE)
#define PYM_REGION_META_ARENAS ((PYM_REGION_DESC_BYTES + PYM_ARENA_SIZE - 1) / PYM_ARENA_SIZE)
/* The descriptors' shared halves (pym_pool_shared_t), a table of the same
 * shape right after them: a pool's is PYM_REGION_DESC_BYTES past its
 * descriptor. */
#define PYM_REGION_SHARED PYM_REGION_DESC_BYTES
/* The pools' remote words (pym_pool_remote_t), a third table of the same
 * shape after the shared halves. */
#define PYM_REGION_REMOTE (PYM_REGION_SHARED + PYM_REGION_DESC_BYTES)
/* Debug mode's word per pool (debug.c), after the remote words: 2048 x 8 B
 * = 16 KiB of the first arena, never touched outside debug mode. */
#define PYM_REGION_DEBUG_LIVES (PYM_REGION_REMOTE + PYM_REGION_DESC_BYTES)
#define PYM_REGION_DEBUG_BYTES (PYM_POOLS_PER_REGION * 8u)
/* The descriptors of one arena's pools: one 4 KiB page of the table (and
 * one of the shared halves' table, and one of the remote words'), which
 * an arena given back to the kernel gives back with it (arena.c). */
#define PYM_ARENA_DESC_PAGE (PYM_POOLS_PER_ARENA * PYM_DESC_SIZE)

/* Heaps that get arenas of their own (arena.c, "Homes"); the ones made
 * after these share the arenas that are nobody's. */
#define PYM_ARENA_HOMES      4096u

/* Regions are placed in a window of address space around the first one,
 * so that ownership is a byte lookup (range.c).  64 GiB of small blocks. */
#define PYM_WINDOW_REGIONS   2048u

/* Empty arenas past the spare cache go back to the kernel up to this many
 * at a time (a region's worth, 32 MiB; 1 KiB of stack for the batch): one
 * madvise per run of adjacent ones.  Each call pays a TLB flush whatever
 * its length, 40-80 us on the VM this was measured on; with 16 (4 MiB) a
 * full collection of 16 MiB of garbage (bench/gc) spent 1.8-2.5 ms giving
 * it back, with 128 1.2-1.5 ms. */
#define PYM_RECLAIM_BATCH    PYM_ARENAS_PER_REGION

/* Huge pages (PYMALLOC_HUGE_PAGES, range.c): the 2 MiB chunks of a region
 * carved once this much of a heap's arenas exist are backed by the
 * kernel's transparent huge pages.  A program with less (most small tools)
 * keeps 4 KiB pages: one touched block must not cost 2 MiB of RSS. */
#define PYM_HUGE_CHUNK_SHIFT 21u
#define PYM_HUGE_CHUNK_SIZE  ((size_t)1 << PYM_HUGE_CHUNK_SHIFT)   /* 2 MiB */
#define PYM_HUGE_CHUNKS_PER_REGION (PYM_REGION_SIZE / PYM_HUGE_CHUNK_SIZE)   /* 16 */
#define PYM_HUGE_AFTER       ((size_t)8 << 20)

/* Default of PYMALLOC_PURGE_DELAY_MS: free pools stay resident this long
 * for reuse before their pages go back (arena.c). */
#define PYM_PURGE_DELAY_DEFAULT_MS 250
/* Mallocs that pop a freed block (or refill) between two looks at the
 * decay clock by one thread: while its frees left pages waiting, and
 * otherwise.  At a malloc+free pair every 10 ms, 32 pops are 320 ms: pages
 * freed then go back within a second. */
#define PYM_DECAY_TICK_PENDING 32u
#define PYM_DECAY_TICK_IDLE    1024u
/* A FULL pool is taken back into use once this fraction of its blocks
 * (1 / 2^shift; at least one) is free on its list (heap.c). */
#define PYM_TAKE_BACK_SHIFT 4u
/* A heap's stack of empty pools (emptypools.c): at most this many (1 MiB; a
 * power of two), refilled from the arena this many at a time, and given
 * back to it this many a call. */
#define PYM_HEAP_EMPTY_POOLS  64u
#define PYM_EMPTY_TAKE         2u
#define PYM_EMPTY_RETURN       4u
/* ... and this many (128 KiB) it may keep while the decay tick is slow
 * (alloc.c): more make the tick fast, so that they age on time. */
#define PYM_HEAP_EMPTY_IDLE    8u
/* Dirty memory past which a background thread purges on time, so that a
 * program that goes idle still gives memory back (only in a process that
 * has threads already: purger.c). */
#define PYM_PURGER_THRESHOLD ((size_t)4 << 20)

_Static_assert((PYM_SMALL_MAX % PYM_ALIGNMENT) == 0, "classes are 16 bytes apart");
_Static_assert(PYM_NUM_CLASSES <= 32, "pym_stats_t holds at most 32 classes");
_Static_assert(PYM_ARENA_SIZE % PYM_POOL_SIZE == 0, "pools tile an arena");
_Static_assert(PYM_POOLS_PER_ARENA == 64, "an arena's pools fit one 64-bit mask");
_Static_assert(PYM_POOL_SIZE >= 8 * PYM_SMALL_MAX, "a pool holds several blocks of the largest class");
_Static_assert(PYM_REGION_META_ARENAS * PYM_POOLS_PER_ARENA >= PYM_ARENAS_PER_REGION,
               "the metadata arenas' own descriptor slots hold every arena descriptor");
_Static_assert(PYM_REGION_DEBUG_LIVES + PYM_REGION_DEBUG_BYTES <= PYM_REGION_META_ARENAS * PYM_ARENA_SIZE,
               "debug mode's words fit the metadata arenas, after the descriptors");
_Static_assert((1u << PYM_DESC_SHIFT) == PYM_DESC_SIZE, "descriptor size");
_Static_assert(PYM_ARENA_DESC_PAGE == PYM_OS_PAGE_SIZE, "an arena's pool descriptors fill one page");
_Static_assert(PYM_HUGE_CHUNKS_PER_REGION <= 16, "a region's huge chunks fit a 16-bit mask");
_Static_assert(PYM_REGION_META_ARENAS * PYM_ARENA_SIZE <= PYM_HUGE_CHUNK_SIZE,
               "the descriptors sit in a region's first chunk, which carving never makes huge");

/* ---- compiler helpers -------------------------------------------------- */
#define pym_likely(x)    __builtin_expect(!!(x), 1)
#define pym_unlikely(x)  __builtin_expect(!!(x), 0)
#define PYM_NOINLINE     __attribute__((noinline))
#define PYM_COLD         __attribute__((cold))
#define PYM_INLINE       static inline __attribute__((always_inline))
#define PYM_HIDDEN       __attribute__((visibility("hidden")))
#define PYM_NORETURN     __attribute__((noreturn))
#define PYM_TLS          __thread __attribute__((tls_model("initial-exec")))
/* The functions whose bodies are the inline fast paths start on a cache
 * line: malloc's ~110 bytes to its `ret` then span two lines, never three
 * (session 24: a pair of 64 B took 3.4 ns instead of 3.9 when an unrelated
 * change happened to move malloc from 32 bytes past a line to its start).
 * On a pair of lines, since session 29: with the same code, trees/14 ran
 * 258 us with free 64 bytes past a 128-byte boundary and 238 with it on
 * one (5 rounds alternating; session 28's library 235); the other rows
 * did not move. */
#define PYM_FAST_ENTRY   __attribute__((aligned(128)))
/* Keeps the compiler from merging or moving memory accesses across it. */
#define pymi_compiler_barrier() __asm__ __volatile__("" ::: "memory")
/* Statistics readers look at other threads' counters without stopping them;
 * those reads are deliberately racy (a snapshot), so TSan is told so. */
#if defined(__SANITIZE_THREAD__)
#define PYM_RACY_READER  __attribute__((no_sanitize("thread")))
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PYM_RACY_READER  __attribute__((no_sanitize("thread")))
#endif
#endif
#ifndef PYM_RACY_READER
#define PYM_RACY_READER
#endif

/* Graded checks (STYLE.md §5): always compiled, folded away in release. */
static const int pym_debug_level = PYM_DEBUG_LEVEL;
#define pym_assert(cond) \
    do { if (pym_debug_level >= 1 && pym_unlikely(!(cond))) \
        pymi_assert_fail(#cond, __FILE__, __LINE__); } while (0)
#define pym_assert_expensive(cond) \
    do { if (pym_debug_level >= 2 && pym_unlikely(!(cond))) \
        pymi_assert_fail(#cond, __FILE__, __LINE__); } while (0)
PYM_HIDDEN PYM_NORETURN PYM_COLD void pymi_assert_fail(const char *what, const char *file, int line);

#endif /* PYM_CONFIG_H */
