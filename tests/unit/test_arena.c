/* Unit tests: arenas are filled fullest-first, each heap from a home of its
 * own (which the arena's tag, free's first test, follows), reclaimed when
 * empty, reused, and every byte of them is accounted for.  free trusts the
 * tag for whose a pool is, so an arena two heaps take pools from, and the
 * arenas of heaps without a home, match no heap's tag. */
#include "unit.h"

#include "child.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum { BLOCKS_PER_ARENA = PYM_ARENA_SIZE / 64 };   /* 64-byte blocks */

static void **fill_arenas(unsigned arenas)
{
    size_t count = (size_t)arenas * BLOCKS_PER_ARENA;
    void **blocks = malloc(count * sizeof(void *));
    assert_non_null(blocks);
    for (size_t i = 0; i < count; i++) {
        blocks[i] = pym_malloc(64);
        assert_non_null(blocks[i]);
        assert_true(pym_owns(blocks[i]));
    }
    return blocks;
}

static void note_fewest_free(pym_arena_t *a, void *arg)
{
    uint32_t *fewest = arg;
    if (a->in_use && a->nfree > 0 && a->nfree < *fewest)
        *fewest = a->nfree;
}

static size_t arenas_carved(void)
{
    pthread_mutex_lock(&pymi_arena_lock);
    size_t n = pymi_range_arenas_carved();
    pthread_mutex_unlock(&pymi_arena_lock);
    return n;
}

static void free_all(void **blocks, unsigned arenas)
{
    for (size_t i = 0; i < (size_t)arenas * BLOCKS_PER_ARENA; i++)
        pym_free(blocks[i]);
    free(blocks);
}

static void every_arena_byte_is_accounted_for(void **state)
{
    (void)state;
    void **blocks = fill_arenas(2);
    for (size_t i = 0; i < 2 * BLOCKS_PER_ARENA; i += 3)
        pym_free(blocks[i]);
    pym_stats_t s;
    pym_stats_get(&s);
    assert_true(s.arenas_current >= 2);
    assert_int_equal(s.bytes_in_use + s.bytes_free_blocks + s.bytes_pool_waste + s.bytes_free_pools,
                     s.arenas_current * PYM_ARENA_SIZE);
    for (size_t i = 0; i < 2 * BLOCKS_PER_ARENA; i++)
        if (i % 3 != 0)
            pym_free(blocks[i]);
    free(blocks);
}

static void a_heap_takes_the_fullest_of_its_arenas(void **state)
{
    (void)state;
    void **blocks = fill_arenas(3);
    /* Empty a few pools in the last arena and many in the first: new pools
     * must come from the last one (fewer free pools). */
    pym_arena_t *first = pymi_arena_of(blocks[0]);
    pym_arena_t *last = pymi_arena_of(blocks[3 * BLOCKS_PER_ARENA - 1]);
    assert_ptr_not_equal(first, last);
    for (size_t i = 0; i < 20 * 63; i++) {
        pym_free(blocks[i]);
        blocks[i] = NULL;
    }
    size_t from_last = 0;
    for (size_t i = 3 * BLOCKS_PER_ARENA - 1; from_last < 2 * 63; i--) {
        if (pymi_arena_of(blocks[i]) != last)
            break;
        pym_free(blocks[i]);
        blocks[i] = NULL;
        from_last++;
    }
    /* The arena that gives the next pool is the one of this heap (all of
     * them here) with the fewest free pools. */
    uint32_t fewest = PYM_POOLS_PER_ARENA;
    pthread_mutex_lock(&pymi_arena_lock);
    pymi_range_each_arena(note_fewest_free, &fewest);
    pthread_mutex_unlock(&pymi_arena_lock);
    assert_true(fewest < PYM_POOLS_PER_ARENA);
    pym_pool_t *fresh;
    assert_int_equal(pymi_arena_take_pools(&pymi_tls.heap->home, &fresh, 1), 1);
    assert_int_equal(pymi_arena_of(pymi_pool_page(fresh))->nfree + 1, fewest);
    pymi_arena_return_pool(fresh);
    for (size_t i = 0; i < 3 * BLOCKS_PER_ARENA; i++)
        pym_free(blocks[i]);
    free(blocks);
}

