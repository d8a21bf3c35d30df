/*
 * gc_internal.h -- the object header, the collector domain and the helpers
 * shared by the files of src/gc.  Depends only on the public headers.
 *
 * Glossary
 *   header     16 bytes in front of every object (pymgc_head).
 *   domain     one thread's collector state: generations, settings, stats,
 *              weak-reference map, intern table (pymgc_domain).
 *   table      an array of the tracked objects of one generation (or of
 *              one stage of a collection: pymgc_table), in the order they
 *              were tracked; each object's header holds its slot there.
 *              A removed object leaves a NULL hole, filled by compaction.
 *   in the set the objects a collection pass examines: same domain and
 *              `gen` within [lo, hi] (see pymgc_set).
 *   position   an object's index in the set: its table's base + its slot;
 *              the set's gc_refs are an array by position (gc_refs.c).
 *
 * Invariants
 *   - gen == PYMGC_GEN_UNTRACKED  <=>  untracked.
 *   - A tracked object is at d->tables[gen].items[slot] of its domain d.
 *   - `marked` is 0 but between a collection's mark and its sweep.
 *   - Tables are compacted only outside collections: user code run by a
 *     collection (finalizers, callbacks, clears) may untrack objects, which
 *     then leave holes that the collection's index loops step over.
 *   - refcnt == PYMGC_IMMORTAL: immortal, never tracked, never freed.
 *   - type_id and domain_id never change after pym_new (so another
 *     domain's collector may read them while we run).
 */
#ifndef PYMGC_GC_INTERNAL_H
#define PYMGC_GC_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <stddef.h>
#include "pymalloc.h"
#include "pymalloc_gc.h"

#if defined(__GNUC__)
#define pymgc_likely(x) __builtin_expect(!!(x), 1)
#define pymgc_unlikely(x) __builtin_expect(!!(x), 0)
#define PYMGC_HIDDEN __attribute__((visibility("hidden")))
#define PYMGC_NOINLINE __attribute__((noinline))
#define PYMGC_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define pymgc_likely(x) (x)
#define pymgc_unlikely(x) (x)
#define PYMGC_HIDDEN
#define PYMGC_NOINLINE
#define PYMGC_ALWAYS_INLINE inline
#endif

typedef struct pymgc_head {
    uint32_t refcnt;
    uint32_t slot;              /* index in its table (d->tables[gen]) */
    uint16_t type_id;           /* index in pymgc_types[] */
    uint16_t domain_id;         /* index in pymgc_domains[] */
    uint8_t gen;                /* PYMGC_GEN_* or a generation number */
    uint8_t flags;              /* PYMGC_FLAG_* */
    uint8_t marked;             /* reachable (a collection's mark to its sweep) */
    uint8_t tag;                /* PYMGC_TAG_*: what a live object's header holds */
} pymgc_head;

_Static_assert(sizeof(pymgc_head) % 16 == 0, "the header must keep objects 16-byte aligned");
_Static_assert(sizeof(pymgc_head) - offsetof(pymgc_head, refcnt) == PYM_REFCNT_OFFSET_,
               "pymalloc_gc.h's inline reference counting must find the count");

#define PYMGC_IMMORTAL PYM_IMMORTAL_REFCNT_

/* Values of pymgc_head.gen, each with its table in pymgc_domain.tables. */
enum {
    PYMGC_GEN_PERMANENT = 3,     /* frozen */
    PYMGC_GEN_TENTATIVE = 4,     /* found unreachable by the main pass */
    PYMGC_GEN_FINAL = 5,         /* still unreachable after finalizers */
    PYMGC_GEN_UNCOLLECTABLE = 6, /* unreachable, kept by a legacy finalizer */
    PYMGC_TABLES = 7,
    PYMGC_GEN_UNTRACKED = 0xFF,
};

/* Values of pymgc_head.tag: the argument checks (pymgc_is_object) look for
 * one of them; a freed object's is 0. */
enum {
    PYMGC_TAG_LOCAL = 0xA7,     /* an object of a thread's own domain */
    PYMGC_TAG_SHARED = 0x5E,    /* an object of the shared domain: atomic count */
};

