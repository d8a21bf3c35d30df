/*
 * override.c -- the C library's allocation names, for LD_PRELOAD and for
 * programs linked with libpymalloc.a.  Glue only: every function calls the
 * pym_* implementation (alloc.c) or forwards to glibc; and the check of
 * whether the program's calls reach our malloc at all (pymi_override_lost).
 *
 * All definitions sit in this one object file on purpose: a static link
 * that needs `malloc` pulls the whole set, so a program can never end up
 * with our malloc and glibc's free.
 *
 * C++'s operator delete is here too, for static links (below); operator new
 * is in override_new.cc.
 *
 * Built only with PYM_OVERRIDE (configure --disable-override drops it).
 * malloc_trim frees ours and then glibc's; mallinfo/mallinfo2, malloc_stats
 * and malloc_info report glibc's allocator plus ours; mallopt is glibc's.
 * glibc's versions are looked up once in libc.so.6 (sysalloc.c).
 */
#include "alloc_inline.h"

#ifdef PYM_OVERRIDE

#include <errno.h>
#include <limits.h>
#include <link.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PYM_PUBLIC __attribute__((visibility("default")))

PYM_PUBLIC PYM_FAST_ENTRY void *malloc(size_t size)
{
    return pymi_malloc_inline(size);
}

PYM_PUBLIC PYM_FAST_ENTRY void free(void *ptr)
{
    pymi_free_inline(ptr);
}

/* Our own malloc, whatever the program's `malloc` resolves to. */
extern __typeof(malloc) pymi_malloc_ours
    __attribute__((alias("malloc"), visibility("hidden"), malloc, nothrow, leaf));

/* The address of `name` as object `info` defines it (not merely imports
 * it), from its GNU hash table; NULL when it does not define it. */
static void *defined_in(const struct dl_phdr_info *info, const char *name)
{
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const uint32_t *hash = NULL;
    for (; dyn != NULL && dyn->d_tag != DT_NULL; dyn++) {
        /* ld.so relocates these in place, but not in the vDSO. */
        ElfW(Addr) ptr = dyn->d_un.d_ptr < info->dlpi_addr ? info->dlpi_addr + dyn->d_un.d_ptr
                                                           : dyn->d_un.d_ptr;
        if (dyn->d_tag == DT_SYMTAB)
            symtab = (const ElfW(Sym) *)ptr;
        else if (dyn->d_tag == DT_STRTAB)
            strtab = (const char *)ptr;
        else if (dyn->d_tag == DT_GNU_HASH)
            hash = (const uint32_t *)ptr;
    }
    if (symtab == NULL || strtab == NULL || hash == NULL)
        return NULL;
    uint32_t h = 5381;
    for (const unsigned char *c = (const unsigned char *)name; *c != '\0'; c++)
        h = h * 33 + *c;
    uint32_t nbuckets = hash[0], symoffset = hash[1], bloom_words = hash[2];
    const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)&hash[4] + bloom_words);
    const uint32_t *chain = buckets + nbuckets;
    for (uint32_t i = buckets[h % nbuckets]; i >= symoffset && i != 0; i++) {
        uint32_t link = chain[i - symoffset];
        const ElfW(Sym) *sym = &symtab[i];
        if ((link | 1) == (h | 1) && strcmp(strtab + sym->st_name, name) == 0 &&
            sym->st_shndx != SHN_UNDEF)
            return (void *)(info->dlpi_addr + sym->st_value);
        if (link & 1)
            break;
    }
    return NULL;
}

struct first_malloc { void *address; };

static int find_first_malloc(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct first_malloc *found = arg;
    found->address = defined_in(info, "malloc");
    return found->address != NULL;   /* non-zero stops the walk */
}

/* 1 when the program's malloc is another allocator's: one preloaded before
 * us won the interposition, and pymalloc serves only what is asked of its
 * pym_* names (PYMALLOC_VERBOSE and the statistics say so).  A call binds to
 * the first object, in load order, that defines malloc.  malloc's address
 * as the program sees it is not the answer: a non-PIE executable that takes
 * it (python3 does) gets a stub of its own, which the calls pass through. */
int pymi_override_lost(void)
{
    struct first_malloc found = {NULL};
    dl_iterate_phdr(find_first_malloc, &found);
    if (found.address == NULL)   /* no GNU hash tables (static link): the address */
        found.address = (void *)(uintptr_t)malloc;
    return found.address != (void *)(uintptr_t)pymi_malloc_ours;
}

PYM_PUBLIC PYM_FAST_ENTRY void *calloc(size_t count, size_t size)
{
    return pymi_calloc_inline(count, size);
}

