/*
 * arena.c -- arenas hand pools to heaps, take them back, and give their
 * pages back to the kernel once they have stayed unused for a while.
 *
 * An arena is 64 pools.  Its descriptor (range.c) keeps two masks:
 * free_mask (pools not owned by any heap) and dirty_mask (free pools whose
 * page may still be resident).  Arenas that have both free and used pools
 * sit in buckets by their number of free pools (their heap's, see Homes),
 * and pools are always taken from the fullest arena (lowest non-empty
 * bucket, one ctz on the buckets' mask): the O(1) form of CPython's
 * usable_arenas ordering (bpo-37029), so that the emptier arenas drain and
 * can be given back whole.  A dirty pool is reused
 * before a clean one: its page is already resident.
 *
 * Homes: an arena's used pools all belong to one heap, the one whose id
 * is in arena->home, and each heap keeps its own buckets of the arenas it
 * holds (in the heap, pym_arena_home_t).  A heap takes the fullest of its
 * own arenas first, then an empty one, which becomes its own; the arenas
 * that are nobody's (those of heaps past PYM_ARENA_HOMES) next; and when
 * no memory can be had, another heap's free pool.  So two threads' pools
 * do not share an arena, nor their descriptors a page: with the pools of
 * two threads that churn their own blocks in the same arenas (each taking
 * from the fullest of all), each thread ran 25 % slower than alone, and
 * still 10 % slower when only the arena being filled was one thread's
 * (docs/design.md, "Session 28"); mimalloc's threads own their segments
 * the same way.  A new arena is carved apart from the one carved last when
 * that is another heap's (range.c leaves a gap), so that their descriptor
 * pages are not side by side either.  An arena whose pools all come back is nobody's again and
 * can be given back; an exiting thread's arenas stay its heap's, for the
 * thread that adopts the heap (heap.c).  The home is also the arena's tag
 * in range.c's table, which free compares with its heap's before it reads
 * a descriptor (internal.h).
 *
 * Giving memory back: purge by decay (DESIGN.md §7; jemalloc's
 * dirty_decay_ms, mimalloc's purge_delay).  A pool or arena that comes back
 * stays resident for PYMALLOC_PURGE_DELAY_MS; if it is still unused then,
 * its pages go back (MADV_DONTNEED).  A working set that is freed and
 * allocated again within the window never faults again, and a program that
 * frees its memory sees its RSS fall shortly after.
 *   - The decay queue holds the arenas with dirty pools, oldest first (an
 *     arena that gets a pool back moves to the tail).  pymi_arena_decay
 *     pops the expired ones, an eighth of the delay at a time (so arenas
 *     freed together go back together): a partly used arena gets one madvise per run of
 *     free pools holding a dirty one; an empty arena goes whole, with the
 *     descriptor page of its pools, PYM_RECLAIM_BATCH at a time (one
 *     madvise per run of adjacent arenas), onto the reclaimed stack, whose
 *     addresses are reused before any new part of a region.
 *   - It runs on allocator activity: every take and return of pools (a
 *     heap takes and returns several at a time, emptypools.c) looks at
 *     the coarse clock, and so does one malloc in 32 of a thread whose
 *     frees made pages wait (one in 1024 otherwise; alloc.c), so that even
 *     a trickle of mallocs gives memory back on time.  In a process that
 *     has threads anyway, a background thread (purger.c) also purges on
 *     time once more than PYM_PURGER_THRESHOLD waits.
 *   - Up to PYMALLOC_ARENA_CACHE empty arenas are kept resident past the
 *     delay (bpo-37257: no purge/fault thrash at the boundary).
 *   - PYMALLOC_PURGE_DELAY_MS=0 purges at once; pymi_arena_trim purges
 *     everything, cache included.
 *
 * Locking: everything here runs under pymi_arena_lock, which ranks last
 * (internal.h).  madvise is called with the lock held, so a purged pool can
 * never be handed out while its pages are going away.  The arena writes no
 * field of a pool descriptor: pools come back with owner already NULL.
 * The purger's lock (purger.c) is taken under this one to wake the thread;
 * it is a leaf too (its holder only waits on its condition variable).
 *
 * fork (fork.c; pymi_arena_fork_child, at the end): a child made while the
 * lock was held starts with empty lists and a new epoch; the arenas carved
 * before the fork are orphaned, and a pool that comes back to one of them
 * is purged and dropped instead of being reused.
 */
#include "internal.h"

#include <string.h>
#include <time.h>

