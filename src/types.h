/*
 * types.h -- every structure of the allocator, with the words we use for them.
 *
 * Glossary
 *   block   what malloc returns: 16..PYM_SMALL_MAX bytes, one size class.
 *   pool    one 4 KiB page holding blocks of one class, its header at the
 *           start, so pool = ptr & ~4095.  Owned by exactly one heap while it
 *           holds blocks; free pools belong to their arena.
 *   arena   256 KiB (64 pools) of the reserved range; it hands pools to heaps.
 *   heap    a thread's set of pools, one list per size class.  Heaps are
 *           never freed: when a thread exits its heap is *abandoned* (it keeps
 *           its pools and blocks) and the next new thread adopts it.
 *   remote  a block freed by a thread that does not own its pool; it goes on
 *           the pool's atomic remote list, which the owner drains.
 *
 * Pool states, as the owner sees them (CPython's used/full/empty):
 *   LINKED  on its heap's list for the class, has at least one free block or
 *           uncarved space (pool->free != NULL).  malloc uses the first one.
 *   FULL    no free block; unlinked.  It comes back to LINKED on a local free,
 *           or through the heap's reclaim stack after a remote free.
 *   empty   used == 0: kept as the class's spare or returned to the arena,
 *           alone or with others in a pym_pool_batch_t.
 */
#ifndef PYM_TYPES_H
#define PYM_TYPES_H

#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* A free block's first word links it to the next free block, encoded
 * (freelist.h): always read and write it through pymi_block_next/_set_next. */
typedef struct pym_block {
    uintptr_t encoded_next;
} pym_block_t;

/* Low bit of pool->remote: set by the owner when the pool went FULL with an
 * empty remote list; the remote free that clears it must push the pool on the
 * owner's reclaim stack, so a full pool never waits unnoticed.  (Blocks are
 * 16-byte aligned, so the bit never collides with a pointer.) */
#define PYM_REMOTE_FULL ((uintptr_t)1)

enum { PYM_POOL_LINKED = 0, PYM_POOL_FULL = 1 };

typedef struct pym_pool {
    pym_block_t *free;             /* local free list; NULL only when exhausted */
    struct pym_heap *owner;        /* NULL while the pool is free in its arena */
    uint16_t nextoffset;           /* first byte never carved (CPython's nextoffset) */
    uint16_t maxnextoffset;        /* last offset at which a whole block still fits */
    uint16_t used;                 /* blocks not on the local free list */
    uint16_t block_size;
    uint8_t sizeclass;
    uint8_t state;                 /* PYM_POOL_LINKED or PYM_POOL_FULL */
    uint8_t flagged;               /* owner set PYM_REMOTE_FULL, not yet seen cleared */
    uint8_t queued;                /* pushed (or about to be) on the reclaim stack */
    uint32_t reserved_;
    struct pym_pool *next;         /* heap's class list (LINKED pools only) */
    struct pym_pool *prev;
    _Atomic uintptr_t remote;      /* remote free list | PYM_REMOTE_FULL */
    struct pym_pool *reclaim_next; /* link on the owner's reclaim stack */
} pym_pool_t;

_Static_assert(sizeof(pym_pool_t) <= PYM_POOL_HEADER_SIZE, "pool header fits one cache line");

typedef struct pym_arena {
    uint64_t free_mask;            /* bit i: pool i is free */
    uint64_t dirty_mask;           /* bit i: free pool i may still have a resident page */
    uint32_t nfree;                /* popcount(free_mask) */
    uint32_t in_use;               /* taken from the reservation and not reclaimed */
    struct pym_arena *next;        /* bucket list (by nfree), spare list or reclaimed stack */
    struct pym_arena *prev;
    uint64_t reserved_[2];
} pym_arena_t;

/* Empty pools on their way back to their arenas, gathered by a loop that
 * may empty many (thread exit, remote reclaim, trim) and handed over with
 * one acquisition of the arena lock per PYM_RETURN_BATCH pools (arena.c).
 * Until then a pool in a batch is unlinked, empty and still owned. */
#define PYM_RETURN_BATCH 64u
typedef struct pym_pool_batch {
    unsigned count;
    pym_pool_t *pools[PYM_RETURN_BATCH];
} pym_pool_batch_t;

/* ORPHANED: in a fork child, the heap of a thread that did not come along.
 * That thread may have been half-way through changing it, so nobody acts
 * for it: frees into its pools go on their remote lists and stay there. */
enum { PYM_HEAP_ACTIVE = 0, PYM_HEAP_ABANDONED = 1, PYM_HEAP_ORPHANED = 2 };

typedef struct pym_heap {
    /* Hot: read by the malloc fast path.  Never NULL: &pymi_exhausted_pool
     * stands in when a class has no usable pool. */
    pym_pool_t *pools[PYM_NUM_CLASSES];
    uint64_t mallocs[PYM_NUM_CLASSES];   /* statistics, owner-written */
    pym_pool_t *tails[PYM_NUM_CLASSES];  /* last pool of each class list, or NULL */
    pym_pool_t *spare[PYM_NUM_CLASSES];  /* an empty pool kept against thrash */
    _Atomic(pym_pool_t *) reclaim;       /* FULL pools that received a remote free */
    _Atomic int state;                   /* PYM_HEAP_ACTIVE, _ABANDONED or _ORPHANED */
    pthread_mutex_t lock;                /* held by a thread acting for an abandoned heap */
    struct pym_heap *next_all;           /* every heap ever made (append only) */
    uint64_t remote_frees;               /* statistics: blocks this thread freed remotely */
    uint64_t forwarded_calls;            /* statistics: requests this thread sent to libc */
    uint64_t forwarded_bytes;
} pym_heap_t;

#endif /* PYM_TYPES_H */
