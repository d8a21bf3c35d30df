/*
 * debug.c -- PYMALLOC_DEBUG=1: CPython's debug allocator, for our blocks.
 *
 * A small request of n bytes takes a block of the class for n + 16 + 8:
 *
 *   block:  [ requested n (8) | magic (4) | state (4) ][ n bytes: 0xCD ][ >= 8 bytes: 0xFD ]
 *                                                       ^ the pointer returned
 *
 * At free and realloc the header and every guard byte up to the end of the
 * block are checked (and, for free_sized / free_aligned_sized, the size).
 * A freed block becomes
 *
 *   block:  [ link (8) | magic (4) | FREED (4) ][ 0xDD ... ][ requested (4) | tag (4) ]
 *
 * The free-list link overwrites `requested`, so the size moves to a trailer
 * in the last 8 bytes (guard bytes while the block was live), with the
 * block size and the generation of the pool's life it was freed in (see
 * "pool lives" below: stale trailers of a pool's earlier lives must not
 * count).  When the pool hands the block out again, every 0xDD byte is
 * checked (if header and trailer both say FREED): a write after free is
 * reported at that allocation.  Since a pool's free list is LIFO, that is the next
 * allocation of the class by the freeing thread, unless other blocks of the
 * pool were freed after it.
 *
 * Any fault -- interior or foreign pointer, double free, overrun into the
 * guard bytes, write after free -- prints one line naming the address, the
 * size and class, and the fault, then abort()s.  The class named is the
 * user-visible one: the class a request of that size has outside debug
 * mode (a debug block is 24 bytes larger).  Pool facts come only from
 * pymi_pool_of() and its block_size / owner fields.  Requests too large for a debug block are forwarded to libc
 * unchecked, as they are in release mode.
 *
 * Debug mode is chosen at start-up and never changes: blocks of the two
 * layouts never mix.  The thread's TLS heap stays the null heap, so every
 * malloc and free reaches the slow path and comes here; the fast paths pay
 * nothing for the existence of this mode.
 */
#include "alloc_inline.h"

#include <pthread.h>
#include <string.h>

int pymi_debug_on;

#define DEBUG_HEADER 16u
#define DEBUG_GUARD_MIN 8u
#define DEBUG_MAGIC 0x444d5950u          /* "PYMD" */
#define DEBUG_LIVE 0x4556494cu           /* "LIVE" */
#define DEBUG_FREED 0x44414544u          /* "DEAD" */
#define FILL_FRESH 0xCD
#define FILL_FREED 0xDD
#define FILL_GUARD 0xFD

typedef struct debug_header {
    size_t requested;
    uint32_t magic;
    uint32_t state;
} debug_header_t;

_Static_assert(sizeof(debug_header_t) == DEBUG_HEADER, "the user pointer stays 16-byte aligned");

/* The last 8 bytes of a freed block. */
typedef struct debug_trailer {
    uint16_t requested;
    uint16_t block_size;
    uint32_t generation;   /* of the pool's life it was freed in; never 0 */
} debug_trailer_t;

_Static_assert(sizeof(debug_trailer_t) <= DEBUG_GUARD_MIN, "the trailer fits the guard bytes");
_Static_assert(PYM_SMALL_MAX <= UINT16_MAX, "sizes fit the trailer");

static debug_trailer_t *trailer_of(const char *block, size_t block_size)
{
    return (debug_trailer_t *)(uintptr_t)(block + block_size - sizeof(debug_trailer_t));
}

/* ---- pool lives ------------------------------------------------------------
 * A pool emptied and carved again for another class keeps the bytes of its
 * former blocks, and may come back to this class later, its old freed
 * blocks' trailers intact and their middles overwritten by the other
 * class's blocks.  So a trailer names the pool's life it was written in:
 * the pool's word in its region's table of lives (config.h, beside the
 * descriptors, which have no room for it) holds the block size the pool was
 * last seen handing out and a generation, new whenever that size changes
 * (0: unknown, as a word never written reads).  An arena given back to the
 * kernel keeps its pools' words, harmlessly: its pages read 0 afterwards,
 * and a trailer of generation 0 is never trusted.  Every small block of
 * debug mode is handed out by pymi_debug_malloc, so no life goes unseen. */
static _Atomic uint64_t next_generation = 1;