pthread_mutex_t pymi_arena_lock = PTHREAD_MUTEX_INITIALIZER;

static pym_arena_buckets_t nobodys;                 /* arenas no heap holds */
static pym_arena_home_t *homes[PYM_ARENA_HOMES];    /* by id, from 1 */
static unsigned homes_made;
static pym_arena_t *empty_arenas;                   /* all pools free, pages resident */
static pym_arena_t *reclaimed_arenas;               /* pages purged, address reusable */
static pym_arena_t *decay_head, *decay_tail;        /* arenas with dirty pools, oldest first */
static size_t cached_count;                         /* empty arenas exempt from decay */
/* When the oldest arena of the decay queue got dirty (INT64_MAX: nothing
 * waits).  Written under the lock, read without it by
 * pymi_arena_decay_if_due; the delay is added when it is read, so a new
 * PYMALLOC_PURGE_DELAY_MS (pym_option_set) applies to what already waits. */
static _Atomic int64_t oldest_dirty_ms = INT64_MAX;
static struct pymi_arena_counters counters;
static uint16_t arena_epoch;                        /* fork: at the end */

static const uint64_t all_pools = ~(uint64_t)0;

/* ---- lists ------------------------------------------------------------------ */

/* The buckets of heap `id` (0: nobody's); NULL for a heap half-made when
 * a fork took its arena lock (pymi_arena_fork_child), which owns none. */
static pym_arena_buckets_t *buckets_of_home(unsigned id)
{
    if (id == 0)
        return &nobodys;
    return homes[id] != NULL ? &homes[id]->buckets : NULL;
}

/* An arena's home and its tag (internal.h), which free reads. */
static void arena_set_home(pym_arena_t *arena, uint16_t id)
{
    arena->home = id;
    pymi_range_tag_arena(arena, pymi_arena_tag_for_home(id));
}

static pym_arena_buckets_t *buckets_of(const pym_arena_t *arena)
{
    return buckets_of_home(arena->home);
}

static void bucket_insert(pym_arena_t *arena)
{
    pym_arena_buckets_t *buckets = buckets_of(arena);
    unsigned n = arena->nfree;
    arena->prev = NULL;
    arena->next = buckets->list[n];
    if (arena->next != NULL)
        arena->next->prev = arena;
    buckets->list[n] = arena;
    buckets->mask |= (uint64_t)1 << n;
}

static void bucket_remove(pym_arena_t *arena)
{
    pym_arena_buckets_t *buckets = buckets_of(arena);
    unsigned n = arena->nfree;
    if (arena->prev != NULL)
        arena->prev->next = arena->next;
    else
        buckets->list[n] = arena->next;
    if (arena->next != NULL)
        arena->next->prev = arena->prev;
    if (buckets->list[n] == NULL)
        buckets->mask &= ~((uint64_t)1 << n);
}

/* The fullest arena of `buckets`, out of them; NULL when they are empty. */
static pym_arena_t *fullest_take(pym_arena_buckets_t *buckets)
{
    if (buckets->mask == 0)
        return NULL;
    pym_arena_t *arena = buckets->list[__builtin_ctzll(buckets->mask)];
    bucket_remove(arena);
    return arena;
}

/* fn on every arena in a bucket: nobody's, then each heap's. */
static void each_bucketed_arena(void (*fn)(pym_arena_t *arena))
{
    for (unsigned id = 0; id <= homes_made; id++) {
        const pym_arena_buckets_t *buckets = buckets_of_home(id);
        if (buckets == NULL)
            continue;
        for (uint64_t mask = buckets->mask; mask != 0; mask &= mask - 1) {
            for (pym_arena_t *a = buckets->list[__builtin_ctzll(mask)]; a != NULL; a = a->next)
                fn(a);
        }
    }
}

/* The empty list is doubly linked too: decay takes arenas out of its middle. */
static void empty_insert(pym_arena_t *arena)
{
    arena->prev = NULL;
    arena->next = empty_arenas;
    if (empty_arenas != NULL)
        empty_arenas->prev = arena;
    empty_arenas = arena;
}

static void empty_remove(pym_arena_t *arena)
{
    if (arena->prev != NULL)
        arena->prev->next = arena->next;
    else
        empty_arenas = arena->next;
    if (arena->next != NULL)
        arena->next->prev = arena->prev;
}

static int in_decay_queue(const pym_arena_t *arena)
{
    return arena->dirty_prev != NULL || decay_head == arena;
}

