/*
 * test_collect.c -- what a collection frees and what it keeps (CPython's
 * test_gc: test_list, test_selfcycle, test_function..., test_saveall,
 * test_legacy_finalizer, test_resurrection, test_refcount_errors).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include "child.h"
#include "gc_test.h"

static void self_cycle_is_collected(void **state)
{
    (void)state;
    node *n = node_new();
    node_link(n, 0, n);
    pym_decref(n);
    assert_int_equal(node_deallocs, 0);
    assert_int_equal(pym_gc_collect(2), 1);
    assert_int_equal(node_deallocs, 1);
}

static void two_object_cycle_is_collected(void **state)
{
    (void)state;
    node *a = node_new(), *b = node_new();
    node_link(a, 0, b);
    node_link(b, 0, a);
    pym_decref(a);
    pym_decref(b);
    assert_int_equal(pym_gc_collect(2), 2);
    assert_int_equal(node_deallocs, 2);
}

static void long_cycle_is_collected(void **state)
{
    (void)state;
    pym_gc_disable();
    node *first = ring_new(100000);
    pym_decref(first);
    assert_int_equal(node_deallocs, 0);
    assert_int_equal(pym_gc_collect(2), 100000);
    assert_int_equal(node_deallocs, 100000);
}

static void young_generation_collection_frees_young_cycles(void **state)
{
    (void)state;
    node *first = ring_new(10);
    pym_decref(first);
    assert_int_equal(pym_gc_collect(0), 10);
    assert_int_equal(node_deallocs, 10);
}

static void externally_referenced_cycle_is_kept(void **state)
{
    (void)state;
    node *first = ring_new(50);     /* we keep this reference */
    assert_int_equal(pym_gc_collect(2), 0);
    assert_int_equal(node_deallocs, 0);
    assert_true(pym_gc_is_tracked(first));
    pym_decref(first);
    assert_int_equal(pym_gc_collect(2), 50);
}

static void cycle_held_by_member_of_another_kept_cycle_is_kept(void **state)
{
    (void)state;
    node *root = ring_new(3);
    node *inner = ring_new(4);
    node_link(root, 1, inner);      /* root's ring holds inner's ring */
    pym_decref(inner);
    assert_int_equal(pym_gc_collect(2), 0);
    assert_int_equal(node_deallocs, 0);
    pym_decref(root);
    assert_int_equal(pym_gc_collect(2), 7);
}

static void cycle_held_by_untracked_container_is_kept(void **state)
{
    (void)state;
    node *holder = node_new();
    pym_gc_untrack(holder);
    node *first = ring_new(5);
    node_link(holder, 0, first);
    pym_decref(first);
    assert_int_equal(pym_gc_collect(2), 0);
    assert_int_equal(node_deallocs, 0);
    pym_decref(holder);             /* its dealloc drops the ring */
    assert_int_equal(node_deallocs, 1);
    assert_int_equal(pym_gc_collect(2), 5);
}

static void collect_without_garbage_returns_zero(void **state)
{
    (void)state;
    node *n = node_new();
    assert_int_equal(pym_gc_collect(2), 0);
    assert_int_equal(pym_gc_collect(0), 0);
    pym_decref(n);
    assert_int_equal(node_deallocs, 1);
}

