/*
 * gc_internal.h -- the object header, the collector domain and the helpers
 * shared by the files of src/gc.  Depends only on the public headers.
 *
 * Glossary
 *   header     32 bytes in front of every object (pymi_head).
 *   domain     one thread's collector state: generations, settings, stats,
 *              weak-reference map, intern table (pymi_domain).
 *   generation a doubly linked list of tracked objects, threaded through
 *              the headers; 0..2, plus the permanent one (freeze).
 *   in the set the objects a collection pass examines: same domain and
 *              `gen` within [lo, hi] (see pymi_set).
 *   epoch      stamp of a collection pass; gc_refs is valid only when the
 *              header's epoch equals the pass's (lazy initialisation, so no
 *              separate update_refs pass is needed).
 *
 * Invariants
 *   - next == NULL  <=>  untracked (then gen == PYMI_GEN_UNTRACKED).
 *   - Between collections a tracked object is on the list of generation
 *     `gen` of domain `domain_id`; epoch 0 means "no pass has stamped it".
 *   - refcnt == PYMI_IMMORTAL: immortal, never tracked, never freed.
 *   - type_id and domain_id never change after pym_new (so another
 *     domain's collector may read them while we run).
 */
#ifndef PYMI_GC_INTERNAL_H
#define PYMI_GC_INTERNAL_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include "pymalloc.h"
#include "pymalloc_gc.h"

#if defined(__GNUC__)
#define pymi_likely(x) __builtin_expect(!!(x), 1)
#define pymi_unlikely(x) __builtin_expect(!!(x), 0)
#define PYMI_HIDDEN __attribute__((visibility("hidden")))
#define PYMI_NOINLINE __attribute__((noinline))
#define PYMI_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define pymi_likely(x) (x)
#define pymi_unlikely(x) (x)
#define PYMI_HIDDEN
#define PYMI_NOINLINE
#define PYMI_ALWAYS_INLINE inline
#endif

typedef struct pymi_head {
    struct pymi_head *next;     /* generation list; NULL when untracked */
    struct pymi_head *prev;
    uint32_t refcnt;
    uint32_t gc_refs;           /* scratch of a collection pass (see epoch) */
    uint16_t type_id;           /* index in pymi_types[] */
    uint16_t domain_id;         /* index in pymi_domains[] */
    uint8_t gen;                /* PYMI_GEN_* or a generation number */
    uint8_t flags;              /* PYMI_FLAG_* */
    uint8_t epoch;
    uint8_t unused;
} pymi_head;

_Static_assert(sizeof(pymi_head) % 16 == 0, "the header must keep objects 16-byte aligned");
_Static_assert(sizeof(pymi_head) - offsetof(pymi_head, refcnt) == PYM_REFCNT_OFFSET_,
               "pymalloc_gc.h's inline reference counting must find the count");

#define PYMI_IMMORTAL PYM_IMMORTAL_REFCNT_

/* Values of pymi_head.gen. */
enum {
    PYMI_GEN_PERMANENT = 3,     /* frozen */
    PYMI_GEN_TENTATIVE = 4,     /* found unreachable by the main pass */
    PYMI_GEN_FINAL = 5,         /* still unreachable after finalizers */
    PYMI_GEN_UNTRACKED = 0xFF,
};

enum {
    PYMI_FLAG_FINALIZED = 1,    /* finalize has run (or is running) */
    PYMI_FLAG_WEAKREFS = 2,     /* the domain's weakref map has an entry */
};

typedef struct pymi_generation {
    pymi_head head;             /* list sentinel */
    long threshold;
    long count;
} pymi_generation;

/* A type's live objects in one domain.  Their bytes are objects * (header
 * + type->size) + extra_bytes: only objects made by pymi_new_extra (interned
 * bytes) have extra bytes, and their type's
 * dealloc takes them off again. */
typedef struct pymi_type_count {
    size_t objects;
    size_t extra_bytes;
} pymi_type_count;

