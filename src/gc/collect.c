/*
 * collect.c -- the cycle collector (v3): CPython's gc_collect_main, with
 * the reachability part done as the free-threaded collector of CPython
 * 3.14 does it (find the roots once, mark from them, sweep), over tables.
 *
 *  1. subtract: for every object of the generations being collected (the
 *     young set), gc_refs = refcount - references from other objects of
 *     that set.  gc_refs lives in the header's slot; the first visit of an
 *     object in the pass copies its count there (the epoch stamp says
 *     whether it is current), so there is no update_refs pass.
 *  2. mark: an object with gc_refs > 0 is held from outside the set: a
 *     root.  Everything a root reaches in the set is marked reachable (its
 *     epoch becomes the pass's + 1), depth first, with an explicit stack.
 *  3. sweep: reachable objects go, in order, to the next older
 *     generation's table (a full collection compacts generation 2's in
 *     place) and get their slot back; the rest go to the TENTATIVE table.
 *     Each of 1-3 is one walk of the young tables, oldest generation
 *     first, in tracking order; the walk prefetches the objects a few
 *     entries ahead, wherever they are (v2 chased a linked list,
 *     moving each unreachable object between lists as it went).
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
 *     pym_trim(), so what it freed goes back to the kernel before it
 *     returns; automatic collections leave that to the allocator's purge
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

/* Table entries between the object a walk is at and the one it
 * prefetches: far enough for the load to arrive, near enough to stay in L1. */
#define PREFETCH_DISTANCE 64

/* Found by the sweep among the unreachable objects: the steps that would
 * find nothing to do are skipped. */
enum {
    NEEDS_UNCOLLECTABLE = 1,    /* an object of a legacy-finalizer type */
    NEEDS_WEAKREFS = 2,         /* an object with weak references */
    NEEDS_FINALIZE = 4,         /* an object whose finalizer has not run */
};

/* One reachability analysis (steps 1-3, or 7). */
typedef struct reach_ctx {
    pymgc_domain *d;
    pymgc_set set;          /* set.epoch: gc_refs are current */
    uint8_t reached;        /* the epoch of objects marked reachable */
    size_t depth;           /* objects on d->mark_stack */
    unsigned needs;         /* NEEDS_*: which later steps may have work */
    size_t survivors;       /* reachable objects swept */
} reach_ctx;

static PYMGC_NOINLINE void report_overcount(const pymgc_head *h)
{
    pymgc_fatal("pymalloc_gc: traverse of a container reports more references to <%s %p> "
               "than its reference count %u", pymgc_type_of(h)->name, (void *)(h + 1), h->refcnt);
}

static int visit_decref(void *obj, void *arg)
{
    const pymgc_set *s = arg;
    pymgc_head *h = pymgc_head_of(obj);
    if (pymgc_in_set(h, s)) {
        pymgc_gc_refs_start(h, s);
        if (pymgc_unlikely(h->slot == 0))
            report_overcount(h);
        h->slot--;
    }
    return 0;
}

/* The loops below keep a table's items and length in locals: no user code
 * runs in these passes, and stores into headers could otherwise alias
 * them and make the compiler reload them on every step. */
static inline void prefetch_ahead(pymgc_head *const *items, uint32_t len, uint32_t i)
{
    if (i + PREFETCH_DISTANCE < len)
        __builtin_prefetch(items[i + PREFETCH_DISTANCE]);    /* NULL is harmless */
}

static void subtract_refs(const pymgc_table *t, const pymgc_set *s)
{
    pymgc_head *const *items = t->items;
    uint32_t len = t->len;
    for (uint32_t i = 0; i < len; i++) {
        prefetch_ahead(items, len, i);
        pymgc_head *h = items[i];
        if (h)
            pymgc_type_of(h)->traverse(pymgc_object_of(h), visit_decref, (void *)s);
    }
}

static PYMGC_NOINLINE void mark_stack_grow(pymgc_domain *d)
{
    size_t capacity = d->mark_stack_capacity ? 2 * d->mark_stack_capacity : 1024;
    pymgc_head **grown = pym_realloc(d->mark_stack, capacity * sizeof *grown);
    if (!grown)
        pymgc_fatal("pymalloc_gc: out of memory for the collector's mark stack (%zu entries)", capacity);
    d->mark_stack = grown;
    d->mark_stack_capacity = capacity;
}

