/*
 * types.h -- every structure of the allocator, with the words we use for them.
 *
 * Glossary
 *   block   what malloc returns: 16..PYM_SMALL_MAX bytes, one size class.
 *   pool    16 KiB (four pages) holding blocks of one class from offset 0.  Its
 *           descriptor (pym_pool_t) sits in its region's table, found from
 *           any pointer into the pool by arithmetic (pymi_pool_of).  Owned
 *           by exactly one heap while it holds blocks; free pools belong to
 *           their arena.  "pool" in the code means the descriptor.
 *   arena   1 MiB (64 pools) of a region; it hands pools to heaps.
 *   region  32 MiB of address space reserved from the kernel when needed;
 *           its first arena holds the descriptor table (range.c).
 *   heap    a thread's set of pools, one list per size class.  Heaps are
 *           never freed: when a thread exits its heap is *abandoned* (it keeps
 *           its pools and blocks) and the next new thread adopts it.
 *   remote  a block freed by a thread that does not own its pool; it goes on
 *           the pool's atomic remote list, which the owner drains.
 *
 * A pool's free blocks are on one of two lists:
 *   free        what malloc pops and the owner's free pushes (LIFO: the
 *               block freed last, still in cache, is handed out next)
 *   remote      what other threads push (atomic; remote.c), moved onto
 *               free by the owner's malloc slow path
 * (mimalloc splits the owner's frees into a third list, so that every
 * block passes a refill; measured here, on 4 KiB pools, that doubled the
 * slow-path calls of a random churn, docs/design.md.)
 *
 * Pool states, as the owner sees them (CPython's used/full/empty):
 *   LINKED  on its heap's list for the class, may have free blocks.
 *           malloc uses the first one (heap->pools[class], the current pool).
 *   FULL    it had no free block when malloc last looked: off the class
 *           list, on the heap's FULL list of the class (oldest first).  The
 *           owner's frees still go into it on the fast path; malloc takes it
 *           back when the class list runs dry and it has blocks again
 *           (heap.c), or the reclaim stack brings it back after a remote
 *           free.
 *   DETACHED on no list: fresh, or on its way back to its arena.
 *   empty   no live block: kept as the class's spare, or on the heap's
 *           stack of empty pools for its next fresh pool of any class
 *           (emptypools.c), or returned to the arena, alone or with
 *           others in a pym_pool_batch_t.
 * `used` counts the blocks not on `free`, plus one while the
 * pool is its heap's current pool of the class (the pin): the free fast path
 * then sees 0 only for a pool that is really empty and not current.
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

/* Low bit of a pool's remote word (pym_pool_remote_t): set by the owner
 * when the pool went FULL with an empty remote list; the remote free that
 * clears it must push the pool on the owner's reclaim stack, so a full pool
 * never waits unnoticed.  (Blocks are 16-byte aligned, so the bit never
 * collides with a block's offset.) */
#define PYM_REMOTE_FULL ((uintptr_t)1)

enum { PYM_POOL_LINKED = 0, PYM_POOL_FULL = 1, PYM_POOL_DETACHED = 2 };

/* A pool's descriptor: its owner's half (the other threads' is
 * pym_pool_shared_t, below, which also holds the owner).  All zero (a
 * purged descriptor page) is a free pool.  Links to other descriptors are
 * 32-bit numbers (pymi_pool_number: the descriptor's distance from the
 * window's base in descriptors; 0 is never a pool), so that the whole of it
 * fits one cache line. */
