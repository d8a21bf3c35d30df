/*
 * collect.c -- the cycle collector: CPython's gc_collect_main, step by step.
 *
 *  1. subtract_refs: for every object of the generations being collected,
 *     gc_refs = refcount - references from other objects of that set.
 *     CPython first copies refcount into gc_refs in a pass of its own
 *     (update_refs); here the copy is made lazily by the first visit in the
 *     pass (the epoch stamp says whether gc_refs is current), saving one
 *     walk over the whole set.
 *  2. move_unreachable: objects with gc_refs > 0 are held from outside;
 *     everything they reach is reachable; the rest moves to `unreachable`
 *     (gen = TENTATIVE).  Survivors go to the next older generation.
 *     The walk runs newest first, where CPython's runs oldest first: an
 *     object can only be given references to objects that exist already,
 *     so referrers are mostly newer than what they refer to.  Newest first,
 *     a reachable object marks its referents before the walk reaches them;
 *     oldest first, a long chain held by its newest node is moved to
 *     `unreachable` node by node and then back again.
 *  3. Unreachable objects whose type is marked PYM_TYPE_LEGACY_FINALIZER,
 *     and all they reach, are uncollectable (CPython's tp_del rule).
 *  4. Weak references to unreachable objects are cleared; callbacks run for
 *     those weak references that are not garbage themselves.
 *  5. finalize runs once per object (PEP 442).
 *  6. Steps 1-2 again over the unreachable set: objects a finalizer
 *     resurrected (and what they reach) go to the older generation.
 *  7. `clear` on each remaining object breaks the cycles; refcounting frees.
 *     An object without `clear` (a tuple) is freed when another object's
 *     clear drops the last reference to it; if it is still alive after its
 *     turn it goes to the older generation, as in CPython.
 *  8. Uncollectable objects go to the garbage list; statistics; callbacks.
 *  9. An explicit full collection (pym_gc_collect(2)) ends with
 *     pym_trim(), so what it freed goes back to the kernel before it
 *     returns; automatic collections leave that to the allocator's purge
 *     policy (pym_trim purges every dirty pool of the process).
 * Steps 3-6 are skipped when step 2 saw no object they could act on (no
 * legacy-finalizer type, no weak reference, no pending finalizer) and step 6
 * when no user code ran in 4-5: the common case then walks the garbage
 * twice, as the collector of a language without finalizers would.
 *
 * Re-entrancy: d->collecting is set for the whole collection (and its
 * callbacks); pym_gc_collect returns 0 and allocation does not trigger a
 * collection while it is set.  User code (callbacks, finalizers, clear)
 * may free or untrack any object: every list is doubly linked and each loop
 * that runs user code re-reads the head of its list.
 *
 * Thread rule: only objects of this domain are ever "in the set"; a
 * reference from another domain is never subtracted, so it keeps the
 * object alive.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>
#include "gc/gc_internal.h"

typedef struct reach_ctx {
    pymgc_set set;
    pymgc_head *reachable;   /* where objects found reachable again go */
    uint8_t tentative_gen;  /* gen given to tentatively unreachable objects */
    unsigned needs;         /* NEEDS_*: which later steps may have work */
    size_t nunreachable;    /* objects on `unreachable` */
} reach_ctx;

/* Found while moving objects to `unreachable` (an over-estimate, as some
 * move back): the steps that would find nothing to do are skipped. */
enum {
    NEEDS_UNCOLLECTABLE = 1,    /* an object of a legacy-finalizer type */
    NEEDS_WEAKREFS = 2,         /* an object with weak references */
    NEEDS_FINALIZE = 4,         /* an object whose finalizer has not run */
};

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
        if (pymgc_unlikely(h->gc_refs == 0))
            report_overcount(h);
        h->gc_refs--;
    }
    return 0;
}

static void subtract_refs(pymgc_head *list, pymgc_set *s)
{
    for (pymgc_head *h = list->next; h != list; h = h->next) {
        __builtin_prefetch(h->next->next);
        pymgc_type_of(h)->traverse(pymgc_object_of(h), visit_decref, s);
    }
}

