/*
 * sysalloc.c -- forwarding to the allocator underneath us.
 *
 * Which allocator that is depends on the build:
 *   - overriding malloc (the default): glibc's.  glibc exports its allocator
 *     under __libc_* names too, so large and over-aligned requests reach it
 *     without dlsym on any hot path.  Those names are referenced weakly: in
 *     a fully static executable glibc's malloc object is not linked, they
 *     stay NULL, and bigalloc.c serves the requests instead.
 *   - configure --disable-override: the program's own malloc, through its
 *     public names -- glibc's, a sanitizer's or a preloaded allocator's --
 *     so that every block we forward is freed, resized and measured by the
 *     allocator that made it.
 * glibc functions without a __libc_ alias (malloc_usable_size, malloc_trim,
 * mallinfo2, ...) are looked up once in libc.so.6 itself (pymi_sys_symbol).
 *
 * Forwarded requests are counted in the calling thread's heap (plain
 * increments: a shared atomic counter halved two-thread throughput of
 * 1 KiB malloc/free pairs); only requests made before a thread can have a
 * heap (during initialisation, or with pymalloc disabled) use the shared
 * atomic counters.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#pragma weak dlopen
#pragma weak dlsym

#ifdef PYM_OVERRIDE
extern void *__libc_malloc(size_t size) __attribute__((weak));
extern void *__libc_calloc(size_t count, size_t size) __attribute__((weak));
extern void *__libc_realloc(void *ptr, size_t size) __attribute__((weak));
extern void *__libc_memalign(size_t alignment, size_t size) __attribute__((weak));
extern void *__libc_valloc(size_t size) __attribute__((weak));
extern void *__libc_pvalloc(size_t size) __attribute__((weak));
#define below_malloc __libc_malloc
#define below_calloc __libc_calloc
#define below_realloc __libc_realloc
#define below_memalign __libc_memalign
#define below_valloc __libc_valloc
#define below_pvalloc __libc_pvalloc
static int allocator_below(void)
{
    return __libc_malloc != NULL;
}
#else
#define below_malloc malloc
#define below_calloc calloc
#define below_realloc realloc
#define below_memalign memalign
#define below_valloc valloc
#define below_pvalloc pvalloc
static int allocator_below(void)
{
    return 1;
}
#endif

static _Atomic uint64_t forwarded_calls, forwarded_bytes;

static void count(size_t bytes)
{
    pym_heap_t *heap = pymi_heap_for_thread();
    if (heap != NULL) {
        heap->forwarded_calls++;
        heap->forwarded_bytes += bytes;
        return;
    }
    atomic_fetch_add_explicit(&forwarded_calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&forwarded_bytes, bytes, memory_order_relaxed);
}

void *pymi_sys_malloc(size_t size)
{
    count(size);
    return allocator_below() ? below_malloc(size) : pymi_big_alloc(size, PYM_ALIGNMENT);
}

void *pymi_sys_calloc(size_t count_, size_t size)
{
    count(count_ * size);
    if (allocator_below())
        return below_calloc(count_, size);
    size_t total;
    if (__builtin_mul_overflow(count_, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return pymi_big_alloc(total, PYM_ALIGNMENT);   /* fresh mappings are zeroed */
}

void *pymi_sys_realloc(void *ptr, size_t size)
{
    count(size);
    return allocator_below() ? below_realloc(ptr, size) : pymi_big_realloc(ptr, size);
}

void *pymi_sys_memalign(size_t alignment, size_t size)
{
    count(size);
    return allocator_below() ? below_memalign(alignment, size) : pymi_big_alloc(size, alignment);
}

void *pymi_sys_valloc(size_t size)
{
    count(size);
    return allocator_below() ? below_valloc(size) : pymi_big_alloc(size, (size_t)sysconf(_SC_PAGESIZE));
}

void *pymi_sys_pvalloc(size_t size)
{
    count(size);
    if (allocator_below())
        return below_pvalloc(size);
    return pymi_big_pvalloc(size);
}

void pymi_sys_free_slow(void *ptr)
{
#ifdef PYM_OVERRIDE
    pymi_big_free(ptr);
#else
    free(ptr);
#endif
}

/* glibc's own definition of `name`.  Not dlsym(RTLD_NEXT): in a program
 * that also links another allocator (Debian's redis-server links jemalloc)
 * the next definition is that allocator's, which cannot handle glibc's
 * pointers.  Not on any hot path: called once per name. */
void *pymi_sys_symbol(const char *name)
{
    if (dlopen == NULL || dlsym == NULL)
        return NULL;   /* fully static executable: there is no other malloc */
    static void *_Atomic libc_handle;
    void *handle = atomic_load_explicit(&libc_handle, memory_order_acquire);
    if (handle == NULL) {
        handle = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        if (handle == NULL)
            handle = RTLD_NEXT;
        atomic_store_explicit(&libc_handle, handle, memory_order_release);
    }
    return dlsym(handle, name);
}

size_t pymi_sys_usable_size(void *ptr)
{
#ifdef PYM_OVERRIDE
    if (!allocator_below())
        return pymi_big_usable_size(ptr);
    /* Our malloc_usable_size hides glibc's: use glibc's own. */
    static size_t (*_Atomic libc_usable_size)(void *);
    size_t (*fn)(void *) = atomic_load_explicit(&libc_usable_size, memory_order_acquire);
    if (fn == NULL) {
        fn = (size_t (*)(void *))pymi_sys_symbol("malloc_usable_size");
        if (fn == NULL)
            return 0;
        atomic_store_explicit(&libc_usable_size, fn, memory_order_release);
    }
    return fn(ptr);
#else
    return malloc_usable_size(ptr);
#endif
}

void pymi_sys_counters(uint64_t *calls, uint64_t *bytes)
{
    *calls = atomic_load_explicit(&forwarded_calls, memory_order_relaxed);
    *bytes = atomic_load_explicit(&forwarded_bytes, memory_order_relaxed);
}
