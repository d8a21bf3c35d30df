/*
 * pymalloc_gc.h -- CPython's object-lifetime model for C objects:
 * reference counting plus a cycle collector with the semantics of Python's
 * `gc` module.  Link with -lpymalloc_gc (which pulls in -lpymalloc).
 *
 * Objects
 *   An object is allocated by pym_new(type) from pymalloc's pools, with a
 *   hidden 16-byte header in front of it (reference count, type, place in
 *   the collector's tables, flags); the pointer you get is 16-byte aligned
 *   and its `type->size` bytes are zeroed.  A tracked container also has
 *   an 8-byte entry in its generation's table.  It starts with one
 *   reference.  When the count reaches
 *   zero the layer runs, in this order: type->finalize (at most once per
 *   object, PEP 442; it may resurrect the object by storing a new reference
 *   to it), clears the weak references to it and calls their callbacks,
 *   type->dealloc, and frees the memory.
 *
 * Free lists
 *   As CPython keeps dead tuples, lists and floats for reuse, each thread
 *   keeps up to 64 KiB of each type's dead objects (objects of at least 8
 *   bytes, not of the shared domain) and pym_new takes the last one kept
 *   before asking pymalloc.  A kept object is dead to every check: a
 *   second pym_decref aborts, and a write through a stale pointer into its
 *   header is reported (abort) by the pym_new that would reuse it.  Every
 *   full collection gives the kept objects back to pymalloc (CPython's
 *   clears its free lists there too), and so does the thread's exit.
 *
 * Containers and the cycle collector
 *   A type with a `traverse` function is a container: its objects are
 *   tracked by the collector from pym_new on.  A type without one is never
 *   tracked.  The collector is CPython's: three generations with thresholds
 *   (700, 10, 10), the "long-lived 25 %" rule for automatic full
 *   collections, finalize-once, weak references cleared before finalizers,
 *   resurrection re-checked after them, then `clear` breaks the cycles.
 *   An unreachable object whose type is marked PYM_TYPE_LEGACY_FINALIZER
 *   cannot be collected: it and everything reachable from it are
 *   uncollectable and the object goes to the garbage list (CPython does
 *   this for tp_del objects).  A type without `clear` is no obstacle by
 *   itself (see pym_type.clear).
 *   An explicit full collection (pym_gc_collect(2)) ends with pym_trim(),
 *   so the pools it emptied go back to the kernel before it returns;
 *   automatic collections leave that to the allocator's purge policy.
 *   The collector keeps working memory between collections (about 12
 *   bytes per object of the largest collection so far); an explicit full
 *   collection gives back what exceeds four times the tracked objects.
 *
 * Threads: one collector domain per thread
 *   Every thread has its own domain (created on first use, like one
 *   interpreter per thread); an object belongs to the domain of the thread
 *   that created it, and that domain's collector is the only one that ever
 *   examines it.  Nothing here is atomic: an object, its reference count and
 *   its domain are used by one thread at a time.  Another thread may touch
 *   an object only while the owner cannot (your own lock or a join gives
 *   that ordering).  A reference to an object from another domain's object
 *   is, for the owner's collector, a reference from outside: the object is
 *   kept alive and never collected as part of a cycle (a cycle spanning two
 *   domains is never collected).  When a thread exits, its domain, with any
 *   objects still alive, is adopted by the next thread that starts using
 *   the layer.  With PYM_GC_DEBUG_OWNER set, every reference-count and
 *   tracking call checks that the calling thread owns the object and aborts
 *   with a message if not.
 *
 * Threads: the shared domain (for cycles that span threads)
 *   pym_gc_shared_enter() puts the calling thread inside the one shared
 *   domain of the process; pym_gc_shared_leave() takes it out.  While a
 *   thread is inside, the shared domain is its current domain: pym_new
 *   allocates into it, and pym_gc_collect and every other pym_gc_* call act
 *   on it.  Any number of threads may be inside at once.  The contract:
 *   - Use (reference-count, read, write, traverse) an object of the shared
 *     domain only while inside.  Its count is atomic, so threads inside may
 *     count the same object at once; its fields are yours to synchronise,
 *     as for any shared C data.
 *   - Shared objects refer only to shared (or immortal) objects.
 *   - A collection of the shared domain (automatic, from pym_new, or
 *     pym_gc_collect) and every pym_gc_* call made inside run while every
 *     other thread is outside: the caller waits until the others have left
 *     or are themselves waiting in pym_gc_shared_enter or in such a call;
 *     enters wait until it is done.  So a thread inside must leave before
 *     it blocks on another thread (a lock, a join, a condition), and leave
 *     from time to time in a long computation, as a Python thread releases
 *     the GIL.  Counting, pym_new and object death do not wait.
 *   - A thread that exits inside leaves.  Enters nest (leave as often).
 *   - Not in the shared domain: weak references (pym_weakref_new returns
 *     NULL with errno = EINVAL for a shared object or inside) and
 *     interning (pym_intern inside: NULL, EINVAL).
 *   The first pym_gc_shared_enter of the process switches pym_incref and
 *   pym_decref of every object to an out-of-line call (which makes the
 *   shared objects' counts atomic); programs that never enter keep the
 *   inline counting.
 *
 * Bad arguments
 *   Functions that take an object check it by its header: NULL, a freed
 *   object, or a pointer that is not one pym_new returned gets the result
 *   written at each function (an error value with errno = EINVAL, or, where
 *   CPython would stop with a fatal error, a one-line message on stderr
 *   and abort()).  The check reads the 16 bytes before the pointer: they
 *   must be readable memory (any pointer into a heap block, a stack or
 *   static data).  Reference counting (pym_incref, pym_decref) is inline
 *   and checks nothing.
 *
 * Limits: a reference count saturates at 2^32-1, which makes the object
 * immortal (as in CPython 3.12); at most 65535 types and 65535 domains;
 * fewer than 2^32 tracked objects per generation of a domain.
 */