static void decay_remove(pym_arena_t *arena)
{
    if (!in_decay_queue(arena))
        return;
    if (arena->dirty_prev != NULL)
        arena->dirty_prev->dirty_next = arena->dirty_next;
    else
        decay_head = arena->dirty_next;
    if (arena->dirty_next != NULL)
        arena->dirty_next->dirty_prev = arena->dirty_prev;
    else
        decay_tail = arena->dirty_prev;
    arena->dirty_next = arena->dirty_prev = NULL;
}

static int64_t purge_delay_ms(void)
{
    return pymi_option(PYM_OPTION_PURGE_DELAY_MS);
}

/* The next pass is due when the oldest arena has waited the delay and an
 * eighth more: what expires within that eighth goes in the same pass, so
 * that arenas freed together go back together (one madvise per run of
 * adjacent ones), even when the freeing took a while. */
static int64_t decay_due_ms(int64_t oldest)
{
    if (oldest == INT64_MAX)
        return INT64_MAX;
    int64_t delay = purge_delay_ms();
    return oldest + delay + delay / 8;
}

static void decay_schedule(void)
{
    int64_t oldest = decay_head != NULL ? decay_head->dirty_since_ms : INT64_MAX;
    atomic_store_explicit(&oldest_dirty_ms, oldest, memory_order_relaxed);
    pymi_purger_deadline(decay_due_ms(oldest));
}

/* The arena just got dirty pools: it expires last. */
static void decay_touch(pym_arena_t *arena, int64_t now)
{
    decay_remove(arena);
    arena->dirty_since_ms = now;
    arena->dirty_prev = decay_tail;
    arena->dirty_next = NULL;
    if (decay_tail != NULL)
        decay_tail->dirty_next = arena;
    else
        decay_head = arena;
    decay_tail = arena;
    if (arena == decay_head)
        decay_schedule();
}

/* ---- giving pages back ------------------------------------------------------ */

static void dirty_forget(pym_arena_t *arena, uint64_t purged)
{
    unsigned n = (unsigned)__builtin_popcountll(arena->dirty_mask & purged);
    counters.pages_purged += n * (PYM_POOL_SIZE / PYM_OS_PAGE_SIZE);
    counters.dirty_pools -= n;
    arena->dirty_mask &= ~purged;
}

/* Gives back the pages of every dirty pool of a partly used arena, with one
 * madvise per run of free pools that holds a dirty one: clean pools inside a
 * run cost the kernel nothing, and each call is a TLB shootdown on every
 * core running the process, so fewer, longer calls are cheaper.  In a huge
 * chunk every free pool is resident (the huge page brought it in): all go. */
static void purge_dirty(pym_arena_t *arena)
{
    uintptr_t base = pymi_arena_base(arena);
    uint64_t free_mask = arena->free_mask;
    uint64_t dirty = pymi_range_is_huge(base) ? free_mask : arena->dirty_mask;
    while (dirty != 0) {
        unsigned start = (unsigned)__builtin_ctzll(dirty);
        unsigned end = start + 1;
        while (start > 0 && (free_mask >> (start - 1)) & 1)
            start--;
        while (end < PYM_POOLS_PER_ARENA && (free_mask >> end) & 1)
            end++;
        uint64_t run = (end - start == 64 ? all_pools : (((uint64_t)1 << (end - start)) - 1)) << start;
        pymi_range_purge(base + ((uintptr_t)start << PYM_POOL_SHIFT), (size_t)(end - start) << PYM_POOL_SHIFT);
        counters.madvise_calls++;
        dirty_forget(arena, run);
        dirty &= ~run;
    }
}

/* Gives every page of n empty arenas back -- their pools and their pools'
 * descriptors' pages -- with three madvise calls per run of adjacent arenas, and puts
 * them on the reclaimed stack (lowest on top, so reuse stays low).  Sorts
 * batch. */
static void reclaim_arenas(pym_arena_t **batch, size_t n)
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
        pymi_range_purge(pymi_arena_base(batch[i]), (end - i) * PYM_ARENA_SIZE);
        pymi_os_purge(pymi_arena_pools(batch[i]), (end - i) * PYM_ARENA_DESC_PAGE);
        pymi_os_purge(pymi_pool_shared(pymi_arena_pools(batch[i])), (end - i) * PYM_ARENA_DESC_PAGE);
        pymi_os_purge(pymi_pool_remote(pymi_arena_pools(batch[i])), (end - i) * PYM_ARENA_DESC_PAGE);
        counters.madvise_calls += 4;
        i = end;
    }
    for (size_t i = n; i-- > 0;) {
        pym_arena_t *arena = batch[i];
        dirty_forget(arena, all_pools);
        arena->in_use = 0;
        arena->next = reclaimed_arenas;
        reclaimed_arenas = arena;
        counters.current--;
        counters.reclaimed++;
    }
}