static _Atomic uint64_t *pool_life(const void *block)
{
    uintptr_t p = (uintptr_t)block;
    _Atomic uint64_t *lives = (_Atomic uint64_t *)(pymi_region_of(p) + PYM_REGION_DEBUG_LIVES);
    return &lives[(p & PYM_REGION_MASK) >> PYM_POOL_SHIFT];
}

/* The generation of the pool's current life (0: unknown).  `handing_out`:
 * the pool is handing out a block of block_size, which starts a new life
 * if the size differs from the last one seen. */
static uint32_t pool_generation(const void *block, size_t block_size, int handing_out)
{
    _Atomic uint64_t *slot = pool_life(block);
    uint64_t life = atomic_load_explicit(slot, memory_order_relaxed);
    if ((life >> 48) != block_size) {
        if (!handing_out)
            return 0;
        uint64_t generation = atomic_fetch_add_explicit(&next_generation, 1, memory_order_relaxed);
        if ((uint32_t)generation == 0)
            generation = atomic_fetch_add_explicit(&next_generation, 1, memory_order_relaxed);
        life = (uint64_t)block_size << 48 | (generation & 0xffffffffffffu);
        atomic_store_explicit(slot, life, memory_order_relaxed);
    }
    return (uint32_t)life;
}

/* 1 when the block was freed in debug mode in the pool's current life (its
 * trailer can be trusted). */
static int freed_block(const char *block, size_t block_size)
{
    const debug_trailer_t *trailer = trailer_of(block, block_size);
    return trailer->block_size == block_size && trailer->generation != 0 &&
           trailer->requested <= block_size - DEBUG_HEADER - DEBUG_GUARD_MIN &&
           trailer->generation == pool_generation(block, block_size, 0);
}

/* A block about to be handed out again: its 0xDD bytes must be intact. */
static void check_freed_fill(const char *block, size_t block_size, size_t size)
{
    /* The trailer alone says "freed": the header's words held the free
     * list's link and mark meanwhile, and malloc has cleared them. */
    if (!freed_block(block, block_size))
        return;   /* fresh, or last freed in another layout */
    const unsigned char *fill = (const unsigned char *)block + DEBUG_HEADER;
    size_t fill_size = block_size - DEBUG_HEADER - sizeof(debug_trailer_t);
    size_t requested = trailer_of(block, block_size)->requested;
    for (size_t i = 0; i < fill_size; i++) {
        if (fill[i] != FILL_FREED)
            pymi_fatal("malloc(%zu): write after free: byte %zu of the freed %zu-byte block %p "
                       "(%zu-byte class) was changed (0x%x instead of 0xdd), found when its pool "
                       "handed it out again",
                       size, i, requested, (const void *)fill, pymi_request_block_size(requested),
                       (unsigned)fill[i]);
    }
}

void *pymi_debug_malloc(size_t size)
{
    if (size > PYM_SMALL_MAX - DEBUG_HEADER - DEBUG_GUARD_MIN)
        return pymi_sys.malloc(size);
    pym_heap_t *heap = pymi_heap_for_thread();
    char *block = heap != NULL
        ? pymi_heap_alloc_block(heap, pymi_size_to_class(size + DEBUG_HEADER + DEBUG_GUARD_MIN))
        : NULL;
    if (block == NULL)
        return pymi_sys.malloc(size);
    size_t block_size = pymi_pool_of(block)->block_size;
    pool_generation(block, block_size, 1);
    check_freed_fill(block, block_size, size);
    debug_header_t *header = (debug_header_t *)block;
    header->requested = size;
    header->magic = DEBUG_MAGIC;
    header->state = DEBUG_LIVE;
    char *user = block + DEBUG_HEADER;
    memset(user, FILL_FRESH, size);
    memset(user + size, FILL_GUARD, block_size - DEBUG_HEADER - size);
    return user;
}

