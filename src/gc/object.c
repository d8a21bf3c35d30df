/*
 * object.c -- the object header: allocation, reference counting, tracking,
 * immortality, per-type accounting, and the death of an object whose count
 * reaches zero.
 *
 * Memory: header + object in one pym_malloc block, so objects live in
 * pymalloc's pools (the header is 32 bytes: the object stays 16-aligned).
 *
 * Death (dealloc_now), CPython's order: untrack; finalize once (PEP 442)
 * with a temporary reference, and stop if the finalizer resurrected the
 * object (a container is tracked again); clear weak references and run their
 * callbacks; dealloc; account; free.  The object is untracked before user
 * code runs, so a collection started from a finalizer or a dealloc never
 * sees a dying object (what it refers to counts as held from outside).
 * Deep chains of deaths are flattened by a trashcan (pymi_dealloc).
 *
 * Counting rule (CPython's): generation 0's count goes up on every
 * container allocation and down on every container deallocation.
 */
#include <errno.h>
#include <string.h>
#include "gc/gc_internal.h"

static void check_owner(const pymi_head *h, const char *what)
{
    pymi_domain *d = pymi_current_domain;
    if (!d || d->id != h->domain_id)
        pymi_fatal("pymalloc_gc: %s of <%s %p> (domain %u) from a thread of domain %u",
                   what, pymi_type_of(h)->name, (void *)(h + 1), h->domain_id, d ? d->id : 0u);
}

size_t pymi_object_bytes(const pymi_head *h)
{
    pym_type *t = pymi_type_of(h);
    if (t == &pymi_bytes_type)
        return sizeof(pymi_head) + pymi_bytes_alloc_size(h + 1);
    return sizeof(pymi_head) + t->size;
}

static PYMI_NOINLINE void type_counts_grow(pymi_domain *d, uint16_t id)
{
    size_t n = d->ntype_counts ? d->ntype_counts : 16;
    while (n <= id)
        n *= 2;
    pymi_type_count *grown = pym_realloc(d->type_counts, n * sizeof *grown);
    if (!grown)
        pymi_fatal("pymalloc_gc: out of memory for type accounting");
    memset(grown + d->ntype_counts, 0, (n - d->ntype_counts) * sizeof *grown);
    d->type_counts = grown;
    d->ntype_counts = n;
}

void pymi_track(pymi_domain *d, pymi_head *h)
{
    h->gen = 0;
    h->epoch = 0;
    pymi_list_append(h, &d->gens[0].head);
}

void pymi_untrack(pymi_domain *d, pymi_head *h)
{
    (void)d;
    pymi_list_remove(h);
    h->next = h->prev = NULL;
    h->gen = PYMI_GEN_UNTRACKED;
}

void *pymi_new_sized(pym_type *type, size_t size)
{
    pymi_domain *d = pymi_domain_current();
    unsigned id = __atomic_load_n(&type->pymi_type_id, __ATOMIC_ACQUIRE);
    if (pymi_unlikely(id == 0))
        id = pymi_type_register(type);
    if (type->traverse) {
        pymi_generation *g0 = &d->gens[0];
        g0->count++;
        if (pymi_unlikely(g0->count > g0->threshold) && g0->threshold && d->enabled && !d->collecting)
            pymi_collect_generations(d);
    }
    if (pymi_unlikely(size > SIZE_MAX - sizeof(pymi_head))) {
        errno = ENOMEM;
        return NULL;
    }
    pymi_head *h = pym_malloc(sizeof *h + size);
    if (pymi_unlikely(!h)) {
        if (type->traverse && d->gens[0].count > 0)
            d->gens[0].count--;
        return NULL;
    }
    memset(h + 1, 0, size);
    h->refcnt = 1;
    h->gc_refs = 0;
    h->type_id = (uint16_t)id;
    h->domain_id = d->id;
    h->flags = 0;
    h->unused = 0;
    if (type->traverse) {
        pymi_track(d, h);
    } else {
        h->next = h->prev = NULL;
        h->gen = PYMI_GEN_UNTRACKED;
        h->epoch = 0;
    }
    if (pymi_unlikely(id >= d->ntype_counts))
        type_counts_grow(d, (uint16_t)id);
    d->type_counts[id].objects++;
    d->type_counts[id].bytes += sizeof *h + size;
    return h + 1;
}

void *pym_new(pym_type *type)
{
    return pymi_new_sized(type, type->size);
}