#ifndef PYMALLOC_GC_H
#define PYMALLOC_GC_H

#include <pymalloc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called by a traverse function for every object the container holds a
 * reference to; a nonzero return stops the traversal and must be returned
 * by traverse. */
typedef int (*pym_visit_fn)(void *obj, void *arg);

/* Py_VISIT: inside a traverse(self, visit, arg) function. */
#define PYM_VISIT(member)                                   \
    do {                                                    \
        if (member) {                                       \
            int pym_visit_result_ = visit((member), arg);   \
            if (pym_visit_result_)                          \
                return pym_visit_result_;                   \
        }                                                   \
    } while (0)

/* Py_CLEAR: drop a reference held in a field, setting the field first. */
#define PYM_CLEAR(field)                                    \
    do {                                                    \
        void *pym_clear_tmp_ = (void *)(field);             \
        if (pym_clear_tmp_) {                               \
            (field) = NULL;                                 \
            pym_decref(pym_clear_tmp_);                     \
        }                                                   \
    } while (0)

/* A type descriptor.  It must outlive its objects (a static is usual) and
 * must not be const: the layer numbers it on first use.  Its functions,
 * size and flags must not change after its first object: the layer keeps
 * what they say in each object's header. */
typedef struct pym_type {
    const char *name;   /* used in debug messages and statistics */
    size_t size;        /* bytes of an object, the header not included */
    /* Report every reference to a pymalloc_gc object held by self. */
    int (*traverse)(void *self, pym_visit_fn visit, void *arg);
    /* Drop the references self holds (PYM_CLEAR each), leaving a valid,
     * possibly useless object.  NULL (CPython's tuple): the object cannot
     * break a cycle itself; a cycle through it is still collected when
     * another of its objects has a clear (clearing that one frees the
     * rest).  A cycle of objects none of which has a clear survives the
     * collection and is found again by the next one, as in CPython. */
    void (*clear)(void *self);
    /* Run once before the object dies (PEP 442).  May resurrect self. */
    void (*finalize)(void *self);
    /* Release what self owns (references, external resources); the layer
     * frees the memory afterwards.  NULL: `clear` is called instead (an
     * object freed as cyclic garbage has had its clear already and gets
     * no second one). */
    void (*dealloc)(void *self);
    unsigned flags;     /* PYM_TYPE_* */
    unsigned int pymgc_type_id;  /* the layer's: leave it zero */
} pym_type;