/* Checks a pointer handed to free/realloc; returns its header or aborts. */
static debug_header_t *debug_check(const void *ptr, const char *call)
{
    pym_pool_t *pool = pymi_pool_of(ptr);
    unsigned block_size = pool->block_size;
    const char *block = (const char *)ptr - DEBUG_HEADER;
    if (pymi_pool_owner(pool) == NULL)
        pymi_fatal("%s(%p): block not allocated (double free, or a pointer never returned by malloc)",
                   call, ptr);
    if (((uintptr_t)ptr & PYM_POOL_MASK) < DEBUG_HEADER ||
        !pymi_is_block_start_shared(pool, block))
        pymi_fatal("%s(%p): invalid pointer (not the start of a block of the %u-byte class)",
                   call, ptr, block_size);
    debug_header_t *header = (debug_header_t *)block;
    /* Before the magic: the trailer alone identifies a freed block. */
    if (freed_block(block, block_size)) {
        size_t requested = trailer_of(block, block_size)->requested;
        pymi_fatal("%s(%p): double free of a %zu-byte block (%zu-byte class)", call, ptr,
                   requested, pymi_request_block_size(requested));
    }
    if (header->magic == DEBUG_MAGIC && header->state == DEBUG_FREED)
        pymi_fatal("%s(%p): double free of a %u-byte debug block (its trailer "
                   "was overwritten)", call, ptr, block_size);
    if (header->magic != DEBUG_MAGIC)
        pymi_fatal("%s(%p): invalid pointer or corrupted block header (%u-byte class)", call, ptr,
                   block_size);
    size_t size = header->requested;
    if (header->state != DEBUG_LIVE || size > block_size - DEBUG_HEADER - DEBUG_GUARD_MIN)
        pymi_fatal("%s(%p): corrupted block header (%u-byte class)", call, ptr, block_size);
    const unsigned char *guard = (const unsigned char *)ptr + size;
    size_t guard_size = block_size - DEBUG_HEADER - size;
    for (size_t i = 0; i < guard_size; i++) {
        if (guard[i] != FILL_GUARD)
            pymi_fatal("%s(%p): buffer overrun: byte %zu after the end of a %zu-byte block "
                       "(%u-byte class) was overwritten (0x%x instead of 0xfd)",
                       call, ptr, i, size, block_size, (unsigned)guard[i]);
    }
    return header;
}

void pymi_debug_free(void *ptr)
{
    debug_header_t *header = debug_check(ptr, "free");
    size_t block_size = pymi_pool_of(header)->block_size;
    debug_trailer_t *trailer = trailer_of((char *)header, block_size);
    trailer->requested = (uint16_t)header->requested;
    trailer->block_size = (uint16_t)block_size;
    trailer->generation = pool_generation(header, block_size, 0);
    memset(ptr, FILL_FREED, block_size - DEBUG_HEADER - sizeof(debug_trailer_t));
    header->state = DEBUG_FREED;
    pym_heap_t *me = pymi_tls_debug_heap != NULL ? pymi_tls_debug_heap : &pymi_null_heap;
    pymi_free_block_from(me, pymi_pool_of(header), (pym_block_t *)header);
}

void pymi_debug_free_sized(void *ptr, size_t alignment, size_t size, const char *call)
{
    if (alignment != 0 && ((uintptr_t)ptr & (alignment - 1)) != 0)
        pymi_fatal("%s(%p, %zu, %zu): the block is not aligned to %zu bytes", call, ptr,
                   alignment, size, alignment);
    if (!pymi_owns(ptr)) {
        /* Forwarded to libc: only an upper bound is known. */
        size_t usable = pymi_sys.usable_size(ptr);
        if (size > usable)
            pymi_fatal("%s(%p, %zu): wrong size: the block has only %zu usable bytes", call, ptr,
                       size, usable);
        pymi_free_inline(ptr);
        return;
    }
    debug_header_t *header = debug_check(ptr, call);
    if (size != header->requested)
        pymi_fatal("%s(%p, %zu): wrong size: the block was allocated with %zu bytes "
                   "(%zu-byte class)", call, ptr, size, header->requested,
                   pymi_request_block_size(header->requested));
    pymi_debug_free(ptr);
}

void *pymi_debug_realloc(void *ptr, size_t size)
{
    debug_header_t *header = debug_check(ptr, "realloc");
    if (size == 0) {
        pymi_debug_free(ptr);
        return NULL;
    }
    void *fresh = pymi_malloc_inline(size);
    if (fresh == NULL)
        return NULL;
    memcpy(fresh, ptr, header->requested < size ? header->requested : size);
    pymi_debug_free(ptr);
    return fresh;
}

size_t pymi_debug_usable_size(const void *ptr)
{
    return debug_check(ptr, "malloc_usable_size")->requested;
}