static int visit_reachable(void *obj, void *arg)
{
    reach_ctx *c = arg;
    pymgc_head *h = pymgc_head_of(obj);
    if (h->domain_id != c->set.domain_id)
        return 0;
    if (h->gen == c->tentative_gen) {
        /* Passed over as unreachable, but it is reachable after all:
         * back to the front of the list, where the walk will see it. */
        h->gen = c->set.lo;
        h->gc_refs = 1;
        pymgc_list_remove(h);
        pymgc_list_prepend(h, c->reachable);
        c->nunreachable--;
    } else if (pymgc_in_set(h, &c->set) && h->epoch == c->set.epoch && h->gc_refs == 0) {
        h->gc_refs = 1;     /* not reached by the walk yet: it will see it reachable */
    }
    return 0;
}

/* Returns the number of objects left on `young` (the survivors). */
static size_t move_unreachable(pymgc_head *young, pymgc_head *unreachable, reach_ctx *c,
                               uint8_t survivor_gen)
{
    size_t survivors = 0;
    pymgc_head *h = young->prev;
    while (h != young) {
        __builtin_prefetch(h->prev->prev);
        if (pymgc_refs(h, &c->set) > 0) {
            pymgc_type_of(h)->traverse(pymgc_object_of(h), visit_reachable, c);
            h->gen = survivor_gen;
            survivors++;
            h = h->prev;    /* read after traverse: it may have prepended */
        } else {
            pymgc_head *prev = h->prev;
            pym_type *t = pymgc_type_of(h);
            c->needs |= (t->flags & PYM_TYPE_LEGACY_FINALIZER ? NEEDS_UNCOLLECTABLE : 0u)
                      | (h->flags & PYMGC_FLAG_WEAKREFS ? NEEDS_WEAKREFS : 0u)
                      | (t->finalize && !(h->flags & PYMGC_FLAG_FINALIZED) ? NEEDS_FINALIZE : 0u);
            h->gen = c->tentative_gen;
            /* To the front: `unreachable` keeps the order of `young`. */
            pymgc_list_remove(h);
            pymgc_list_prepend(h, unreachable);
            c->nunreachable++;
            h = prev;
        }
    }
    return survivors;
}

typedef struct uncollectable_ctx {
    uint16_t domain_id;
    uint8_t gen;
    pymgc_head *list;
} uncollectable_ctx;

static int visit_move_uncollectable(void *obj, void *arg)
{
    uncollectable_ctx *c = arg;
    pymgc_head *h = pymgc_head_of(obj);
    if (h->domain_id == c->domain_id && h->gen == PYMGC_GEN_TENTATIVE) {
        h->gen = c->gen;
        pymgc_list_move(h, c->list);
    }
    return 0;
}

/* CPython's move_legacy_finalizers + move_legacy_finalizer_reachable.  Returns the number of objects moved. */
static size_t move_uncollectable(pymgc_domain *d, pymgc_head *unreachable, pymgc_head *uncollectable,
                               uint8_t old_gen)
{
    pymgc_head *next;
    for (pymgc_head *h = unreachable->next; h != unreachable; h = next) {
        next = h->next;
        if (pymgc_type_of(h)->flags & PYM_TYPE_LEGACY_FINALIZER) {
            h->gen = old_gen;
            pymgc_list_move(h, uncollectable);
        }
    }
    uncollectable_ctx c = {d->id, old_gen, uncollectable};
    size_t n = 0;
    for (pymgc_head *h = uncollectable->next; h != uncollectable; h = h->next) {
        pymgc_type_of(h)->traverse(pymgc_object_of(h), visit_move_uncollectable, &c);
        n++;
    }
    return n;
}