typedef struct pym_pool {
    /* Hot: malloc reads free and used; free reads the block-start pair,
     * free and used (which heap owns the pool it knows from the arena's
     * tag, internal.h). */
    pym_block_t *free;             /* malloc pops, the owner's free pushes */
    uint64_t spare0;
    /* Blocks off the free lists, + 1 while current.  32 bits, though a
     * pool holds at most 1024 blocks: each malloc adds 1 and each free
     * takes 1 away, one after the other, and the Xeon measured in session
     * 28 hands a 32-bit add of a constant in memory on to the next one at
     * once, where a 16-bit one waits for the store (a malloc+free pair
     * 4.0 -> 3.8 ns; docs/design.md, "Session 28"). */
    uint32_t used;
    /* Free, as are the other spares: the fields after them keep the
     * offsets they had, which trees/14 is sensitive to (docs/design.md). */
    uint32_t spare1;
    /* offset is a block start iff (uint32)(offset * start_magic) <= start_limit:
     * one multiply, no division, no table (pool.c).  The limit grows by one
     * block with each block carved, so a block never handed out is not a
     * block start.  The owner writes it with relaxed __atomic stores and
     * reads it plainly (nobody else writes it), which lets the free fast
     * path compare with it in memory (one instruction less); remote frees
     * read it with relaxed __atomic loads while the owner carves.  32
     * bits, though its values fit 16, for that compare. */
    uint32_t start_magic;
    uint32_t start_limit;
    uint16_t block_size;
    uint16_t last_block;           /* offset of the page's last block (pool.c) */
    uint8_t sizeclass;
    uint8_t state;                 /* PYM_POOL_LINKED or PYM_POOL_FULL */
    uint8_t flagged;               /* owner set PYM_REMOTE_FULL, not yet seen cleared */
    uint8_t queued;                /* pushed (or about to be) on the reclaim stack */
    uint32_t next;                 /* heap's class list (LINKED pools only) */
    uint32_t prev;
    uint16_t spare3;
    /* The XOR of the low 16 address bits of every block malloc handed out
     * (out_xor) and of every block that came back (back_xor): equal
     * whenever the pool is really empty (freelist.h).  Two words, each
     * written by one side: in one, each malloc's XOR in memory waited for
     * the store of the free before it, and each free's for the malloc's
     * (only an add of a constant, as on `used`, does not wait): a
     * malloc+free pair 3.72 ns in one word, 3.34 in two (docs/design.md,
     * "Session 32"). */
    uint16_t back_xor;
    uint16_t out_xor;
    /* Offset of the first block never handed out: the blocks from there to
     * the end of the page are on no list (malloc carves them, pool.c). */
    uint16_t carved;
    uint64_t spare4;
} pym_pool_t;

_Static_assert(sizeof(pym_pool_t) == PYM_DESC_SIZE, "a pool descriptor is one cache line");

/* The other half of a pool's descriptor: what a thread that does not own
 * the pool reads, in a table of its own beside the descriptors
 * (pymi_pool_shared, config.h).  A free from another thread reads the
 * owner and the copies of class and block-start test here, and pushes on
 * the pool's remote word (pym_pool_remote_t, below); the owner's malloc
 * and free never touch either.  While all of it sat in the descriptor,
 * each remote free waited for the line the owner's last malloc had
 * written, and the owner's next malloc for the line the remote push had
 * written: xthread/server spent a third of its time in those two loads
 * (docs/design.md, "Session 29").  The owner and the copies change only
 * while the pool has no block out (owner, class, multiplier) or grow
 * (limit), so a reader never needs the owner's line: limit is the owner's
 * start_limit as of the last time the owner looked at the remote list,
 * and a block start above it is checked against start_limit itself (a
 * pool still being carved).  All zero, as a purged page leaves it, for a
 * free pool. */
typedef struct pym_pool_shared {
    _Atomic uintptr_t owner;       /* the owning heap; NULL while the pool is free */
    uint32_t start_magic;          /* pool->start_magic's copy */
    _Atomic uint16_t start_limit;  /* pool->start_limit, as the owner last published it */
    uint8_t sizeclass;             /* pool->sizeclass's copy */
    uint8_t spare;
    uint8_t pad[PYM_DESC_SIZE - 16];
} pym_pool_shared_t;

_Static_assert(sizeof(pym_pool_shared_t) == PYM_DESC_SIZE, "a pool's shared half is one cache line");

/* What other threads write for a pool: its remote list and its link on
 * the owner's reclaim stack (remote.c), in a third table (pymi_pool_remote),
 * one line per pool, so that two pools' remote pushes do not contend.  In
 * the shared half's line, every push made the next remote free's read of
 * the owner a miss: half of pymi_free_slow's samples in xthread/server
 * with 4 threads (docs/design.md, "Session 32"). */