enum {
    PYMGC_FLAG_FINALIZED = 1,    /* finalize has run (or is running) */
    PYMGC_FLAG_WEAKREFS = 2,     /* the domain's weakref map has an entry */
    /* Copied from the type at pym_new, so that a death reads only the
     * header: */
    PYMGC_FLAG_CONTAINER = 4,    /* the type has traverse */
    PYMGC_FLAG_CLEAR_DEATH = 8,  /* the type has clear (a death runs it) */
    PYMGC_FLAG_CODE_DEATH = 16,  /* the type has finalize or dealloc */
    PYMGC_FLAG_FINALIZE = 32,    /* the type has finalize, not run yet on this object */
    PYMGC_FLAG_LEGACY = 64,      /* the type is PYM_TYPE_LEGACY_FINALIZER */
};

/* Before an object's finalizer runs (once per object, PEP 442): the
 * collector's sweep then needs only the flags to tell that none is due. */
static inline void pymgc_set_finalized(pymgc_head *h)
{
    h->flags = (uint8_t)((h->flags | PYMGC_FLAG_FINALIZED) & ~PYMGC_FLAG_FINALIZE);
}

typedef struct pymgc_generation {
    long threshold;
    long count;
} pymgc_generation;

/* The tracked objects of one gen value, in tracking order: items[0..len)
 * with `holes` NULL entries among them (see pymgc_table_remove). */
typedef struct pymgc_table {
    pymgc_head **items;
    uint32_t len, capacity, holes;
} pymgc_table;

/* Dead objects of one type kept for pym_new to reuse (object.c): the
 * first, how many, how many at most (0: none are kept). */
typedef struct pymgc_freelist {
    pymgc_head *head;
    uint32_t len, cap;
} pymgc_freelist;

/* A type's live objects in one domain.  Their bytes are objects * (header
 * + type->size) + extra_bytes: only objects made by pymgc_new_extra (interned
 * bytes) have extra bytes, and their type's
 * dealloc takes them off again. */
typedef struct pymgc_type_count {
    size_t objects;
    size_t extra_bytes;
    /* Bytes 8-15 of the header of a new object of the type in this
     * domain (type, domain, generation, flags, tag), made on first use:
     * pym_new writes them with one store. */
    uint64_t head_word;
    pymgc_freelist freelist;
} pymgc_type_count;

/* Open-addressing map from object pointers to pointers (ptrmap.c). */
typedef struct pymgc_ptrmap {
    void **keys;
    void **values;
    size_t capacity;            /* a power of two, or 0 */
    size_t count;
} pymgc_ptrmap;

typedef struct pymgc_callback_entry {
    pym_gc_callback cb;
    void *arg;
} pymgc_callback_entry;

typedef struct pymgc_bytes pymgc_bytes;

typedef struct pymgc_domain {
    uint16_t id;
    bool enabled;
    bool collecting;
    long gen0_trigger;          /* see pymgc_set_gen0_trigger */
    unsigned debug;
    pymgc_generation gens[PYM_GC_GENERATIONS];
    pymgc_table tables[PYMGC_TABLES];   /* indexed by gen */
    pymgc_head **mark_stack;    /* the collector's, kept between collections */
    size_t mark_stack_capacity;
    uint32_t *gc_refs;          /* pymgc_set's, kept between collections */
    size_t gc_refs_capacity;
    size_t long_lived_total;    /* survivors of the last full collection */
    size_t long_lived_pending;  /* survivors of gen-1 collections since */
    pym_gc_gen_stats_t stats[PYM_GC_GENERATIONS];
    pymgc_callback_entry *callbacks;
    size_t ncallbacks;
    void **garbage;
    size_t ngarbage, garbage_capacity;
    pymgc_ptrmap weakrefs;       /* referent -> first pymgc_weakref */
    pymgc_bytes **intern_buckets;
    size_t intern_nbuckets, intern_count;
    pymgc_type_count *type_counts;   /* indexed by type id */
    size_t ntype_counts;
    /* pym_new's fast path takes type ids below this: ntype_counts, or 0
     * for the shared domain (whose allocations all take the slow path, so
     * that the fast path needs no test of its own for it). */
    size_t fast_type_ids;
    bool shared;                /* the shared domain (see domain.c) */
    uintptr_t freelist_key;     /* scrambles the free lists' links (object.c) */
    pthread_mutex_t lock;       /* shared domain: tables, counts, type table */
    struct pymgc_domain *next_free;  /* on the list of unowned domains */
} pymgc_domain;

static inline pymgc_head *pymgc_head_of(const void *obj) { return (pymgc_head *)obj - 1; }
static inline void *pymgc_object_of(pymgc_head *h) { return h + 1; }

PYMGC_HIDDEN extern pym_type *pymgc_types[];
PYMGC_HIDDEN extern pymgc_domain *pymgc_domains[];

