/*
 * collect.c -- the cycle collector (v3): CPython's gc_collect_main, with
 * the reachability part done as the free-threaded collector of CPython
 * 3.14 does it (find the roots once, mark from them, sweep), over tables.
 *
 *  1. gc_refs (gc_refs.c): for every object of the generations being
 *     collected (the young set), its reference count minus the references
 *     from other objects of the set, in a dense array by position.
 *  2. mark: an object with gc_refs > 0 is held from outside the set: a
 *     root.  Everything a root reaches in the set is marked reachable,
 *     depth first, with an explicit stack.  The roots are found by a scan
 *     of the gc_refs array, not of the headers.
 *  3. sweep: reachable objects go, in order, to the next older
 *     generation's table (a full collection compacts generation 2's in
 *     place), the rest to the TENTATIVE table, held (+1) and untracked
 *     already: when no step 4-7 has work (and no debug flag lists them),
 *     step 8 takes them from there (delete_held); otherwise they become
 *     ordinary entries of that table first (unhold_unreachable).
 *     Steps 1 and 3 are one walk each of the young tables, oldest
 *     generation first, in tracking order, prefetching the objects a few
 *     entries ahead wherever they are (v2 chased a linked list, moving
 *     each unreachable object between lists as it went).
 *  4. Unreachable objects whose type is marked PYM_TYPE_LEGACY_FINALIZER,
 *     and all they reach, are uncollectable (CPython's tp_del rule).
 *  5. Weak references to unreachable objects are cleared; callbacks run for
 *     those weak references that are not garbage themselves.
 *  6. finalize runs once per object (PEP 442).
 *  7. Steps 1-3 again over the unreachable set: objects a finalizer
 *     resurrected (and what they reach) go to the older generation, the
 *     rest to the FINAL table.
 *  8. `clear` on each remaining object breaks the cycles; refcounting frees.
 *     An object without `clear` (a tuple) is freed when another object's
 *     clear drops the last reference to it; if it is still alive after its
 *     turn it goes to the older generation, as in CPython.
 *  9. Uncollectable objects go to the garbage list; statistics; callbacks.
 * 10. An explicit full collection (pym_gc_collect(2)) ends with
 *     pym_trim(), so what it freed (and its own scratch) goes back to the
 *     kernel before it returns; automatic collections leave that to the allocator's purge
 *     policy (pym_trim purges every dirty pool of the process).
 * Steps 4-7 are skipped when step 3 saw no object they could act on (no
 * legacy-finalizer type, no weak reference, no pending finalizer) and step 7
 * when no user code ran in 5-6.
 *
 * Re-entrancy: d->collecting is set for the whole collection (and its
 * callbacks); pym_gc_collect returns 0 and allocation does not trigger a
 * collection while it is set.  User code (callbacks, finalizers, clear)
 * may free or untrack any object: that leaves a hole in its table (tables
 * are not compacted during a collection), and every loop that runs user
 * code indexes its table afresh on each step.
 *
 * Thread rule: only objects of this domain are ever "in the set"; a
 * reference from another domain is never subtracted, so it keeps the
 * object alive.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>
#include "gc/gc_internal.h"

/* Found by the sweep among the unreachable objects (header flags): the
 * steps that would find nothing to do are skipped. */
enum {
    NEEDS_UNCOLLECTABLE = PYMGC_FLAG_LEGACY,    /* an object of a legacy-finalizer type */
    NEEDS_WEAKREFS = PYMGC_FLAG_WEAKREFS,       /* an object with weak references */
    NEEDS_FINALIZE = PYMGC_FLAG_FINALIZE,       /* an object whose finalizer has not run */
    NEEDS_ANY = NEEDS_UNCOLLECTABLE | NEEDS_WEAKREFS | NEEDS_FINALIZE,
};

/* One reachability analysis (steps 1-3, or 7). */
typedef struct reach_ctx {
    pymgc_domain *d;
    pymgc_set set;
    pymgc_head *next;       /* the first object a traverse marked: visited next */
    pymgc_head **stack;     /* the others: d->mark_stack, and its capacity, at hand */
    size_t depth, capacity;
    unsigned needs;         /* NEEDS_*: which later steps may have work */
    size_t survivors;       /* reachable objects swept */
} reach_ctx;

