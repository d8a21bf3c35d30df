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
 * allocating them again.  In a process with threads, a full bin passes its
 * oldest half on to a cache shared by all of them, which a bin that runs
 * dry takes from before it asks glibc (below); that cache holds at most
 * 32 KiB a class, 1 MiB in all.  A class grows where chunks go round, as
 * tcmalloc's thread caches adapt their lengths: a full bin's overflow and
 * a later malloc that finds the bin empty are one round trip that one
 * more place would have saved, so each such pair lets the bin keep one
 * chunk more, up to PYM_FWD_GROWTH (2) times its first capacity: a thread
 * holds at most 1 MiB here in all.  A thread that only frees a class, or
 * only allocates it, never grows it; one that churns through it, or
 * threads that free each other's chunks in both directions (a server),
 * do.  In bench/micro's xthread/server rounds growth took the time of 2
 * threads down by 8-16 % and of 4 by 1-2 %; the shared cache by 16-20 %
 * and 6-12 % more; the peak RSS above start of 200 such rounds
 * (bench/memory/rss_probe xthread-mixed) is in docs/design.md.  With the
 * shared cache and no growth, threads/churn/threads:1 ran 6 % slower:
 * each overflow walked half a bin of cold chunks.  A thread's cache
 * empties into glibc, and its bins start over at their first capacity,
 * when the thread exits and when it trims (pym_trim, malloc_trim), the
 * shared one when any thread trims; the statistics count both
 * (fwd_cache_bytes).  Active only when glibc is the allocator below
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
#include <sys/single_threaded.h>

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

/* The class of a request of m + 1 bytes, 256 <= m < 4608: 8 classes per
 * doubling, class 0 holding 257-288 bytes.  The bounds between classes are
 * multiples of 32, so every m of a 16-byte step has one class, and a
 * table by m / 16 (288 bytes) replaces the arithmetic (a bit scan, two
 * shifts and five more steps, on both sides of a forwarded pair). */
#define LOG2_M(m) ((m) >= 4096 ? 12 : (m) >= 2048 ? 11 : (m) >= 1024 ? 10 : (m) >= 512 ? 9 : 8)
#define CLASS_OF_M(m) ((m) < 256 ? 0 : ((LOG2_M(m) - 8) << 3) + ((m) >> (LOG2_M(m) - 3)) - 8)
#define STEP_CLASS(i) CLASS_OF_M((i) * 16)
#define STEPS8(i) STEP_CLASS(i), STEP_CLASS(i + 1), STEP_CLASS(i + 2), STEP_CLASS(i + 3), \
                  STEP_CLASS(i + 4), STEP_CLASS(i + 5), STEP_CLASS(i + 6), STEP_CLASS(i + 7)
#define STEPS32(i) STEPS8(i), STEPS8(i + 8), STEPS8(i + 16), STEPS8(i + 24)
static const uint8_t class_by_step[(PYM_FWD_MAX + 512) / 16] = {
    STEPS32(0), STEPS32(32), STEPS32(64), STEPS32(96), STEPS32(128),
    STEPS32(160), STEPS32(192), STEPS32(224), STEPS32(256)};

/* The class of a request of n bytes, PYM_SMALL_MAX < n <= PYM_FWD_MAX. */
PYM_INLINE unsigned class_of_request(size_t n)
{
    return class_by_step[(n - 1) / 16];
}

#define CLASS_SIZE(c) ((size_t)((c) % 8 + 9) << (5 + (c) / 8))

PYM_INLINE size_t class_size(unsigned c)
{
    return CLASS_SIZE(c);
}

/* The class a freed chunk is filed in, by its size word / 16 (a chunk of
 * 16i bytes holds 16i - 8): the largest class whose requests it can serve
 * (the class below the first one too large for usable + 1 bytes; 4096..4607
 * bytes: class 31), or NO_CLASS when none can or the class is of requests
 * PYM_SMALL_MAX or smaller (glibc will judge such a chunk).  A table, as
 * class_by_step: the arithmetic and its two range checks were four
 * instructions more on free's side of a forwarded pair. */
