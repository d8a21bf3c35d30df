/*
 * weakref.c -- weak references with callbacks.
 *
 * A weak reference is an object of the built-in type "weakref".  The
 * weak references to one referent form a doubly linked list (newest first)
 * whose head is found in the referent's domain map (referent -> first);
 * the referent's header flag PYMGC_FLAG_WEAKREFS says whether to look.
 *
 * The weakref type is a container with nothing to traverse: it is tracked
 * only so that the collector can tell a weak reference that is itself part
 * of cyclic garbage, whose callback CPython does not call.
 *
 * Death of a referent, both paths: first every weak reference to it is
 * cleared (pym_weakref_get returns NULL), then callbacks run, each with a
 * temporary reference to its weak reference so that a callback may drop
 * the last outside one.
 */
#include <errno.h>
#include "gc/gc_internal.h"

typedef struct pymgc_weakref {
    void *referent;                 /* NULL once cleared */
    pym_weakref_callback callback;
    void *arg;
    struct pymgc_weakref *next, *prev;   /* same referent */
    struct pymgc_weakref *pending;       /* callbacks still to run */
} pymgc_weakref;

static int weakref_traverse(void *self, pym_visit_fn visit, void *arg)
{
    (void)self;
    (void)visit;
    (void)arg;
    return 0;
}

/* Unhooks wr from its referent's list. */
static void weakref_unlink(void *self)
{
    pymgc_weakref *wr = self;
    if (!wr->referent)
        return;
    pymgc_head *rh = pymgc_head_of(wr->referent);
    pymgc_domain *d = pymgc_domain_of(rh);
    if (wr->prev) {
        wr->prev->next = wr->next;
    } else if (wr->next) {
        pymgc_ptrmap_put(&d->weakrefs, wr->referent, wr->next);  /* key exists: cannot fail */
    } else {
        pymgc_ptrmap_remove(&d->weakrefs, wr->referent);
        rh->flags &= (uint8_t)~PYMGC_FLAG_WEAKREFS;
    }
    if (wr->next)
        wr->next->prev = wr->prev;
    wr->referent = NULL;
    wr->next = wr->prev = NULL;
}

static pym_type weakref_type = {
    .name = "weakref",
    .size = sizeof(pymgc_weakref),
    .traverse = weakref_traverse,
    .clear = weakref_unlink,
    .dealloc = weakref_unlink,
};

void *pym_weakref_new(void *obj, pym_weakref_callback callback, void *arg)
{
    pymgc_head *oh = pymgc_checked_head(obj);
    if (!oh)
        return NULL;
    if (oh->tag == PYMGC_TAG_SHARED || pymgc_domain_current()->shared) {
        errno = EINVAL;     /* not in the shared domain (see the header) */
        return NULL;
    }
    pymgc_weakref *wr = pym_new(&weakref_type);
    if (!wr)
        return NULL;
    pymgc_head *rh = pymgc_head_of(obj);
    pymgc_domain *d = pymgc_domain_of(rh);
    pymgc_weakref *first = (rh->flags & PYMGC_FLAG_WEAKREFS) ? pymgc_ptrmap_get(&d->weakrefs, obj) : NULL;
    if (pymgc_ptrmap_put(&d->weakrefs, obj, wr) < 0) {
        pym_decref(wr);
        errno = ENOMEM;
        return NULL;
    }
    rh->flags |= PYMGC_FLAG_WEAKREFS;
    wr->referent = obj;
    wr->callback = callback;
    wr->arg = arg;
    wr->next = first;
    if (first)
        first->prev = wr;
    return wr;
}

void *pym_weakref_get(void *weakref)
{
    pymgc_head *h = pymgc_checked_head(weakref);
    if (!h || pymgc_type_of(h) != &weakref_type) {
        errno = EINVAL;
        return NULL;
    }
    return ((pymgc_weakref *)weakref)->referent;
}

/* Clears the list of weak references to obj; appends to *pending those
 * whose callback must run (with a reference taken). */
static pymgc_weakref **clear_list(pymgc_domain *d, void *obj, pymgc_weakref **pending_tail,
                                 bool in_collection)
{
    pymgc_weakref *wr = pymgc_ptrmap_remove(&d->weakrefs, obj);
    pymgc_head_of(obj)->flags &= (uint8_t)~PYMGC_FLAG_WEAKREFS;
    while (wr) {
        pymgc_weakref *next = wr->next;
        wr->referent = NULL;
        wr->next = wr->prev = NULL;
        pymgc_head *wh = pymgc_head_of(wr);
        /* A weak reference that is garbage of this very collection does
         * not get its callback (gen TENTATIVE only exists during one). */
        bool is_garbage = in_collection && wh->domain_id == d->id && wh->gen == PYMGC_GEN_TENTATIVE;
        if (wr->callback && !is_garbage) {
            wh->refcnt++;
            wr->pending = NULL;
            *pending_tail = wr;
            pending_tail = &wr->pending;
        }
        wr = next;
    }
    return pending_tail;
}

static size_t run_callbacks(pymgc_weakref *pending)
{
    size_t ran = 0;
    while (pending) {
        ran++;
        pymgc_weakref *wr = pending;
        pending = wr->pending;
        wr->callback(wr, wr->arg);
        pym_decref(wr);
    }
    return ran;
}

void pymgc_weakrefs_clear_and_call(pymgc_domain *d, void *obj)
{
    pymgc_weakref *pending = NULL;
    clear_list(d, obj, &pending, false);
    run_callbacks(pending);
}

size_t pymgc_weakrefs_handle_unreachable(pymgc_domain *d, const pymgc_table *unreachable)
{
    pymgc_weakref *pending = NULL, **tail = &pending;
    for (uint32_t i = 0; i < unreachable->len; i++) {
        pymgc_head *h = unreachable->items[i];
        if (h && (h->flags & PYMGC_FLAG_WEAKREFS))
            tail = clear_list(d, pymgc_object_of(h), tail, true);
    }
    return run_callbacks(pending);
}