static PYMGC_NOINLINE void report_overcount(const pymgc_head *h)
{
    pymgc_fatal("pymalloc_gc: traverse of a container reports more references to <%s %p> "
               "than its reference count %u", pymgc_type_of(h)->name, (void *)(h + 1), h->refcnt);
}

static reach_ctx reach_ctx_for(pymgc_domain *d)
{
    return (reach_ctx){.d = d, .stack = d->mark_stack, .capacity = d->mark_stack_capacity};
}

/* Out of line, so that mark's common case needs no stack frame. */
static PYMGC_NOINLINE void mark_stack_grow_then_push(reach_ctx *c, pymgc_head *h)
{
    pymgc_domain *d = c->d;
    size_t capacity = d->mark_stack_capacity ? 2 * d->mark_stack_capacity : 1024;
    pymgc_head **grown = pym_realloc(d->mark_stack, capacity * sizeof *grown);
    if (!grown)
        pymgc_fatal("pymalloc_gc: out of memory for the collector's mark stack (%zu entries)", capacity);
    d->mark_stack = c->stack = grown;
    d->mark_stack_capacity = c->capacity = capacity;
    c->stack[c->depth++] = h;
}

static inline void push(reach_ctx *c, pymgc_head *h)
{
    if (pymgc_unlikely(c->depth == c->capacity))
        mark_stack_grow_then_push(c, h);
    else
        c->stack[c->depth++] = h;
}

/* The first object a traverse marks is kept in c->next and visited right
 * after it, the rest go on the stack.  A chain (a list, a tree's leftmost
 * path) then goes from object to object through one slot, without a push
 * and a pop of the stack per object (7 instructions fewer per object of the
 * benchmark's 500 k-object chain under callgrind). */
static int visit_mark(void *obj, void *arg)
{
    reach_ctx *c = arg;
    pymgc_head *h = pymgc_head_of(obj);
    if (pymgc_in_set(h, &c->set) && !h->marked) {
        h->marked = 1;
        if (!c->next)
            c->next = h;
        else
            push(c, h);
    }
    return 0;
}

/* The first position from i on whose gc_refs is not 0 (len if none).
 * Most objects of a large set are held only from inside it: the scan
 * tests eight at a time, as four 8-byte words. */
static inline uint32_t next_root(const uint32_t *gc_refs, uint32_t i, uint32_t len)
{
    for (; i < len && i % 8; i++)
        if (gc_refs[i])
            return i;
    for (; len - i >= 8; i += 8) {
        uint64_t w[4];
        memcpy(w, gc_refs + i, sizeof w);
        if (w[0] | w[1] | w[2] | w[3])
            break;
    }
    for (; i < len; i++)
        if (gc_refs[i])
            return i;
    return len;
}

/* Step 2 for the roots of table `gen`: marks what they reach (in any table
 * of the set).  The roots are found in the dense gc_refs array; only their
 * headers are read.  An overcount wraps around to more than the count, so
 * it shows up here as a root; each root's gc_refs goes back to 0, which
 * leaves the whole array zero for the next pass (gc_refs.c). */
static void mark_from_roots(reach_ctx *c, uint8_t gen)
{
    const pymgc_table *t = &c->d->tables[gen];
    uint32_t *gc_refs = c->set.gc_refs + c->set.base[gen - c->set.lo];
    uint32_t len = t->len;
    for (uint32_t i = next_root(gc_refs, 0, len); i < len; i = next_root(gc_refs, i + 1, len)) {
        pymgc_head *h = t->items[i];
        if (pymgc_unlikely(gc_refs[i] > h->refcnt))
            report_overcount(h);
        gc_refs[i] = 0;
        if (h->marked)
            continue;
        h->marked = 1;
        for (pymgc_head *x = h; x; x = c->next ? c->next : c->depth ? c->stack[--c->depth] : NULL) {
            c->next = NULL;
            pymgc_type_of(x)->traverse(pymgc_object_of(x), visit_mark, c);
        }
    }
}

