/*
 * fork_locks_held.c -- the fork child's handling of a lock held by a thread
 * that does not come along (src/fork.c), made certain instead of left to
 * chance: a helper thread takes the lock, the main thread forks, and the
 * child must neither wait for the lock nor trust what it protects.
 *
 *   arena lock held: the child frees every block allocated before the fork
 *     (their pools go back to arenas it orphaned: purged, dropped), then
 *     allocates 20000 blocks, none of them in a pool taken from an arena
 *     carved before the fork, checks and frees them, and starts a thread
 *     that allocates.
 *   heap list lock and an abandoned heap's lock held: the child frees the
 *     blocks of the abandoned heap (now orphaned: they stay on remote
 *     lists), and two new threads get heaps and allocate.
 *   the lock of the shared cache of glibc chunks (fwdcache.c) held: the
 *     child trims and reads the statistics, both of which take it, and
 *     finds the cache empty.
 * Linked statically, so that the test can reach pymi_* internals.  Each
 * case runs in a child with a deadline (deadline.h).
 */
#define _GNU_SOURCE 1
#include "internal.h"   /* first: it brings _GNU_SOURCE from configure */

#include "deadline.h"
#include "pattern.h"
#include "sanitizer.h"
#include "tap.h"

#include <pthread.h>

#define PRE_BLOCKS 2000
#define CHILD_BLOCKS 20000
#define TIMEOUT_S 30

typedef struct holder {
    pthread_mutex_t *locks[2];
    pthread_barrier_t locked, forked;
    pthread_t thread;
} holder_t;

static void *hold(void *arg)
{
    holder_t *h = arg;
    for (unsigned i = 0; i < 2 && h->locks[i] != NULL; i++)
        pthread_mutex_lock(h->locks[i]);
    pthread_barrier_wait(&h->locked);
    pthread_barrier_wait(&h->forked);
    for (unsigned i = 2; i-- > 0;)
        if (h->locks[i] != NULL)
            pthread_mutex_unlock(h->locks[i]);
    return NULL;
}

static void holder_start(holder_t *h, pthread_mutex_t *a, pthread_mutex_t *b)
{
    h->locks[0] = a;
    h->locks[1] = b;
    pthread_barrier_init(&h->locked, NULL, 2);
    pthread_barrier_init(&h->forked, NULL, 2);
    pthread_create(&h->thread, NULL, hold, h);
    pthread_barrier_wait(&h->locked);
}

static void holder_finish(holder_t *h)
{
    pthread_barrier_wait(&h->forked);
    pthread_join(h->thread, NULL);
    pthread_barrier_destroy(&h->locked);
    pthread_barrier_destroy(&h->forked);
}

/* The child's exit status, or -1 when it did not exit (a signal). */
static int wait_for_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        continue;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static size_t size_of(unsigned i)
{
    return 1 + (i * 37) % PYM_SMALL_MAX;
}

static int fill_blocks(unsigned char **blocks, unsigned n, uint64_t salt)
{
    for (unsigned i = 0; i < n; i++) {
        blocks[i] = pym_malloc(size_of(i));
        if (blocks[i] == NULL)
            return 0;
        pattern_fill(blocks[i], size_of(i), pattern_seed(blocks[i], salt));
    }
    return 1;
}

static int free_blocks(unsigned char **blocks, unsigned n, uint64_t salt)
{
    int ok = 1;
    for (unsigned i = 0; i < n; i++) {
        ok &= pattern_intact(blocks[i], size_of(i), pattern_seed(blocks[i], salt));
        pym_free(blocks[i]);
    }
    return ok;
}

static void *allocating_thread(void *arg)
{
    (void)arg;
    static _Thread_local unsigned char *blocks[PRE_BLOCKS];
    int ok = fill_blocks(blocks, PRE_BLOCKS, 9) && free_blocks(blocks, PRE_BLOCKS, 9);
    return ok ? (void *)1 : NULL;
}

static int thread_allocates(void)
{
#ifdef UNDER_TSAN
    /* ThreadSanitizer ends a child of a multi-threaded fork that starts a
     * thread; allocate from this one instead. */
    return allocating_thread(NULL) != NULL;
#endif
    pthread_t t;
    void *result = NULL;
    if (pthread_create(&t, NULL, allocating_thread, NULL) != 0)
        return 0;
    pthread_join(t, &result);
    return result != NULL;
}

/* ---- the arena lock --------------------------------------------------------- */

static unsigned char *pre[PRE_BLOCKS];
static unsigned char *fresh[CHILD_BLOCKS];

/* Pools this thread's heap had at the fork: those of its blocks, and the
 * empty ones on its stack (emptypools.c), taken from their arenas before. */
static uintptr_t own_pools[PRE_BLOCKS + PYM_HEAP_EMPTY_POOLS];
static size_t own_count;