/* Open-addressing map from object pointers to pointers (ptrmap.c). */
typedef struct pymi_ptrmap {
    void **keys;
    void **values;
    size_t capacity;            /* a power of two, or 0 */
    size_t count;
} pymi_ptrmap;

typedef struct pymi_callback_entry {
    pym_gc_callback cb;
    void *arg;
} pymi_callback_entry;

typedef struct pymi_bytes pymi_bytes;

typedef struct pymi_domain {
    uint16_t id;
    uint8_t epoch;              /* last epoch handed out */
    bool enabled;
    bool collecting;
    long gen0_trigger;          /* see pymi_set_gen0_trigger */
    unsigned debug;
    pymi_generation gens[PYM_GC_GENERATIONS];
    pymi_head permanent;
    size_t long_lived_total;    /* survivors of the last full collection */
    size_t long_lived_pending;  /* survivors of gen-1 collections since */
    pym_gc_gen_stats_t stats[PYM_GC_GENERATIONS];
    pymi_callback_entry *callbacks;
    size_t ncallbacks;
    void **garbage;
    size_t ngarbage, garbage_capacity;
    pymi_ptrmap weakrefs;       /* referent -> first pymi_weakref */
    pymi_bytes **intern_buckets;
    size_t intern_nbuckets, intern_count;
    pymi_type_count *type_counts;   /* indexed by type id */
    size_t ntype_counts;
    unsigned dealloc_depth;     /* nested deallocations running (trashcan) */
    pymi_head *trash;           /* deferred deallocations, linked by prev */
    struct pymi_domain *next_free;  /* on the list of unowned domains */
} pymi_domain;

/* The examined set of one pass: domain and generation range. */
typedef struct pymi_set {
    uint16_t domain_id;
    uint8_t lo, hi;
    uint8_t epoch;
} pymi_set;

static inline pymi_head *pymi_head_of(const void *obj) { return (pymi_head *)obj - 1; }
static inline void *pymi_object_of(pymi_head *h) { return h + 1; }

PYMI_HIDDEN extern pym_type *pymi_types[];
PYMI_HIDDEN extern pymi_domain *pymi_domains[];

static inline pym_type *pymi_type_of(const pymi_head *h) { return pymi_types[h->type_id]; }

static inline bool pymi_in_set(const pymi_head *h, const pymi_set *s)
{
    return h->domain_id == s->domain_id && (uint8_t)(h->gen - s->lo) <= (uint8_t)(s->hi - s->lo);
}

/* The first visit of an object in a pass (its epoch differs from the
 * pass's) starts its gc_refs at the reference count; the collector and
 * pym_gc_explain both subtract referrers from there. */
static inline void pymi_gc_refs_start(pymi_head *h, const pymi_set *s)
{
    if (h->epoch != s->epoch) {
        h->epoch = s->epoch;
        h->gc_refs = h->refcnt;
    }
}

/* gc_refs as the pass sees it: the reference count until a referrer in the
 * set has been subtracted. */
static inline uint32_t pymi_refs(const pymi_head *h, const pymi_set *s)
{
    return h->epoch == s->epoch ? h->gc_refs : h->refcnt;
}

/* ---- lists -------------------------------------------------------------- */
static inline void pymi_list_init(pymi_head *list) { list->next = list->prev = list; }
static inline bool pymi_list_empty(const pymi_head *list) { return list->next == list; }

static inline void pymi_list_insert(pymi_head *h, pymi_head *prev, pymi_head *next)
{
    h->prev = prev;
    h->next = next;
    prev->next = h;
    next->prev = h;
}

static inline void pymi_list_append(pymi_head *h, pymi_head *list) { pymi_list_insert(h, list->prev, list); }
static inline void pymi_list_prepend(pymi_head *h, pymi_head *list) { pymi_list_insert(h, list, list->next); }

static inline void pymi_list_remove(pymi_head *h)
{
    h->prev->next = h->next;
    h->next->prev = h->prev;
}

static inline void pymi_list_move(pymi_head *h, pymi_head *list)
{
    pymi_list_remove(h);
    pymi_list_append(h, list);
}