static inline void mark(reach_ctx *c, pymgc_head *h)
{
    h->epoch = c->reached;
    if (pymgc_unlikely(c->depth == c->d->mark_stack_capacity))
        mark_stack_grow(c->d);
    c->d->mark_stack[c->depth++] = h;
}

static int visit_mark(void *obj, void *arg)
{
    reach_ctx *c = arg;
    pymgc_head *h = pymgc_head_of(obj);
    if (pymgc_in_set(h, &c->set) && h->epoch != c->reached)
        mark(c, h);
    return 0;
}

/* Marks what the roots of t reach (in any table of the set). */
static void mark_from_roots(const pymgc_table *t, reach_ctx *c)
{
    pymgc_head *const *items = t->items;
    uint32_t len = t->len;
    for (uint32_t i = 0; i < len; i++) {
        prefetch_ahead(items, len, i);
        pymgc_head *h = items[i];
        if (!h || h->epoch == c->reached || pymgc_refs(h, &c->set) == 0)
            continue;
        mark(c, h);
        while (c->depth > 0) {
            pymgc_head *x = c->d->mark_stack[--c->depth];
            pymgc_type_of(x)->traverse(pymgc_object_of(x), visit_mark, c);
        }
    }
}

/* Reachable objects of `young` to table `old_gen` (in place when it is
 * young's own), the others to table `unreachable_gen`; young ends empty
 * (or holding the survivors). */
static void sweep(reach_ctx *c, pymgc_table *young, uint8_t old_gen, uint8_t unreachable_gen)
{
    pymgc_table *old = &c->d->tables[old_gen];
    pymgc_table *unreachable = &c->d->tables[unreachable_gen];
    uint32_t len = young->len;
    if (old != young)
        pymgc_table_reserve_n(old, len);
    pymgc_table_reserve_n(unreachable, len);
    pymgc_head **items = young->items;
    pymgc_head **kept = old->items, **lost = unreachable->items;
    uint32_t nkept = old == young ? 0 : old->len, nlost = unreachable->len;
    unsigned needs = 0;
    for (uint32_t i = 0; i < len; i++) {
        prefetch_ahead(items, len, i);
        pymgc_head *h = items[i];
        if (!h)
            continue;
        if (h->epoch == c->reached) {
            h->gen = old_gen;
            h->slot = nkept;
            kept[nkept++] = h;
            continue;
        }
        pym_type *t = pymgc_type_of(h);
        needs |= (t->flags & PYM_TYPE_LEGACY_FINALIZER ? NEEDS_UNCOLLECTABLE : 0u)
               | (h->flags & PYMGC_FLAG_WEAKREFS ? NEEDS_WEAKREFS : 0u)
               | (t->finalize && !(h->flags & PYMGC_FLAG_FINALIZED) ? NEEDS_FINALIZE : 0u);
        h->gen = unreachable_gen;
        h->slot = nlost;
        lost[nlost++] = h;
    }
    c->needs |= needs;
    c->survivors += nkept - (old == young ? 0 : old->len);
    if (old != young)
        young->len = 0;
    young->holes = 0;
    old->len = nkept;
    unreachable->len = nlost;
}

/* Steps 1-3 over the tables young[0..n) (their objects' gen within
 * [lo, hi]). */
