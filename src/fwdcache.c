/*
 * fwdcache.c -- a per-thread cache in front of glibc for forwarded
 * requests of PYM_SMALL_MAX+1 bytes to 4 KiB.
 *
 * Requests over PYM_SMALL_MAX are glibc's: its chunks, its realloc, its
 * malloc_usable_size.  What glibc does poorly is the middle sizes under
 * threads: its tcache holds 7 chunks of up to 1032 bytes per thread, and
 * every other free of a chunk another thread allocated takes the lock of
 * that thread's arena.  In the server benchmark (threads that free each
 * other's blocks, 15 % of them 257 B-4 KiB) glibc and its futex waits
 * were most of the time.  So a thread that frees such a chunk keeps it,
 * whoever made it, and its next malloc of that size class gets it back,
 * with no lock and no call into glibc (tcmalloc's thread caches do the
 * same for every size).
 *
 * Classes: 8 per doubling, 288, 320 ... 4096 (32 classes; waste under
 * 12.5 %).  A request is rounded up to its class's size when glibc is
 * asked, so every chunk of a class can serve every request of it.  A freed
 * chunk is filed by what glibc says it holds (its size word, the one
 * malloc_usable_size reads): the largest class not above that, so a chunk
 * from anywhere -- made before us, by memalign, by a thread without a
 * heap -- is filed where it can serve every request.  Mapped chunks and
 * sizes outside the classes go straight to glibc.
 *
 * Memory: each class keeps PYM_FWD_BIN_BYTES (16 KiB) worth of chunks at
 * first, and at least 4, so a thread holds up to 512 KiB here, most of it
 * only in a program that frees many middle-sized chunks without
 * allocating them again.  A class grows where that saves trips through
 * glibc, as tcmalloc's thread caches adapt their lengths: a chunk a full
 * bin sends to glibc and a later malloc that finds the bin empty are one
 * round trip that one more place would have saved, so each such pair lets
 * the bin keep one chunk more, up to PYM_FWD_GROWTH (2) times its first
 * capacity: a thread holds at most 1 MiB here in all.  A thread that only
 * frees a class, or only allocates it, never
 * grows it; threads that free each other's chunks in both directions (a
 * server) do.  In bench/micro's xthread/server rounds this took the time
 * of 2 threads down by 8-16 % and of 4 by 1-2 % (3 runs each,
 * alternating); the peak RSS above start of 200 such rounds
 * (bench/memory/rss_probe xthread-mixed) went from 1.6-1.8 to 1.8 MiB with
 * 2 threads and from 3.1-3.7 to 3.3-3.9 MiB with 4.  Growing to 4 times
 * gained 2-3 % more time and cost 0.2-0.4 MiB more; 16 times, nothing
 * more in time.  The cache empties into
 * glibc, and its bins start over at their first capacity, when the
 * thread exits and when it trims (pym_trim, malloc_trim); the statistics
 * count it (fwd_cache_bytes).  Active only when glibc is the allocator below
 * (the preloaded or dynamically linked override build): a sanitizer's
 * malloc, a preloaded allocator (--disable-override) and the static
 * build's bigalloc get every request themselves.
 *
 * Hardening, as for the pools' free lists (freelist.h): the links are
 * encoded with the free-list keys; a cached chunk carries a per-process
 * mark in its second word, so a free that finds the mark looks for the
 * chunk in its class and ends a double free in one line and abort()
 * (glibc's tcache does the same with its key); malloc checks the mark of
 * the chunk it takes and clears both words, so no key material reaches
 * the program.  The chunk's first two words are written and read in one
 * cache line; glibc's free reads and writes the same ones.
 */
#include "internal.h"

#include <string.h>

/* glibc's chunk header (malloc/malloc.c): the size word just below the
 * pointer, its low three bits flags. */
