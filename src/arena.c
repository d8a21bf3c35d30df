/*
 * arena.c -- arenas hand pools to heaps and take them back.
 *
 * An arena is 64 pools.  Its descriptor (pagemap.c's table) keeps two masks:
 * free_mask (pools not owned by any heap) and dirty_mask (free pools whose
 * page may still be resident).  Arenas that have both free and used pools sit
 * in buckets by their number of free pools, and pools are always taken from
 * the fullest arena (lowest non-empty bucket, one ctz on bucket_mask): the
 * O(1) form of CPython's usable_arenas ordering (bpo-37029), so that the
 * emptier arenas drain and can be given back whole.
 *
 * Giving memory back (DESIGN.md §7):
 *   - a free pool's page stays resident ("dirty") so it can be reused at no
 *     cost; once more than PYM_DIRTY_BUDGET pools are dirty process-wide,
 *     an arena that gets a pool back and holds PYM_PURGE_BATCH dirty pools
 *     gives their pages back with one madvise per run of free neighbours,
 *     at most once per clock tick (purge_allowed_now);
 *   - an arena whose 64 pools are all free is kept as a spare when fewer than
 *     PYMALLOC_ARENA_CACHE are (bpo-37257: no mmap/munmap thrash at the
 *     boundary); otherwise it waits on the draining list until
 *     PYM_RECLAIM_BATCH arenas (4 MiB) are there, and they go back together
 *     (reclaim_arenas_locked): pages purged with one madvise per run of
 *     adjacent arenas, addresses on the reclaimed stack, reused before any
 *     new part of the range.  A call's fixed cost dominates: purging 24 MiB
 *     in 256 KiB calls took 5.2 ms here, in 4 MiB calls 1.2 ms;
 *   - pymi_arena_trim purges every dirty pool, every spare and every
 *     draining arena.
 *
 * Pools come back one at a time (pymi_arena_return_pool: a free that
 * empties a pool) or in batches of up to PYM_RETURN_BATCH
 * (pymi_arena_return_pools: thread exit, reclaim, trim, which may empty
 * 100k pools in one loop).  A batch takes the lock once and each of its
 * arenas once (arena_take_back_locked), under the same rules: the dirty
 * budget, one purge per tick, empty arenas to the spare/draining lists.
 *
 * Locking: everything here runs under pymi_arena_lock, which ranks last
 * (internal.h).  madvise is called with the lock held, so a purged pool can
 * never be handed out while its pages are going away.
 *
 * fork (fork.c; pymi_arena_fork_child, at the end): a child made while the
 * lock was held starts with empty lists; the arenas carved before the fork
 * are orphaned, and a pool that comes back to one of them is purged and
 * dropped instead of being reused.
 */
#include "internal.h"

#include <time.h>

pthread_mutex_t pymi_arena_lock = PTHREAD_MUTEX_INITIALIZER;

static pym_arena_t *buckets[PYM_POOLS_PER_ARENA];  /* [nfree], 1..63 used */
static uint64_t bucket_mask;                        /* bit n: buckets[n] not empty */
static pym_arena_t *spare_arenas;                   /* all pools free, pages kept */
static size_t spare_count;
static pym_arena_t *draining_arenas;                /* all pools free, waiting for a batch */
static size_t draining_count;
static pym_arena_t *reclaimed_arenas;               /* pages purged, address reusable */
static struct pymi_arena_counters counters;
static size_t dirty_pools;                          /* free pools that may be resident */

static const uint64_t all_pools = ~(uint64_t)0;

static void bucket_insert(pym_arena_t *arena)
{
    unsigned n = arena->nfree;
    arena->prev = NULL;
    arena->next = buckets[n];
    if (arena->next != NULL)
        arena->next->prev = arena;
    buckets[n] = arena;
    bucket_mask |= (uint64_t)1 << n;
}

static void bucket_remove(pym_arena_t *arena)
{
    unsigned n = arena->nfree;
    if (arena->prev != NULL)
        arena->prev->next = arena->next;
    else
        buckets[n] = arena->next;
    if (arena->next != NULL)
        arena->next->prev = arena->prev;
    if (buckets[n] == NULL)
        bucket_mask &= ~((uint64_t)1 << n);
}