typedef struct pym_pool_remote {
    _Atomic uintptr_t remote;      /* remote free list (remote.c) | PYM_REMOTE_FULL */
    uint32_t reclaim_next;         /* link on the owner's reclaim stack */
    uint8_t pad[PYM_DESC_SIZE - 12];
} pym_pool_remote_t;

_Static_assert(sizeof(pym_pool_remote_t) == PYM_DESC_SIZE, "a pool's remote word has a line of its own");

/* An arena's descriptor, in its region's table.  Under pymi_arena_lock. */
typedef struct pym_arena {
    uint64_t free_mask;            /* bit i: pool i is free */
    uint64_t dirty_mask;           /* bit i: free pool i may still have a resident page */
    uint16_t nfree;                /* popcount(free_mask) */
    uint16_t home;                 /* id of the heap whose pools it holds; 0: nobody's */
    uint16_t in_use;               /* carved and not reclaimed */
    uint16_t epoch;                /* fork epoch it was carved in (arena.c) */
    struct pym_arena *next;        /* bucket list (by nfree), empty list or reclaimed stack */
    struct pym_arena *prev;
    struct pym_arena *dirty_next;  /* the decay queue: arenas holding dirty pools, */
    struct pym_arena *dirty_prev;  /*   oldest first */
    int64_t dirty_since_ms;        /* when its newest dirty pool came back */
} pym_arena_t;

_Static_assert(sizeof(pym_arena_t) == PYM_DESC_SIZE, "an arena descriptor is one cache line");

/* Arenas with both free and used pools, by their number of free pools
 * (arena.c): one set for the arenas that are nobody's, one in each heap
 * for its own.  Under pymi_arena_lock. */
typedef struct pym_arena_buckets {
    pym_arena_t *list[PYM_POOLS_PER_ARENA];   /* [nfree], 1..63 used */
    uint64_t mask;                            /* bit n: list[n] not empty */
} pym_arena_buckets_t;

/* A heap's arenas (arena.c, "Homes"): kept in the heap, read and written
 * by arena.c only, under pymi_arena_lock. */
typedef struct pym_arena_home {
    pym_arena_buckets_t buckets;   /* its arenas that have a free pool */
    uint16_t id;                   /* its mark in arena->home; 0: owns none */
} pym_arena_home_t;

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

/* Blocks this thread freed into one pool of another heap, linked head to
 * tail as a remote list is, waiting to be pushed with one CAS (heap.c).
 * PYM_OUTBOX_WAYS of them per class, for as many pools at once. */
#define PYM_OUTBOX_WAYS 4u
typedef struct pym_outbox {
    pym_pool_t *pool;              /* NULL: empty */
    struct pym_heap *owner;        /* the pool's, which cannot change while blocks wait here */
    pym_block_t *head, *tail;
    uint16_t count;
    uint16_t live_xor;             /* as pool->live_xor, for these blocks */
} pym_outbox_t;

/* Chunks glibc made for requests of 257 B to 4 KiB, kept for this thread's
 * next malloc of their class (fwdcache.c): linked as a free list
 * (freelist.h), ending in NULL. */
#define PYM_FWD_CLASSES 32u
typedef struct pym_fwd_bin {
    pym_block_t *head;
    /* The owner changes it by one in memory (a read-modify-write of a
     * constant, which this core passes on to the next at once; fwdcache.c),
     * the statistics read it without a lock. */
    uint32_t count;
    /* A push finding count == limit overflows: the class's first capacity,
     * plus the places it has grown by (fwdcache.c). */
    uint16_t limit;
    uint16_t overflow;             /* overflows not yet matched by a miss (saturating) */
} pym_fwd_bin_t;

/* Written once during initialisation, before the first block exists, and
 * read by every fast path: the window's base (range.c) and the free lists'
 * keys (freelist.h, init.c).  On a cache line that nothing else shares:
 * the keys shared theirs with the arena buckets of nobody's arenas, whose
 * every change under the arena lock would make every core's next malloc
 * and free wait for the line (not measurable on this project's machine;
 * docs/design.md, "Session 32"). */