#define GLIBC_SIZE_FLAGS ((uintptr_t)7)
#define GLIBC_PREV_INUSE ((uintptr_t)1)
#define GLIBC_IS_MMAPPED ((uintptr_t)2)
#define GLIBC_MIN_CHUNK  ((uintptr_t)32)
#define GLIBC_SIZE_WORD  ((uintptr_t)8)   /* usable = chunk size - the size word */

#define PYM_FWD_MAX        4096u
#define PYM_FWD_BIN_BYTES  (16u << 10)
#define PYM_FWD_BIN_MIN    4u
#define PYM_FWD_GROWTH     2u

int pymi_fwd_enabled;   /* set once by init; each new heap copies it (fwd_on) */

/* The class of a request of n bytes, PYM_SMALL_MAX < n <= PYM_FWD_MAX:
 * 8 classes per doubling, class 0 holding 257-288 bytes. */
PYM_INLINE unsigned class_of_request(size_t n)
{
    size_t m = n - 1;
    unsigned e = 63u - (unsigned)__builtin_clzll(m), shift = e - 3;
    return ((e - 8) << 3) + (unsigned)(m >> shift) - 8;
}

#define CLASS_SIZE(c) ((size_t)((c) % 8 + 9) << (5 + (c) / 8))

PYM_INLINE size_t class_size(unsigned c)
{
    return CLASS_SIZE(c);
}

/* The largest class whose requests a chunk of `usable` bytes can serve
 * (the class below the first one too large for usable + 1 bytes; 4096..4607
 * bytes: class 31), or PYM_FWD_CLASSES when none can. */
PYM_INLINE unsigned class_of_usable(size_t usable)
{
    if (usable < class_size(0) || usable >= class_size(PYM_FWD_CLASSES - 1) + 512)
        return PYM_FWD_CLASSES;
    return class_of_request(usable + 1) - 1;
}

_Static_assert(PYM_SMALL_MAX >= 256 && PYM_SMALL_MAX < PYM_FWD_MAX, "the classes start above 256 bytes");

/* How many chunks a bin keeps at first: PYM_FWD_BIN_BYTES worth, at least
 * PYM_FWD_BIN_MIN (56 of 288 bytes ... 4 of 4096, so never more than 16
 * KiB); bin_take's misses add to it. */
#define CAPACITY(c) (PYM_FWD_BIN_BYTES / CLASS_SIZE(c) > PYM_FWD_BIN_MIN ? PYM_FWD_BIN_BYTES / CLASS_SIZE(c) \
                                                                          : PYM_FWD_BIN_MIN)
#define CAPACITY8(b) CAPACITY(b), CAPACITY(b + 1), CAPACITY(b + 2), CAPACITY(b + 3), CAPACITY(b + 4), \
                     CAPACITY(b + 5), CAPACITY(b + 6), CAPACITY(b + 7)
static const uint16_t bin_capacity[PYM_FWD_CLASSES] = {CAPACITY8(0), CAPACITY8(8), CAPACITY8(16), CAPACITY8(24)};

/* Words 0 (the link) and 1 (the mark) of a cached chunk. */
PYM_INLINE uintptr_t *chunk_words(void *chunk)
{
    return (uintptr_t *)chunk;
}

PYM_INLINE uintptr_t chunk_mark(void)
{
    return pymi_secrets.fwd_mark;
}

/* The owner's counts are read by the statistics of other threads. */
PYM_INLINE void bin_set_count(pym_fwd_bin_t *bin, uint32_t count)
{
    __atomic_store_n(&bin->count, count, __ATOMIC_RELAXED);
}

static PYM_NORETURN PYM_COLD void cache_corrupt(const void *chunk)
{
    pymi_fatal("malloc: pymalloc's cache of glibc chunks is corrupt at %p (a write into a freed block?)",
               chunk);
}

/* Into bin c, or to glibc when the bin is full (counted: bin_take may
 * grow the bin for it). */