/* Where step 3 puts a table's objects (sweep): the kept ones at
 * kept[nkept++], the lost ones at lost[nlost++]. */
typedef struct sweep_out {
    pymgc_head **kept, **lost;
    uint32_t nkept, nlost;
    unsigned needs;         /* the flags of the lost ones, ORed */
} sweep_out;

/* items[from..to) of table `gen`, prefetching ahead or not: the two loops
 * of sweep, so that a small table's walk tests nothing per object for the
 * prefetch. */
static PYMGC_ALWAYS_INLINE void sweep_range(pymgc_head *const *items,
                                            uint32_t from, uint32_t to, bool prefetch, uint8_t old_gen,
                                            uint8_t unreachable_gen, bool hold, sweep_out *out)
{
    for (uint32_t i = from; i < to; i++) {
        if (prefetch)
            pymgc_prefetch_entry(items, i);
        pymgc_head *h = items[i];
        if (!h)
            continue;
        if (h->marked) {
            h->marked = 0;
            h->gen = old_gen;
            h->slot = out->nkept;
            out->kept[out->nkept++] = h;
            continue;
        }
        out->needs |= h->flags;
        if (hold) {
            h->gen = PYMGC_GEN_UNTRACKED;
            h->refcnt++;
        } else {
            h->gen = unreachable_gen;
            h->slot = out->nlost;
        }
        out->lost[out->nlost++] = h;
    }
}

/* Step 3 for table `gen`: marked objects to table `old_gen` (in place when
 * it is the same table), unmarked ones to table `unreachable_gen`.  With
 * `hold` (the main pass), an unmarked object goes there untracked and held
 * (+1) already, its slot not written: ready for delete_held when the set
 * turns out to need none of steps 4-7, or made an ordinary table entry by
 * unhold_unreachable.  Items, lengths and counts are kept in locals: the
 * stores into headers could alias them. */
static PYMGC_ALWAYS_INLINE void sweep(reach_ctx *c, uint8_t gen, uint8_t old_gen, uint8_t unreachable_gen,
                                      bool hold)
{
    pymgc_table *young = &c->d->tables[gen];
    pymgc_table *old = &c->d->tables[old_gen];
    pymgc_table *unreachable = &c->d->tables[unreachable_gen];
    bool in_place = old == young;
    uint32_t len = young->len, prefetch_end = pymgc_prefetch_end(len);
    if (!in_place)
        pymgc_table_reserve_n(old, len);
    pymgc_table_reserve_n(unreachable, len);
    pymgc_head **items = young->items;
    uint32_t first_kept = in_place ? 0 : old->len;
    sweep_out out = {.kept = old->items, .lost = unreachable->items,
                     .nkept = first_kept, .nlost = unreachable->len};
    sweep_range(items, 0, prefetch_end, true, old_gen, unreachable_gen, hold, &out);
    sweep_range(items, prefetch_end, len, false, old_gen, unreachable_gen, hold, &out);
    c->needs |= out.needs & NEEDS_ANY;
    c->survivors += out.nkept - first_kept;
    if (!in_place)
        young->len = 0;
    young->holes = 0;
    old->len = out.nkept;
    unreachable->len = out.nlost;
}

/* Steps 1-3 over the tables of gens lo..hi, oldest generation first (the
 * order survivors keep in the older table); `hold` as for sweep. */
static void find_unreachable(reach_ctx *c, uint8_t lo, uint8_t hi, uint8_t old_gen, uint8_t unreachable_gen,
                             bool hold)
{
    pymgc_set_gc_refs(&c->set, c->d, lo, hi);
    for (int g = hi; g >= lo; g--)
        mark_from_roots(c, (uint8_t)g);
    for (int g = hi; g >= lo; g--) {
        if (hold)
            sweep(c, (uint8_t)g, old_gen, unreachable_gen, true);
        else
            sweep(c, (uint8_t)g, old_gen, unreachable_gen, false);
    }
}

