/*
 * stats.c -- statistics: pym_stats_get, pym_stats_print, PYMALLOC_STATS.
 *
 * Nothing is counted on the fast paths: malloc counts are the blocks each
 * refill puts on a free list (heap->refilled), which exceeds the number of
 * mallocs by at most the blocks still free in the heap's pools; everything
 * else is derived when asked, by walking every arena in use and reading its
 * pool descriptors (CPython's
 * _PyObject_DebugMallocStats does the same).  Other threads keep running,
 * so those reads are a racy snapshot by design (PYM_RACY_READER).
 *
 * PYMALLOC_STATS prints at exit to PYMALLOC_STATS_FILE, else to a duplicate
 * of stderr taken at start-up (ls, cat and sort close fd 2 before they
 * exit), each table under a line naming the pid and the program.
 *
 * Identity the printer shows and the tests check: for the current arenas,
 *   bytes_in_use + bytes_free_blocks + bytes_pool_waste + bytes_free_pools
 *     == arenas_current * PYM_ARENA_SIZE (1 MiB).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A pool's `used` holds one extra count while it is its heap's current
 * pool of the class (types.h, the pin). */
PYM_RACY_READER static size_t pool_live_blocks(const pym_pool_t *pool)
{
    const pym_heap_t *owner = pymi_pool_owner(pool);
    size_t used = pool->used;
    if (owner != NULL && owner->pools[pool->sizeclass] == pool && used > 0)
        used--;
    return used;
}

PYM_RACY_READER static void stats_add_arena(pym_arena_t *arena, void *arg)
{
    pym_stats_t *out = arg;
    if (!arena->in_use)
        return;
    const pym_pool_t *pools = pymi_arena_pools(arena);
    for (unsigned p = 0; p < PYM_POOLS_PER_ARENA; p++) {
        const pym_pool_t *pool = &pools[p];
        if (arena->free_mask & ((uint64_t)1 << p)) {
            out->bytes_free_pools += PYM_POOL_SIZE;
            if (arena->dirty_mask & ((uint64_t)1 << p))
                out->bytes_free_pools_resident += PYM_POOL_SIZE;
            continue;
        }
        if (pymi_pool_owner(pool) == NULL) {
            /* On a heap's stack of empty pools (emptypools.c), or on
             * its way from the arena to pymi_pool_init: resident if it
             * was in use since its arena last purged it, which the
             * kernel knows (a heap takes pools from the arena two at a
             * time, the second one untouched). */
            out->bytes_free_pools += PYM_POOL_SIZE;
            out->bytes_free_pools_resident += pymi_os_resident_bytes(pymi_pool_page(pool), PYM_POOL_SIZE);
            continue;
        }
        unsigned c = pool->sizeclass;
        size_t size = pymi_class_to_size(c);
        size_t capacity = pymi_class_capacity(c);
        size_t used = pool_live_blocks(pool);
        if (used > capacity)
            used = capacity;   /* a racy read of another thread's pool */
        pym_class_stats_t *cs = &out->classes[c];
        cs->blocks_in_use += used;
        cs->blocks_free += capacity - used;
        if (used == 0)
            cs->pools_empty++;
        else if (used == capacity)
            cs->pools_full++;
        else
            cs->pools_used++;
        out->bytes_in_use += used * size;
        out->bytes_free_blocks += (capacity - used) * size;
        out->bytes_pool_waste += PYM_POOL_SIZE - capacity * size;
    }
}

PYM_RACY_READER void pym_stats_get(pym_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->num_classes = PYM_NUM_CLASSES;
    for (unsigned c = 0; c < PYM_NUM_CLASSES; c++)
        out->classes[c].block_size = pymi_class_to_size(c);
    out->bytes_reserved = pymi_range_reserved();
    if (out->bytes_reserved == 0)
        return;

    pthread_mutex_lock(&pymi_arena_lock);
    pymi_range_each_arena(stats_add_arena, out);
    pthread_mutex_unlock(&pymi_arena_lock);

    struct pymi_arena_counters arenas;
    pymi_arena_counters(&arenas);
    out->arenas_current = arenas.current;
    out->arenas_highwater = arenas.highwater;
    out->arenas_allocated = arenas.allocated;
    out->arenas_reclaimed = arenas.reclaimed;
    out->madvise_calls = arenas.madvise_calls;
    out->pages_purged = arenas.pages_purged;

    pymi_fwd_count_shared(&out->fwd_cache_chunks, &out->fwd_cache_bytes);
    for (const pym_heap_t *h = pymi_heap_list(); h != NULL; h = h->next_all) {
        for (unsigned c = 0; c < PYM_NUM_CLASSES; c++)
            out->classes[c].mallocs += h->refilled[c];
        out->remote_frees += h->remote_frees;
        pymi_fwd_count(h, &out->fwd_cache_chunks, &out->fwd_cache_bytes);
        if (atomic_load_explicit(&h->state, memory_order_relaxed) != PYM_HEAP_ACTIVE) {
            int holds_pools = 0;
            for (unsigned c = 0; c < PYM_NUM_CLASSES && !holds_pools; c++)
                holds_pools = h->pools[c] != &pymi_exhausted_pool;
            out->heaps_abandoned += holds_pools;
        } else {
            out->heaps_active++;
        }
    }
    out->heaps_adopted = pymi_heaps_adopted();
}

static void print_bytes_line(FILE *out, const char *label, size_t bytes)
{
    fprintf(out, "# %-38s = %15zu\n", label, bytes);
}