/* pym_type.flags: objects of the type found in cyclic garbage, and all
 * they reach, are uncollectable: they stay alive and go to the garbage
 * list (CPython's tp_del, a "legacy finalizer"). */
#define PYM_TYPE_LEGACY_FINALIZER 1u

/* ---- objects ------------------------------------------------------------ */
/* A new object with one reference; NULL with errno = ENOMEM, or EINVAL
 * for a NULL type.  May run an
 * automatic collection (before the object exists) when allocations of
 * containers minus their deallocations exceed threshold 0. */
PYM_EXPORT void *pym_new(pym_type *type);
/* Reference counting is inline, as Py_INCREF/Py_DECREF are: the count is
 * the 32-bit word PYM_REFCNT_OFFSET_ bytes before the object (a layout the
 * library checks at compile time).  The names ending in _ are the layer's
 * own: call pym_incref/pym_decref. */
#if defined(__GNUC__)
#define PYM_UNLIKELY_(x) __builtin_expect(!!(x), 0)
#else
#define PYM_UNLIKELY_(x) (x)
#endif
#define PYM_REFCNT_OFFSET_ 16
#define PYM_IMMORTAL_REFCNT_ UINT32_MAX
/* Nonzero: counting goes through the library (owner check on, or the
 * shared domain in use, whose objects have atomic counts). */
PYM_EXPORT extern int pym_gc_slow_refcount_;
PYM_EXPORT void pym_incref_checked_(void *obj);
PYM_EXPORT void pym_decref_checked_(void *obj);
PYM_EXPORT void pym_dealloc_(void *obj);        /* the count reached zero */

static inline uint32_t *pym_refcnt_word_(const void *obj)
{
    return (uint32_t *)((char *)(uintptr_t)obj - PYM_REFCNT_OFFSET_);
}

static inline void pym_incref(void *obj)
{
    uint32_t *rc = pym_refcnt_word_(obj);
    if (PYM_UNLIKELY_(__atomic_load_n(&pym_gc_slow_refcount_, __ATOMIC_RELAXED)))
        pym_incref_checked_(obj);
    else if (*rc != PYM_IMMORTAL_REFCNT_)
        ++*rc;
}

/* Aborts with a message when the count is already zero. */
static inline void pym_decref(void *obj)
{
    uint32_t *rc = pym_refcnt_word_(obj);
    if (PYM_UNLIKELY_(__atomic_load_n(&pym_gc_slow_refcount_, __ATOMIC_RELAXED))) {
        pym_decref_checked_(obj);
    } else {
        uint32_t n = *rc;
        /* 2 .. immortal - 1: one compare (unsigned, so 0 and 1 wrap above). */
        if (n - 2 < PYM_IMMORTAL_REFCNT_ - 2)
            *rc = n - 1;
        else if (n < 2)
            pym_dealloc_(obj);
    }
}

/* Accept NULL. */
static inline void pym_xincref(void *obj)
{
    if (obj)
        pym_incref(obj);
}

static inline void pym_xdecref(void *obj)
{
    if (obj)
        pym_decref(obj);
}

static inline size_t pym_refcount(const void *obj)
{
    return __atomic_load_n(pym_refcnt_word_(obj), __ATOMIC_RELAXED);
}

/* obj's type; NULL with errno = EINVAL when obj is not an object. */
PYM_EXPORT pym_type *pym_typeof(const void *obj);
/* Make obj permanent: reference counting skips it, the collector never
 * examines it again; what it refers to stays alive for ever.  Not an
 * object: message and abort(). */
PYM_EXPORT void pym_immortalize(void *obj);
/* 1 or 0; -1 with errno = EINVAL when obj is not an object. */
PYM_EXPORT int pym_is_immortal(const void *obj);

/* ---- the collector (the current thread's domain) ------------------------ */
#define PYM_GC_GENERATIONS 3

/* Collects generations 0..generation (2 = full).  Returns the number of
 * unreachable objects found (collected + uncollectable), as gc.collect();
 * 0 while a collection is already running in this domain (a finalizer or
 * callback calling it); -1 with errno = EINVAL for a bad generation. */