#define NO_CLASS 0xff
#define MIN_FWD_CLASS CLASS_OF_M(PYM_SMALL_MAX)   /* class_of_request(PYM_SMALL_MAX + 1) */
#define CHUNK_STEPS 289u   /* chunk sizes 0 .. 4608: usable sizes up to the last class's + 511 */
/* class_of_request(usable + 1) - 1, as a constant, for usable = 16i - 8. */
#define USABLE_CLASS_(i) (CLASS_OF_M(((i) - 1) * 16) - 1)
#define CHUNK_CLASS_(i) ((size_t)(i) * 16 < CLASS_SIZE(0) + 8 || USABLE_CLASS_(i) < MIN_FWD_CLASS \
                             ? NO_CLASS : USABLE_CLASS_(i))
#define CHUNKS8(i) CHUNK_CLASS_(i), CHUNK_CLASS_(i + 1), CHUNK_CLASS_(i + 2), CHUNK_CLASS_(i + 3), \
                   CHUNK_CLASS_(i + 4), CHUNK_CLASS_(i + 5), CHUNK_CLASS_(i + 6), CHUNK_CLASS_(i + 7)
#define CHUNKS32(i) CHUNKS8(i), CHUNKS8(i + 8), CHUNKS8(i + 16), CHUNKS8(i + 24)
static const uint8_t class_by_chunk_step[CHUNK_STEPS] = {
    CHUNKS32(0), CHUNKS32(32), CHUNKS32(64), CHUNKS32(96), CHUNKS32(128),
    CHUNKS32(160), CHUNKS32(192), CHUNKS32(224), CHUNKS32(256), CHUNK_CLASS_(288)};

/* chunk_size: a plain chunk's size word without its flags, or 0. */
PYM_INLINE unsigned class_of_chunk(uintptr_t chunk_size)
{
    return chunk_size / 16 < CHUNK_STEPS ? class_by_chunk_step[chunk_size / 16] : NO_CLASS;
}

_Static_assert(PYM_SMALL_MAX >= 256 && PYM_SMALL_MAX < PYM_FWD_MAX, "the classes start above 256 bytes");
_Static_assert((CHUNK_STEPS - 1) * 16 - 8 <= CLASS_SIZE(PYM_FWD_CLASSES - 1) + 511 &&
                   CHUNK_STEPS * 16 - 8 > CLASS_SIZE(PYM_FWD_CLASSES - 1) + 511,
               "the chunk table ends with the last chunk size the last class files");

/* How many chunks a bin keeps at first: PYM_FWD_BIN_BYTES worth, at least
 * PYM_FWD_BIN_MIN (56 of 288 bytes ... 4 of 4096, so never more than 16
 * KiB). */
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
    return pymi_const.fwd_mark;
}

/* The size of the glibc chunk at ptr (16-byte aligned, not NULL) when its
 * size word is a plain chunk's -- not mapped, a multiple of 16 -- or 0
 * when it is not. */
PYM_INLINE uintptr_t plain_chunk_size(const void *ptr)
{
    uintptr_t size_word = ((const uintptr_t *)ptr)[-1], chunk_size = size_word & ~GLIBC_SIZE_FLAGS;
    return (size_word & GLIBC_IS_MMAPPED) || (chunk_size & (PYM_ALIGNMENT - 1)) != 0 ? 0 : chunk_size;
}

/* The owner's counts are read by the statistics of other threads
 * (pymi_fwd_count, a racy snapshot).  A push or a pop changes the count by
 * one in memory: an add or subtract of a constant, which does not wait
 * for the store before it as a load, an add and a separate store did. */
PYM_INLINE void bin_set_count(pym_fwd_bin_t *bin, uint32_t count)
{
    __atomic_store_n(&bin->count, count, __ATOMIC_RELAXED);
}

/* A bin as a heap starts it, and as a flush or a trim leaves it: empty, at
 * its first capacity. */
PYM_INLINE void bin_reset(pym_fwd_bin_t *bin, unsigned c)
{
    bin->head = NULL;
    bin_set_count(bin, 0);
    bin->overflow = 0;
    bin->limit = bin_capacity[c];
}

static PYM_NORETURN PYM_COLD void cache_corrupt(const void *chunk)
{
    pymi_fatal("malloc: pymalloc's cache of glibc chunks is corrupt at %p (a write into a freed block?)",
               chunk);
}