static void empty_arenas_go_back_in_batches_and_their_addresses_are_reused(void **state)
{
    (void)state;
    pym_trim();
    pym_stats_t before;
    pym_stats_get(&before);
    size_t carved = arenas_carved();

    const unsigned arenas = PYM_RECLAIM_BATCH + 4;
    void **blocks = fill_arenas(arenas);
    /* Arenas that expire together go back in batches: adjacent arenas in
     * one call for the pages, one for their descriptors, one for the
     * descriptors' shared halves and one for their remote words.  The freeing
     * waits out a long delay (it takes longer than a short one under the
     * sanitizers); a delay of 0 then applies to all that waits. */
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 3600000), 0);
    free_all(blocks, arenas);
    pym_stats_t after;
    pym_stats_get(&after);
    assert_true(after.arenas_reclaimed == before.arenas_reclaimed);
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 0), 0);
    for (int i = 0; i < 1024; i++) {   /* the decay clock is read every 32 mallocs */
        pym_stats_get(&after);
        if (after.arenas_reclaimed >= before.arenas_reclaimed + PYM_RECLAIM_BATCH)
            break;
        pym_free(pym_malloc(64));
    }
    assert_true(after.arenas_reclaimed >= before.arenas_reclaimed + PYM_RECLAIM_BATCH);
    assert_true(after.madvise_calls - before.madvise_calls <= 16);
    /* What may stay: the arenas of the class's current pool and of its
     * spare pool, one spare arena (PYMALLOC_ARENA_CACHE=1) and the
     * draining ones of an unfinished batch, until a trim. */
    assert_true(after.arenas_current <= before.arenas_current + 3 + PYM_RECLAIM_BATCH - 1);
    pym_trim();
    pym_stats_get(&after);
    assert_true(after.arenas_current <= before.arenas_current + 2);

    /* Allocating again reuses reclaimed addresses before carving new ones. */
    size_t carved_after_first = arenas_carved();
    blocks = fill_arenas(arenas);
    assert_int_equal(arenas_carved(), carved_after_first);
    assert_true(carved_after_first <= carved + arenas + 1);
    free_all(blocks, arenas);
}

/* ---- homes ------------------------------------------------------------------ */

static pym_arena_t *arena_of_pool(const pym_pool_t *pool)
{
    return pymi_arena_of(pymi_pool_page(pool));
}

/* The arena's home, checking that its tag, which free reads, follows it. */
static uint16_t home_mark(const pym_arena_t *arena)
{
    pthread_mutex_lock(&pymi_arena_lock);
    uint16_t mark = arena->home;
    unsigned tag = pymi_arena_tag_of((const void *)pymi_arena_base(arena));
    pthread_mutex_unlock(&pymi_arena_lock);
    assert_int_equal(tag, pymi_arena_tag_for_home(mark));
    return mark;
}

static pym_pool_t *take_one(pym_arena_home_t *home)
{
    pym_pool_t *pool = NULL;
    assert_int_equal(pymi_arena_take_pools(home, &pool, 1), 1);
    return pool;
}

/* Pools taken straight from the arena go back the way a heap's do. */
static void give_back(pym_pool_t **pools, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pymi_pool_init(pools[i], &pymi_null_heap, 0);
        pymi_pool_set_owner(pools[i], NULL);
    }
    pymi_arena_return_pools(pools, n);
}

/* Homes of heaps this test makes up: zeroed, then given ids. */
static pym_arena_home_t *new_home(void)
{
    pym_arena_home_t *home = calloc(1, sizeof *home);
    assert_non_null(home);
    pymi_arena_home_init(home);
    assert_int_not_equal(home->id, 0);
    return home;
}