/* The held unreachable objects of the TENTATIVE table become its ordinary
 * entries (tracked there, not held), for steps 4-8 in full. */
static void unhold_unreachable(pymgc_domain *d)
{
    pymgc_table *unreachable = &d->tables[PYMGC_GEN_TENTATIVE];
    for (uint32_t i = 0; i < unreachable->len; i++) {
        pymgc_head *h = unreachable->items[i];
        h->refcnt--;
        h->gen = PYMGC_GEN_TENTATIVE;
        h->slot = i;
    }
}

static void table_move(pymgc_domain *d, pymgc_head *h, uint8_t gen)
{
    pymgc_table *to = &d->tables[gen];
    pymgc_table_remove(d, h);
    pymgc_table_reserve_n(to, 1);
    pymgc_table_push(to, h, gen);
}

static int visit_move_uncollectable(void *obj, void *arg)
{
    pymgc_domain *d = arg;
    pymgc_head *h = pymgc_head_of(obj);
    if (h->domain_id == d->id && h->gen == PYMGC_GEN_TENTATIVE)
        table_move(d, h, PYMGC_GEN_UNCOLLECTABLE);
    return 0;
}

/* CPython's move_legacy_finalizers + move_legacy_finalizer_reachable:
 * TENTATIVE -> UNCOLLECTABLE.  Returns the number of objects moved. */
static size_t move_uncollectable(pymgc_domain *d)
{
    pymgc_table *unreachable = &d->tables[PYMGC_GEN_TENTATIVE];
    pymgc_table *uncollectable = &d->tables[PYMGC_GEN_UNCOLLECTABLE];
    for (uint32_t i = 0; i < unreachable->len; i++) {
        pymgc_head *h = unreachable->items[i];
        if (h && (pymgc_type_of(h)->flags & PYM_TYPE_LEGACY_FINALIZER))
            table_move(d, h, PYMGC_GEN_UNCOLLECTABLE);
    }
    for (uint32_t i = 0; i < uncollectable->len; i++) {
        pymgc_head *h = uncollectable->items[i];
        pymgc_type_of(h)->traverse(pymgc_object_of(h), visit_move_uncollectable, d);
    }
    return uncollectable->len;
}

/* Returns the number of finalizers run. */
static size_t finalize_garbage(pymgc_domain *d)
{
    size_t ran = 0;
    pymgc_table *unreachable = &d->tables[PYMGC_GEN_TENTATIVE];
    for (uint32_t i = 0; i < unreachable->len; i++) {
        pymgc_head *h = unreachable->items[i];
        if (!h)
            continue;
        pym_type *t = pymgc_type_of(h);
        if (t->finalize && !(h->flags & PYMGC_FLAG_FINALIZED)) {
            pymgc_set_finalized(h);
            h->refcnt++;
            t->finalize(pymgc_object_of(h));
            pym_decref(pymgc_object_of(h));
            ran++;
        }
    }
    return ran;
}

/* Step 8 in batches: up to GARBAGE_BATCH objects of the table are taken
 * out (untracked) and held (refcount + 1) first, then each gets its clear,
 * then each is released.  Held, none of them dies in the middle of the
 * clears, so the clears only decrement counts: no death recursing through
 * a cycle.  The release is a death without a second clear
 * (pymgc_release_garbage).  A batch member still referenced after its
 * release lives on in the older generation, as in CPython.  Objects later
 * in the table that a clear frees die the usual way (leaving holes): the
 * table is read afresh for each batch. */
#define GARBAGE_BATCH 128     /* 4 KiB of 32-byte objects: the three passes stay in L1 */

/* The clears of a batch of held garbage, then its release. */
static void clear_then_release(pymgc_domain *d, pymgc_head *const *batch, size_t n, uint8_t old_gen)
{
    for (size_t j = 0; j < n; j++) {
        pym_type *t = pymgc_type_of(batch[j]);
        if (t->clear)
            t->clear(pymgc_object_of(batch[j]));
    }
    pymgc_release_garbage(d, batch, n, old_gen);
}