PYM_EXPORT long pym_gc_collect(int generation);
PYM_EXPORT void pym_gc_enable(void);
PYM_EXPORT void pym_gc_disable(void);
PYM_EXPORT int pym_gc_isenabled(void);
/* Threshold 0 of generation 0 turns automatic collection off. */
PYM_EXPORT void pym_gc_set_threshold(long threshold0, long threshold1, long threshold2);
PYM_EXPORT void pym_gc_get_threshold(long out[PYM_GC_GENERATIONS]);
/* Generation 0: container allocations minus deallocations since its last
 * collection; 1 and 2: collections of the younger generation since theirs. */
PYM_EXPORT void pym_gc_get_count(long out[PYM_GC_GENERATIONS]);

typedef struct pym_gc_gen_stats {
    size_t collections;     /* collections of this generation */
    size_t collected;       /* objects freed by them */
    size_t uncollectable;   /* unreachable objects they could not free */
} pym_gc_gen_stats_t;
PYM_EXPORT void pym_gc_get_stats(pym_gc_gen_stats_t out[PYM_GC_GENERATIONS]);

/* Iteration: fn gets a borrowed reference and returns nonzero to stop; it
 * must not free or untrack objects (incref what you keep, act afterwards).
 * Each returns the number of calls made, or PYM_GC_ERROR with errno =
 * EINVAL for a NULL fn, a bad generation or an obj that is not an object
 * (so a bad generation differs from an empty one). */
#define PYM_GC_ERROR ((size_t)-1)
typedef int (*pym_gc_object_fn)(void *obj, void *arg);
/* generation -1: all three generations (not the permanent one). */
PYM_EXPORT size_t pym_gc_get_objects(int generation, pym_gc_object_fn fn, void *arg);
/* The tracked objects (generations 0..2) whose traverse reports obj. */
PYM_EXPORT size_t pym_gc_get_referrers(void *obj, pym_gc_object_fn fn, void *arg);
/* What obj's traverse reports (nothing for a non-container). */
PYM_EXPORT size_t pym_gc_get_referents(void *obj, pym_gc_object_fn fn, void *arg);

/* 1 or 0; -1 with errno = EINVAL when obj is not an object. */
PYM_EXPORT int pym_gc_is_tracked(const void *obj);
PYM_EXPORT int pym_gc_is_finalized(const void *obj);
/* Tracking a non-container, or an object already tracked (or untracked),
 * does nothing.  Not an object: message and abort() (CPython's
 * PyObject_GC_Track of a non-object is a fatal error too). */
PYM_EXPORT void pym_gc_track(void *obj);
PYM_EXPORT void pym_gc_untrack(void *obj);

/* Moves every tracked object to the permanent generation, which the
 * collector ignores; unfreeze moves them back to the oldest generation. */
PYM_EXPORT void pym_gc_freeze(void);
PYM_EXPORT void pym_gc_unfreeze(void);
PYM_EXPORT size_t pym_gc_get_freeze_count(void);

/* Debug flags (CPython's values); messages go to stderr in CPython's words. */
#define PYM_GC_DEBUG_STATS          1   /* "gc: collecting generation 2..." */
#define PYM_GC_DEBUG_COLLECTABLE    2   /* "gc: collectable <type 0x...>" */
#define PYM_GC_DEBUG_UNCOLLECTABLE  4   /* "gc: uncollectable <type 0x...>" */
#define PYM_GC_DEBUG_SAVEALL       32   /* keep everything found in garbage */
#define PYM_GC_DEBUG_LEAK (PYM_GC_DEBUG_COLLECTABLE | PYM_GC_DEBUG_UNCOLLECTABLE | PYM_GC_DEBUG_SAVEALL)
/* Not in CPython: process-wide owner check of every reference-count and
 * tracking call (see Threads above). */
#define PYM_GC_DEBUG_OWNER        256
PYM_EXPORT void pym_gc_set_debug(unsigned flags);
PYM_EXPORT unsigned pym_gc_get_debug(void);

/* gc.garbage: objects found unreachable that could not be freed (no
 * `clear`), and with PYM_GC_DEBUG_SAVEALL everything found unreachable.
 * The list holds a reference to each. */