static void a_heap_fills_its_arena_before_it_takes_an_empty_one(void **state)
{
    (void)state;
    pym_arena_home_t *home = new_home();
    pym_pool_t *taken[PYM_POOLS_PER_ARENA + 1];
    taken[0] = take_one(home);
    pym_arena_t *first = arena_of_pool(taken[0]);
    assert_int_equal(home_mark(first), home->id);   /* an empty arena, now its own */
    assert_int_equal(first->nfree, PYM_POOLS_PER_ARENA - 1);
    for (unsigned i = 1; i < PYM_POOLS_PER_ARENA; i++) {
        taken[i] = take_one(home);
        assert_ptr_equal(arena_of_pool(taken[i]), first);
    }
    taken[PYM_POOLS_PER_ARENA] = take_one(home);
    pym_arena_t *second = arena_of_pool(taken[PYM_POOLS_PER_ARENA]);
    assert_ptr_not_equal(second, first);
    assert_int_equal(home_mark(second), home->id);
    give_back(taken, PYM_POOLS_PER_ARENA + 1);
    assert_int_equal(home_mark(first), 0);   /* all its pools came back: nobody's */
    assert_int_equal(home_mark(second), 0);
}

static void a_heap_does_not_take_from_another_heaps_arena(void **state)
{
    (void)state;
    pym_arena_home_t *mine = new_home(), *other = new_home();
    pym_pool_t *taken[4];
    taken[0] = take_one(mine);
    taken[1] = take_one(mine);
    pym_arena_t *my_arena = arena_of_pool(taken[0]);
    give_back(&taken[1], 1);   /* a free pool in an arena still in use */
    assert_int_equal(home_mark(my_arena), mine->id);
    taken[1] = take_one(other);   /* the fullest arena is mine: not for it */
    assert_ptr_not_equal(arena_of_pool(taken[1]), my_arena);
    assert_int_equal(home_mark(arena_of_pool(taken[1])), other->id);
    taken[2] = take_one(mine);   /* the pool that came back is mine again */
    assert_ptr_equal(arena_of_pool(taken[2]), my_arena);
    give_back(taken, 3);
}

/* Two threads take pools in turn, one pool's worth of blocks each turn: the
 * old rule (the fullest arena for everyone) put both in the same arena. */
enum { TURNS = 6, POOL_OF_BLOCKS = PYM_POOL_SIZE / 64 };

struct turns {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned next;                 /* whose turn: 0 or 1 */
    unsigned done;                 /* threads that have finished */
    void *blocks[2][TURNS * POOL_OF_BLOCKS];
};

struct turn_taker {
    struct turns *turns;
    unsigned me;
};

static void *take_turns(void *arg)
{
    struct turn_taker *taker = arg;
    struct turns *t = taker->turns;
    for (unsigned turn = 0; turn < TURNS; turn++) {
        pthread_mutex_lock(&t->lock);
        while (t->next != taker->me)
            pthread_cond_wait(&t->changed, &t->lock);
        pthread_mutex_unlock(&t->lock);
        for (unsigned i = 0; i < POOL_OF_BLOCKS; i++)
            t->blocks[taker->me][turn * POOL_OF_BLOCKS + i] = pym_malloc(64);
        pthread_mutex_lock(&t->lock);
        t->next = 1 - taker->me;
        pthread_cond_broadcast(&t->changed);
        pthread_mutex_unlock(&t->lock);
    }
    /* Stay alive, and so keep the home, until both are done. */
    pthread_mutex_lock(&t->lock);
    t->done++;
    pthread_cond_broadcast(&t->changed);
    while (t->done < 2)
        pthread_cond_wait(&t->changed, &t->lock);
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

static void two_threads_taking_pools_in_turn_share_no_arena(void **state)
{
    (void)state;
    struct turns *t = calloc(1, sizeof *t);
    assert_non_null(t);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->changed, NULL);
    struct turn_taker takers[2] = {{t, 0}, {t, 1}};
    pthread_t threads[2];
    for (unsigned i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, take_turns, &takers[i]), 0);
    for (unsigned i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    size_t per_thread = TURNS * POOL_OF_BLOCKS;
    for (size_t i = 0; i < per_thread; i++) {
        assert_non_null(t->blocks[0][i]);
        for (size_t j = 0; j < per_thread; j++)
            if (pymi_arena_of(t->blocks[0][i]) == pymi_arena_of(t->blocks[1][j]))
                fail_msg("blocks %p and %p of two threads share an arena", t->blocks[0][i],
                         t->blocks[1][j]);
    }
    for (unsigned who = 0; who < 2; who++)
        for (size_t i = 0; i < per_thread; i++)
            pym_free(t->blocks[who][i]);
    free(t);
}