static void delete_garbage(pymgc_domain *d, uint8_t garbage_gen, uint8_t old_gen)
{
    pymgc_table *garbage = &d->tables[garbage_gen];
    pymgc_head *batch[GARBAGE_BATCH];
    uint32_t i = 0;
    while (i < garbage->len) {
        pymgc_head **items = garbage->items;
        uint32_t len = garbage->len, taken = 0, prefetch_end = pymgc_prefetch_end(len);
        size_t n = 0;
        for (; n < GARBAGE_BATCH && i < len; i++) {
            pymgc_prefetch_ahead(items, prefetch_end, i);
            pymgc_head *h = items[i];
            if (!h)
                continue;
            items[i] = NULL;
            taken++;
            h->gen = PYMGC_GEN_UNTRACKED;
            h->refcnt++;
            batch[n++] = h;
        }
        garbage->holes += taken;
        clear_then_release(d, batch, n, old_gen);
    }
    garbage->len = garbage->holes = 0;
}

/* Step 8 when the sweep held the unreachable objects (and nothing had to
 * run before): each batch gets its clears, then its release, straight from
 * the TENTATIVE table's array (these objects are untracked; the table is
 * read afresh for each batch, and emptied at the end). */
static void delete_held(pymgc_domain *d, uint8_t old_gen)
{
    pymgc_table *held = &d->tables[PYMGC_GEN_TENTATIVE];
    for (uint32_t i = 0; i < held->len; i += GARBAGE_BATCH) {
        clear_then_release(d, held->items + i,
                           held->len - i < GARBAGE_BATCH ? held->len - i : GARBAGE_BATCH, old_gen);
    }
    held->len = held->holes = 0;
}

/* With PYM_GC_DEBUG_SAVEALL: everything to the garbage list, untracked. */
static void save_garbage(pymgc_domain *d, uint8_t garbage_gen)
{
    pymgc_table *garbage = &d->tables[garbage_gen];
    for (uint32_t i = 0; i < garbage->len; i++) {
        pymgc_head *h = garbage->items[i];
        if (!h)
            continue;
        pymgc_garbage_append(d, pymgc_object_of(h));
        pymgc_untrack(d, h);
    }
    garbage->len = garbage->holes = 0;
}

static void debug_objects(const pymgc_table *t, const char *what)
{
    for (uint32_t i = 0; i < t->len; i++)
        if (t->items[i])
            fprintf(stderr, "gc: %s <%s %p>\n", what, pymgc_type_of(t->items[i])->name,
                    (void *)(t->items[i] + 1));
}

