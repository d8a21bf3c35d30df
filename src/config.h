/*
 * config.h -- geometry of the pymalloc "memory pyramid" and compiler helpers.
 *
 *   arena  256 KiB, 256 KiB-aligned, carved from one reserved address range
 *   pool   4 KiB (one page), one size class, 64-byte header at its start
 *   block  16..PYM_SMALL_MAX bytes in steps of 16 (16-byte aligned)
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

#define PYM_POOL_SHIFT       12u
#define PYM_POOL_SIZE        ((size_t)1 << PYM_POOL_SHIFT)          /* 4 KiB */
#define PYM_POOL_MASK        (PYM_POOL_SIZE - 1)
#define PYM_POOL_HEADER_SIZE 64u                                     /* one cache line */

#define PYM_ARENA_SHIFT      18u
#define PYM_ARENA_SIZE       ((size_t)1 << PYM_ARENA_SHIFT)         /* 256 KiB */
#define PYM_POOLS_PER_ARENA  (PYM_ARENA_SIZE / PYM_POOL_SIZE)        /* 64 */

/* Address space reserved at start-up for arenas; halved until the kernel
 * (or RLIMIT_AS) accepts it, but never below PYM_RESERVE_MIN. */
#define PYM_RESERVE_MAX      ((size_t)64 << 30)                      /* 64 GiB */
#define PYM_RESERVE_MIN      ((size_t)4 * PYM_ARENA_SIZE)

/* Free pools may stay resident ("dirty") for quick reuse, up to
 * PYM_DIRTY_BUDGET pools process-wide (4 MiB); past that, an arena's dirty
 * pools are purged together once it holds PYM_PURGE_BATCH of them. */
#define PYM_DIRTY_BUDGET     1024u
#define PYM_PURGE_BATCH      8u

/* Empty arenas past the spare cache go back to the kernel this many at a
 * time (4 MiB): one madvise for adjacent ones is far cheaper than one each. */
#define PYM_RECLAIM_BATCH    16u

_Static_assert((PYM_SMALL_MAX % PYM_ALIGNMENT) == 0, "classes are 16 bytes apart");
_Static_assert(PYM_NUM_CLASSES <= 32, "pym_stats_t holds at most 32 classes");
_Static_assert(PYM_ARENA_SIZE % PYM_POOL_SIZE == 0, "pools tile an arena");
_Static_assert(PYM_POOLS_PER_ARENA == 64, "an arena's pools fit one 64-bit mask");
_Static_assert(PYM_POOL_HEADER_SIZE % PYM_ALIGNMENT == 0, "blocks stay 16-byte aligned");
_Static_assert(PYM_POOL_SIZE - PYM_POOL_HEADER_SIZE >= 8 * PYM_SMALL_MAX,
               "a pool holds several blocks of the largest class");

/* ---- compiler helpers -------------------------------------------------- */
#define pym_likely(x)    __builtin_expect(!!(x), 1)
#define pym_unlikely(x)  __builtin_expect(!!(x), 0)
#define PYM_NOINLINE     __attribute__((noinline))
#define PYM_COLD         __attribute__((cold))
#define PYM_INLINE       static inline __attribute__((always_inline))
#define PYM_HIDDEN       __attribute__((visibility("hidden")))
#define PYM_NORETURN     __attribute__((noreturn))
#define PYM_TLS          __thread __attribute__((tls_model("initial-exec")))
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