static void invalid_generation_is_einval(void **state)
{
    (void)state;
    errno = 0;
    assert_int_equal(pym_gc_collect(3), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(pym_gc_collect(-1), -1);
}

/* ---- legacy finalizers and types without clear ---- */
static long opaque_deallocs;
static int opaque_traverse(void *self, pym_visit_fn visit, void *arg) { return node_traverse(self, visit, arg); }
static void opaque_dealloc(void *self) { node_clear(self); opaque_deallocs++; }
/* CPython's tp_del: uncollectable in cyclic garbage. */
static pym_type opaque_type = {
    .name = "opaque", .size = sizeof(node), .traverse = opaque_traverse, .dealloc = opaque_dealloc,
    .flags = PYM_TYPE_LEGACY_FINALIZER,
};
/* CPython's tuple: traverse, no clear. */
static long tuple_deallocs;
static void tuple_dealloc(void *self) { node_clear(self); tuple_deallocs++; }
static pym_type tuple_type = {
    .name = "tuple", .size = sizeof(node), .traverse = opaque_traverse, .dealloc = tuple_dealloc,
};

/* test_gc.test_legacy_finalizer: a cycle through an object with tp_del is
 * uncollectable; the object goes to gc.garbage. */
static void cycle_through_legacy_finalizer_is_uncollectable(void **state)
{
    (void)state;
    node *o = pym_new(&opaque_type);
    node *n = node_new();
    node_link(o, 0, n);
    node_link(n, 0, o);
    pym_decref(o);
    pym_decref(n);
    assert_int_equal(pym_gc_collect(2), 2);     /* unreachable: found, not freed */
    assert_int_equal(node_deallocs, 0);
    assert_int_equal(opaque_deallocs, 0);
    assert_int_equal(pym_gc_garbage_count(), 1); /* only the legacy-finalizer object */
    assert_ptr_equal(pym_gc_garbage_get(0), o);
    pym_gc_gen_stats_t st[3];
    pym_gc_get_stats(st);
    assert_true(st[2].uncollectable >= 2);
    /* Breaking the cycle by hand frees both. */
    node_link(o, 0, NULL);
    assert_int_equal(node_deallocs, 1);
    pym_gc_garbage_clear();
    assert_int_equal(opaque_deallocs, 1);
}

/* test_gc.test_tuple: l = []; t = (l,); l.append(t); del t; del l;
 * gc.collect() == 2 -- the list's clear breaks the cycle. */
static void tuple_list_cycle_is_collected(void **state)
{
    (void)state;
    pym_gc_gen_stats_t before[3];
    pym_gc_get_stats(before);
    node *t = pym_new(&tuple_type);
    node *l = node_new();
    node_link(t, 0, l);
    node_link(l, 0, t);
    pym_decref(t);
    pym_decref(l);
    assert_int_equal(pym_gc_collect(2), 2);
    assert_int_equal(node_deallocs, 1);
    assert_int_equal(tuple_deallocs, 1);
    assert_int_equal(pym_gc_garbage_count(), 0);
    pym_gc_gen_stats_t st[3];
    pym_gc_get_stats(st);
    assert_int_equal(st[2].uncollectable, before[2].uncollectable);
    assert_int_equal(st[2].collected, before[2].collected + 2);
}

/* A cycle of clear-less objects only (impossible with Python tuples, easy
 * in C): no object can break it; it is counted as found, stays alive and
 * is not uncollectable garbage, as CPython does with such a C cycle. */
static void cycle_of_objects_without_clear_survives_outside_garbage(void **state)
{
    (void)state;
    tuple_deallocs = 0;
    node *a = pym_new(&tuple_type);
    node *b = pym_new(&tuple_type);
    node_link(a, 0, b);
    node_link(b, 0, a);
    pym_decref(b);
    assert_int_equal(pym_gc_collect(2), 0);     /* a is held */
    pym_decref(a);
    assert_int_equal(pym_gc_collect(2), 2);
    assert_int_equal(tuple_deallocs, 0);
    assert_int_equal(pym_gc_garbage_count(), 0);
    assert_true(pym_gc_is_tracked(a));
    /* Broken by hand, both go. */
    pym_incref(a);
    node_link(a, 0, NULL);
    pym_decref(a);
    assert_int_equal(tuple_deallocs, 2);
}

static int count_hits_of(void *obj, void *arg)
{
    void **probe = arg;
    if (obj == probe[0])
        probe[1] = obj;
    return 0;
}

/* ---- a clear that keeps a reference (garbage that survives) ---- */
static void *kept_alive;
static long keeper_clears;
static void keeper_clear(void *self)
{
    node *n = self;
    keeper_clears++;
    if (!kept_alive && n->slot[0]) {
        kept_alive = n->slot[0];        /* steal the reference before clearing */
        n->slot[0] = NULL;
    }
    node_clear(self);
}
static pym_type keeper_type = {
    .name = "keeper", .size = sizeof(node), .traverse = opaque_traverse, .clear = keeper_clear,
};

/* test_gc.test_bug1055820b's shape: code run while garbage is cleared
 * gets hold of a garbage object.  The object survives its collection,
 * tracked in the older generation, and dies when dropped; every object
 * gets its clear once (no dealloc: clear stands in for it). */
static void garbage_kept_by_a_clear_survives_in_the_older_generation(void **state)
{
    (void)state;
    kept_alive = NULL;
    keeper_clears = 0;
    node *k = pym_new(&keeper_type);
    node *n = node_new();
    node_link(k, 0, n);
    node_link(n, 0, k);
    pym_decref(k);
    pym_decref(n);
    assert_int_equal(pym_gc_collect(2), 2);
    assert_int_equal(keeper_clears, 1);
    assert_ptr_equal(kept_alive, n);
    assert_int_equal(node_deallocs, 0);
    assert_int_equal(pym_refcount(n), 1);
    assert_int_equal(pym_gc_is_tracked(n), 1);
    void *probe[2] = {n, NULL};
    assert_true(pym_gc_get_objects(2, count_hits_of, probe) >= 1);
    assert_non_null(probe[1]);
    pym_decref(kept_alive);
    assert_int_equal(node_deallocs, 1);
    assert_int_equal(pym_gc_collect(2), 0);
}

/* ---- code run by the deletion that frees and makes objects ---- */
enum { SPAWNED = 600 };
static node *spawned[SPAWNED];
static void spawner_clear(void *self)
{
    node_clear(self);
    pym_decref(node_new());         /* the table's last entry goes, and the holes before it */
    for (int i = 0; i < SPAWNED; i++) {
        spawned[i] = node_new();
        spawned[i]->slot[0] = node_new();     /* a clear would drop it */
    }
}
static pym_type spawner_type = {
    .name = "spawner", .size = sizeof(node), .traverse = node_traverse, .clear = spawner_clear,
};

/* The deletion of garbage breaks a long chain in its first batch, so that
 * the rest of the chain dies by reference counting (test_gc.test_trashcan's
 * shape), and the chain's last object makes containers as it dies (after
 * a temporary one, whose death takes the table's end back down).  They
 * are new, not garbage: each survives, tracked, with its one reference and
 * its contents, whatever slots the dying chain gave back. */
static void objects_made_while_garbage_is_deleted_are_not_garbage(void **state)
{
    (void)state;
    enum { CHAIN = 1000 };
    node *head = node_new();
    node_link(head, 1, head);                   /* a cycle: only the collector frees it */
    node *last = head;
    for (int i = 1; i < CHAIN; i++) {
        node *x = i + 1 < CHAIN ? node_new() : pym_new(&spawner_type);
        assert_non_null(x);
        node_link(last, 0, x);
        pym_decref(x);
        last = x;
    }
    pym_decref(head);
    assert_int_equal(pym_gc_collect(2), CHAIN);
    assert_int_equal(node_deallocs, CHAIN);    /* and the temporary; the spawner has no dealloc */
    for (int i = 0; i < SPAWNED; i++) {
        assert_int_equal(pym_refcount(spawned[i]), 1);
        assert_int_equal(pym_gc_is_tracked(spawned[i]), 1);
        assert_non_null(spawned[i]->slot[0]);
    }
    for (int i = 0; i < SPAWNED; i++)
        pym_decref(spawned[i]);
    assert_int_equal(node_deallocs, CHAIN + 2 * SPAWNED);
    assert_int_equal(pym_gc_collect(2), 0);
}

static void freezing_clear(void *self)
{
    node_clear(self);
    pym_gc_freeze();
}
static pym_type freezer_type = {
    .name = "freezer", .size = sizeof(node), .traverse = node_traverse, .clear = freezing_clear,
};

/* gc.freeze() from code that a collection runs: the live objects are
 * frozen, and the collection still deletes all of its garbage. */
static void freeze_from_a_clear_freezes_live_objects_and_the_garbage_still_goes(void **state)
{
    (void)state;
    node *kept = node_new();
    node *f = pym_new(&freezer_type);
    assert_non_null(f);
    node *ring = ring_new(300);
    node_link(f, 0, f);
    node_link(f, 1, ring);
    pym_decref(ring);
    pym_decref(f);
    assert_int_equal(pym_gc_collect(0), 301);
    assert_int_equal(node_deallocs, 300);
    assert_true(pym_gc_get_freeze_count() >= 1);
    assert_int_equal(pym_gc_is_tracked(kept), 1);
    void *probe[2] = {kept, NULL};
    pym_gc_get_objects(-1, count_hits_of, probe);
    assert_null(probe[1]);                          /* frozen: in no generation */
    pym_gc_unfreeze();
    pym_gc_get_objects(-1, count_hits_of, probe);
    assert_ptr_equal(probe[1], kept);
    pym_decref(kept);
}

static void saveall_keeps_collectable_objects_in_garbage(void **state)
{
    (void)state;
    pym_gc_set_debug(PYM_GC_DEBUG_SAVEALL);
    node *first = ring_new(3);
    pym_decref(first);
    assert_int_equal(pym_gc_collect(2), 3);
    assert_int_equal(node_deallocs, 0);
    assert_int_equal(pym_gc_garbage_count(), 3);
    for (size_t i = 0; i < 3; i++)
        assert_false(pym_gc_is_tracked(pym_gc_garbage_get(i)));
    pym_gc_set_debug(0);
    /* The saved cycle is untracked (as in CPython): break it by hand. */
    node_link(pym_gc_garbage_get(0), 0, NULL);
    pym_gc_garbage_clear();
    assert_int_equal(node_deallocs, 3);
}

/* ---- finalizers ---- */
static void *resurrected;

static void resurrecting_finalize(void *self)
{
    node_finalizes++;
    pym_incref(self);
    resurrected = self;
}

static pym_type resurrecting_type = {
    .name = "phoenix", .size = sizeof(node), .traverse = node_traverse,
    .clear = node_clear, .finalize = resurrecting_finalize, .dealloc = node_dealloc,
};

static void resurrecting_finalizer_runs_once_and_object_survives(void **state)
{
    (void)state;
    node *p = pym_new(&resurrecting_type);
    node *n = node_new();
    node_link(p, 0, n);
    node_link(n, 0, p);
    pym_decref(p);
    pym_decref(n);
    resurrected = NULL;
    pym_gc_collect(2);
    assert_int_equal(node_finalizes, 1);
    assert_ptr_equal(resurrected, p);
    assert_int_equal(node_deallocs, 0);          /* the whole cycle survives */
    assert_true(pym_gc_is_finalized(p));
    assert_ptr_equal(((node *)p)->slot[0], n);   /* not cleared */
    pym_decref(resurrected);                     /* garbage again */
    assert_int_equal(pym_gc_collect(2), 2);
    assert_int_equal(node_finalizes, 1);         /* PEP 442: never twice */
    assert_int_equal(node_deallocs, 2);
}

static void counting_finalize(void *self)
{
    (void)self;
    node_finalizes++;
}

static pym_type finalized_type = {
    .name = "finalized", .size = sizeof(node), .traverse = node_traverse,
    .clear = node_clear, .finalize = counting_finalize, .dealloc = node_dealloc,
};

static void finalizers_of_cyclic_garbage_run_once_then_freed(void **state)
{
    (void)state;
    node *a = pym_new(&finalized_type), *b = pym_new(&finalized_type);
    node_link(a, 0, b);
    node_link(b, 0, a);
    pym_decref(a);
    pym_decref(b);
    assert_int_equal(pym_gc_collect(2), 2);
    assert_int_equal(node_finalizes, 2);
    assert_int_equal(node_deallocs, 2);
}

static void refcount_death_runs_finalizer_once(void **state)
{
    (void)state;
    node *p = pym_new(&resurrecting_type);
    pym_decref(p);                      /* finalizer resurrects */
    assert_int_equal(node_finalizes, 1);
    assert_int_equal(node_deallocs, 0);
    assert_int_equal(pym_refcount(p), 1);
    assert_true(pym_gc_is_tracked(p));
    pym_decref(p);                      /* no second finalize */
    assert_int_equal(node_finalizes, 1);
    assert_int_equal(node_deallocs, 1);
}

/* ---- re-entrancy ---- */
static long nested_collect_result = -2;

static void collecting_finalize(void *self)
{
    (void)self;
    node_finalizes++;
    nested_collect_result = pym_gc_collect(2);
}

static pym_type collecting_type = {
    .name = "collects", .size = sizeof(node), .traverse = node_traverse,
    .clear = node_clear, .finalize = collecting_finalize, .dealloc = node_dealloc,
};

static void finalizer_calling_collect_gets_zero(void **state)
{
    (void)state;
    node *c = pym_new(&collecting_type);
    node_link(c, 0, c);
    pym_decref(c);
    assert_int_equal(pym_gc_collect(2), 1);
    assert_int_equal(nested_collect_result, 0);
    assert_int_equal(node_finalizes, 1);
    assert_int_equal(node_deallocs, 1);
}

static node *made_by_finalizer;

static void allocating_finalize(void *self)
{
    node_finalizes++;
    /* Allocate enough to cross threshold 0 several times, keep one that
     * refers to the dying object (a resurrection through a new object). */
    for (int i = 0; i < 50; i++)
        pym_decref(node_new());
    made_by_finalizer = node_new();
    node_link(made_by_finalizer, 0, self);
}

static pym_type allocating_type = {
    .name = "allocates", .size = sizeof(node), .traverse = node_traverse,
    .clear = node_clear, .finalize = allocating_finalize, .dealloc = node_dealloc,
};

static void finalizer_that_allocates_resurrects_through_new_object(void **state)
{
    (void)state;
    pym_gc_set_threshold(10, 10, 10);
    node *a = pym_new(&allocating_type);
    node_link(a, 0, a);
    pym_decref(a);
    long deallocs_before = node_deallocs;
    assert_int_equal(pym_gc_collect(2), 0);      /* resurrected: nothing collected */
    assert_int_equal(node_deallocs - deallocs_before, 50);
    assert_ptr_equal(made_by_finalizer->slot[0], a);
    pym_decref(made_by_finalizer);               /* a is a self-cycle again */
    assert_int_equal(pym_gc_collect(2), 1);
    assert_int_equal(node_finalizes, 1);
}

/* The collector's gc_refs array is not cleared before each collection: it
 * is kept all zero, a root's entry set back to 0 where the root is found.
 * An object held from outside in one collection must not make the object
 * that takes its position in the next look held. */
static void a_root_of_one_collection_is_not_one_in_the_next(void **state)
{
    (void)state;
    for (int generation = 0; generation <= 2; generation += 2) {
        pym_gc_collect(2);                  /* generation 0 empty: positions start at 0 */
        node *held = node_new();            /* position 0, our reference: a root */
        node *a = ring_new(2);
        pym_decref(a);
        assert_int_equal(pym_gc_collect(generation), 2);
        pym_decref(held);                   /* gone: its position is free again */
        node *b = ring_new(3);              /* positions from 0 on */
        pym_decref(b);
        assert_int_equal(pym_gc_collect(generation), 3);
    }
    assert_int_equal(node_deallocs, 2 * (1 + 2 + 3));
}

/* CPython's test_refcount_errors: a count lower than the references the
 * collector finds is a fatal error, not a silent free of a live object. */
static int overcounting_traverse_child(void *arg)
{
    (void)arg;
    child_no_core_dump();
    node *a = node_new(), *b = node_new();
    node_link(a, 0, b);
    a->slot[1] = b;                         /* a second reference, not counted */
    pym_decref(b);
    pym_gc_collect(2);                      /* b: count 1, two references found */
    return 0;                               /* returning at all is the failure */
}

static void traverse_reporting_more_references_than_the_count_aborts(void **state)
{
    (void)state;
    static child_result_t r;
    static const char *const words[] = {"reports more references to <node", NULL};
    assert_int_equal(child_run(overcounting_traverse_child, NULL, 10000, &r), 0);
    assert_true(child_killed_by(&r, SIGABRT));
    assert_true(child_stderr_line_has(&r, words));
    assert_ptr_equal(strchr(r.stderr_text, '\n'), r.stderr_text + r.stderr_len - 1);   /* one line */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GC_TEST(self_cycle_is_collected),
        GC_TEST(two_object_cycle_is_collected),
        GC_TEST(long_cycle_is_collected),
        GC_TEST(young_generation_collection_frees_young_cycles),
        GC_TEST(externally_referenced_cycle_is_kept),
        GC_TEST(cycle_held_by_member_of_another_kept_cycle_is_kept),
        GC_TEST(cycle_held_by_untracked_container_is_kept),
        GC_TEST(collect_without_garbage_returns_zero),
        GC_TEST(invalid_generation_is_einval),
        GC_TEST(cycle_through_legacy_finalizer_is_uncollectable),
        GC_TEST(tuple_list_cycle_is_collected),
        GC_TEST(cycle_of_objects_without_clear_survives_outside_garbage),
        GC_TEST(garbage_kept_by_a_clear_survives_in_the_older_generation),
        GC_TEST(objects_made_while_garbage_is_deleted_are_not_garbage),
        GC_TEST(freeze_from_a_clear_freezes_live_objects_and_the_garbage_still_goes),
        GC_TEST(saveall_keeps_collectable_objects_in_garbage),
        GC_TEST(resurrecting_finalizer_runs_once_and_object_survives),
        GC_TEST(finalizers_of_cyclic_garbage_run_once_then_freed),
        GC_TEST(refcount_death_runs_finalizer_once),
        GC_TEST(finalizer_calling_collect_gets_zero),
        GC_TEST(finalizer_that_allocates_resurrects_through_new_object),
        GC_TEST(a_root_of_one_collection_is_not_one_in_the_next),
        GC_TEST(traverse_reporting_more_references_than_the_count_aborts),
    };
    return cmocka_run_group_tests_name("gc collect", tests, NULL, NULL);
}