static inline pym_type *pymgc_type_of(const pymgc_head *h) { return pymgc_types[h->type_id]; }

/* Walks over a large table prefetch the object this many entries ahead:
 * far enough for the load to arrive, near enough to stay in L1.  A table
 * of at most PYMGC_PREFETCH_MIN_LEN objects (generation 0 at the default
 * threshold, whose objects were made moments ago and are in cache) is
 * walked without: the loads and prefetches were 5 % of a generation-0
 * collection's instructions, for nothing. */
#define PYMGC_PREFETCH_DISTANCE 8
#define PYMGC_PREFETCH_MIN_LEN 4096

/* The index below which a walk over len entries prefetches (0: none). */
static inline uint32_t pymgc_prefetch_end(uint32_t len)
{
    return len > PYMGC_PREFETCH_MIN_LEN ? len - PYMGC_PREFETCH_DISTANCE : 0;
}

/* The object PYMGC_PREFETCH_DISTANCE entries after items[i]; i must be
 * below pymgc_prefetch_end. */
static inline void pymgc_prefetch_entry(pymgc_head *const *items, uint32_t i)
{
    __builtin_prefetch(items[i + PYMGC_PREFETCH_DISTANCE]);     /* NULL is harmless */
}

static inline void pymgc_prefetch_ahead(pymgc_head *const *items, uint32_t end, uint32_t i)
{
    if (i < end)
        pymgc_prefetch_entry(items, i);
}

/* ---- tables (table.c) ----------------------------------------------------- */
static inline bool pymgc_is_tracked(const pymgc_head *h) { return h->gen != PYMGC_GEN_UNTRACKED; }
static inline size_t pymgc_table_size(const pymgc_table *t) { return t->len - t->holes; }

/* Room for one more: false when memory ran out. */
PYMGC_HIDDEN bool pymgc_table_grow(pymgc_table *t);
static inline bool pymgc_table_reserve(pymgc_table *t)
{
    return pymgc_likely(t->len < t->capacity) || pymgc_table_grow(t);
}

/* Appends h (room reserved), whose gen already names t's generation. */
static inline void pymgc_table_append(pymgc_table *t, pymgc_head *h)
{
    h->slot = t->len;
    t->items[t->len++] = h;
}

/* Appends h (room reserved) and makes it of generation gen. */
static inline void pymgc_table_push(pymgc_table *t, pymgc_head *h, uint8_t gen)
{
    h->gen = gen;
    pymgc_table_append(t, h);
}

/* Takes h out of its table of domain d and untracks it, when that needs
 * no upkeep (no holes to pop behind the last entry, no compaction due):
 * true, and h is out.  Otherwise false, nothing changed. */
static inline bool pymgc_table_remove_without_upkeep(pymgc_domain *d, pymgc_head *h)
{
    pymgc_table *t = &d->tables[h->gen];
    if (h->slot + 1 == t->len) {
        if (t->holes != 0)
            return false;
        t->len--;
    } else {
        if (t->holes + 1 >= 4096)
            return false;
        t->items[h->slot] = NULL;
        t->holes++;
    }
    h->gen = PYMGC_GEN_UNTRACKED;
    return true;
}

/* The removal with its upkeep (table.c): the last entry goes with the
 * holes before it; any other leaves a hole, and a table more than half
 * holes is compacted, outside collections. */
PYMGC_HIDDEN void pymgc_table_remove_with_upkeep(pymgc_domain *d, pymgc_head *h);

/* Takes h out of its table of domain d and untracks it. */
static inline void pymgc_table_remove(pymgc_domain *d, pymgc_head *h)
{
    if (pymgc_unlikely(!pymgc_table_remove_without_upkeep(d, h)))
        pymgc_table_remove_with_upkeep(d, h);
}

/* Appends every object of from to to (as generation gen), in order;
 * from becomes empty.  Aborts when memory runs out. */
PYMGC_HIDDEN void pymgc_table_move_all(pymgc_table *from, pymgc_table *to, uint8_t gen);
/* Room for n more; aborts when memory runs out. */
PYMGC_HIDDEN void pymgc_table_reserve_n(pymgc_table *t, size_t n);

/* ---- gc_refs.c ------------------------------------------------------------ */
/* The objects a pass examines (the tables of gens lo..hi of one domain)
 * and their gc_refs: reference count minus references from the set,
 * by position (gc_refs[base[gen - lo] + slot]).  An overcount (a
 * traverse reporting more references than the count) wraps around:
 * gc_refs > refcnt, and so not 0. */
