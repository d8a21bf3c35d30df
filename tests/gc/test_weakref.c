/*
 * test_weakref.c -- weak references and their callbacks, on refcount death
 * and on cyclic garbage (CPython's test_gc: test_callback_in_cycle,
 * test_bug21435, the "weakrefs cleared before finalizers" rule).
 */
#include "gc_test.h"

static int callbacks;
static void *last_weakref;
static void count_callback(void *wr, void *arg)
{
    callbacks++;
    last_weakref = wr;
    if (arg)
        *(void **)arg = pym_weakref_get(wr);
}

static void weakref_follows_referent_until_its_death(void **state)
{
    (void)state;
    node *n = node_new();
    void *wr = pym_weakref_new(n, NULL, NULL);
    assert_ptr_equal(pym_weakref_get(wr), n);
    assert_int_equal(pym_refcount(n), 1);    /* weak: no reference taken */
    pym_decref(n);
    assert_null(pym_weakref_get(wr));
    pym_decref(wr);
}

static void callback_runs_once_with_referent_cleared(void **state)
{
    (void)state;
    callbacks = 0;
    void *seen = (void *)1;
    node *n = node_new();
    void *wr = pym_weakref_new(n, count_callback, &seen);
    pym_decref(n);
    assert_int_equal(callbacks, 1);
    assert_ptr_equal(last_weakref, wr);
    assert_null(seen);
    pym_decref(wr);
    assert_int_equal(callbacks, 1);
}

static void dead_weakref_gets_no_callback(void **state)
{
    (void)state;
    callbacks = 0;
    node *n = node_new();
    void *wr = pym_weakref_new(n, count_callback, NULL);
    void *wr2 = pym_weakref_new(n, count_callback, NULL);
    pym_decref(wr);
    pym_decref(n);
    assert_int_equal(callbacks, 1);
    assert_ptr_equal(last_weakref, wr2);
    pym_decref(wr2);
}

static int weakref_live_in_finalizer = -1;
static void *watched;
static void check_weakref_finalize(void *self)
{
    (void)self;
    node_finalizes++;
    weakref_live_in_finalizer = pym_weakref_get(watched) != NULL;
}
static pym_type checking_type = {
    .name = "checking", .size = sizeof(node), .traverse = node_traverse,
    .clear = node_clear, .finalize = check_weakref_finalize, .dealloc = node_dealloc,
};

static void cyclic_garbage_weakrefs_are_cleared_before_finalizers_and_call_back(void **state)
{
    (void)state;
    callbacks = 0;
    node *a = pym_new(&checking_type), *b = node_new();
    node_link(a, 0, b);
    node_link(b, 0, a);
    watched = pym_weakref_new(b, count_callback, NULL);
    pym_decref(a);
    pym_decref(b);
    assert_int_equal(pym_gc_collect(2), 2);
    assert_int_equal(node_finalizes, 1);
    assert_int_equal(weakref_live_in_finalizer, 0);
    assert_int_equal(callbacks, 1);
    assert_null(pym_weakref_get(watched));
    assert_int_equal(node_deallocs, 2);
    pym_decref(watched);
}

static void weakref_that_is_itself_garbage_gets_no_callback(void **state)
{
    (void)state;
    callbacks = 0;
    node *a = node_new(), *b = node_new();
    node_link(a, 0, b);
    node_link(b, 0, a);
    void *wr = pym_weakref_new(b, count_callback, NULL);
    a->slot[1] = wr;            /* the cycle owns the only reference to wr */
    pym_decref(a);
    pym_decref(b);
    assert_int_equal(pym_gc_collect(2), 3);
    assert_int_equal(callbacks, 0);
    assert_int_equal(node_deallocs, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GC_TEST(weakref_follows_referent_until_its_death),
        GC_TEST(callback_runs_once_with_referent_cleared),
        GC_TEST(dead_weakref_gets_no_callback),
        GC_TEST(cyclic_garbage_weakrefs_are_cleared_before_finalizers_and_call_back),
        GC_TEST(weakref_that_is_itself_garbage_gets_no_callback),
    };
    return cmocka_run_group_tests_name("gc weakref", tests, NULL, NULL);
}