/* ---- the shared cache: batches of chunks between threads' bins -------------
 * In a server each thread frees some classes more often than it allocates
 * them and others less: its bin of the first kind fills, another thread's
 * bin of that class runs dry, and every such chunk went the long way, a
 * free into the glibc arena of the thread that made it (under that
 * arena's lock, which its thread holds half the time) and a malloc from
 * glibc on the other side: 15 % of the forwarded requests of the server
 * benchmark, whose rounds this made 16-20 % faster with 2 threads and 6-12
 * % with 4.  Once the process has had a second thread, a full bin hands
 * its oldest half-capacity chunks (a batch, at most 8 KiB) to this cache,
 * and a bin that runs dry takes a whole batch: one lock per batch
 * (tcmalloc's transfer cache between its thread caches and its central
 * lists does the same).  PYM_FWD_SHARED_BATCHES a class
 * (16 ran no faster); when they are taken, the freed chunk goes to glibc
 * (bin_overflow says why that one).  The lock is a leaf: glibc is called
 * outside it. */
#define PYM_FWD_SHARED_BATCHES 4u

typedef struct fwd_batch {
    pym_block_t *head;             /* linked as in a bin, the last to NULL */
    uint32_t count;
} fwd_batch_t;

pthread_mutex_t pymi_fwd_shared_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned shared_batches[PYM_FWD_CLASSES];   /* under the lock; read racy as a hint */
static fwd_batch_t shared_batch[PYM_FWD_CLASSES][PYM_FWD_SHARED_BATCHES];

PYM_INLINE unsigned batch_size(unsigned c)
{
    return bin_capacity[c] / 2u;
}

static void free_list_to_glibc(pym_block_t *chunk)
{
    while (chunk != NULL) {
        pym_block_t *next = pymi_block_next(chunk);
        chunk_words(chunk)[1] = 0;
        pymi_sys.free(chunk);
        chunk = next;
    }
}

/* The next chunk of a bin's list, after the checks that its mark is
 * there and the link decodes to an aligned address. */
PYM_INLINE pym_block_t *bin_next(pym_block_t *chunk)
{
    pym_block_t *next = pymi_block_next(chunk);
    if (pym_unlikely(chunk_words(chunk)[1] != chunk_mark() || ((uintptr_t)next & (PYM_ALIGNMENT - 1)) != 0))
        cache_corrupt(chunk);
    return next;
}

/* A full bin: chunk goes on top, and the oldest batch_size(c) chunks go
 * to the shared cache.  The newest stay: they are in this thread's cache,
 * and a double free of the chunk just freed is found in its bin.  When
 * the shared cache holds enough of the class, or the process has one
 * thread, chunk itself goes to glibc instead, as it did before there was
 * a shared cache: the newest chunk is often the last glibc carved, which
 * glibc then merges with its free top, where the next chunk it makes can
 * grow in place.  Sending the oldest there instead made realloc/string
 * 50 % slower: its next string's chunk came out of the middle of the heap
 * and every realloc past it copied. */