PYM_INLINE void bin_push(pym_heap_t *heap, void *chunk, unsigned c)
{
    pym_fwd_bin_t *bin = &heap->fwd[c];
    if (bin->count >= (uint32_t)bin_capacity[c] + bin->grown) {
        if (bin->overflow < UINT16_MAX)
            bin->overflow++;
        pymi_sys.free(chunk);
        return;
    }
    pymi_block_set_next((pym_block_t *)chunk, bin->head);
    chunk_words(chunk)[1] = chunk_mark();
    bin->head = (pym_block_t *)chunk;
    bin_set_count(bin, bin->count + 1);
}

/* A free that found the mark in the chunk: a double free if the chunk is
 * in its bin already (else the program wrote the mark's value there, and
 * the chunk is pushed as usual).  Out of line, so that the common free
 * makes no call but its tail call and saves no registers. */
static PYM_NOINLINE void free_marked(pym_heap_t *heap, void *chunk, unsigned c, size_t usable)
{
    const pym_fwd_bin_t *bin = &heap->fwd[c];
    unsigned seen = 0;
    for (const pym_block_t *b = bin->head; b != NULL; b = pymi_block_next(b)) {
        if (b == chunk)
            pymi_fatal("free(%p): double free (a %zu-byte block, in pymalloc's cache of glibc's chunks)",
                       chunk, usable);
        if (++seen > bin->count || ((uintptr_t)b & (PYM_ALIGNMENT - 1)) != 0)
            break;   /* a corrupt list: the pop will say so */
    }
    bin_push(heap, chunk, c);
}

/* The head of bin c, taken off and cleared; NULL when the bin is empty. */
PYM_INLINE void *bin_pop(pym_heap_t *heap, unsigned c)
{
    pym_fwd_bin_t *bin = &heap->fwd[c];
    pym_block_t *chunk = bin->head;
    if (chunk == NULL)
        return NULL;
    uintptr_t *words = chunk_words(chunk);
    pym_block_t *next = pymi_block_next(chunk);
    if (pym_unlikely(words[1] != chunk_mark() || ((uintptr_t)next & (PYM_ALIGNMENT - 1)) != 0))
        cache_corrupt(chunk);
    bin->head = next;
    bin_set_count(bin, bin->count - 1);
    words[0] = 0;
    words[1] = 0;
    return chunk;
}

/* bin_pop for a malloc.  A miss after a chunk went to glibc for want of a
 * place gives the bin one more, up to its bound (the header comment says
 * why). */
PYM_INLINE void *bin_take(pym_heap_t *heap, unsigned c)
{
    void *chunk = bin_pop(heap, c);
    pym_fwd_bin_t *bin = &heap->fwd[c];
    if (chunk == NULL && bin->overflow != 0) {
        bin->overflow--;
        if (bin->grown < (PYM_FWD_GROWTH - 1) * bin_capacity[c])
            bin->grown++;
    }
    return chunk;
}

void *pymi_fwd_malloc(pym_heap_t *heap, size_t size)
{
    if (size > PYM_FWD_MAX || !heap->fwd_on)
        return pymi_sys.malloc(size);
    unsigned c = class_of_request(size);
    void *chunk = bin_take(heap, c);
    return chunk != NULL ? chunk : pymi_sys.malloc(class_size(c));
}

void *pymi_fwd_calloc(pym_heap_t *heap, size_t size)
{
    if (size > PYM_FWD_MAX || !heap->fwd_on)
        return pymi_sys.calloc(1, size);
    unsigned c = class_of_request(size);
    void *chunk = bin_take(heap, c);
    if (chunk == NULL)
        return pymi_sys.calloc(1, class_size(c));
    return memset(chunk, 0, size);
}

/* The size of the glibc chunk at ptr (16-byte aligned, not NULL) when its
 * size word is a plain chunk's -- not mapped, a multiple of 16 -- or 0
 * when it is not. */
PYM_INLINE uintptr_t plain_chunk_size(const void *ptr)
{
    uintptr_t size_word = ((const uintptr_t *)ptr)[-1], chunk_size = size_word & ~GLIBC_SIZE_FLAGS;
    return (size_word & GLIBC_IS_MMAPPED) || (chunk_size & (PYM_ALIGNMENT - 1)) != 0 ? 0 : chunk_size;
}

