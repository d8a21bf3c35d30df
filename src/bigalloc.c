/*
 * bigalloc.c -- large blocks straight from mmap, for fully static executables.
 *
 * A program linked with -static cannot have glibc's malloc object beside
 * ours (both define malloc), so sysalloc.c refers to glibc's __libc_* entry
 * points weakly: in a static link they stay NULL and every request that
 * would be forwarded comes here instead.  In a dynamically linked program
 * this file is never used.
 *
 * Each block is its own private anonymous mapping:
 *
 *   mapping: [ ... padding ... | header (16 B) | user bytes ... ]
 *                                              ^ 16-byte (or requested) alignment
 *
 * The header records the mapping's size and where it starts, so free is one
 * munmap.  Page granularity makes mid-sized requests (257 B .. a few KiB)
 * costly in memory and time; LD_PRELOAD.md states that limit.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct big_header {
    size_t map_size;      /* bytes mapped */
    size_t map_offset;    /* user pointer - mapping start */
} big_header_t;

_Static_assert(sizeof(big_header_t) == 16, "the header keeps blocks 16-byte aligned");

static big_header_t *header_of(const void *ptr)
{
    return (big_header_t *)((uintptr_t)ptr - sizeof(big_header_t));
}

void *pymi_big_alloc(size_t size, size_t alignment)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (alignment < PYM_ALIGNMENT)
        alignment = PYM_ALIGNMENT;
    size_t total;
    if (__builtin_add_overflow(size, alignment + sizeof(big_header_t) + page - 1, &total) ||
        total > PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    total &= ~(page - 1);
    int saved = errno;
    void *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    errno = saved;
    uintptr_t user = ((uintptr_t)map + sizeof(big_header_t) + alignment - 1) & ~(uintptr_t)(alignment - 1);
    big_header_t *header = header_of((void *)user);
    header->map_size = total;
    header->map_offset = user - (uintptr_t)map;
    return (void *)user;
}

/* pvalloc: whole pages.  The rounding is checked: SIZE_MAX - 100 must not
 * wrap around to one page. */
void *pymi_big_pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded;
    if (__builtin_add_overflow(size, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    return pymi_big_alloc(rounded & ~(page - 1), page);
}

void pymi_big_free(void *ptr)
{
    if (ptr == NULL)
        return;
    big_header_t *header = header_of(ptr);
    int saved = errno;
    munmap((char *)ptr - header->map_offset, header->map_size);
    errno = saved;
}

size_t pymi_big_usable_size(const void *ptr)
{
    const big_header_t *header = header_of(ptr);
    return header->map_size - header->map_offset;
}

void *pymi_big_realloc(void *ptr, size_t size)
{
    if (ptr == NULL)
        return pymi_big_alloc(size, PYM_ALIGNMENT);
    if (size == 0) {
        pymi_big_free(ptr);
        return NULL;
    }
    size_t usable = pymi_big_usable_size(ptr);
    if (size <= usable && size > usable / 2)
        return ptr;
    void *fresh = pymi_big_alloc(size, PYM_ALIGNMENT);
    if (fresh == NULL)
        return NULL;
    memcpy(fresh, ptr, usable < size ? usable : size);
    pymi_big_free(ptr);
    return fresh;
}