PYM_EXPORT size_t pym_gc_garbage_count(void);
PYM_EXPORT void *pym_gc_garbage_get(size_t index);   /* borrowed; NULL past the end */
PYM_EXPORT void pym_gc_garbage_clear(void);          /* drops the list's references */

/* gc.callbacks: called with phase "start" before and "stop" after every
 * collection of this domain (automatic ones too).  collected and
 * uncollectable are 0 at "start". */
typedef struct pym_gc_info {
    int generation;
    size_t collected;
    size_t uncollectable;
} pym_gc_info_t;
typedef void (*pym_gc_callback)(const char *phase, const pym_gc_info_t *info, void *arg);
/* 0, or -1 with errno = ENOMEM, or EINVAL for a NULL cb. */
PYM_EXPORT int pym_gc_callback_add(pym_gc_callback cb, void *arg);
/* 0, or -1 with errno = ENOENT when (cb, arg) was not registered. */
PYM_EXPORT int pym_gc_callback_remove(pym_gc_callback cb, void *arg);

/* ---- beyond CPython ------------------------------------------------------ */
/* Per-type accounting of this domain: one entry per type with live objects,
 * at most `capacity` entries written; returns how many there are. */
typedef struct pym_gc_type_stats {
    const pym_type *type;
    size_t objects;                         /* live objects */
    size_t bytes;                           /* their bytes, headers included */
    size_t per_generation[PYM_GC_GENERATIONS + 1];  /* tracked, by generation; [3] = permanent */
} pym_gc_type_stats_t;
PYM_EXPORT size_t pym_gc_get_type_stats(pym_gc_type_stats_t *out, size_t capacity);
/* Collector counters, generations and the per-type table, as text. */
PYM_EXPORT void pym_gc_print_stats(FILE *out);

/* "Why is this alive?": prints the shortest chain of references from an
 * object held from outside the tracked graph (a reference the collector
 * cannot account for) down to obj.  Returns the chain's length in
 * references (0 when obj itself is held from outside), or -1 when obj is
 * unreachable cyclic garbage, untracked or in a running collection; -2
 * with errno = EINVAL when obj is not an object or out is NULL. */
PYM_EXPORT int pym_gc_explain(void *obj, FILE *out);

/* ---- the shared domain (see Threads above) ------------------------------ */
/* 0 (waits while a collection of the shared domain runs). */
PYM_EXPORT int pym_gc_shared_enter(void);
/* 0, or -1 with errno = EPERM when the thread is not inside (or calls it
 * from a collection callback or finalizer of the shared domain). */
PYM_EXPORT int pym_gc_shared_leave(void);

/* ---- weak references ------------------------------------------------------ */
/* Called once when the referent dies, unless the weak reference died first
 * (or is itself part of the same cyclic garbage); the referent is gone. */
typedef void (*pym_weakref_callback)(void *weakref, void *arg);
/* A new weak reference (an object: pym_decref it when done) to obj; NULL
 * with errno = ENOMEM, or EINVAL when obj is not an object.  arg is passed
 * to callback and never examined. */
PYM_EXPORT void *pym_weakref_new(void *obj, pym_weakref_callback callback, void *arg);
/* The referent (borrowed), or NULL once it is dead; NULL with errno =
 * EINVAL when weakref is not a weak reference. */
PYM_EXPORT void *pym_weakref_get(void *weakref);

/* ---- interning ------------------------------------------------------------ */
/* A reference to the one live bytes object of this domain equal to
 * bytes[0..len): equal contents give the same pointer while one is alive.
 * Mortal: it goes away with its last reference.  NULL with errno = ENOMEM. */
PYM_EXPORT void *pym_intern(const void *bytes, size_t len);
/* The same, made immortal (it stays interned for ever). */
PYM_EXPORT void *pym_intern_immortal(const void *bytes, size_t len);
/* Contents of an interned object (NUL-terminated) and their length. */
PYM_EXPORT const char *pym_bytes_data(const void *obj);
PYM_EXPORT size_t pym_bytes_size(const void *obj);

#ifdef __cplusplus
}
#endif
#endif /* PYMALLOC_GC_H */