typedef struct pymgc_set {
    uint8_t lo;
    uint32_t key_lo;            /* pymgc_head_key of (the domain's id, lo) */
    uint32_t span;              /* hi - lo */
    uint32_t count;             /* positions: the tables' lengths added up */
    uint32_t base[PYMGC_TABLES];
    uint32_t *gc_refs;          /* the domain's scratch array */
} pymgc_set;

/* An object's domain and generation as one number: domain_id in bits
 * 0-15, gen in bits 16-23.  The two fields sit side by side in the
 * header; on a little-endian machine they are one load (gcc does not
 * merge the two by itself). */
_Static_assert(offsetof(pymgc_head, gen) == offsetof(pymgc_head, domain_id) + 2 &&
               offsetof(pymgc_head, domain_id) + 4 <= sizeof(pymgc_head),
               "domain_id, then gen, inside the header");
static inline uint32_t pymgc_head_key(const pymgc_head *h)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t word;
    memcpy(&word, (const char *)h + offsetof(pymgc_head, domain_id), sizeof word);
    return word & 0xffffff;
#else
    return h->domain_id | (uint32_t)h->gen << 16;
#endif
}

/* h's gen - s->lo when h belongs to s's domain; more than any table
 * count otherwise (the domain's difference lands in the high half).  One
 * subtraction and a rotation instead of two compares and a subtraction:
 * the collector's visits run once per reference. */
static inline uint32_t pymgc_set_index(const pymgc_head *h, const pymgc_set *s)
{
    uint32_t diff = pymgc_head_key(h) - s->key_lo;
    return diff << 16 | diff >> 16;
}

static inline bool pymgc_in_set(const pymgc_head *h, const pymgc_set *s)
{
    return pymgc_set_index(h, s) <= s->span;
}

static inline uint32_t pymgc_position(const pymgc_head *h, const pymgc_set *s)
{
    return s->base[h->gen - s->lo] + h->slot;
}

/* Computes the gc_refs of the set of tables lo..hi of d: one walk of the
 * tables, each object's traverse subtracting from its referents.  No user
 * code but traverse may run until the set is done with.  The domain's
 * array is all zero outside such a pass, so nothing clears it first: the
 * user of the set puts a 0 back wherever it leaves something else (the
 * collector's root search where it finds a root, pymgc_set_zero). */
PYMGC_HIDDEN void pymgc_set_gc_refs(pymgc_set *s, pymgc_domain *d, uint8_t lo, uint8_t hi);

/* Puts the set's array back to all zero, for a user that leaves values
 * anywhere (pym_gc_explain). */
PYMGC_HIDDEN void pymgc_set_zero(pymgc_set *s);

/* ---- domain.c ------------------------------------------------------------ */
/* initial-exec: one %fs-relative load, no __tls_get_addr call (the core
 * library's TLS is the same kind). */
#define PYMGC_TLS __thread __attribute__((tls_model("initial-exec")))
PYMGC_HIDDEN extern PYMGC_TLS pymgc_domain *pymgc_current_domain;
PYMGC_HIDDEN pymgc_domain *pymgc_domain_attach(void);
static inline pymgc_domain *pymgc_domain_current(void)
{
    pymgc_domain *d = pymgc_current_domain;
    return pymgc_likely(d != NULL) ? d : pymgc_domain_attach();
}
static inline pymgc_domain *pymgc_domain_of(const pymgc_head *h) { return pymgc_domains[h->domain_id]; }
PYMGC_HIDDEN uint16_t pymgc_type_register(pym_type *type);

/* The shared domain.  Its lock guards the generation tables, counts and
 * type table against threads inside it at the same time; everything else
 * (collection, the gc_api functions) runs "exclusive": every other thread
 * has left the domain or waits at its door. */
PYMGC_HIDDEN extern pymgc_domain *pymgc_shared;
static inline void pymgc_lock(pymgc_domain *d)
{
    if (pymgc_unlikely(d->shared))
        pthread_mutex_lock(&d->lock);
}
static inline void pymgc_unlock(pymgc_domain *d)
{
    if (pymgc_unlikely(d->shared))
        pthread_mutex_unlock(&d->lock);
}
/* The current domain, exclusive when it is the shared one (nests). */
PYMGC_HIDDEN pymgc_domain *pymgc_exclusive_begin(void);
PYMGC_HIDDEN void pymgc_exclusive_end(pymgc_domain **dp);
/* pymgc_domain *d = the current domain, exclusive to the end of the block. */
#define PYMGC_DOMAIN_EXCLUSIVE(d) \
    pymgc_domain *d __attribute__((cleanup(pymgc_exclusive_end))) = pymgc_exclusive_begin()