/* Takes pools for home until one comes from an arena carved by that very
 * take (empty and reclaimed arenas go first), keeping every pool taken in
 * kept[]; returns that arena. */
static pym_arena_t *carve_for(pym_arena_home_t *home, pym_pool_t **kept, size_t *count, size_t room)
{
    while (*count < room) {
        size_t before = arenas_carved();
        pym_pool_t *pool = take_one(home);
        kept[(*count)++] = pool;
        if (arenas_carved() > before)
            return arena_of_pool(pool);
    }
    fail_msg("no arena carved for home %u in %zu pools", home->id, room);
    return NULL;
}

static uintptr_t base_of(const pym_arena_t *arena)
{
    return pymi_arena_base(arena);
}

enum { CARVE_ROOM = 64 * PYM_POOLS_PER_ARENA };
static pym_pool_t *carved_pools[CARVE_ROOM];

/* A heap's new arena is not carved next to another heap's (range.c leaves
 * an arena out between), and next to its own it is: two heaps' descriptor
 * pages side by side slowed both (docs/design.md, "Session 31").  Without
 * huge pages, where the gap is one arena. */
static void a_new_arena_is_carved_apart_from_another_heaps(void **state)
{
    (void)state;
    long huge = pym_option_get(PYM_OPTION_HUGE_PAGES);
    assert_int_equal(pym_option_set(PYM_OPTION_HUGE_PAGES, 0), 0);
    pym_arena_home_t *first = new_home(), *second = new_home();
    size_t n = 0;
    pym_arena_t *a = carve_for(first, carved_pools, &n, CARVE_ROOM);
    pym_arena_t *b = carve_for(second, carved_pools, &n, CARVE_ROOM);
    pym_arena_t *c = carve_for(second, carved_pools, &n, CARVE_ROOM);
    assert_int_equal(home_mark(a), first->id);
    assert_int_equal(home_mark(b), second->id);
    assert_int_equal(home_mark(c), second->id);
    if (pymi_region_of(base_of(b)) == pymi_region_of(base_of(a)))
        assert_int_equal(base_of(b) - base_of(a), 2 * PYM_ARENA_SIZE);   /* one left out */
    if (pymi_region_of(base_of(c)) == pymi_region_of(base_of(b)))
        assert_int_equal(base_of(c) - base_of(b), PYM_ARENA_SIZE);   /* its own: beside */
    pym_stats_t s;
    pym_stats_get(&s);
    assert_int_equal(s.bytes_in_use + s.bytes_free_blocks + s.bytes_pool_waste + s.bytes_free_pools,
                     s.arenas_current * PYM_ARENA_SIZE);   /* the gap is no arena of the statistics */
    give_back(carved_pools, n);
    assert_int_equal(pym_option_set(PYM_OPTION_HUGE_PAGES, huge), 0);
}

/* With huge pages (past PYM_HUGE_AFTER of arenas) the gap is a whole 2 MiB
 * chunk, left out when the next arena would start a chunk; in a chunk
 * already entered none is left (it would be resident): the arena beside
 * is carved. */
static void with_huge_pages_the_gap_is_a_whole_chunk(void **state)
{
    (void)state;
    long huge = pym_option_get(PYM_OPTION_HUGE_PAGES);
    assert_int_equal(pym_option_set(PYM_OPTION_HUGE_PAGES, 1), 0);
    pym_arena_home_t *first = new_home(), *second = new_home();
    const uintptr_t chunk = PYM_HUGE_CHUNK_SIZE;
    size_t n = 0;
    pym_arena_t *last = carve_for(first, carved_pools, &n, CARVE_ROOM);
    /* Past PYM_HUGE_AFTER, and the next arena at a chunk's start. */
    while (arenas_carved() * PYM_ARENA_SIZE <= PYM_HUGE_AFTER || (base_of(last) + PYM_ARENA_SIZE) % chunk != 0)
        last = carve_for(first, carved_pools, &n, CARVE_ROOM);
    pym_arena_t *apart = carve_for(second, carved_pools, &n, CARVE_ROOM);
    pym_arena_t *beside = carve_for(first, carved_pools, &n, CARVE_ROOM);
    if (pymi_region_of(base_of(apart)) == pymi_region_of(base_of(last)))
        assert_int_equal(base_of(apart) - base_of(last), PYM_ARENA_SIZE + chunk);
    assert_int_equal(base_of(apart) % chunk, 0);
    assert_int_equal(base_of(beside), base_of(apart) + PYM_ARENA_SIZE);   /* apart's chunk is entered */
    give_back(carved_pools, n);
    assert_int_equal(pym_option_set(PYM_OPTION_HUGE_PAGES, huge), 0);
}