void pym_stats_print(FILE *out)
{
    pym_stats_t s;
    pym_stats_get(&s);
    uint64_t small_mallocs = 0;
    fprintf(out, "pymalloc %s: small block threshold = %d, in %zu size classes.\n\n",
            PYM_VERSION, PYM_SMALL_MAX, s.num_classes);
    fprintf(out, "class   size   num pools   blocks in use  avail blocks      mallocs\n");
    fprintf(out, "-----   ----   ---------   -------------  ------------  -----------\n");
    for (size_t c = 0; c < s.num_classes; c++) {
        const pym_class_stats_t *cs = &s.classes[c];
        small_mallocs += cs->mallocs;
        size_t pools = cs->pools_used + cs->pools_full + cs->pools_empty;
        if (pools == 0 && cs->mallocs == 0)
            continue;
        fprintf(out, "%5zu %6zu %11zu %15zu %13zu %12llu\n", c, cs->block_size, pools,
                cs->blocks_in_use, cs->blocks_free, (unsigned long long)cs->mallocs);
    }
    fprintf(out, "\n");
    fprintf(out, "# arenas allocated total           = %15llu\n", (unsigned long long)s.arenas_allocated);
    fprintf(out, "# arenas reclaimed                 = %15llu\n", (unsigned long long)s.arenas_reclaimed);
    fprintf(out, "# arenas highwater mark            = %15zu\n", s.arenas_highwater);
    fprintf(out, "# arenas allocated current         = %15zu\n", s.arenas_current);
    fprintf(out, "%zu arenas * %zu bytes/arena         = %15zu\n\n", s.arenas_current,
            (size_t)PYM_ARENA_SIZE, s.arenas_current * PYM_ARENA_SIZE);
    print_bytes_line(out, "bytes in allocated blocks", s.bytes_in_use);
    print_bytes_line(out, "bytes in available blocks", s.bytes_free_blocks);
    print_bytes_line(out, "bytes lost to pool tails", s.bytes_pool_waste);
    print_bytes_line(out, "bytes in free pools", s.bytes_free_pools);
    print_bytes_line(out, "  of which still resident", s.bytes_free_pools_resident);
    fprintf(out, "Total                                    = %15zu\n\n",
            s.bytes_in_use + s.bytes_free_blocks + s.bytes_pool_waste + s.bytes_free_pools);
    fprintf(out, "# small requests served by pools    = %15llu\n", (unsigned long long)small_mallocs);
    if (pymi_override_lost())
        fprintf(out, "# malloc is another allocator's (preloaded before pymalloc): "
                     "pymalloc served only pym_* calls\n");
    fprintf(out, "# remote (cross-thread) frees       = %15llu\n", (unsigned long long)s.remote_frees);
    fprintf(out, "# glibc chunks cached by threads    = %zu (%zu bytes)\n", s.fwd_cache_chunks,
            s.fwd_cache_bytes);
    fprintf(out, "# heaps active / abandoned / adopted = %zu / %zu / %llu\n", s.heaps_active,
            s.heaps_abandoned, (unsigned long long)s.heaps_adopted);
    fprintf(out, "# madvise calls / pages returned    = %llu / %llu\n",
            (unsigned long long)s.madvise_calls, (unsigned long long)s.pages_purged);
}

/* Defined by libpymalloc_gc when a program uses it: its per-type and
 * per-generation accounting joins PYMALLOC_STATS.  Weak, so the allocator
 * does not depend on the GC layer. */
extern void pym_gc_print_stats(FILE *out) __attribute__((weak));

/* stderr as it was at start-up: a duplicate (close-on-exec), and what it
 * referred to, so that a program which closed it and reused the number for
 * a file of its own does not get our table in that file. */
static int stats_fd = -1;
static dev_t stats_fd_dev;
static ino_t stats_fd_ino;

void pymi_stats_prepare(void)
{
    const char *path = pymi_option_stats_file();
    if (stats_fd >= 0 || (path != NULL && *path != '\0'))
        return;
    int saved = errno;
    struct stat st;
    int fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (fd >= 0 && fstat(fd, &st) == 0) {
        stats_fd = fd;
        stats_fd_dev = st.st_dev;
        stats_fd_ino = st.st_ino;
    } else if (fd >= 0) {
        close(fd);
    }
    errno = saved;
}

/* Where the at-exit table goes: a new descriptor for fdopen, or -1. */
static int stats_output(void)
{
    const char *path = pymi_option_stats_file();
    if (path != NULL && *path != '\0') {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
            return fd;
        pymi_message("cannot open PYMALLOC_STATS_FILE=%s; printing to stderr", path);
    }
    struct stat st;
    if (stats_fd >= 0 && fstat(stats_fd, &st) == 0 && st.st_dev == stats_fd_dev &&
        st.st_ino == stats_fd_ino)
        return fcntl(stats_fd, F_DUPFD_CLOEXEC, 3);
    return fcntl(2, F_DUPFD_CLOEXEC, 3);   /* turned on later, or the duplicate is gone */
}

void pymi_stats_at_exit(void)
{
    int saved = errno;
    int fd = stats_output();
    FILE *out = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (out == NULL) {
        if (fd >= 0)
            close(fd);
        errno = saved;
        return;
    }
    char name[256];
    fprintf(out, "pymalloc statistics of pid %ld (%s) at exit:\n", (long)getpid(),
            pymi_program_name(name, sizeof name));
    pym_stats_print(out);
    if (pym_gc_print_stats != NULL)
        pym_gc_print_stats(out);
    fclose(out);
    errno = saved;
}
