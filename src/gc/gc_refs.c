/*
 * gc_refs.c -- step 1 of a collection (and of pym_gc_explain): for every
 * object of a set of tables, gc_refs = its reference count minus the
 * references to it from objects of the set.  What is left is held from
 * outside: those objects are the roots.
 *
 * gc_refs live in one array by position (the table's base plus the slot),
 * not in the headers: the search for roots then reads 4 bytes per object,
 * one dense array, instead of every header.  One walk over the tables adds
 * each object's count at its position and subtracts one at each
 * referent's position (an unsigned sum: a referent may be seen before its
 * own count is added).  CPython copies the counts in a walk of their own
 * (update_refs); this needs one walk, in the tables' order, prefetching
 * the objects a few entries ahead.
 *
 * The array is all zero between passes, so no pass starts by clearing
 * it: it is zeroed once when it grows, and a pass's user puts back a 0
 * wherever it found something else.  After a collection's root search
 * only the roots' positions held anything (collect.c); clearing the 4 MiB
 * of a 1 M-object set up front took 0.2-0.3 ms of a 11-12 ms collection.
 */
#include <string.h>
#include "gc/gc_internal.h"

static void gc_refs_reserve(pymgc_domain *d, size_t n)
{
    if (n <= d->gc_refs_capacity)
        return;
    size_t capacity = d->gc_refs_capacity ? d->gc_refs_capacity : 1024;
    while (capacity < n)
        capacity *= 2;
    uint32_t *grown = pym_realloc(d->gc_refs, capacity * sizeof *grown);
    if (!grown)
        pymgc_fatal("pymalloc_gc: out of memory for the gc_refs of %zu objects", n);
    memset(grown + d->gc_refs_capacity, 0, (capacity - d->gc_refs_capacity) * sizeof *grown);
    d->gc_refs = grown;
    d->gc_refs_capacity = capacity;
}

static int visit_subtract(void *obj, void *arg)
{
    const pymgc_set *s = arg;
    pymgc_head *h = pymgc_head_of(obj);
    uint32_t index = pymgc_set_index(h, s);
    if (index <= s->span)
        s->gc_refs[s->base[index] + h->slot]--;
    return 0;
}

/* The same for a set of one table (a young collection): the position is
 * the slot. */
static int visit_subtract_one_table(void *obj, void *arg)
{
    const pymgc_set *s = arg;
    pymgc_head *h = pymgc_head_of(obj);
    if (pymgc_head_key(h) == s->key_lo)
        s->gc_refs[h->slot]--;
    return 0;
}

/* items[from..to), prefetching ahead or not: the two loops of
 * subtract_table, so that a small table's walk tests nothing per object
 * for the prefetch. */
static PYMGC_ALWAYS_INLINE void subtract_range(pymgc_head *const *items, uint32_t from, uint32_t to,
                                               bool prefetch, pym_visit_fn visit, pymgc_set *s,
                                               uint32_t *gc_refs)
{
    for (uint32_t i = from; i < to; i++) {
        if (prefetch)
            pymgc_prefetch_entry(items, i);
        pymgc_head *h = items[i];
        if (!h)
            continue;
        gc_refs[i] += h->refcnt;
        pymgc_type_of(h)->traverse(pymgc_object_of(h), visit, s);
    }
}

/* Items and length in locals: traverse is opaque, and would otherwise
 * make the compiler load them again at every step. */
static void subtract_table(const pymgc_table *t, pymgc_set *s, uint32_t *gc_refs)
{
    pymgc_head *const *items = t->items;
    uint32_t len = t->len, prefetch_end = pymgc_prefetch_end(len);
    pym_visit_fn visit = s->span == 0 ? visit_subtract_one_table : visit_subtract;
    subtract_range(items, 0, prefetch_end, true, visit, s, gc_refs);
    subtract_range(items, prefetch_end, len, false, visit, s, gc_refs);
}

void pymgc_set_gc_refs(pymgc_set *s, pymgc_domain *d, uint8_t lo, uint8_t hi)
{
    s->lo = lo;
    s->key_lo = d->id | (uint32_t)lo << 16;
    s->span = (uint32_t)(hi - lo);
    size_t n = 0;
    for (unsigned g = lo; g <= hi; g++) {
        s->base[g - lo] = (uint32_t)n;
        n += d->tables[g].len;
    }
    if (n > UINT32_MAX)
        pymgc_fatal("pymalloc_gc: more than 2^32 objects in one collection");
    gc_refs_reserve(d, n ? n : 1);
    s->count = (uint32_t)n;
    s->gc_refs = d->gc_refs;
    for (unsigned g = lo; g <= hi; g++)
        subtract_table(&d->tables[g], s, s->gc_refs + s->base[g - lo]);
}

void pymgc_set_zero(pymgc_set *s)
{
    memset(s->gc_refs, 0, s->count * sizeof *s->gc_refs);
}