static int compare_addresses(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

static int arena_child(unsigned epoch_at_fork)
{
    for (unsigned i = 0; i < PRE_BLOCKS; i++)
        own_pools[own_count++] = (uintptr_t)pymi_pool_of(pre[i]);
    const pym_heap_t *heap = pymi_tls.heap;
    for (unsigned i = 0; i < heap->empty_count; i++)
        own_pools[own_count++] = (uintptr_t)pymi_heap_stacked_pool(heap, i);
    qsort(own_pools, own_count, sizeof own_pools[0], compare_addresses);
    if (!free_blocks(pre, PRE_BLOCKS, 1))
        return 10;
    for (unsigned i = 0; i < CHILD_BLOCKS; i++) {
        fresh[i] = pym_malloc(size_of(i));
        if (fresh[i] == NULL)
            return 11;
        /* The heap may keep using pools it owned (its current, spare and
         * stacked ones); any other pool must come from an arena carved
         * after the fork: the old ones are orphaned. */
        uintptr_t pool = (uintptr_t)pymi_pool_of(fresh[i]);
        if (pym_owns(fresh[i]) &&
            pymi_arena_of(fresh[i])->epoch == epoch_at_fork &&
            bsearch(&pool, own_pools, own_count, sizeof own_pools[0], compare_addresses) == NULL)
            return 12;   /* an orphaned arena handed out a pool again */
        pattern_fill(fresh[i], size_of(i), pattern_seed(fresh[i], 2));
    }
    for (unsigned i = 0; i < CHILD_BLOCKS; i++) {
        if (!pattern_intact(fresh[i], size_of(i), pattern_seed(fresh[i], 2)))
            return 13;
        pym_free(fresh[i]);
    }
    return thread_allocates() ? 0 : 14;
}

static int arena_lock_case(void *arg)
{
    (void)arg;
    if (!fill_blocks(pre, PRE_BLOCKS, 1))
        return 1;
    holder_t h;
    holder_start(&h, &pymi_arena_lock, NULL);
    unsigned epoch = pymi_arena_of(pre[0])->epoch;   /* arenas carved before the fork */
    pid_t pid = fork();
    if (pid == 0)
        _exit(arena_child(epoch));
    holder_finish(&h);
    if (pid < 0)
        return 2;
    int code = wait_for_child(pid);
    if (code != 0)
        return code < 0 ? 3 : code;
    return free_blocks(pre, PRE_BLOCKS, 1) ? 0 : 4;
}

/* ---- the heap list lock and an abandoned heap's lock ------------------------ */

static unsigned char *exited[PRE_BLOCKS];

static void *allocate_and_exit(void *arg)
{
    (void)arg;
    return fill_blocks(exited, PRE_BLOCKS, 3) ? (void *)1 : NULL;
}

static int heaps_child(pym_heap_t *abandoned)
{
    if (!free_blocks(exited, PRE_BLOCKS, 3))
        return 20;
    if (atomic_load(&abandoned->state) != PYM_HEAP_ORPHANED)
        return 21;
    return thread_allocates() && thread_allocates() ? 0 : 22;
}

static int heaps_lock_case(void *arg)
{
    (void)arg;
    pthread_t t;
    void *result = NULL;
    /* A heap first, so that the next thread gets a new one, not ours. */
    pym_free(pym_malloc(16));
    pthread_create(&t, NULL, allocate_and_exit, NULL);
    pthread_join(t, &result);
    if (result == NULL)
        return 1;
    pym_heap_t *abandoned = NULL;
    for (pym_heap_t *heap = pymi_heap_list(); heap != NULL; heap = heap->next_all)
        if (atomic_load(&heap->state) == PYM_HEAP_ABANDONED)
            abandoned = heap;
    if (abandoned == NULL || pymi_pool_owner(pymi_pool_of(exited[0])) != abandoned)
        return 2;
    holder_t h;
    holder_start(&h, &pymi_heaps_lock, &abandoned->lock);
    pid_t pid = fork();
    if (pid == 0)
        _exit(heaps_child(abandoned));
    holder_finish(&h);
    if (pid < 0)
        return 3;
    int code = wait_for_child(pid);
    if (code != 0)
        return code < 0 ? 4 : code;
    /* In the parent nothing changed: the heap is still abandoned, adoptable. */
    if (atomic_load(&abandoned->state) != PYM_HEAP_ABANDONED)
        return 5;
    return free_blocks(exited, PRE_BLOCKS, 3) ? 0 : 6;
}

/* ---- the shared cache's lock ------------------------------------------------- */

static int shared_cache_child(void)
{
    pym_stats_t stats;
    pym_trim();
    pym_stats_get(&stats);
    return stats.fwd_cache_chunks == 0 ? 0 : 30;
}

static int shared_cache_lock_case(void *arg)
{
    (void)arg;
    holder_t h;
    holder_start(&h, &pymi_fwd_shared_lock, NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(shared_cache_child());
    holder_finish(&h);
    if (pid < 0)
        return 1;
    int code = wait_for_child(pid);
    return code < 0 ? 2 : code;
}

int main(void)
{
    tap_plan(3);
    if (pym_malloc(1) == NULL || !pym_owns(pym_malloc(1))) {
        tap_skip("fork while another thread holds the arena lock", "pymalloc is disabled");
        tap_skip("fork while another thread holds the heap list lock and an abandoned heap's lock",
                 "pymalloc is disabled");
        tap_skip("fork while another thread holds the shared cache's lock", "pymalloc is disabled");
        return 0;
    }
    deadline_check(arena_lock_case, TIMEOUT_S,
                   "fork while another thread holds the arena lock: the child frees, allocates "
                   "from new arenas only, starts a thread");
    deadline_check(heaps_lock_case, TIMEOUT_S,
                   "fork while another thread holds the heap list lock and an abandoned heap's "
                   "lock: the child frees into the orphaned heap, starts threads");
    deadline_check(shared_cache_lock_case, TIMEOUT_S,
                   "fork while another thread holds the shared cache's lock: the child trims "
                   "and reads the statistics");
    return tap_exit_status();
}