static void show_stats_each_generation(pymgc_domain *d)
{
    fprintf(stderr, "gc: objects in each generation: %zu %zu %zu\n"
            "gc: objects in permanent generation: %zu\n",
            pymgc_table_size(&d->tables[0]), pymgc_table_size(&d->tables[1]),
            pymgc_table_size(&d->tables[2]), pymgc_table_size(&d->tables[PYMGC_GEN_PERMANENT]));
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Steps 4-8 in full, when the unreachable objects of the main pass (in
 * the TENTATIVE table, no longer held) need any of them or a debug flag
 * asks to see them.  Returns the number collected; *uncollectable_out gets
 * the number moved to the UNCOLLECTABLE table. */
static size_t collect_unreachable_in_full(pymgc_domain *d, unsigned needs, uint8_t old_gen,
                                          size_t *uncollectable_out)
{
    size_t n_uncollectable = 0;
    if (needs & NEEDS_UNCOLLECTABLE)
        n_uncollectable = move_uncollectable(d);
    size_t collected = pymgc_table_size(&d->tables[PYMGC_GEN_TENTATIVE]);

    if (d->debug & PYM_GC_DEBUG_COLLECTABLE)
        debug_objects(&d->tables[PYMGC_GEN_TENTATIVE], "collectable");

    size_t user_code_runs = 0;
    if (needs & NEEDS_WEAKREFS)
        user_code_runs += pymgc_weakrefs_handle_unreachable(d, &d->tables[PYMGC_GEN_TENTATIVE]);
    if (needs & NEEDS_FINALIZE)
        user_code_runs += finalize_garbage(d);

    /* Resurrection check: which unreachable objects are now held from
     * outside the unreachable set (by a finalizer, a weakref callback)?
     * Without user code having run, none can be. */
    uint8_t garbage_gen = PYMGC_GEN_TENTATIVE;
    if (user_code_runs) {
        reach_ctx again = reach_ctx_for(d);
        find_unreachable(&again, PYMGC_GEN_TENTATIVE, PYMGC_GEN_TENTATIVE, old_gen, PYMGC_GEN_FINAL, false);
        garbage_gen = PYMGC_GEN_FINAL;
        collected = pymgc_table_size(&d->tables[PYMGC_GEN_FINAL]);
    }

    if (d->debug & PYM_GC_DEBUG_SAVEALL)
        save_garbage(d, garbage_gen);
    else
        delete_garbage(d, garbage_gen, old_gen);
    *uncollectable_out = n_uncollectable;
    return collected;
}

/* Returns the number of objects collected; *uncollectable_out gets the
 * number of unreachable objects that could not be. */
static size_t collect_main(pymgc_domain *d, int generation, size_t *uncollectable_out)
{
    double t0 = 0;
    if (d->debug & PYM_GC_DEBUG_STATS) {
        fprintf(stderr, "gc: collecting generation %d...\n", generation);
        show_stats_each_generation(d);
        t0 = now_seconds();
    }
    if (generation + 1 < PYM_GC_GENERATIONS)
        d->gens[generation + 1].count += 1;
    for (int i = 0; i <= generation; i++)
        d->gens[i].count = 0;

    uint8_t old_gen = (uint8_t)(generation + 1 < PYM_GC_GENERATIONS ? generation + 1 : generation);
    reach_ctx reach = reach_ctx_for(d);
    find_unreachable(&reach, 0, (uint8_t)generation, old_gen, PYMGC_GEN_TENTATIVE, true);
    if (old_gen != generation) {
        if (generation == PYM_GC_GENERATIONS - 2)
            d->long_lived_pending += reach.survivors;
    } else {
        d->long_lived_pending = 0;
        d->long_lived_total = reach.survivors;
    }

    size_t collected, n_uncollectable = 0;
    if (!reach.needs && !(d->debug & (PYM_GC_DEBUG_SAVEALL | PYM_GC_DEBUG_COLLECTABLE))) {
        /* The common case: nothing to run before the clears. */
        collected = d->tables[PYMGC_GEN_TENTATIVE].len;
        delete_held(d, old_gen);
    } else {
        unhold_unreachable(d);
        collected = collect_unreachable_in_full(d, reach.needs, old_gen, &n_uncollectable);
    }

    pymgc_table *uncollectable = &d->tables[PYMGC_GEN_UNCOLLECTABLE];
    if (d->debug & PYM_GC_DEBUG_UNCOLLECTABLE)
        debug_objects(uncollectable, "uncollectable");
    if (d->debug & PYM_GC_DEBUG_STATS)
        fprintf(stderr, "gc: done, %zu unreachable, %zu uncollectable, %.4fs elapsed\n",
                collected + n_uncollectable, n_uncollectable, now_seconds() - t0);

    /* handle_legacy_finalizers: legacy-finalizer objects (everything with
     * SAVEALL) to the garbage list; all stay alive in the old generation. */
    for (uint32_t i = 0; i < uncollectable->len; i++) {
        pymgc_head *h = uncollectable->items[i];
        if (h && ((d->debug & PYM_GC_DEBUG_SAVEALL) || (pymgc_type_of(h)->flags & PYM_TYPE_LEGACY_FINALIZER)))
            pymgc_garbage_append(d, pymgc_object_of(h));
    }
    pymgc_table_move_all(uncollectable, &d->tables[old_gen], old_gen);
    if (generation == PYM_GC_GENERATIONS - 1)
        pymgc_freelists_clear(d);   /* CPython's full collection clears its free lists */

    d->stats[generation].collections++;
    d->stats[generation].collected += collected;
    d->stats[generation].uncollectable += n_uncollectable;
    *uncollectable_out = n_uncollectable;
    return collected;
}

static void invoke_callbacks(pymgc_domain *d, const char *phase, const pym_gc_info_t *info)
{
    /* Index loop: a callback may add or remove callbacks. */
    for (size_t i = 0; i < d->ncallbacks; i++) {
        pymgc_callback_entry e = d->callbacks[i];
        e.cb(phase, info, e.arg);
    }
}

size_t pymgc_collect_with_callback(pymgc_domain *d, int generation)
{
    pym_gc_info_t info = {generation, 0, 0};
    invoke_callbacks(d, "start", &info);
    info.collected = collect_main(d, generation, &info.uncollectable);
    invoke_callbacks(d, "stop", &info);
    return info.collected + info.uncollectable;
}

void pymgc_collect_generations(pymgc_domain *d)
{
    d->collecting = true;
    for (int i = PYM_GC_GENERATIONS - 1; i >= 0; i--) {
        if (d->gens[i].count > d->gens[i].threshold) {
            /* The long-lived rule: a full collection only when the objects
             * that survived gen-1 collections since the last full one are at
             * least 25 % of those that survived it (issue #4074). */
            if (i == PYM_GC_GENERATIONS - 1 && d->long_lived_pending < d->long_lived_total / 4)
                continue;
            pymgc_collect_with_callback(d, i);
            break;
        }
    }
    d->collecting = false;
}

/* After an explicit full collection, the collector's scratch (the stage
 * tables, gc_refs, the mark stack) and the tables of emptied generations
 * are sized for the largest collection so far.  What is more than four
 * times the tracked objects left (which bound the next collection's
 * needs) goes back to the allocator with the rest of what the collection
 * freed; automatic collections keep everything for the next one.  (Given
 * back every time, the next large collection would page it all in again:
 * 20 MiB for 1 M objects, 25 ms on this VM.) */
static void release_scratch(pymgc_domain *d)
{
    size_t tracked = 0;
    for (int g = 0; g <= PYMGC_GEN_PERMANENT; g++)
        tracked += pymgc_table_size(&d->tables[g]);
    size_t enough = 4 * tracked + 1024;
    for (int g = 0; g < PYMGC_TABLES; g++) {
        pymgc_table *t = &d->tables[g];
        if (t->len == 0 && t->capacity > enough) {
            pym_free(t->items);
            *t = (pymgc_table){0};
        }
    }
    if (d->gc_refs_capacity > enough) {
        pym_free(d->gc_refs);
        d->gc_refs = NULL;
        d->gc_refs_capacity = 0;
    }
    if (d->mark_stack_capacity > enough) {
        pym_free(d->mark_stack);
        d->mark_stack = NULL;
        d->mark_stack_capacity = 0;
    }
}

long pym_gc_collect(int generation)
{
    if (generation < 0 || generation >= PYM_GC_GENERATIONS) {
        errno = EINVAL;
        return -1;
    }
    PYMGC_DOMAIN_EXCLUSIVE(d);
    if (d->collecting)
        return 0;
    d->collecting = true;
    size_t n = pymgc_collect_with_callback(d, generation);
    d->collecting = false;
    if (generation == PYM_GC_GENERATIONS - 1) {
        release_scratch(d);
        pym_trim();
    }
    return (long)n;
}

int pymgc_garbage_append(pymgc_domain *d, void *obj)
{
    if (d->ngarbage == d->garbage_capacity) {
        size_t cap = d->garbage_capacity ? 2 * d->garbage_capacity : 16;
        void **grown = pym_realloc(d->garbage, cap * sizeof *grown);
        if (!grown)
            return -1;      /* the object stays alive, only unlisted */
        d->garbage = grown;
        d->garbage_capacity = cap;
    }
    pymgc_head_of(obj)->refcnt++;
    d->garbage[d->ngarbage++] = obj;
    return 0;
}
