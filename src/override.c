/*
 * override.c -- the C library's allocation names, for LD_PRELOAD and for
 * programs linked with libpymalloc.a.  Glue only: every function calls the
 * pym_* implementation (alloc.c) or forwards to glibc.
 *
 * All definitions sit in this one object file on purpose: a static link
 * that needs `malloc` pulls the whole set, so a program can never end up
 * with our malloc and glibc's free.
 *
 * Built only with PYM_OVERRIDE (configure --disable-override drops it).
 * malloc_trim frees ours and then glibc's; the introspection functions that
 * are glibc's own (mallinfo, malloc_stats, mallopt, malloc_info) are
 * forwarded to glibc, looked up once with dlsym(RTLD_NEXT).
 */
#include "alloc_inline.h"

#ifdef PYM_OVERRIDE

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#define PYM_PUBLIC __attribute__((visibility("default")))

PYM_PUBLIC void *malloc(size_t size)
{
    return pymi_malloc_inline(size);
}

PYM_PUBLIC void free(void *ptr)
{
    pymi_free_inline(ptr);
}

PYM_PUBLIC void *calloc(size_t count, size_t size)
{
    return pym_calloc(count, size);
}

PYM_PUBLIC void *realloc(void *ptr, size_t size)
{
    return pym_realloc(ptr, size);
}

PYM_PUBLIC void *reallocarray(void *ptr, size_t count, size_t size)
{
    return pym_reallocarray(ptr, count, size);
}

PYM_PUBLIC int posix_memalign(void **out, size_t alignment, size_t size)
{
    return pym_posix_memalign(out, alignment, size);
}

PYM_PUBLIC void *aligned_alloc(size_t alignment, size_t size)
{
    return pym_aligned_alloc(alignment, size);
}

PYM_PUBLIC void *memalign(size_t alignment, size_t size)
{
    return pym_memalign(alignment, size);
}

PYM_PUBLIC void *valloc(size_t size)
{
    return pymi_sys_valloc(size);
}

PYM_PUBLIC void *pvalloc(size_t size)
{
    return pymi_sys_pvalloc(size);
}

PYM_PUBLIC size_t malloc_usable_size(void *ptr)
{
    return pym_usable_size(ptr);
}

PYM_PUBLIC void free_sized(void *ptr, size_t size)
{
    pym_free_sized(ptr, size);
}

PYM_PUBLIC void free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
    pym_free_aligned_sized(ptr, alignment, size);
}

/* ---- glibc's introspection ---------------------------------------------------- */

#define LIBC_FUNCTION(type, name)                                                     \
    static type libc_##name(void)                                                     \
    {                                                                                 \
        static type _Atomic cached;                                                   \
        type fn = atomic_load_explicit(&cached, memory_order_acquire);                \
        if (fn == NULL) {                                                             \
            fn = (type)pymi_sys_symbol(#name);                                        \
            atomic_store_explicit(&cached, fn, memory_order_release);                 \
        }                                                                             \
        return fn;                                                                    \
    }

typedef int (*trim_fn)(size_t);
typedef struct mallinfo2 (*mallinfo2_fn)(void);
typedef struct mallinfo (*mallinfo_fn)(void);
typedef void (*malloc_stats_fn)(void);
typedef int (*mallopt_fn)(int, int);
typedef int (*malloc_info_fn)(int, FILE *);
LIBC_FUNCTION(trim_fn, malloc_trim)
LIBC_FUNCTION(mallinfo2_fn, mallinfo2)
LIBC_FUNCTION(mallinfo_fn, mallinfo)
LIBC_FUNCTION(malloc_stats_fn, malloc_stats)
LIBC_FUNCTION(mallopt_fn, mallopt)
LIBC_FUNCTION(malloc_info_fn, malloc_info)

PYM_PUBLIC int malloc_trim(size_t pad)
{
    int ours = pym_trim();
    trim_fn fn = libc_malloc_trim();
    int theirs = fn != NULL ? fn(pad) : 0;
    return ours || theirs;
}

PYM_PUBLIC struct mallinfo2 mallinfo2(void)
{
    struct mallinfo2 info = {0};
    mallinfo2_fn fn = libc_mallinfo2();
    if (fn != NULL)
        info = fn();
    return info;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
PYM_PUBLIC struct mallinfo mallinfo(void)
{
    struct mallinfo info = {0};
    mallinfo_fn fn = libc_mallinfo();
    if (fn != NULL)
        info = fn();
    return info;
}
#pragma GCC diagnostic pop

PYM_PUBLIC void malloc_stats(void)
{
    malloc_stats_fn fn = libc_malloc_stats();
    if (fn != NULL)
        fn();
}

PYM_PUBLIC int mallopt(int param, int value)
{
    mallopt_fn fn = libc_mallopt();
    return fn != NULL ? fn(param, value) : 0;
}

PYM_PUBLIC int malloc_info(int options, FILE *out)
{
    malloc_info_fn fn = libc_malloc_info();
    if (fn == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return fn(options, out);
}

#endif /* PYM_OVERRIDE */