static void find_unreachable(reach_ctx *c, pymgc_table *const *young, size_t n, uint8_t old_gen,
                             uint8_t unreachable_gen)
{
    for (size_t i = 0; i < n; i++)
        subtract_refs(young[i], &c->set);
    for (size_t i = 0; i < n; i++)
        mark_from_roots(young[i], c);
    for (size_t i = 0; i < n; i++)
        sweep(c, young[i], old_gen, unreachable_gen);
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
            h->flags |= PYMGC_FLAG_FINALIZED;
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
 * in the table that a clear frees die the usual way (leaving holes). */
#define GARBAGE_BATCH 128     /* 4 KiB of 32-byte objects: the three passes stay in L1 */

static void delete_garbage(pymgc_domain *d, uint8_t garbage_gen, uint8_t old_gen)
{
    pymgc_table *garbage = &d->tables[garbage_gen];
    pymgc_head *batch[GARBAGE_BATCH];
    uint32_t i = 0;
    while (i < garbage->len) {
        size_t n = 0;
        for (; n < GARBAGE_BATCH && i < garbage->len; i++) {
            prefetch_ahead(garbage->items, garbage->len, i);
            pymgc_head *h = garbage->items[i];
            if (!h)
                continue;
            garbage->items[i] = NULL;
            garbage->holes++;
            h->gen = PYMGC_GEN_UNTRACKED;
            h->refcnt++;
            batch[n++] = h;
        }
        for (size_t j = 0; j < n; j++) {
            pym_type *t = pymgc_type_of(batch[j]);
            if (t->clear)
                t->clear(pymgc_object_of(batch[j]));
        }
        for (size_t j = 0; j < n; j++) {
            pymgc_head *h = batch[j];
            if (h->refcnt > 1) {
                /* Still referenced: it may die later. */
                h->refcnt--;
                if (!pymgc_is_tracked(h) && pymgc_type_of(h)->traverse) {
                    pymgc_table_reserve_n(&d->tables[old_gen], 1);
                    pymgc_table_push(&d->tables[old_gen], h, old_gen);
                }
            } else {
                pymgc_release_garbage(d, h);
            }
        }
    }
    garbage->len = garbage->holes = 0;
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
    /* The young tables, oldest generation first. */
    pymgc_table *young[PYM_GC_GENERATIONS];
    size_t nyoung = 0;
    for (int i = generation; i >= 0; i--)
        young[nyoung++] = &d->tables[i];

    /* Two analyses (main and resurrection check) of two epochs each,
     * reserved now while every object is in a generation table. */
    uint8_t epoch = pymgc_next_epochs(d, 4);

    reach_ctx reach = {d, {d->id, 0, (uint8_t)generation, epoch}, (uint8_t)(epoch + 1), 0, 0, 0};
    find_unreachable(&reach, young, nyoung, old_gen, PYMGC_GEN_TENTATIVE);
    if (old_gen != generation) {
        if (generation == PYM_GC_GENERATIONS - 2)
            d->long_lived_pending += reach.survivors;
    } else {
        d->long_lived_pending = 0;
        d->long_lived_total = reach.survivors;
    }

    size_t n_uncollectable = 0;
    if (reach.needs & NEEDS_UNCOLLECTABLE)
        n_uncollectable = move_uncollectable(d);
    size_t collected = pymgc_table_size(&d->tables[PYMGC_GEN_TENTATIVE]);

    if (d->debug & PYM_GC_DEBUG_COLLECTABLE)
        debug_objects(&d->tables[PYMGC_GEN_TENTATIVE], "collectable");

    size_t user_code_runs = 0;
    if (reach.needs & NEEDS_WEAKREFS)
        user_code_runs += pymgc_weakrefs_handle_unreachable(d, &d->tables[PYMGC_GEN_TENTATIVE]);
    if (reach.needs & NEEDS_FINALIZE)
        user_code_runs += finalize_garbage(d);

    /* Resurrection check: which unreachable objects are now held from
     * outside the unreachable set (by a finalizer, a weakref callback)?
     * Without user code having run, none can be. */
    uint8_t garbage_gen = PYMGC_GEN_TENTATIVE;
    if (user_code_runs) {
        reach_ctx again = {d, {d->id, PYMGC_GEN_TENTATIVE, PYMGC_GEN_TENTATIVE, (uint8_t)(epoch + 2)},
                           (uint8_t)(epoch + 3), 0, 0, 0};
        pymgc_table *unreachable = &d->tables[PYMGC_GEN_TENTATIVE];
        find_unreachable(&again, &unreachable, 1, old_gen, PYMGC_GEN_FINAL);
        garbage_gen = PYMGC_GEN_FINAL;
        collected = pymgc_table_size(&d->tables[PYMGC_GEN_FINAL]);
    }

    if (d->debug & PYM_GC_DEBUG_SAVEALL)
        save_garbage(d, garbage_gen);
    else
        delete_garbage(d, garbage_gen, old_gen);

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
    if (generation == PYM_GC_GENERATIONS - 1)
        pym_trim();
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