struct kept_block {
    void *block;
    uint16_t heap_id;
};

static void *keep_one_block(void *arg)
{
    struct kept_block *kept = arg;
    kept->block = pym_malloc(64);
    kept->heap_id = pymi_tls.heap->home.id;
    return NULL;
}

static void an_exited_threads_arenas_stay_its_heaps(void **state)
{
    (void)state;
    struct kept_block kept = {NULL, 0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, keep_one_block, &kept), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_non_null(kept.block);
    assert_int_not_equal(kept.heap_id, 0);
    assert_int_not_equal(kept.heap_id, pymi_tls.heap->home.id);
    /* For the thread that adopts the heap, with the block's pool. */
    assert_int_equal(home_mark(pymi_arena_of(kept.block)), kept.heap_id);
    pym_free(kept.block);
}

/* ---- checks run in a child ----------------------------------------------------- */

/* Runs body in a child (tests/common/child.h) and asserts it exited 0
 * within a minute; else says which of its checks (its exit code) failed. */
static void expect_child_passes(int (*body)(void *))
{
    child_result_t r;
    assert_int_equal(child_run(body, NULL, 60000, &r), 0);
    assert_false(r.timed_out);
    if (!child_exited_with(&r, 0))
        fail_msg("check %d failed (status 0x%x); stderr: %s", WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1,
                 (unsigned)r.status, r.stderr_text);
}

/* ---- when no memory can be had ------------------------------------------------ */

/* Not under the sanitizers, whose runtimes need address space of their
 * own (and cmocka's skip() counts as a failure with automake). */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define PYM_TEST_ADDRESS_LIMITS 1
#endif

#ifdef PYM_TEST_ADDRESS_LIMITS

enum { MOST_POOLS = 8192 };
static pym_pool_t *taken_by_first[MOST_POOLS];

