/*
 * os.c -- the only place that asks the kernel for memory.
 *
 * Every wrapper saves and restores errno (STYLE.md §3): free() and friends
 * must not change it even when they give pages back.
 *
 * Regions (range.c) are mapped readable and writable but MAP_NORESERVE, so
 * pages cost nothing until touched and reading an untouched one gives zeros
 * (an invalid free() then finds owner == NULL instead of faulting), and
 * MADV_NOHUGEPAGE: a huge page would make one touched block cost 2 MiB of
 * RSS.  range.c turns huge pages on for the chunks of a large heap
 * (pymi_os_huge_pages), and off again for a chunk it purges in part.
 */
#include "internal.h"

#include <errno.h>
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static const int region_prot = PROT_READ | PROT_WRITE;
static const int region_flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

/* size bytes aligned to `alignment`, anywhere; NULL when refused.  Tries
 * without slack first (the aligned places just below and above where the
 * kernel would put it), so that a tight RLIMIT_AS still leaves room. */
void *pymi_os_reserve(size_t size, size_t alignment)
{
    int saved = errno;
    void *p = mmap(NULL, size, region_prot, region_flags, -1, 0);
    if (p != MAP_FAILED) {
        uintptr_t down = (uintptr_t)p & ~(uintptr_t)(alignment - 1);
        if (down == (uintptr_t)p) {
            madvise(p, size, MADV_NOHUGEPAGE);
            errno = saved;
            return p;
        }
        munmap(p, size);
        uintptr_t candidates[2] = {down, down + alignment};
        for (int i = 0; i < 2; i++) {
            if (candidates[i] != 0 && pymi_os_reserve_at((void *)candidates[i], size) > 0) {
                errno = saved;
                return (void *)candidates[i];
            }
        }
    }
    p = mmap(NULL, size + alignment, region_prot, region_flags, -1, 0);
    if (p == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    uintptr_t start = ((uintptr_t)p + alignment - 1) & ~(uintptr_t)(alignment - 1);
    if (start > (uintptr_t)p)
        munmap(p, start - (uintptr_t)p);
    uintptr_t end = (uintptr_t)p + size + alignment;
    if (end > start + size)
        munmap((void *)(start + size), end - (start + size));
    madvise((void *)start, size, MADV_NOHUGEPAGE);
    errno = saved;
    return (void *)start;
}

/* size bytes at exactly addr: 1 done, 0 the place is taken, -1 refused for
 * lack of memory or address space (RLIMIT_AS). */
int pymi_os_reserve_at(void *addr, size_t size)
{
    int saved = errno;
    void *p = mmap(addr, size, region_prot, region_flags | MAP_FIXED_NOREPLACE, -1, 0);
    int result;
    if (p == addr) {
        madvise(p, size, MADV_NOHUGEPAGE);
        result = 1;
    } else if (p != MAP_FAILED) {
        munmap(p, size);   /* a kernel older than 4.17 took addr as a hint */
        result = 0;
    } else {
        result = errno == EEXIST ? 0 : -1;
    }
    errno = saved;
    return result;
}

/* Zeroed, private memory for metadata (heaps). */
void *pymi_os_map(size_t size)
{
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    errno = saved;
    return p == MAP_FAILED ? NULL : p;
}

void pymi_os_huge_pages(void *addr, size_t size, int huge)
{
    int saved = errno;
    madvise(addr, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    errno = saved;
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

/* How many bytes of [addr, addr+size) are resident (mincore); all of them
 * when the kernel does not say.  For statistics: a system call. */
size_t pymi_os_resident_bytes(void *addr, size_t size)
{
    unsigned char pages[PYM_POOL_SIZE / PYM_OS_PAGE_SIZE];
    if (size > sizeof pages * PYM_OS_PAGE_SIZE)
        return size;
    int saved = errno;
    int failed = mincore(addr, size, pages);
    errno = saved;
    if (failed)
        return size;
    size_t resident = 0;
    for (size_t i = 0; i < size / PYM_OS_PAGE_SIZE; i++)
        resident += (pages[i] & 1) ? PYM_OS_PAGE_SIZE : 0;
    return resident;
}