struct pymi_constants {
    uintptr_t window_base;
    uintptr_t key0, key1;
    uintptr_t fwd_mark;   /* never 0: fwdcache.c's mark of a cached chunk */
} __attribute__((aligned(64)));
PYM_HIDDEN extern struct pymi_constants pymi_const;

typedef struct pym_heap {
    /* Hot: read by the malloc fast path, indexed by the request in bytes
     * (a table by 16-byte units took two instructions more to index).
     * Never NULL: &pymi_exhausted_pool stands in when a class has no
     * usable pool.  Each entry is its class's current pool, pools[c]
     * below, which heap.c's heap_store_current writes with the class's 16
     * entries (and entry 0, malloc(0)'s, with class 0's). */
    pym_pool_t *pool_for_size[PYM_SMALL_MAX + 1];
    pym_pool_t *pools[PYM_NUM_CLASSES];  /* the class's current pool */
    /* Counts pops and refills down to the next look at the decay clock (alloc.c):
     * PYM_DECAY_TICK_PENDING while this thread's frees left pages waiting,
     * PYM_DECAY_TICK_IDLE otherwise. */
    uint32_t decay_tick;
    /* The tag of the arenas that are this heap's home (internal.h): free
     * takes its fast path for a block of an arena with this tag. */
    uint16_t arena_tag;
    int64_t tick_ms;                     /* the clock at the last tick that looked */
    pym_pool_t *tails[PYM_NUM_CLASSES];  /* last pool of each class list, or NULL */
    pym_pool_t *full_head[PYM_NUM_CLASSES];  /* FULL pools of each class, oldest first */
    pym_pool_t *full_tail[PYM_NUM_CLASSES];
    pym_pool_t *spare[PYM_NUM_CLASSES];  /* an empty pool kept against thrash */
    /* Empty pools for the next fresh pool of any class (emptypools.c): no
     * owner, on no list, not free in their arenas.  A ring: the oldest is
     * empty[empty_bottom], the newest (the top) empty_count - 1 slots on. */
    pym_pool_t *empty[PYM_HEAP_EMPTY_POOLS];
    uint16_t empty_bottom;
    uint16_t empty_count;
    uint16_t empty_low;                  /* the fewest it held since the last aging step */
    int64_t empty_aged_ms;               /* when that step was */
    /* 1: the last look at the class's FULL pools found none with a block,
     * so the next looks at one only (heap.c). */
    uint8_t full_dry[PYM_NUM_CLASSES];
    /* Statistics, owner-written in slow paths only: blocks put on a free
     * list by carving a fresh pool or taking back remote frees.  A lower
     * bound of the mallocs served (a block freed and reused locally is not
     * counted again): nothing is counted on the fast paths. */
    uint64_t refilled[PYM_NUM_CLASSES];
    pym_outbox_t outbox[PYM_NUM_CLASSES][PYM_OUTBOX_WAYS];  /* remote frees on their way */
    uint8_t outbox_victim[PYM_NUM_CLASSES];  /* the busy way a class's next new pool takes */
    pym_arena_home_t home;               /* the arenas its pools come from (arena.c) */
    /* Other threads' reads and writes, each on a line that the owner's
     * frees into other heaps do not write: the flush of another thread's
     * outbox read state beside this heap's outboxes and waited for the
     * line (28 % of its samples in xthread/server with 4 threads). */
    _Alignas(64) _Atomic(pym_pool_t *) reclaim;  /* FULL pools that received a remote free */
    _Alignas(64) _Atomic int state;      /* PYM_HEAP_ACTIVE, _ABANDONED or _ORPHANED */
    pthread_mutex_t lock;                /* held by a thread acting for an abandoned heap */
    struct pym_heap *next_all;           /* every heap ever made (append only) */
    _Alignas(64) uint64_t remote_frees;  /* statistics: blocks this thread freed remotely */
    /* glibc's chunks this thread freed (fwdcache.c); fwd_on is 0 in the
     * null heap and when glibc is not the allocator below. */
    uint8_t fwd_on;
    pym_fwd_bin_t fwd[PYM_FWD_CLASSES];
} pym_heap_t;

#endif /* PYM_TYPES_H */