/* The process's address space now, in bytes (/proc/self/statm). */
static size_t address_space_used(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* In a child, under an address-space limit that leaves no room for a new
 * region: a heap (first) takes every pool there is, gives one of its own
 * arena's back, and another heap (second) finds nothing of its own, no
 * empty arena and nothing of nobody's, so it takes that pool of first's
 * arena.  The arena then holds two heaps' pools: it must be nobody's, its
 * tag matching no heap, since free trusts the tag for ownership
 * (internal.h).  Exit codes: 0 held, 3 the scene could not be set, else
 * the check that failed. */
static int another_heaps_arena_when_none_can_be_had(void *arg)
{
    (void)arg;
    pym_arena_home_t *first = new_home(), *second = new_home();
    struct rlimit limit = {address_space_used() + ((size_t)4 << 20), RLIM_INFINITY};
    limit.rlim_max = limit.rlim_cur;
    if (setrlimit(RLIMIT_AS, &limit) != 0)
        return 3;
    unsigned n = 0;
    while (n < MOST_POOLS && pymi_arena_take_pools(first, &taken_by_first[n], 1) == 1)
        n++;
    if (n == 0 || n == MOST_POOLS)
        return 3;
    pym_pool_t *given = taken_by_first[0];
    pym_arena_t *arena = arena_of_pool(given);
    if (arena->home != first->id)
        return 3;   /* the first pool came from an arena that was not empty */
    give_back(&given, 1);
    if (arena->home != first->id)
        return 4;   /* one pool back: still first's */
    pym_pool_t *pool = NULL;
    if (pymi_arena_take_pools(second, &pool, 1) != 1)
        return 5;
    if (pool != given)
        return 6;
    if (arena->home != 0)
        return 7;
    if (pymi_arena_tag_of(pymi_pool_page(pool)) != PYM_ARENA_TAG_NOBODY)
        return 8;
    return 0;
}

static void an_arena_two_heaps_take_from_is_nobodys(void **state)
{
    (void)state;
    expect_child_passes(another_heaps_arena_when_none_can_be_had);
}

/* In a child: an arena left out between two heaps' arenas is carved once
 * no new region can be had (the address-space limit), so the gap costs no
 * memory a program could have used.  Exit codes: 0 held, 3 the scene could
 * not be set, else the check that failed. */
static int the_gap_is_carved_when_no_region_can_be_had(void *arg)
{
    (void)arg;
    if (pym_option_set(PYM_OPTION_HUGE_PAGES, 0) != 0)
        return 3;
    pym_arena_home_t *first = new_home(), *second = new_home();
    size_t n = 0;
    pym_arena_t *a = carve_for(first, carved_pools, &n, CARVE_ROOM);
    pym_arena_t *b = carve_for(second, carved_pools, &n, CARVE_ROOM);
    if (pymi_region_of(base_of(b)) != pymi_region_of(base_of(a)))
        return 3;   /* a at the end of its region: no gap between */
    uintptr_t gap = base_of(a) + PYM_ARENA_SIZE;
    if (gap != base_of(b) - PYM_ARENA_SIZE)
        return 4;
    struct rlimit limit = {address_space_used() + ((size_t)4 << 20), RLIM_INFINITY};
    limit.rlim_max = limit.rlim_cur;
    if (setrlimit(RLIMIT_AS, &limit) != 0)
        return 3;
    int gap_carved = 0;
    pym_pool_t *pool;
    for (unsigned i = 0; i < MOST_POOLS && pymi_arena_take_pools(second, &pool, 1) == 1; i++)
        if (base_of(arena_of_pool(pool)) == gap)
            gap_carved = 1;
    return gap_carved ? 0 : 5;
}

static void a_gap_is_used_when_no_region_can_be_had(void **state)
{
    (void)state;
    expect_child_passes(the_gap_is_carved_when_no_region_can_be_had);
}

#endif /* PYM_TEST_ADDRESS_LIMITS */

/* Past PYM_ARENA_HOMES heaps, a heap has no home: its pools sit in
 * arenas that are nobody's, beside other such heaps' pools, so its tag
 * matches none and each free asks the pool's owner.  In a child: the homes
 * are used up, then two new threads, so without one, hand blocks over; the
 * second's frees of the first's blocks must be remote frees, not pushes on
 * another heap's free list.  Exit codes as above. */
enum { HANDED_OVER = 8 };

struct handover {
    void *blocks[HANDED_OVER];
    uint16_t tag;
    pthread_barrier_t allocated, freed;   /* the first thread lives on until then */
};

static void *allocate_homeless(void *arg)
{
    struct handover *h = arg;
    for (int i = 0; i < HANDED_OVER; i++)
        h->blocks[i] = pym_malloc(64);
    h->tag = pymi_tls.heap->arena_tag;
    pthread_barrier_wait(&h->allocated);
    pthread_barrier_wait(&h->freed);   /* else the next thread adopts this heap */
    return NULL;
}

static void *free_homeless(void *arg)
{
    struct handover *h = arg;
    pym_free(pym_malloc(64));   /* a heap of its own, without a home either */
    if (pymi_tls.heap->home.id != 0)
        return h;
    for (int i = 0; i < HANDED_OVER; i++)
        pym_free(h->blocks[i]);
    return NULL;
}

static int homeless_heaps_free_each_others_blocks_remotely(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < PYM_ARENA_HOMES; i++) {
        pym_arena_home_t *home = calloc(1, sizeof *home);
        if (home == NULL)
            return 3;
        pymi_arena_home_init(home);
        if (home->id == 0) {
            free(home);   /* not taken: the homes are used up */
            break;
        }
    }
    static struct handover h;
    pthread_barrier_init(&h.allocated, NULL, 2);
    pthread_barrier_init(&h.freed, NULL, 2);
    pthread_t first, second;
    void *result = NULL;
    if (pthread_create(&first, NULL, allocate_homeless, &h) != 0)
        return 3;
    pthread_barrier_wait(&h.allocated);
    int failed = 0;
    pym_stats_t before, after;
    pym_stats_get(&before);
    if (h.tag != PYM_ARENA_TAG_NONE)
        failed = 4;
    else if (pymi_arena_tag_of(h.blocks[0]) != PYM_ARENA_TAG_NOBODY)
        failed = 5;
    else if (pthread_create(&second, NULL, free_homeless, &h) != 0 || pthread_join(second, &result) != 0)
        failed = 3;
    else if (result != NULL)
        failed = 6;   /* the second thread had a home */
    pym_stats_get(&after);
    if (!failed && after.remote_frees - before.remote_frees != HANDED_OVER)
        failed = 7;
    pthread_barrier_wait(&h.freed);
    pthread_join(first, NULL);
    return failed;
}