/* Is this thread inside the shared domain? */
PYMGC_HIDDEN bool pymgc_inside_shared(void);

/* pym_gc_slow_refcount_ bits. */
enum {
    PYMGC_SLOW_OWNER = 1,       /* PYM_GC_DEBUG_OWNER */
    PYMGC_SLOW_SHARED = 2,      /* the shared domain has been entered */
};
PYMGC_HIDDEN void pymgc_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Allocation compares generation 0's count with one number: its threshold,
 * or LONG_MAX when automatic collection is off (disabled, or threshold 0).
 * Call after changing either. */
static inline void pymgc_set_gen0_trigger(pymgc_domain *d)
{
    long t = d->gens[0].threshold;
    d->gen0_trigger = d->enabled && t != 0 ? t : LONG_MAX;
}

/* ---- object.c ------------------------------------------------------------ */
/* An object with extra bytes after type->size (interned bytes). */
PYMGC_HIDDEN void *pymgc_new_extra(pym_type *type, size_t extra);
PYMGC_HIDDEN void pymgc_untrack(pymgc_domain *d, pymgc_head *h);
/* The end of a batch of cyclic garbage whose clears have run: each
 * object is untracked and holds one reference of the collector's, which
 * goes.  One still referenced lives on, a container in the table of
 * old_gen.  Called only by the collector (exclusive in the shared
 * domain). */
PYMGC_HIDDEN void pymgc_release_garbage(pymgc_domain *d, pymgc_head *const *batch, size_t n, uint8_t old_gen);
/* The domain's kept dead objects back to the allocator (a full collection,
 * a thread's exit), as CPython's full collection clears its free lists. */
PYMGC_HIDDEN void pymgc_freelists_clear(pymgc_domain *d);
/* A new domain's key for its free lists' links. */
PYMGC_HIDDEN uintptr_t pymgc_freelist_key_make(const pymgc_domain *d);

/* Argument checks (issue 13): is obj, by its header, a live object of
 * this layer?  NULL, a misaligned pointer, a freed object or a pointer into
 * other memory (whose 16 bytes before it are readable) give false. */
PYMGC_HIDDEN bool pymgc_is_object(const void *obj);
/* NULL with errno = EINVAL unless obj is an object (then its header). */
PYMGC_HIDDEN pymgc_head *pymgc_checked_head(const void *obj);
/* The header, or a one-line diagnostic naming `what` and abort(). */
PYMGC_HIDDEN pymgc_head *pymgc_required_head(const void *obj, const char *what);

/* ---- collect.c ----------------------------------------------------------- */
/* The automatic trigger: collect the oldest generation over its threshold. */
PYMGC_HIDDEN void pymgc_collect_generations(pymgc_domain *d);
/* Runs callbacks around one collection; d->collecting must be set. */
PYMGC_HIDDEN size_t pymgc_collect_with_callback(pymgc_domain *d, int generation);
PYMGC_HIDDEN int pymgc_garbage_append(pymgc_domain *d, void *obj);

/* ---- weakref.c ----------------------------------------------------------- */
/* Refcount path: clear every weak reference to obj, then run callbacks. */
PYMGC_HIDDEN void pymgc_weakrefs_clear_and_call(pymgc_domain *d, void *obj);
/* Collector path: clear weak references to the objects of `unreachable`
 * (the TENTATIVE table) and call the callbacks of those weak references
 * that are not garbage.  Returns the number of callbacks run. */
PYMGC_HIDDEN size_t pymgc_weakrefs_handle_unreachable(pymgc_domain *d, const pymgc_table *unreachable);

/* ---- intern.c ------------------------------------------------------------ */
PYMGC_HIDDEN extern pym_type pymgc_bytes_type;

/* ---- ptrmap.c ------------------------------------------------------------ */
PYMGC_HIDDEN void *pymgc_ptrmap_get(const pymgc_ptrmap *m, const void *key);
/* 0, or -1 when memory ran out. */
PYMGC_HIDDEN int pymgc_ptrmap_put(pymgc_ptrmap *m, void *key, void *value);
PYMGC_HIDDEN void *pymgc_ptrmap_remove(pymgc_ptrmap *m, const void *key);
PYMGC_HIDDEN void pymgc_ptrmap_destroy(pymgc_ptrmap *m);

#endif /* PYMGC_GC_INTERNAL_H */
