/*
 * gc_api.c -- the `gc` module's interface over the current thread's domain:
 * switches, thresholds, counters, statistics, iteration (get_objects,
 * get_referrers, get_referents), freeze, debug flags, the garbage list,
 * callbacks, and the per-type accounting that CPython does not have.
 *
 * Everything here acts on the calling thread's current domain (its own, or
 * the shared one while inside it, then exclusively: PYMGC_DOMAIN_EXCLUSIVE);
 * the only process-wide setting is the owner check of PYM_GC_DEBUG_OWNER.
 */
#include <errno.h>
#include <string.h>
#include "gc/gc_internal.h"

static void set_enabled(bool enabled)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    d->enabled = enabled;
    pymgc_set_gen0_trigger(d);
}

void pym_gc_enable(void) { set_enabled(true); }
void pym_gc_disable(void) { set_enabled(false); }
int pym_gc_isenabled(void)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    return d->enabled;
}

void pym_gc_set_threshold(long threshold0, long threshold1, long threshold2)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    d->gens[0].threshold = threshold0;
    d->gens[1].threshold = threshold1;
    d->gens[2].threshold = threshold2;
    pymgc_set_gen0_trigger(d);
}

void pym_gc_get_threshold(long out[PYM_GC_GENERATIONS])
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    for (int i = 0; i < PYM_GC_GENERATIONS; i++)
        out[i] = d->gens[i].threshold;
}

void pym_gc_get_count(long out[PYM_GC_GENERATIONS])
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    for (int i = 0; i < PYM_GC_GENERATIONS; i++)
        out[i] = d->gens[i].count;
}

void pym_gc_get_stats(pym_gc_gen_stats_t out[PYM_GC_GENERATIONS])
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    memcpy(out, d->stats, sizeof(pym_gc_gen_stats_t) * PYM_GC_GENERATIONS);
}

/* ---- iteration ------------------------------------------------------------ */
/* Oldest first (tracking order). */
static size_t each_in_table(const pymgc_table *t, pym_gc_object_fn fn, void *arg, bool *stopped)
{
    size_t calls = 0;
    for (uint32_t i = 0; i < t->len && !*stopped; i++) {
        if (!t->items[i])
            continue;
        calls++;
        *stopped = fn(pymgc_object_of(t->items[i]), arg) != 0;
    }
    return calls;
}

size_t pym_gc_get_objects(int generation, pym_gc_object_fn fn, void *arg)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    if (generation >= PYM_GC_GENERATIONS || generation < -1 || !fn) {
        errno = EINVAL;
        return PYM_GC_ERROR;
    }
    bool stopped = false;
    if (generation >= 0)
        return each_in_table(&d->tables[generation], fn, arg, &stopped);
    size_t calls = 0;
    for (int i = 0; i < PYM_GC_GENERATIONS; i++)
        calls += each_in_table(&d->tables[i], fn, arg, &stopped);
    return calls;
}

typedef struct referrer_search {
    const void *target;
    bool found;
} referrer_search;

static int visit_find_target(void *obj, void *arg)
{
    referrer_search *s = arg;
    if (obj == s->target) {
        s->found = true;
        return 1;
    }
    return 0;
}

size_t pym_gc_get_referrers(void *obj, pym_gc_object_fn fn, void *arg)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    if (!fn || !pymgc_checked_head(obj)) {
        errno = EINVAL;
        return PYM_GC_ERROR;
    }
    size_t calls = 0;
    for (int i = 0; i < PYM_GC_GENERATIONS; i++) {
        const pymgc_table *t = &d->tables[i];
        for (uint32_t j = 0; j < t->len; j++) {
            pymgc_head *h = t->items[j];
            if (!h)
                continue;
            referrer_search s = {obj, false};
            pymgc_type_of(h)->traverse(pymgc_object_of(h), visit_find_target, &s);
            if (!s.found)
                continue;
            calls++;
            if (fn(pymgc_object_of(h), arg))
                return calls;
        }
    }
    return calls;
}

typedef struct referent_walk {
    pym_gc_object_fn fn;
    void *arg;
    size_t calls;
} referent_walk;

static int visit_report_referent(void *obj, void *arg)
{
    referent_walk *w = arg;
    w->calls++;
    return w->fn(obj, w->arg);
}

size_t pym_gc_get_referents(void *obj, pym_gc_object_fn fn, void *arg)
{
    pym_type *t = pym_typeof(obj);
    if (!t || !fn) {
        errno = EINVAL;
        return PYM_GC_ERROR;
    }
    if (!t->traverse)
        return 0;
    referent_walk w = {fn, arg, 0};
    t->traverse(obj, visit_report_referent, &w);
    return w.calls;
}

/* ---- freeze --------------------------------------------------------------- */
/* Oldest generation first, so the permanent one keeps the objects' age
 * order. */
void pym_gc_freeze(void)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    for (int i = PYM_GC_GENERATIONS - 1; i >= 0; i--)
        pymgc_table_move_all(&d->tables[i], &d->tables[PYMGC_GEN_PERMANENT], PYMGC_GEN_PERMANENT);
}

void pym_gc_unfreeze(void)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    pymgc_table_move_all(&d->tables[PYMGC_GEN_PERMANENT], &d->tables[PYM_GC_GENERATIONS - 1],
                         PYM_GC_GENERATIONS - 1);
}