static void heaps_without_a_home_free_each_others_blocks_remotely(void **state)
{
    (void)state;
    expect_child_passes(homeless_heaps_free_each_others_blocks_remotely);
}

/* free's first test (internal.h): a block of this thread's arenas carries
 * its heap's tag, another thread's block that thread's heap's, and a
 * pointer that is not ours none. */
static void free_tells_its_own_arenas_by_their_tag(void **state)
{
    (void)state;
    void *mine = pym_malloc(64);
    assert_int_not_equal(pymi_tls.heap->arena_tag, PYM_ARENA_TAG_NOBODY);   /* a heap with a home */
    assert_int_equal(pymi_arena_tag_of(mine), pymi_tls.heap->arena_tag);
    struct kept_block kept = {NULL, 0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, keep_one_block, &kept), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(pymi_arena_tag_of(kept.block), pymi_arena_tag_for_home(kept.heap_id));
    assert_int_not_equal(pymi_arena_tag_of(kept.block), pymi_tls.heap->arena_tag);
    int on_stack = 0;
    assert_int_equal(pymi_arena_tag_of(&on_stack), PYM_ARENA_TAG_FOREIGN);
    assert_int_equal(pymi_arena_tag_of(NULL), PYM_ARENA_TAG_FOREIGN);
    assert_int_equal(pymi_arena_tag_of((const void *)(pymi_const.window_base - 1)), PYM_ARENA_TAG_FOREIGN);
    assert_int_not_equal(pymi_arena_tag_of(mine), PYM_ARENA_TAG_NONE);   /* the null heap's */
    pym_free(kept.block);   /* another heap's: the slow path's remote free */
    pym_free(mine);
}

static void trim_releases_then_has_nothing_left(void **state)
{
    (void)state;
    void **blocks = fill_arenas(1);
    free_all(blocks, 1);
    pym_trim();
    assert_int_equal(pym_trim(), 0);   /* nothing left to give back */
    pym_stats_t s;
    pym_stats_get(&s);
    assert_int_equal(s.classes[pymi_size_to_class(64)].pools_empty, 0);
}

int main(void)
{
    /* These tests are about what goes back, not when: no decay window. */
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 0), 0);
    const struct CMUnitTest tests[] = {
        /* First: before any thread of another test has exited, so that the
         * child's new threads get new heaps instead of adopting one. */
        cmocka_unit_test(heaps_without_a_home_free_each_others_blocks_remotely),
        cmocka_unit_test(every_arena_byte_is_accounted_for),
        cmocka_unit_test(a_heap_takes_the_fullest_of_its_arenas),
        cmocka_unit_test(empty_arenas_go_back_in_batches_and_their_addresses_are_reused),
        cmocka_unit_test(trim_releases_then_has_nothing_left),
        cmocka_unit_test(a_heap_fills_its_arena_before_it_takes_an_empty_one),
        cmocka_unit_test(a_heap_does_not_take_from_another_heaps_arena),
        cmocka_unit_test(two_threads_taking_pools_in_turn_share_no_arena),
        cmocka_unit_test(a_new_arena_is_carved_apart_from_another_heaps),
        cmocka_unit_test(with_huge_pages_the_gap_is_a_whole_chunk),
        cmocka_unit_test(an_exited_threads_arenas_stay_its_heaps),
        cmocka_unit_test(free_tells_its_own_arenas_by_their_tag),
#ifdef PYM_TEST_ADDRESS_LIMITS
        cmocka_unit_test(an_arena_two_heaps_take_from_is_nobodys),
        cmocka_unit_test(a_gap_is_used_when_no_region_can_be_had),
#endif
    };
    return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