void pymi_fwd_free(pym_heap_t *heap, void *ptr)
{
    if (!heap->fwd_on || ((uintptr_t)ptr & (PYM_ALIGNMENT - 1)) != 0 || ptr == NULL) {
        pymi_sys.free(ptr);   /* NULL, or a pointer glibc will judge */
        return;
    }
    uintptr_t chunk_size = plain_chunk_size(ptr);
    size_t usable = chunk_size - GLIBC_SIZE_WORD;
    unsigned c = class_of_usable(usable);
    if (chunk_size == 0 || c >= PYM_FWD_CLASSES || c < class_of_request(PYM_SMALL_MAX + 1)) {
        pymi_sys.free(ptr);   /* mapped, outside the classes, or a size glibc will call invalid */
        return;
    }
    if (pym_unlikely(chunk_words(ptr)[1] == chunk_mark())) {
        free_marked(heap, ptr, c, usable);
        return;
    }
    bin_push(heap, ptr, c);
}

/* realloc of a glibc chunk to more than PYM_SMALL_MAX bytes.  Where
 * glibc's realloc would hand the same chunk back untouched -- the new
 * size, rounded as glibc rounds it (the size word, 16-byte steps), fits
 * the chunk and leaves less than glibc's smallest chunk (32 bytes) over,
 * so nothing is split off -- it is handed back here, without glibc's
 * arena lookup and locking: a string or buffer that grows a few bytes at
 * a time does that about half the time (realloc/string: 170 -> 136 M
 * instructions, glibc alone 157).  glibc's own checks of such a chunk are
 * made first: a plain chunk's size word, and a next chunk that says this
 * one is in use and has a size.  Anything else is glibc's realloc, which
 * judges the pointer. */
void *pymi_fwd_realloc(void *ptr, size_t size)
{
    if (pymi_fwd_enabled && ((uintptr_t)ptr & (PYM_ALIGNMENT - 1)) == 0) {
        uintptr_t chunk_size = plain_chunk_size(ptr);
        if (size < chunk_size) {
            size_t rounded = (size + GLIBC_SIZE_WORD + PYM_ALIGNMENT - 1) & ~(size_t)(PYM_ALIGNMENT - 1);
            /* The next chunk's size word only once the size word read says
             * the chunk ends within a few bytes of what is asked for: a
             * foreign pointer's garbage must not send the read astray. */
            if (rounded <= chunk_size && chunk_size - rounded < GLIBC_MIN_CHUNK) {
                uintptr_t next_word = *(const uintptr_t *)((const char *)ptr - GLIBC_SIZE_WORD + chunk_size);
                if ((next_word & GLIBC_PREV_INUSE) && (next_word & ~GLIBC_SIZE_FLAGS) > 2 * GLIBC_SIZE_WORD)
                    return ptr;
            }
        }
    }
    return pymi_sys.realloc(ptr, size);
}

void pymi_fwd_flush(pym_heap_t *heap)
{
    for (unsigned c = 0; c < PYM_FWD_CLASSES; c++) {
        pym_fwd_bin_t *bin = &heap->fwd[c];
        pym_block_t *chunk = bin->head;
        bin->head = NULL;
        bin_set_count(bin, 0);
        bin->grown = 0;
        bin->overflow = 0;
        while (chunk != NULL) {
            pym_block_t *next = pymi_block_next(chunk);
            chunk_words(chunk)[1] = 0;
            pymi_sys.free(chunk);
            chunk = next;
        }
    }
}

PYM_RACY_READER void pymi_fwd_count(const pym_heap_t *heap, size_t *chunks, size_t *bytes)
{
    for (unsigned c = 0; c < PYM_FWD_CLASSES; c++) {
        size_t n = __atomic_load_n(&heap->fwd[c].count, __ATOMIC_RELAXED);
        *chunks += n;
        *bytes += n * class_size(c);
    }
}