size_t pym_gc_get_freeze_count(void)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    return pymgc_table_size(&d->tables[PYMGC_GEN_PERMANENT]);
}

/* ---- debug ---------------------------------------------------------------- */
void pym_gc_set_debug(unsigned flags)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    d->debug = flags;
    if (flags & PYM_GC_DEBUG_OWNER)
        __atomic_fetch_or(&pym_gc_slow_refcount_, PYMGC_SLOW_OWNER, __ATOMIC_RELAXED);
    else
        __atomic_fetch_and(&pym_gc_slow_refcount_, ~PYMGC_SLOW_OWNER, __ATOMIC_RELAXED);
}

unsigned pym_gc_get_debug(void)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    return d->debug;
}

/* ---- garbage -------------------------------------------------------------- */
size_t pym_gc_garbage_count(void)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    return d->ngarbage;
}

void *pym_gc_garbage_get(size_t index)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    return index < d->ngarbage ? d->garbage[index] : NULL;
}

void pym_gc_garbage_clear(void)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    /* Take the list first: a decref may run code that appends to it. */
    void **items = d->garbage;
    size_t n = d->ngarbage;
    d->garbage = NULL;
    d->ngarbage = d->garbage_capacity = 0;
    for (size_t i = 0; i < n; i++)
        pym_decref(items[i]);
    pym_free(items);
}

/* ---- callbacks ------------------------------------------------------------ */
int pym_gc_callback_add(pym_gc_callback cb, void *arg)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    if (!cb) {
        errno = EINVAL;
        return -1;
    }
    pymgc_callback_entry *grown = pym_realloc(d->callbacks, (d->ncallbacks + 1) * sizeof *grown);
    if (!grown) {
        errno = ENOMEM;
        return -1;
    }
    d->callbacks = grown;
    d->callbacks[d->ncallbacks++] = (pymgc_callback_entry){cb, arg};
    return 0;
}

int pym_gc_callback_remove(pym_gc_callback cb, void *arg)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    for (size_t i = 0; i < d->ncallbacks; i++) {
        if (d->callbacks[i].cb == cb && d->callbacks[i].arg == arg) {
            memmove(&d->callbacks[i], &d->callbacks[i + 1],
                    (d->ncallbacks - i - 1) * sizeof d->callbacks[0]);
            d->ncallbacks--;
            return 0;
        }
    }
    errno = ENOENT;
    return -1;
}

/* ---- per-type accounting -------------------------------------------------- */
size_t pym_gc_get_type_stats(pym_gc_type_stats_t *out, size_t capacity)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    /* row_of[type id] = 1 + the row of that type in out, 0 if none. */
    size_t *row_of = capacity ? pym_calloc(d->ntype_counts ? d->ntype_counts : 1, sizeof *row_of) : NULL;
    size_t n = 0;
    for (size_t id = 1; id < d->ntype_counts; id++) {
        if (d->type_counts[id].objects == 0)
            continue;
        if (n < capacity && row_of) {
            out[n] = (pym_gc_type_stats_t){.type = pymgc_types[id],
                                           .objects = d->type_counts[id].objects,
                                           .bytes = d->type_counts[id].objects *
                                                        (sizeof(pymgc_head) + pymgc_types[id]->size) +
                                                    d->type_counts[id].extra_bytes};
            row_of[id] = n + 1;
        }
        n++;
    }
    /* Per-generation counts by type are taken by walking the tables here
     * rather than kept up to date by every collection. */
    for (int g = 0; row_of && g <= PYMGC_GEN_PERMANENT; g++) {
        const pymgc_table *t = &d->tables[g];
        for (uint32_t i = 0; i < t->len; i++)
            if (t->items[i] && row_of[t->items[i]->type_id])
                out[row_of[t->items[i]->type_id] - 1].per_generation[g]++;
    }
    pym_free(row_of);
    return n;
}

void pym_gc_print_stats(FILE *out)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    fprintf(out, "pymalloc_gc domain %u: %s, thresholds %ld %ld %ld, counts %ld %ld %ld\n",
            d->id, d->enabled ? "enabled" : "disabled",
            d->gens[0].threshold, d->gens[1].threshold, d->gens[2].threshold,
            d->gens[0].count, d->gens[1].count, d->gens[2].count);
    for (int g = 0; g < PYM_GC_GENERATIONS; g++)
        fprintf(out, "  generation %d: %zu collections, %zu collected, %zu uncollectable\n", g,
                d->stats[g].collections, d->stats[g].collected, d->stats[g].uncollectable);
    fprintf(out, "  garbage list: %zu objects\n", d->ngarbage);
    size_t n = pym_gc_get_type_stats(NULL, 0);
    pym_gc_type_stats_t *rows = pym_calloc(n ? n : 1, sizeof *rows);
    if (!rows)
        return;
    pym_gc_get_type_stats(rows, n);
    fprintf(out, "  %-20s %10s %12s %10s %10s %10s %10s\n", "type", "objects", "bytes",
            "gen0", "gen1", "gen2", "permanent");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-20s %10zu %12zu %10zu %10zu %10zu %10zu\n", rows[i].type->name,
                rows[i].objects, rows[i].bytes, rows[i].per_generation[0],
                rows[i].per_generation[1], rows[i].per_generation[2], rows[i].per_generation[3]);
    pym_free(rows);
}