/* Returns the number of finalizers run. */
static size_t finalize_garbage(pymgc_head *unreachable)
{
    size_t ran = 0;
    pymgc_head seen;
    pymgc_list_init(&seen);
    while (!pymgc_list_empty(unreachable)) {
        pymgc_head *h = unreachable->next;
        pymgc_list_move(h, &seen);
        pym_type *t = pymgc_type_of(h);
        if (t->finalize && !(h->flags & PYMGC_FLAG_FINALIZED)) {
            h->flags |= PYMGC_FLAG_FINALIZED;
            h->refcnt++;
            t->finalize(pymgc_object_of(h));
            pym_decref(pymgc_object_of(h));
            ran++;
        }
    }
    pymgc_list_merge(&seen, unreachable);
    return ran;
}

/* Step 7 in batches: up to GARBAGE_BATCH objects off the front of the list
 * are unlinked (untracked) and held (refcount + 1) first, then each gets
 * its clear, then each is released.  Held, none of them dies in the middle
 * of the clears, so the clears only decrement counts: no death recursing
 * through a cycle, no unlinking of dying objects from the list one by one
 * (each a write to two neighbours).  The release is a death without a
 * second clear (pymgc_release_garbage).  A batch member still referenced
 * after its release lives on in the older generation, as in CPython.
 * Objects later on the list that a clear frees die the usual way. */
#define GARBAGE_BATCH 128     /* 6 KiB of 48-byte objects: the three passes stay in L1 */

static void delete_garbage(pymgc_domain *d, pymgc_head *collectable, pymgc_head *old, uint8_t old_gen)
{
    pymgc_head *batch[GARBAGE_BATCH];
    while (!pymgc_list_empty(collectable)) {
        size_t n = 0;
        while (n < GARBAGE_BATCH && !pymgc_list_empty(collectable)) {
            pymgc_head *h = collectable->next;
            __builtin_prefetch(h->next->next);
            pymgc_list_remove(h);
            h->next = h->prev = NULL;
            h->gen = PYMGC_GEN_UNTRACKED;
            h->refcnt++;
            batch[n++] = h;
        }
        for (size_t i = 0; i < n; i++) {
            pym_type *t = pymgc_type_of(batch[i]);
            if (t->clear)
                t->clear(pymgc_object_of(batch[i]));
        }
        for (size_t i = 0; i < n; i++) {
            pymgc_head *h = batch[i];
            if (h->refcnt > 1) {
                /* Still referenced: it may die later. */
                h->refcnt--;
                if (!h->next && pymgc_type_of(h)->traverse) {
                    h->gen = old_gen;
                    pymgc_list_append(h, old);
                }
            } else {
                pymgc_release_garbage(d, h);
            }
        }
    }
}

/* With PYM_GC_DEBUG_SAVEALL: everything to the garbage list, untracked. */
static void save_garbage(pymgc_domain *d, pymgc_head *collectable)
{
    while (!pymgc_list_empty(collectable)) {
        pymgc_head *h = collectable->next;
        pymgc_garbage_append(d, pymgc_object_of(h));
        pymgc_untrack(d, h);
    }
}

static size_t list_size(const pymgc_head *list)
{
    size_t n = 0;
    for (const pymgc_head *h = list->next; h != list; h = h->next)
        n++;
    return n;
}

static void set_gen(pymgc_head *list, uint8_t gen)
{
    for (pymgc_head *h = list->next; h != list; h = h->next)
        h->gen = gen;
}

static void debug_objects(const pymgc_head *list, const char *what)
{
    for (const pymgc_head *h = list->next; h != list; h = h->next)
        fprintf(stderr, "gc: %s <%s %p>\n", what, pymgc_type_of(h)->name, (void *)(h + 1));
}