static PYM_NOINLINE void bin_overflow(pym_heap_t *heap, void *chunk, unsigned c)
{
    pym_fwd_bin_t *bin = &heap->fwd[c];
    if (bin->overflow < UINT16_MAX)
        bin->overflow++;
    if (__libc_single_threaded ||
        __atomic_load_n(&shared_batches[c], __ATOMIC_RELAXED) == PYM_FWD_SHARED_BATCHES) {
        pymi_sys.free(chunk);
        return;
    }
    pymi_block_set_next((pym_block_t *)chunk, bin->head);
    chunk_words(chunk)[1] = chunk_mark();
    unsigned size = batch_size(c), keep = bin->count + 1 - size;
    pym_block_t *last_kept = chunk;
    for (unsigned i = 1; i < keep; i++)
        last_kept = bin_next(last_kept);
    pym_block_t *oldest = bin_next(last_kept);
    pymi_block_set_next(last_kept, NULL);
    bin->head = (pym_block_t *)chunk;
    bin_set_count(bin, keep);
    pthread_mutex_lock(&pymi_fwd_shared_lock);
    unsigned n = shared_batches[c];
    if (n < PYM_FWD_SHARED_BATCHES) {
        shared_batch[c][n] = (fwd_batch_t){oldest, size};
        __atomic_store_n(&shared_batches[c], n + 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&pymi_fwd_shared_lock);
    if (n == PYM_FWD_SHARED_BATCHES)
        free_list_to_glibc(oldest);
}

/* The newest batch of class c off the shared cache; {NULL, 0} when it has
 * none. */
static fwd_batch_t shared_take(unsigned c)
{
    fwd_batch_t batch = {NULL, 0};
    if (__atomic_load_n(&shared_batches[c], __ATOMIC_RELAXED) == 0)
        return batch;
    pthread_mutex_lock(&pymi_fwd_shared_lock);
    unsigned n = shared_batches[c];
    if (n > 0) {
        batch = shared_batch[c][n - 1];
        __atomic_store_n(&shared_batches[c], n - 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&pymi_fwd_shared_lock);
    return batch;
}

void pymi_fwd_fork_child(int shared_lock_was_held)
{
    if (!shared_lock_was_held)
        return;
    /* The thread that held the lock may have been half-way through a
     * change: the child starts with an empty shared cache (its chunks
     * stay glibc's, unused). */
    for (unsigned c = 0; c < PYM_FWD_CLASSES; c++)
        shared_batches[c] = 0;
}

void pymi_fwd_flush_shared(void)
{
    for (unsigned c = 0; c < PYM_FWD_CLASSES; c++)
        for (fwd_batch_t batch; (batch = shared_take(c)).head != NULL;)
            free_list_to_glibc(batch.head);
}

/* Into bin c; a full one sends a batch on (bin_overflow). */
PYM_INLINE void bin_push(pym_heap_t *heap, void *chunk, unsigned c)
{
    pym_fwd_bin_t *bin = &heap->fwd[c];
    if (bin->count >= bin->limit) {
        bin_overflow(heap, chunk, c);
        return;
    }
    pymi_block_set_next((pym_block_t *)chunk, bin->head);
    chunk_words(chunk)[1] = chunk_mark();
    bin->head = (pym_block_t *)chunk;
    bin->count++;
}

/* 1 when chunk is on the list from head, walked for at most count links
 * (a corrupt list ends the walk: the pop will say so). */
static int list_holds(const pym_block_t *head, unsigned count, const void *chunk)
{
    unsigned seen = 0;
    for (const pym_block_t *b = head; b != NULL; b = pymi_block_next(b)) {
        if (b == chunk)
            return 1;
        if (++seen > count || ((uintptr_t)b & (PYM_ALIGNMENT - 1)) != 0)
            break;
    }
    return 0;
}

/* A free that found the mark in the chunk: a double free if the chunk is
 * in its bin or in the shared cache already (else the program wrote the
 * mark's value there, or the chunk sits in another thread's bin, which is
 * not searched, and the chunk is pushed as usual).  Out of line, so that
 * the common free makes no call but its tail call and saves no
 * registers. */
static PYM_NOINLINE void free_marked(pym_heap_t *heap, void *chunk, unsigned c)
{
    int twice = list_holds(heap->fwd[c].head, heap->fwd[c].count, chunk);
    pthread_mutex_lock(&pymi_fwd_shared_lock);
    for (unsigned i = 0; i < shared_batches[c] && !twice; i++)
        twice = list_holds(shared_batch[c][i].head, shared_batch[c][i].count, chunk);
    pthread_mutex_unlock(&pymi_fwd_shared_lock);
    if (twice)
        pymi_fatal("free(%p): double free (a %zu-byte block, in pymalloc's cache of glibc's chunks)",
                   chunk, (size_t)(plain_chunk_size(chunk) - GLIBC_SIZE_WORD));
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
    bin->head = bin_next(chunk);
    bin->count--;
    words[0] = 0;
    words[1] = 0;
    return chunk;
}

/* Bin c is empty: it takes a batch from the shared cache and hands out its
 * first chunk; NULL when there is none, glibc's turn.  A miss that follows
 * an overflow grows the bin (the header comment says why).  Out of line,
 * so that a malloc that finds its bin stocked sets up no stack frame (an
 * inlined miss path cost pair/1024 12 instructions). */
static PYM_NOINLINE void *bin_refill(pym_heap_t *heap, unsigned c)
{
    pym_fwd_bin_t *bin = &heap->fwd[c];
    if (bin->overflow != 0) {
        bin->overflow--;
        if (bin->limit < PYM_FWD_GROWTH * bin_capacity[c])
            bin->limit++;
    }
    fwd_batch_t batch = shared_take(c);
    if (batch.head == NULL)
        return NULL;
    bin->head = batch.head;
    bin_set_count(bin, batch.count);
    return bin_pop(heap, c);
}

/* pymi_fwd_malloc's empty bin: the shared cache, else glibc. */
static PYM_NOINLINE void *fwd_malloc_miss(pym_heap_t *heap, unsigned c)
{
    void *chunk = bin_refill(heap, c);
    return chunk != NULL ? chunk : pymi_sys.malloc(class_size(c));
}

void *pymi_fwd_malloc(pym_heap_t *heap, size_t size)
{
    if (size > PYM_FWD_MAX || !heap->fwd_on)
        return pymi_sys.malloc(size);
    unsigned c = class_of_request(size);
    void *chunk = bin_pop(heap, c);
    if (pym_likely(chunk != NULL))
        return chunk;
    return fwd_malloc_miss(heap, c);
}

void *pymi_fwd_calloc(pym_heap_t *heap, size_t size)
{
    if (size > PYM_FWD_MAX || !heap->fwd_on)
        return pymi_sys.calloc(1, size);
    unsigned c = class_of_request(size);
    void *chunk = bin_pop(heap, c);
    if (chunk == NULL && (chunk = bin_refill(heap, c)) == NULL)
        return pymi_sys.calloc(1, class_size(c));
    /* All the program may use, as glibc's calloc clears a whole chunk (a
     * cached chunk is a plain one: fwd_free keeps no other). */
    return memset(chunk, 0, plain_chunk_size(chunk) - GLIBC_SIZE_WORD);
}

void pymi_fwd_free(void *ptr, pym_heap_t *heap)
{
    if (!heap->fwd_on || ((uintptr_t)ptr & (PYM_ALIGNMENT - 1)) != 0 || ptr == NULL) {
        pymi_sys.free(ptr);   /* NULL, or a pointer glibc will judge */
        return;
    }
    unsigned c = class_of_chunk(plain_chunk_size(ptr));
    if (c >= PYM_FWD_CLASSES) {
        pymi_sys.free(ptr);   /* mapped, outside the classes, or a size glibc will call invalid */
        return;
    }
    if (pym_unlikely(chunk_words(ptr)[1] == chunk_mark())) {
        free_marked(heap, ptr, c);
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

void pymi_fwd_heap_init(pym_heap_t *heap)
{
    heap->fwd_on = (uint8_t)pymi_fwd_enabled;
    for (unsigned c = 0; c < PYM_FWD_CLASSES; c++)
        bin_reset(&heap->fwd[c], c);
}

void pymi_fwd_flush(pym_heap_t *heap)
{
    for (unsigned c = 0; c < PYM_FWD_CLASSES; c++) {
        pym_fwd_bin_t *bin = &heap->fwd[c];
        pym_block_t *chunks = bin->head;
        bin_reset(bin, c);
        free_list_to_glibc(chunks);
    }
}

void pymi_fwd_count_shared(size_t *chunks, size_t *bytes)
{
    pthread_mutex_lock(&pymi_fwd_shared_lock);
    for (unsigned c = 0; c < PYM_FWD_CLASSES; c++) {
        for (unsigned i = 0; i < shared_batches[c]; i++) {
            *chunks += shared_batch[c][i].count;
            *bytes += shared_batch[c][i].count * class_size(c);
        }
    }
    pthread_mutex_unlock(&pymi_fwd_shared_lock);
}

PYM_RACY_READER void pymi_fwd_count(const pym_heap_t *heap, size_t *chunks, size_t *bytes)
{
    for (unsigned c = 0; c < PYM_FWD_CLASSES; c++) {
        size_t n = __atomic_load_n(&heap->fwd[c].count, __ATOMIC_RELAXED);
        *chunks += n;
        *bytes += n * class_size(c);
    }
}