PYM_PUBLIC void *realloc(void *ptr, size_t size)
{
    return pymi_realloc(ptr, size);
}

PYM_PUBLIC void *reallocarray(void *ptr, size_t count, size_t size)
{
    return pymi_reallocarray(ptr, count, size);
}

PYM_PUBLIC int posix_memalign(void **out, size_t alignment, size_t size)
{
    return pymi_posix_memalign(out, alignment, size);
}

/* The answer of the glibc we are built against (tests/api/align_vs_glibc.sh
 * compares): up to 2.37 its aligned_alloc is memalign, which rounds an
 * alignment that is not a power of two up; 2.38 made that EINVAL, as C17
 * (DR 460) and pym_aligned_alloc do. */
PYM_PUBLIC void *aligned_alloc(size_t alignment, size_t size)
{
#if __GLIBC_PREREQ(2, 38)
    return pymi_aligned_alloc(alignment, size);
#else
    return pymi_memalign(alignment, size);
#endif
}

PYM_PUBLIC void *memalign(size_t alignment, size_t size)
{
    return pymi_memalign(alignment, size);
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
    return pymi_usable_size(ptr);
}

PYM_PUBLIC void free_sized(void *ptr, size_t size)
{
    pymi_free_sized(ptr, size);
}

PYM_PUBLIC void free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
    pymi_free_aligned_sized(ptr, alignment, size);
}

/* ---- C++ operator new and delete ---------------------------------------------
 * libstdc++'s operators call malloc and free, so a preloaded or shared
 * pymalloc serves them already.  They are defined here (by their mangled
 * names) for static links: a C++ program that never calls malloc itself
 * would otherwise not pull this object out of libpymalloc.a, and its new
 * would reach glibc.  operator new must throw std::bad_alloc and run the
 * new-handler, which takes C++: it is in override_new.cc, and gets its
 * blocks here (pymi_new_alloc), so that using new pulls this object too.
 * operator delete never throws and stays here. */

PYM_HIDDEN PYM_FAST_ENTRY void *pymi_new_alloc(size_t size, size_t alignment)
{
    return alignment <= PYM_ALIGNMENT ? pymi_malloc_inline(size) : pymi_memalign(alignment, size);
}

#define PYM_DELETE(name, ...) PYM_PUBLIC PYM_FAST_ENTRY void name(__VA_ARGS__)
typedef struct nothrow_t nothrow_t;   /* std::nothrow_t, only ever by reference */