static void dealloc_now(pymi_domain *d, pymi_head *h)
{
    pym_type *t = pymi_type_of(h);
    void *obj = h + 1;
    if (h->next)
        pymi_untrack(d, h);
    if (t->finalize && !(h->flags & PYMI_FLAG_FINALIZED)) {
        h->flags |= PYMI_FLAG_FINALIZED;
        h->refcnt = 1;
        t->finalize(obj);
        if (--h->refcnt != 0) {
            /* Resurrected: it lives on, tracked if it is a container. */
            if (t->traverse && !h->next)
                pymi_track(d, h);
            return;
        }
    }
    if (h->flags & PYMI_FLAG_WEAKREFS)
        pymi_weakrefs_clear_and_call(d, obj);
    if (t->dealloc)
        t->dealloc(obj);
    else if (t->clear)
        t->clear(obj);
    if (h->next)    /* dealloc tracked it again */
        pymi_untrack(d, h);
    if (t->traverse && d->gens[0].count > 0)
        d->gens[0].count--;
    pymi_type_count *c = &d->type_counts[h->type_id];
    c->objects--;
    c->bytes -= pymi_object_bytes(h);
    pym_free(h);
}

/* CPython's trashcan: a long chain of objects whose deallocs drop the next
 * one would recurse once per object; past PYMI_TRASH_DEPTH nested deaths
 * the object is parked on d->trash and the outermost one finishes it. */
#define PYMI_TRASH_DEPTH 50

static PYMI_NOINLINE void pymi_dealloc(pymi_head *h)
{
    pymi_domain *d = pymi_domain_of(h);
    if (d->dealloc_depth >= PYMI_TRASH_DEPTH) {
        if (h->next)
            pymi_untrack(d, h);
        h->prev = d->trash;
        d->trash = h;
        return;
    }
    d->dealloc_depth++;
    dealloc_now(d, h);
    if (d->dealloc_depth == 1) {
        while (d->trash) {
            pymi_head *parked = d->trash;
            d->trash = parked->prev;
            parked->prev = NULL;
            dealloc_now(d, parked);
        }
    }
    d->dealloc_depth--;
}

int pym_gc_owner_check_;

void pym_incref_checked_(void *obj)
{
    pymi_head *h = pymi_head_of(obj);
    check_owner(h, "incref");
    if (h->refcnt != PYMI_IMMORTAL)
        h->refcnt++;
}

void pym_dealloc_(void *obj)
{
    pymi_head *h = pymi_head_of(obj);
    if (pymi_unlikely(h->refcnt == 0))
        pymi_fatal("pymalloc_gc: decref of <%s %p> whose reference count is already zero",
                   pymi_type_of(h)->name, obj);
    h->refcnt = 0;
    pymi_dealloc(h);
}

void pym_decref_checked_(void *obj)
{
    pymi_head *h = pymi_head_of(obj);
    check_owner(h, "decref");
    if (h->refcnt == PYMI_IMMORTAL)
        return;
    if (h->refcnt > 1)
        h->refcnt--;
    else
        pym_dealloc_(obj);
}

pym_type *pym_typeof(const void *obj)
{
    return pymi_type_of(pymi_head_of(obj));
}

void pym_immortalize(void *obj)
{
    pymi_head *h = pymi_head_of(obj);
    if (h->next)
        pymi_untrack(pymi_domain_of(h), h);
    h->refcnt = PYMI_IMMORTAL;
}

int pym_is_immortal(const void *obj)
{
    return pymi_head_of(obj)->refcnt == PYMI_IMMORTAL;
}

int pym_gc_is_tracked(const void *obj)
{
    return pymi_head_of(obj)->next != NULL;
}

int pym_gc_is_finalized(const void *obj)
{
    return (pymi_head_of(obj)->flags & PYMI_FLAG_FINALIZED) != 0;
}

void pym_gc_track(void *obj)
{
    pymi_head *h = pymi_head_of(obj);
    if (pymi_unlikely(pym_gc_owner_check_))
        check_owner(h, "track");
    if (h->next || !pymi_type_of(h)->traverse || h->refcnt == PYMI_IMMORTAL)
        return;
    pymi_track(pymi_domain_of(h), h);
}

void pym_gc_untrack(void *obj)
{
    pymi_head *h = pymi_head_of(obj);
    if (pymi_unlikely(pym_gc_owner_check_))
        check_owner(h, "untrack");
    if (h->next)
        pymi_untrack(pymi_domain_of(h), h);
}
