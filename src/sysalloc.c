/*
 * sysalloc.c -- forwarding to the allocator underneath us.
 *
 * Requests over PYM_SMALL_MAX, over-aligned ones, and everything while
 * pymalloc is disabled go to the allocator below through one table of
 * function pointers (pymi_sys), nothing counted; when that allocator is
 * glibc, requests of up to 4 KiB pass a per-thread cache of its chunks
 * first (fwdcache.c).  Which allocator that is:
 *   - overriding malloc (the default), dynamically linked: glibc's own
 *     functions, looked up in libc.so.6's own scope (dlopen with
 *     RTLD_NOLOAD, then dlsym on that handle).  Not the __libc_* names and not
 *     RTLD_NEXT: another preloaded allocator (mimalloc, tcmalloc) defines
 *     __libc_malloc too, and would then serve half of what we forward;
 *     Debian's redis-server links jemalloc, which RTLD_NEXT would find.
 *   - a fully static executable: there is no malloc below ours, and
 *     bigalloc.c maps large blocks itself.
 *   - configure --disable-override: the program's own malloc, through its
 *     public names -- glibc's, a sanitizer's or a preloaded allocator's --
 *     so that every block we forward is freed, resized and measured by the
 *     allocator that made it.
 * Until pymi_sys_init has run, the table points at stubs that fill it
 * first (a free or a large malloc can be the first call a program makes,
 * before our constructor).  Should the lookup itself allocate, that request
 * goes to glibc's __libc_* entry points, the only time they are used.
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
static void *init_then_malloc(size_t size);
static void init_then_free(void *ptr);
static void *init_then_calloc(size_t count, size_t size);
static void *init_then_realloc(void *ptr, size_t size);
static void *init_then_memalign(size_t alignment, size_t size);
static size_t init_then_usable_size(void *ptr);

struct pymi_sys pymi_sys = {
    init_then_malloc, init_then_free, init_then_calloc,
    init_then_realloc, init_then_memalign, init_then_usable_size,
};
#else
struct pymi_sys pymi_sys = {malloc, free, calloc, realloc, memalign, malloc_usable_size};
#endif

/* ---- a fully static executable: bigalloc.c ------------------------------ */

static void *big_malloc(size_t size)
{
    return pymi_big_alloc(size, PYM_ALIGNMENT);
}

static void *big_calloc(size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return pymi_big_alloc(total, PYM_ALIGNMENT);   /* fresh mappings are zeroed */
}

static void *big_memalign(size_t alignment, size_t size)
{
    return pymi_big_alloc(size, alignment);
}

static size_t big_usable_size(void *ptr)
{
    return pymi_big_usable_size(ptr);
}

static const struct pymi_sys big_table = {
    big_malloc, pymi_big_free, big_calloc, pymi_big_realloc, big_memalign, big_usable_size,
};

/* ---- choosing the table ------------------------------------------------ */

static int below_is_glibc;

#ifdef PYM_OVERRIDE
extern void *__libc_malloc(size_t size) __attribute__((weak));
extern void __libc_free(void *ptr) __attribute__((weak));
extern void *__libc_calloc(size_t count, size_t size) __attribute__((weak));
extern void *__libc_realloc(void *ptr, size_t size) __attribute__((weak));
extern void *__libc_memalign(size_t alignment, size_t size) __attribute__((weak));

static int sys_initialising;   /* set while pymi_sys_init looks glibc up */

/* libc.so.6's handle; NULL in a fully static executable. */
static void *libc_map(void)
{
    static void *_Atomic handle;
    void *h = atomic_load_explicit(&handle, memory_order_acquire);
    if (h == NULL && dlopen != NULL && dlsym != NULL) {
        h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        atomic_store_explicit(&handle, h, memory_order_release);
    }
    return h;
}
#endif

void pymi_sys_init(void)
{
#ifdef PYM_OVERRIDE
    sys_initialising = 1;
    void *map = libc_map();
    struct pymi_sys table;
    if (map != NULL && (table.malloc = dlsym(map, "malloc")) != NULL &&
        (table.free = dlsym(map, "free")) != NULL && (table.calloc = dlsym(map, "calloc")) != NULL &&
        (table.realloc = dlsym(map, "realloc")) != NULL &&
        (table.memalign = dlsym(map, "memalign")) != NULL &&
        (table.usable_size = dlsym(map, "malloc_usable_size")) != NULL) {
        below_is_glibc = 1;
    } else {
        table = big_table;
    }
    /* Function pointers: each store is atomic on every target we build
     * for, and a thread that still sees a stub merely initialises again. */
    pymi_sys = table;
    sys_initialising = 0;
#else
    (void)big_table;   /* the table was set statically */
#endif
}

int pymi_sys_is_glibc(void)
{
    return below_is_glibc;
}

#ifdef PYM_OVERRIDE
/* The stubs: fill the table, then call through it.  While the lookup runs
 * on this thread, its own requests go to glibc's __libc_* names. */
static const struct pymi_sys *sys_ready(void)
{
    static const struct pymi_sys early = {
        __libc_malloc, __libc_free, __libc_calloc, __libc_realloc, __libc_memalign, NULL,
    };
    if (sys_initialising)
        return __libc_malloc != NULL ? &early : &big_table;
    if (pymi_sys.malloc == init_then_malloc)
        pymi_sys_init();   /* the first call of the process: the lookup is idempotent */
    return &pymi_sys;
}

static void *init_then_malloc(size_t size)
{
    return sys_ready()->malloc(size);
}

static void init_then_free(void *ptr)
{
    if (ptr != NULL)
        sys_ready()->free(ptr);
}

static void *init_then_calloc(size_t count, size_t size)
{
    return sys_ready()->calloc(count, size);
}

static void *init_then_realloc(void *ptr, size_t size)
{
    return sys_ready()->realloc(ptr, size);
}

static void *init_then_memalign(size_t alignment, size_t size)
{
    return sys_ready()->memalign(alignment, size);
}

static size_t init_then_usable_size(void *ptr)
{
    sys_ready();
    return pymi_sys.usable_size(ptr);
}
#endif

/* ---- what glibc has and the table does not ------------------------------- */

void *pymi_sys_valloc(size_t size)
{
    return pymi_sys.memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

void *pymi_sys_pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (size > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    return pymi_sys.memalign(page, size == 0 ? page : (size + page - 1) & ~(page - 1));
}

/* glibc's own definition of `name` (malloc_trim, mallinfo2 ...), from
 * libc.so.6's map for the reason above; NULL when there is none. */
void *pymi_sys_symbol(const char *name)
{
#ifdef PYM_OVERRIDE
    void *map = libc_map();
    return map != NULL ? dlsym(map, name) : NULL;
#else
    return dlsym != NULL ? dlsym(RTLD_NEXT, name) : NULL;
#endif
}