/* Gives back the pages of every dirty pool of the arena, with one madvise
 * per run of free pools that holds a dirty one: clean pools inside a run
 * cost the kernel nothing, and each call is a TLB shootdown on every core
 * running the process, so fewer, longer calls are cheaper. */
static void purge_dirty(pym_arena_t *arena)
{
    uintptr_t base = pymi_arena_base(arena);
    uint64_t free_mask = arena->free_mask;
    uint64_t dirty = arena->dirty_mask;
    while (dirty != 0) {
        unsigned start = (unsigned)__builtin_ctzll(dirty);
        unsigned end = start + 1;
        while (start > 0 && (free_mask >> (start - 1)) & 1)
            start--;
        while (end < PYM_POOLS_PER_ARENA && (free_mask >> end) & 1)
            end++;
        uint64_t run = (end - start == 64 ? all_pools : (((uint64_t)1 << (end - start)) - 1)) << start;
        pymi_os_purge((void *)(base + ((uintptr_t)start << PYM_POOL_SHIFT)),
                      (size_t)(end - start) << PYM_POOL_SHIFT);
        unsigned purged = (unsigned)__builtin_popcountll(dirty & run);
        counters.madvise_calls++;
        counters.pages_purged += purged;
        dirty_pools -= purged;
        dirty &= ~run;
    }
    arena->dirty_mask = 0;
}

/* Purging is rate-limited to once per tick of the coarse monotonic clock
 * (1-4 ms): a steady churn that empties and refills pools would otherwise
 * pay a page fault for every pool it takes back. */
static int purge_allowed_now(void)
{
    static int64_t last_tick = -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    int64_t tick = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (tick == last_tick)
        return 0;
    last_tick = tick;
    return 1;
}

static pym_arena_t *arena_new_locked(void)
{
    pym_arena_t *arena = reclaimed_arenas;
    if (arena != NULL)
        reclaimed_arenas = arena->next;
    else if ((arena = pymi_pagemap_new_arena()) == NULL)
        return NULL;
    arena->free_mask = all_pools;
    arena->dirty_mask = 0;   /* fresh or purged: nothing resident */
    arena->nfree = PYM_POOLS_PER_ARENA;
    arena->in_use = 1;
    counters.allocated++;
    if (++counters.current > counters.highwater)
        counters.highwater = counters.current;
    return arena;
}

/* Gives every resident page of n all-free arenas back, with one madvise per
 * run of adjacent arenas, and puts their addresses on the reclaimed stack
 * (lowest on top, so that reuse stays low in the range).  Sorts batch. */
static void reclaim_arenas_locked(pym_arena_t **batch, size_t n)
{
    for (size_t i = 1; i < n; i++) {           /* insertion sort by address */
        pym_arena_t *a = batch[i];
        size_t j = i;
        for (; j > 0 && batch[j - 1] > a; j--)
            batch[j] = batch[j - 1];
        batch[j] = a;
    }
    for (size_t i = 0; i < n;) {
        size_t end = i + 1;
        while (end < n && batch[end] == batch[end - 1] + 1)
            end++;
        pymi_os_purge((void *)pymi_arena_base(batch[i]), (end - i) * PYM_ARENA_SIZE);
        counters.madvise_calls++;
        i = end;
    }
    for (size_t i = n; i-- > 0;) {
        pym_arena_t *arena = batch[i];
        unsigned purged = (unsigned)__builtin_popcountll(arena->dirty_mask);
        counters.pages_purged += purged;
        dirty_pools -= purged;
        arena->dirty_mask = 0;
        arena->in_use = 0;
        arena->next = reclaimed_arenas;
        reclaimed_arenas = arena;
        counters.current--;
        counters.reclaimed++;
    }
}

/* Reclaims every arena of a list linked by next, PYM_RECLAIM_BATCH at a time. */
static void reclaim_list_locked(pym_arena_t *list)
{
    pym_arena_t *batch[PYM_RECLAIM_BATCH];
    while (list != NULL) {
        size_t n = 0;
        for (; list != NULL && n < PYM_RECLAIM_BATCH; list = list->next)
            batch[n++] = list;
        reclaim_arenas_locked(batch, n);
    }
}

