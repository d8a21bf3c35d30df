/*
 * os.c -- the only place that asks the kernel for memory.
 *
 * Every wrapper saves and restores errno (STYLE.md §3): free() and friends
 * must not change it even when they give pages back.
 */
#include "internal.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>

/* Reserves address space for arenas: readable and writable but MAP_NORESERVE,
 * so pages cost nothing until touched and reading an untouched one gives
 * zeros (an invalid free() then finds owner == NULL instead of faulting).
 * Starts at *size, halves on refusal, caps itself to an eighth of RLIMIT_AS
 * so that `ulimit -v` leaves room for everything else.  The result is
 * aligned to `alignment`; *size receives the usable size. */
void *pymi_os_reserve(size_t *size, size_t alignment)
{
    int saved = errno;
    size_t want = *size;
    struct rlimit limit;
    if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        size_t cap = (size_t)(limit.rlim_cur / 8) & ~(alignment - 1);
        if (cap < want)
            want = cap;
    }
    for (; want >= PYM_RESERVE_MIN; want /= 2) {
        void *p = mmap(NULL, want + alignment, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            continue;
        uintptr_t start = ((uintptr_t)p + alignment - 1) & ~(uintptr_t)(alignment - 1);
        if (start > (uintptr_t)p)
            munmap(p, start - (uintptr_t)p);
        uintptr_t end = (uintptr_t)p + want + alignment;
        if (end > start + want)
            munmap((void *)(start + want), end - (start + want));
        /* Huge pages would make one touched block cost 2 MiB of RSS and
         * defeat page-sized purging. */
        madvise((void *)start, want, MADV_NOHUGEPAGE);
        *size = want;
        errno = saved;
        return (void *)start;
    }
    errno = saved;
    return NULL;
}

/* Zeroed, private memory for metadata (heaps, the arena table). */
void *pymi_os_map(size_t size)
{
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    errno = saved;
    return p == MAP_FAILED ? NULL : p;
}

/* Gives the pages of [addr, addr+size) back to the kernel; they read as
 * zeros afterwards.  MADV_DONTNEED rather than MADV_FREE: the RSS that users
 * watch falls at once (docs/design.md has the measurement). */
void pymi_os_purge(void *addr, size_t size)
{
    int saved = errno;
    madvise(addr, size, MADV_DONTNEED);
    errno = saved;
}