static void show_stats_each_generation(pymgc_domain *d)
{
    fprintf(stderr, "gc: objects in each generation: %zu %zu %zu\n"
            "gc: objects in permanent generation: %zu\n",
            list_size(&d->gens[0].head), list_size(&d->gens[1].head), list_size(&d->gens[2].head),
            list_size(&d->permanent));
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

    pymgc_head *young = &d->gens[generation].head;
    for (int i = 0; i < generation; i++)
        pymgc_list_merge(&d->gens[i].head, young);
    uint8_t old_gen = (uint8_t)(generation + 1 < PYM_GC_GENERATIONS ? generation + 1 : generation);
    pymgc_head *old = &d->gens[old_gen].head;

    /* Two passes (main and resurrection check), two epochs, reserved now
     * while every object is on a generation list. */
    uint8_t epoch = pymgc_next_epochs(d, 2);

    pymgc_set set = {d->id, 0, (uint8_t)generation, epoch};
    subtract_refs(young, &set);
    pymgc_head unreachable;
    pymgc_list_init(&unreachable);
    reach_ctx reach = {set, young, PYMGC_GEN_TENTATIVE, 0, 0};
    size_t survivors = move_unreachable(young, &unreachable, &reach, old_gen);
    if (young != old) {
        if (generation == PYM_GC_GENERATIONS - 2)
            d->long_lived_pending += survivors;
        pymgc_list_merge(young, old);
    } else {
        d->long_lived_pending = 0;
        d->long_lived_total = survivors;
    }

    pymgc_head uncollectable;
    pymgc_list_init(&uncollectable);
    size_t n_uncollectable = 0;
    if (reach.needs & NEEDS_UNCOLLECTABLE)
        n_uncollectable = move_uncollectable(d, &unreachable, &uncollectable, old_gen);
    size_t collected = reach.nunreachable - n_uncollectable;

    if (d->debug & PYM_GC_DEBUG_COLLECTABLE)
        debug_objects(&unreachable, "collectable");

    size_t user_code_runs = 0;
    if (reach.needs & NEEDS_WEAKREFS)
        user_code_runs += pymgc_weakrefs_handle_unreachable(d, &unreachable);
    if (reach.needs & NEEDS_FINALIZE)
        user_code_runs += finalize_garbage(&unreachable);

    /* Resurrection check: which unreachable objects are now held from
     * outside the unreachable set (by a finalizer, a weakref callback)?
     * Without user code having run, none can be. */
    if (user_code_runs) {
        pymgc_set recheck = {d->id, PYMGC_GEN_TENTATIVE, PYMGC_GEN_TENTATIVE, (uint8_t)(epoch + 1)};
        subtract_refs(&unreachable, &recheck);
        pymgc_head final_unreachable;
        pymgc_list_init(&final_unreachable);
        reach_ctx reach_again = {recheck, &unreachable, PYMGC_GEN_FINAL, 0, 0};
        move_unreachable(&unreachable, &final_unreachable, &reach_again, old_gen);
        collected = reach_again.nunreachable;
        pymgc_list_merge(&unreachable, old);
        pymgc_list_merge(&final_unreachable, &unreachable);
    }

    if (d->debug & PYM_GC_DEBUG_SAVEALL)
        save_garbage(d, &unreachable);
    else
        delete_garbage(d, &unreachable, old, old_gen);

    if (d->debug & PYM_GC_DEBUG_UNCOLLECTABLE)
        debug_objects(&uncollectable, "uncollectable");
    if (d->debug & PYM_GC_DEBUG_STATS)
        fprintf(stderr, "gc: done, %zu unreachable, %zu uncollectable, %.4fs elapsed\n",
                collected + n_uncollectable, n_uncollectable, now_seconds() - t0);

    /* handle_legacy_finalizers: legacy-finalizer objects (everything with
     * SAVEALL) to the garbage list; all stay alive in the old generation. */
    for (pymgc_head *h = uncollectable.next; h != &uncollectable; h = h->next) {
        if ((d->debug & PYM_GC_DEBUG_SAVEALL) || (pymgc_type_of(h)->flags & PYM_TYPE_LEGACY_FINALIZER))
            pymgc_garbage_append(d, pymgc_object_of(h));
    }
    set_gen(&uncollectable, old_gen);
    pymgc_list_merge(&uncollectable, old);

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