/* All 64 pools are free: keep as a spare, or drain with the next batch. */
static void arena_empty_locked(pym_arena_t *arena)
{
    if (spare_count < (size_t)pymi_option(PYM_OPTION_ARENA_CACHE)) {
        arena->next = spare_arenas;
        spare_arenas = arena;
        spare_count++;
        return;
    }
    arena->next = draining_arenas;
    draining_arenas = arena;
    if (++draining_count == PYM_RECLAIM_BATCH) {
        pym_arena_t *list = draining_arenas;
        draining_arenas = NULL;
        draining_count = 0;
        reclaim_list_locked(list);
    }
}

pym_pool_t *pymi_arena_take_pool(void)
{
    pthread_mutex_lock(&pymi_arena_lock);
    pym_arena_t *arena;
    if (bucket_mask != 0) {
        arena = buckets[__builtin_ctzll(bucket_mask)];
        bucket_remove(arena);
    } else if (spare_arenas != NULL) {
        arena = spare_arenas;
        spare_arenas = arena->next;
        spare_count--;
    } else if (draining_arenas != NULL) {      /* its pages are still resident */
        arena = draining_arenas;
        draining_arenas = arena->next;
        draining_count--;
    } else if ((arena = arena_new_locked()) == NULL) {
        pthread_mutex_unlock(&pymi_arena_lock);
        return NULL;
    }
    /* A dirty pool's page is already resident: reuse it before a clean one. */
    uint64_t candidates = arena->free_mask & arena->dirty_mask;
    if (candidates == 0)
        candidates = arena->free_mask;
    unsigned index = (unsigned)__builtin_ctzll(candidates);
    arena->free_mask &= ~((uint64_t)1 << index);
    if (arena->dirty_mask & ((uint64_t)1 << index)) {
        arena->dirty_mask &= ~((uint64_t)1 << index);
        dirty_pools--;
    }
    arena->nfree--;
    if (arena->nfree > 0)
        bucket_insert(arena);
    pthread_mutex_unlock(&pymi_arena_lock);
    return (pym_pool_t *)(pymi_arena_base(arena) + ((uintptr_t)index << PYM_POOL_SHIFT));
}

static uint64_t pool_bit(const pym_pool_t *pool)
{
    return (uint64_t)1 << (((uintptr_t)pool >> PYM_POOL_SHIFT) & (PYM_POOLS_PER_ARENA - 1));
}

static int arena_fork_orphaned(pym_arena_t *arena, uint64_t returned);   /* at the end */

/* The arena gets back the free pools in `returned` (one bit per pool): it
 * changes bucket, empties or purges once, however many pools came back. */
static void arena_take_back_locked(pym_arena_t *arena, uint64_t returned)
{
    if (pym_unlikely(arena_fork_orphaned(arena, returned)))
        return;
    pym_assert(!(arena->free_mask & returned));
    unsigned count = (unsigned)__builtin_popcountll(returned);
    if (arena->nfree > 0)
        bucket_remove(arena);
    arena->free_mask |= returned;
    arena->dirty_mask |= returned;
    arena->nfree += count;
    dirty_pools += count;
    counters.pools_returned += count;
    if (arena->nfree == PYM_POOLS_PER_ARENA) {
        arena_empty_locked(arena);
        return;
    }
    bucket_insert(arena);
    if (dirty_pools > PYM_DIRTY_BUDGET &&
        (unsigned)__builtin_popcountll(arena->dirty_mask) >= PYM_PURGE_BATCH &&
        purge_allowed_now())
        purge_dirty(arena);
}

void pymi_arena_return_pool(pym_pool_t *pool)
{
    pool->owner = NULL;   /* a later free() of one of its blocks is then detected */
    pthread_mutex_lock(&pymi_arena_lock);
    counters.return_rounds++;
    arena_take_back_locked(pymi_arena_of(pool), pool_bit(pool));
    pthread_mutex_unlock(&pymi_arena_lock);
}