/* Takes an empty arena off every list and into the batch, flushing it. */
static void reclaim_add(pym_arena_t *arena, pym_arena_t **batch, size_t *n)
{
    empty_remove(arena);
    decay_remove(arena);
    batch[(*n)++] = arena;
    if (*n == PYM_RECLAIM_BATCH) {
        reclaim_arenas(batch, *n);
        *n = 0;
    }
}

/* Purges every arena of the decay queue that has been dirty since before
 * `cutoff`, keeping up to `spares` empty ones resident; empty arenas go
 * into batch. */
static void decay_expired(int64_t cutoff, size_t spares, pym_arena_t **batch, size_t *n)
{
    while (decay_head != NULL && decay_head->dirty_since_ms <= cutoff) {
        pym_arena_t *arena = decay_head;
        if (arena->nfree != PYM_POOLS_PER_ARENA) {
            purge_dirty(arena);
            decay_remove(arena);
        } else if (cached_count < spares) {
            decay_remove(arena);   /* stays resident as a spare */
            cached_count++;
        } else {
            reclaim_add(arena, batch, n);
        }
    }
}

static void decay_until(int64_t cutoff)
{
    pym_arena_t *batch[PYM_RECLAIM_BATCH];
    size_t n = 0;
    decay_expired(cutoff, (size_t)pymi_option(PYM_OPTION_ARENA_CACHE), batch, &n);
    if (n > 0)
        reclaim_arenas(batch, n);
    decay_schedule();
}

/* Called under the lock on every take and return: cheap unless due. */
static void decay_if_due(int64_t now)
{
    if (now >= decay_due_ms(atomic_load_explicit(&oldest_dirty_ms, memory_order_relaxed)))
        decay_until(now - purge_delay_ms());
}

void pymi_arena_decay(void)
{
    pthread_mutex_lock(&pymi_arena_lock);
    decay_if_due(pymi_now_ms());
    pthread_mutex_unlock(&pymi_arena_lock);
}

int pymi_arena_decay_pending(void)
{
    return atomic_load_explicit(&oldest_dirty_ms, memory_order_relaxed) != INT64_MAX;
}

void pymi_arena_decay_if_due(int64_t now)
{
    int64_t due = decay_due_ms(atomic_load_explicit(&oldest_dirty_ms, memory_order_relaxed));
    if (due != INT64_MAX && now >= due)
        pymi_arena_decay();
}

/* ---- taking pools ------------------------------------------------------------ */

/* An arena never used, or reclaimed, for the heap with home `id`.  A new
 * one is carved apart from the arena carved last if that is another heap's:
 * two threads whose arenas (and so descriptor pages) were side by side,
 * each arena nearly full, ran 10 % slower than apart. */
static pym_arena_t *arena_new_locked(uint16_t id)
{
    pym_arena_t *arena = reclaimed_arenas;
    if (arena != NULL) {
        reclaimed_arenas = arena->next;
    } else {
        const pym_arena_t *last = pymi_range_last_carved();
        if ((arena = pymi_range_new_arena(last != NULL && last->in_use && last->home != id)) == NULL)
            return NULL;
    }
    arena->free_mask = all_pools;
    arena->dirty_mask = 0;   /* fresh or purged: nothing resident */
    arena->nfree = PYM_POOLS_PER_ARENA;
    arena_set_home(arena, 0);
    arena->in_use = 1;
    arena->epoch = arena_epoch;
    arena->dirty_next = arena->dirty_prev = NULL;
    counters.allocated++;
    if (++counters.current > counters.highwater)
        counters.highwater = counters.current;
    return arena;
}

/* An empty arena for the heap with home `id` to take a pool from: one
 * whose pages are resident first. */
static pym_arena_t *arena_empty_take(uint16_t id)
{
    pym_arena_t *arena = empty_arenas;
    if (arena == NULL)
        return arena_new_locked(id);
    empty_remove(arena);
    if (in_decay_queue(arena))
        decay_remove(arena);
    else
        cached_count--;
    decay_schedule();
    return arena;
}

