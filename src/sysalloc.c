/*
 * sysalloc.c -- forwarding to the C library's allocator.
 *
 * glibc exports its allocator under __libc_* names as well, so large and
 * over-aligned requests reach it without dlsym on any hot path, whether or
 * not we override malloc.  Functions glibc has no __libc_ alias for
 * (malloc_usable_size, malloc_trim, mallinfo2, ...) are looked up once in
 * libc.so.6 itself (pymi_sys_symbol).
 *
 * Forwarded requests are counted in the calling thread's heap (plain
 * increments: a shared atomic counter halved two-thread throughput of
 * 1 KiB malloc/free pairs); only requests made before a thread can have a
 * heap (during initialisation, or with pymalloc disabled) use the shared
 * atomic counters.
 */
#include "internal.h"

#include <dlfcn.h>
#include <malloc.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

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
    return __libc_malloc(size);
}

void *pymi_sys_calloc(size_t count_, size_t size)
{
    count(count_ * size);
    return __libc_calloc(count_, size);
}

void *pymi_sys_realloc(void *ptr, size_t size)
{
    count(size);
    return __libc_realloc(ptr, size);
}

void *pymi_sys_memalign(size_t alignment, size_t size)
{
    count(size);
    return __libc_memalign(alignment, size);
}

void *pymi_sys_valloc(size_t size)
{
    count(size);
    return __libc_valloc(size);
}

void *pymi_sys_pvalloc(size_t size)
{
    count(size);
    return __libc_pvalloc(size);
}

/* glibc's own definition of `name`.  Not dlsym(RTLD_NEXT): in a program
 * that also links another allocator (Debian's redis-server links jemalloc)
 * the next definition is that allocator's, which cannot handle glibc's
 * pointers.  Not on any hot path: called once per name. */
void *pymi_sys_symbol(const char *name)
{
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
    /* Our malloc_usable_size hides glibc's: find the one after ours. */
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