/* Sorted by address, a batch's pools of one arena are neighbours: each
 * arena is then taken back once, with all its pools (one bucket move, one
 * purge decision). */
void pymi_arena_return_pools(pym_pool_t **pools, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pym_pool_t *pool = pools[i];
        pool->owner = NULL;
        size_t j = i;
        for (; j > 0 && pools[j - 1] > pool; j--)   /* insertion sort */
            pools[j] = pools[j - 1];
        pools[j] = pool;
    }
    pthread_mutex_lock(&pymi_arena_lock);
    counters.return_rounds++;
    for (size_t i = 0; i < n;) {
        pym_arena_t *arena = pymi_arena_of(pools[i]);
        uint64_t returned = 0;
        for (; i < n && pymi_arena_of(pools[i]) == arena; i++) {
            pym_assert(!(returned & pool_bit(pools[i])));
            returned |= pool_bit(pools[i]);
        }
        arena_take_back_locked(arena, returned);
    }
    pthread_mutex_unlock(&pymi_arena_lock);
}

void pymi_arena_return_batch(pym_pool_batch_t *batch)
{
    if (batch->count == 0)
        return;
    pymi_arena_return_pools(batch->pools, batch->count);
    batch->count = 0;
}

int pymi_arena_trim(void)
{
    uint64_t before;
    pthread_mutex_lock(&pymi_arena_lock);
    before = counters.pages_purged;
    for (uint64_t mask = bucket_mask; mask != 0; mask &= mask - 1) {
        for (pym_arena_t *a = buckets[__builtin_ctzll(mask)]; a != NULL; a = a->next)
            purge_dirty(a);
    }
    reclaim_list_locked(spare_arenas);
    spare_arenas = NULL;
    spare_count = 0;
    reclaim_list_locked(draining_arenas);
    draining_arenas = NULL;
    draining_count = 0;
    int released = counters.pages_purged != before;
    pthread_mutex_unlock(&pymi_arena_lock);
    return released;
}

void pymi_arena_counters(struct pymi_arena_counters *out)
{
    pthread_mutex_lock(&pymi_arena_lock);
    *out = counters;
    pthread_mutex_unlock(&pymi_arena_lock);
}

/* ---- fork ------------------------------------------------------------------ */

/* Arenas below this index belong to lists a fork child gave up: set once
 * per such child, in the child, before any other of its code runs. */
static size_t fork_orphan_limit;

/* An orphaned arena's descriptor and lists may be half-changed: never
 * touch them.  Its returned pools are empty and unreachable; their pages go
 * back to the kernel, their addresses are never reused. */
static int arena_fork_orphaned(pym_arena_t *arena, uint64_t returned)
{
    if ((size_t)(arena - pymi_arena_table) >= fork_orphan_limit)
        return 0;
    uintptr_t base = pymi_arena_base(arena);
    for (; returned != 0; returned &= returned - 1) {
        uintptr_t pool = base + ((uintptr_t)__builtin_ctzll(returned) << PYM_POOL_SHIFT);
        pymi_os_purge((void *)pool, PYM_POOL_SIZE);
    }
    return 1;
}

/* In the child of a multi-threaded process (fork.c), alone in it.  A lock
 * that was free means no list was being changed: keep them all.  A lock
 * held by a thread that did not come along may have left any list, mask or
 * count half-changed: start over with empty lists, and orphan every arena
 * carved so far (pagemap.c's count is only written under the lock; an
 * increment the child does not see came with no arena anyone uses).  New
 * pools then come from arenas carved after the fork.  The counters are
 * statistics and stay. */
void pymi_arena_fork_child(int arena_lock_was_held)
{
    if (!arena_lock_was_held)
        return;
    for (unsigned n = 0; n < PYM_POOLS_PER_ARENA; n++)
        buckets[n] = NULL;
    bucket_mask = 0;
    spare_arenas = NULL;
    spare_count = 0;
    draining_arenas = NULL;
    draining_count = 0;
    reclaimed_arenas = NULL;
    dirty_pools = 0;
    fork_orphan_limit = pymi_pagemap_arena_count();
}