/* The arena `home` takes its next pool from, out of its list: the fullest
 * of its own, else an empty one (which becomes its own), else the fullest
 * of nobody's, else (no memory for an arena) the fullest of another heap's;
 * NULL when no arena can be had.  A heap with no id takes the fullest of
 * nobody's, else an empty one, which stays nobody's. */
static pym_arena_t *arena_for_locked(pym_arena_home_t *home)
{
    pym_arena_t *arena;
    if (home->id != 0) {
        if ((arena = fullest_take(&home->buckets)) != NULL)
            return arena;
        if ((arena = arena_empty_take(home->id)) != NULL) {
            arena_set_home(arena, home->id);
            return arena;
        }
    }
    if ((arena = fullest_take(&nobodys)) != NULL)
        return arena;
    if (home->id == 0)
        return arena_empty_take(0);
    for (unsigned id = 1; id <= homes_made; id++) {
        pym_arena_buckets_t *buckets = buckets_of_home(id);
        if (buckets != NULL && (arena = fullest_take(buckets)) != NULL) {
            arena_set_home(arena, 0);   /* two heaps' pools: its tag must match neither */
            return arena;
        }
    }
    return NULL;
}

/* One free pool for `home`, a dirty one first; NULL when no arena can be
 * had. */
static pym_pool_t *take_one_locked(pym_arena_home_t *home)
{
    pym_arena_t *arena = arena_for_locked(home);
    if (arena == NULL)
        return NULL;
    uint64_t candidates = arena->free_mask & arena->dirty_mask;
    if (candidates == 0)
        candidates = arena->free_mask;
    unsigned index = (unsigned)__builtin_ctzll(candidates);
    uint64_t bit = (uint64_t)1 << index;
    arena->free_mask &= ~bit;
    if (arena->dirty_mask & bit) {
        arena->dirty_mask &= ~bit;
        counters.dirty_pools--;
        if (arena->dirty_mask == 0) {
            int was_head = arena == decay_head;
            decay_remove(arena);
            if (was_head)
                decay_schedule();
        }
    }
    arena->nfree--;
    if (arena->nfree > 0)
        bucket_insert(arena);
    return &pymi_arena_pools(arena)[index];
}

unsigned pymi_arena_take_pools(pym_arena_home_t *home, pym_pool_t **out, unsigned want)
{
    pthread_mutex_lock(&pymi_arena_lock);
    decay_if_due(pymi_now_ms());
    unsigned n = 0;
    while (n < want && (out[n] = take_one_locked(home)) != NULL)
        n++;
    pthread_mutex_unlock(&pymi_arena_lock);
    return n;
}

void pymi_arena_home_init(pym_arena_home_t *home)
{
    pthread_mutex_lock(&pymi_arena_lock);
    if (homes_made + 1 < PYM_ARENA_HOMES) {
        homes[homes_made + 1] = home;
        home->id = (uint16_t)++homes_made;
    }
    pthread_mutex_unlock(&pymi_arena_lock);
}

/* ---- taking pools back --------------------------------------------------------- */

static uint64_t pool_bit(const pym_pool_t *pool)
{
    return (uint64_t)1 << (((uintptr_t)pool >> PYM_DESC_SHIFT) & (PYM_POOLS_PER_ARENA - 1));
}

static int arena_fork_orphaned(pym_arena_t *arena, uint64_t returned);

/* The arena gets back the free pools in `returned` (one bit per pool): it
 * changes bucket or empties once, however many pools came back. */
static void arena_take_back_locked(pym_arena_t *arena, uint64_t returned, int64_t now)
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
    counters.dirty_pools += count;
    counters.pools_returned += count;
    if (arena->nfree == PYM_POOLS_PER_ARENA) {
        arena_set_home(arena, 0);   /* nobody's: its pools are all free */
        empty_insert(arena);
    } else {
        bucket_insert(arena);
    }
    decay_touch(arena, now);
}

static void arena_return_end(int64_t now)
{
    if (purge_delay_ms() == 0)
        decay_until(now);
    else
        decay_if_due(now);
    pymi_purger_want(counters.dirty_pools * PYM_POOL_SIZE);
}

void pymi_arena_return_pool(pym_pool_t *pool)
{
    pym_assert(pymi_pool_owner(pool) == NULL);
    pthread_mutex_lock(&pymi_arena_lock);
    int64_t now = pymi_now_ms();
    counters.return_rounds++;
    arena_take_back_locked(pymi_arena_of(pymi_pool_page(pool)), pool_bit(pool), now);
    arena_return_end(now);
    pthread_mutex_unlock(&pymi_arena_lock);
}