/* Appends all of from to to; from becomes empty. */
static inline void pymi_list_merge(pymi_head *from, pymi_head *to)
{
    if (pymi_list_empty(from))
        return;
    pymi_head *to_last = to->prev;
    to_last->next = from->next;
    from->next->prev = to_last;
    to->prev = from->prev;
    from->prev->next = to;
    pymi_list_init(from);
}

/* ---- domain.c ------------------------------------------------------------ */
/* initial-exec: one %fs-relative load, no __tls_get_addr call (the core
 * library's TLS is the same kind). */
#define PYMI_TLS __thread __attribute__((tls_model("initial-exec")))
PYMI_HIDDEN extern PYMI_TLS pymi_domain *pymi_current_domain;
PYMI_HIDDEN pymi_domain *pymi_domain_attach(void);
static inline pymi_domain *pymi_domain_current(void)
{
    pymi_domain *d = pymi_current_domain;
    return pymi_likely(d != NULL) ? d : pymi_domain_attach();
}
static inline pymi_domain *pymi_domain_of(const pymi_head *h) { return pymi_domains[h->domain_id]; }
PYMI_HIDDEN uint16_t pymi_type_register(pym_type *type);
/* The first of n fresh epochs for n passes.  On wrap-around every stamp is
 * reset, so call it only when all tracked objects are on generation lists
 * (at the start of a collection, not in the middle). */
PYMI_HIDDEN uint8_t pymi_next_epochs(pymi_domain *d, unsigned n);
PYMI_HIDDEN void pymi_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Allocation compares generation 0's count with one number: its threshold,
 * or LONG_MAX when automatic collection is off (disabled, or threshold 0).
 * Call after changing either. */
static inline void pymi_set_gen0_trigger(pymi_domain *d)
{
    long t = d->gens[0].threshold;
    d->gen0_trigger = d->enabled && t != 0 ? t : LONG_MAX;
}

/* ---- object.c ------------------------------------------------------------ */
/* An object with extra bytes after type->size (interned bytes). */
PYMI_HIDDEN void *pymi_new_extra(pym_type *type, size_t extra);
PYMI_HIDDEN void pymi_track(pymi_domain *d, pymi_head *h);
PYMI_HIDDEN void pymi_untrack(pymi_domain *d, pymi_head *h);

/* ---- collect.c ----------------------------------------------------------- */
/* The automatic trigger: collect the oldest generation over its threshold. */
PYMI_HIDDEN void pymi_collect_generations(pymi_domain *d);
/* Runs callbacks around one collection; d->collecting must be set. */
PYMI_HIDDEN size_t pymi_collect_with_callback(pymi_domain *d, int generation);
PYMI_HIDDEN int pymi_garbage_append(pymi_domain *d, void *obj);

/* ---- weakref.c ----------------------------------------------------------- */
/* Refcount path: clear every weak reference to obj, then run callbacks. */
PYMI_HIDDEN void pymi_weakrefs_clear_and_call(pymi_domain *d, void *obj);
/* Collector path: clear weak references to the TENTATIVE objects of list and
 * call the callbacks of those weak references that are not garbage.
 * Returns the number of callbacks run. */
PYMI_HIDDEN size_t pymi_weakrefs_handle_unreachable(pymi_domain *d, pymi_head *list);

/* ---- intern.c ------------------------------------------------------------ */
PYMI_HIDDEN extern pym_type pymi_bytes_type;

/* ---- ptrmap.c ------------------------------------------------------------ */
PYMI_HIDDEN void *pymi_ptrmap_get(const pymi_ptrmap *m, const void *key);
/* 0, or -1 when memory ran out. */
PYMI_HIDDEN int pymi_ptrmap_put(pymi_ptrmap *m, void *key, void *value);
PYMI_HIDDEN void *pymi_ptrmap_remove(pymi_ptrmap *m, const void *key);
PYMI_HIDDEN void pymi_ptrmap_destroy(pymi_ptrmap *m);

#endif /* PYMI_GC_INTERNAL_H */