PYM_DELETE(_ZdlPv, void *p) { pymi_free_inline(p); }
PYM_DELETE(_ZdaPv, void *p) { pymi_free_inline(p); }
PYM_DELETE(_ZdlPvm, void *p, size_t size) { (void)size; pymi_free_inline(p); }
PYM_DELETE(_ZdaPvm, void *p, size_t size) { (void)size; pymi_free_inline(p); }
PYM_DELETE(_ZdlPvRKSt9nothrow_t, void *p, const nothrow_t *tag) { (void)tag; pymi_free_inline(p); }
PYM_DELETE(_ZdaPvRKSt9nothrow_t, void *p, const nothrow_t *tag) { (void)tag; pymi_free_inline(p); }
PYM_DELETE(_ZdlPvSt11align_val_t, void *p, size_t alignment) { (void)alignment; pymi_free_inline(p); }
PYM_DELETE(_ZdaPvSt11align_val_t, void *p, size_t alignment) { (void)alignment; pymi_free_inline(p); }
PYM_DELETE(_ZdlPvmSt11align_val_t, void *p, size_t size, size_t alignment)
{
    (void)size;
    (void)alignment;
    pymi_free_inline(p);
}
PYM_DELETE(_ZdaPvmSt11align_val_t, void *p, size_t size, size_t alignment)
{
    (void)size;
    (void)alignment;
    pymi_free_inline(p);
}
PYM_DELETE(_ZdlPvSt11align_val_tRKSt9nothrow_t, void *p, size_t alignment, const nothrow_t *tag)
{
    (void)alignment;
    (void)tag;
    pymi_free_inline(p);
}
PYM_DELETE(_ZdaPvSt11align_val_tRKSt9nothrow_t, void *p, size_t alignment, const nothrow_t *tag)
{
    (void)alignment;
    (void)tag;
    pymi_free_inline(p);
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
typedef void (*malloc_stats_fn)(void);
typedef int (*mallopt_fn)(int, int);
typedef int (*malloc_info_fn)(int, FILE *);
LIBC_FUNCTION(trim_fn, malloc_trim)
LIBC_FUNCTION(mallinfo2_fn, mallinfo2)
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

/* glibc's figures plus ours: our arenas are mmap'd memory (hblkhd), our
 * live blocks are allocated space, free blocks and free pools are free. */
PYM_PUBLIC struct mallinfo2 mallinfo2(void)
{
    struct mallinfo2 info = {0};
    mallinfo2_fn fn = libc_mallinfo2();
    if (fn != NULL)
        info = fn();
    pym_stats_t s;
    pym_stats_get(&s);
    info.hblks += s.arenas_current;
    info.hblkhd += s.arenas_current * PYM_ARENA_SIZE;
    info.uordblks += s.bytes_in_use;
    info.fordblks += s.bytes_free_blocks + s.bytes_free_pools;
    return info;
}

static int clamp_int(size_t value)
{
    return value > INT_MAX ? INT_MAX : (int)value;
}

PYM_PUBLIC struct mallinfo mallinfo(void)
{
    struct mallinfo2 all = mallinfo2();
    struct mallinfo info = {
        .arena = clamp_int(all.arena), .ordblks = clamp_int(all.ordblks),
        .smblks = clamp_int(all.smblks), .hblks = clamp_int(all.hblks),
        .hblkhd = clamp_int(all.hblkhd), .usmblks = clamp_int(all.usmblks),
        .fsmblks = clamp_int(all.fsmblks), .uordblks = clamp_int(all.uordblks),
        .fordblks = clamp_int(all.fordblks), .keepcost = clamp_int(all.keepcost),
    };
    return info;
}

PYM_PUBLIC void malloc_stats(void)
{
    malloc_stats_fn fn = libc_malloc_stats();
    if (fn != NULL)
        fn();
    pym_stats_print(stderr);
}

PYM_PUBLIC int mallopt(int param, int value)
{
    mallopt_fn fn = libc_mallopt();
    return fn != NULL ? fn(param, value) : 0;
}

/* Our part of malloc_info's XML, one element inside glibc's <malloc>. */
static void pymalloc_info_xml(FILE *out)
{
    pym_stats_t s;
    pym_stats_get(&s);
    fprintf(out, "<pymalloc version=\"%s\">\n", PYM_VERSION);
    for (size_t c = 0; c < s.num_classes; c++) {
        const pym_class_stats_t *cs = &s.classes[c];
        fprintf(out,
                "  <class size=\"%zu\" pools=\"%zu\" full=\"%zu\" empty=\"%zu\" "
                "inuse=\"%zu\" free=\"%zu\" mallocs=\"%llu\"/>\n",
                cs->block_size, cs->pools_used + cs->pools_full + cs->pools_empty, cs->pools_full,
                cs->pools_empty, cs->blocks_in_use, cs->blocks_free, (unsigned long long)cs->mallocs);
    }
    fprintf(out, "  <arenas current=\"%zu\" highwater=\"%zu\" allocated=\"%llu\" reclaimed=\"%llu\"/>\n",
            s.arenas_current, s.arenas_highwater, (unsigned long long)s.arenas_allocated,
            (unsigned long long)s.arenas_reclaimed);
    fprintf(out, "  <bytes inuse=\"%zu\" free_blocks=\"%zu\" waste=\"%zu\" free_pools=\"%zu\"/>\n",
            s.bytes_in_use, s.bytes_free_blocks, s.bytes_pool_waste, s.bytes_free_pools);
    fprintf(out, "</pymalloc>\n");
}

/* glibc's document with our element spliced in before its closing tag, so
 * the result stays one well-formed <malloc> document. */
PYM_PUBLIC int malloc_info(int options, FILE *out)
{
    malloc_info_fn fn = libc_malloc_info();
    if (options != 0)
        return EINVAL;   /* glibc's answer; errno untouched */
    if (fn == NULL) {
        errno = ENOSYS;
        return -1;
    }
    char *glibc_xml = NULL;
    size_t length = 0;
    FILE *buffer = open_memstream(&glibc_xml, &length);
    if (buffer == NULL)
        return -1;
    int result = fn(options, buffer);
    fclose(buffer);
    static const char closing[] = "</malloc>";
    char *end = NULL;
    for (char *p = glibc_xml; p != NULL && (p = strstr(p, closing)) != NULL; p++)
        end = p;
    if (result != 0 || end == NULL) {
        fputs(glibc_xml != NULL ? glibc_xml : "", out);
        free(glibc_xml);
        return result;
    }
    fwrite(glibc_xml, 1, (size_t)(end - glibc_xml), out);
    pymalloc_info_xml(out);
    fputs(end, out);
    free(glibc_xml);
    return 0;
}

#endif /* PYM_OVERRIDE */