/* Sorted by address, a batch's pools of one arena are neighbours: each
 * arena is then taken back once, with all its pools. */
void pymi_arena_return_pools(pym_pool_t **pools, size_t n)
{
    static const size_t gaps[] = {57, 23, 10, 4, 1};   /* Shell sort (Ciura's gaps) */
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        for (size_t i = gaps[g]; i < n; i++) {
            pym_pool_t *pool = pools[i];
            size_t j = i;
            for (; j >= gaps[g] && pools[j - gaps[g]] > pool; j -= gaps[g])
                pools[j] = pools[j - gaps[g]];
            pools[j] = pool;
        }
    }
    pthread_mutex_lock(&pymi_arena_lock);
    int64_t now = pymi_now_ms();
    counters.return_rounds++;
    for (size_t i = 0; i < n;) {
        pym_arena_t *arena = pymi_arena_of(pymi_pool_page(pools[i]));
        uint64_t returned = 0;
        for (; i < n && pymi_arena_of(pymi_pool_page(pools[i])) == arena; i++) {
            pym_assert(pymi_pool_owner(pools[i]) == NULL);
            returned |= pool_bit(pools[i]);
        }
        arena_take_back_locked(arena, returned, now);
    }
    arena_return_end(now);
    pthread_mutex_unlock(&pymi_arena_lock);
}

void pymi_arena_return_batch(pym_pool_batch_t *batch)
{
    if (batch->count == 0)
        return;
    pymi_arena_return_pools(batch->pools, batch->count);
    batch->count = 0;
}

/* Everything that can go back goes back now: every dirty pool, every empty
 * arena, the cache too. */
int pymi_arena_trim(void)
{
    pthread_mutex_lock(&pymi_arena_lock);
    uint64_t before = counters.pages_purged;
    /* Every empty arena, spares and dirty ones, in one batch: adjacent
     * ones go back in one call, and a 2 MiB chunk emptied whole is purged
     * whole (range.c). */
    pym_arena_t *batch[PYM_RECLAIM_BATCH];
    size_t n = 0;
    while (empty_arenas != NULL)
        reclaim_add(empty_arenas, batch, &n);
    cached_count = 0;
    decay_expired(INT64_MAX, 0, batch, &n);
    if (n > 0)
        reclaim_arenas(batch, n);
    each_bucketed_arena(purge_dirty);
    decay_schedule();
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

/* Arenas carved in an earlier epoch (arena_epoch, at the top) belong to
 * lists a fork child gave up: the epoch changes once per such child, in the
 * child, before any other of its code runs. */

/* An orphaned arena's descriptor and lists may be half-changed: never
 * touch them.  Its returned pools are empty and unreachable; their pages go
 * back to the kernel, their addresses are never reused. */
static int arena_fork_orphaned(pym_arena_t *arena, uint64_t returned)
{
    if (pym_likely(arena->epoch == arena_epoch))
        return 0;
    uintptr_t base = pymi_arena_base(arena);
    for (; returned != 0; returned &= returned - 1) {
        uintptr_t pool = base + ((uintptr_t)__builtin_ctzll(returned) << PYM_POOL_SHIFT);
        pymi_range_purge(pool, PYM_POOL_SIZE);
    }
    return 1;
}

/* In the child of a multi-threaded process (fork.c), alone in it.  A lock
 * that was free means no list was being changed: keep them all.  A lock
 * held by a thread that did not come along may have left any list, mask,
 * count or the decay queue half-changed: start over with empty lists and a
 * new epoch, so every arena carved so far is orphaned, and carve from a new
 * region (range.c's state is written under the same lock).  The counters
 * are statistics and stay. */
void pymi_arena_fork_child(int arena_lock_was_held)
{
    if (!arena_lock_was_held)
        return;
    for (unsigned id = 0; id <= homes_made; id++) {
        pym_arena_buckets_t *buckets = buckets_of_home(id);
        if (buckets != NULL)
            memset(buckets, 0, sizeof *buckets);
    }
    empty_arenas = NULL;
    reclaimed_arenas = NULL;
    decay_head = decay_tail = NULL;
    cached_count = 0;
    atomic_store_explicit(&oldest_dirty_ms, INT64_MAX, memory_order_relaxed);
    counters.dirty_pools = 0;
    arena_epoch++;
    pymi_range_fork_child();
}
