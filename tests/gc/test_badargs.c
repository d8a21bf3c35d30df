/*
 * test_badargs.c -- issue 13, item 3: every function that takes an object
 * has a defined result for NULL and for a pointer that is not an object
 * (here: the middle of a zeroed pymalloc block, and a freed object).
 * CPython has no such case for Python code (everything is an object); the
 * C API's closest are PyObject_GC_Track/UnTrack of a non-GC object, a
 * fatal error there and an abort here (checked in a child process).
 */
#define _GNU_SOURCE
#include <errno.h>
#include "gc_test.h"
#include "gc_abort.h"

static char *block;
static void *fake;      /* inside a zeroed block: not an object */

static int setup(void **state)
{
    block = pym_calloc(1, 256);
    assert_non_null(block);
    fake = block + 128;
    return gc_test_setup(state);
}

static int teardown(void **state)
{
    pym_free(block);
    return gc_test_teardown(state);
}

static int count_call(void *obj, void *arg)
{
    (void)obj;
    ++*(long *)arg;
    return 0;
}

#define EXPECT_EINVAL(expr, value)                  \
    do {                                            \
        errno = 0;                                  \
        assert_true((expr) == (value));             \
        assert_int_equal(errno, EINVAL);            \
    } while (0)

static void queries_of_a_non_object_are_einval(void **state)
{
    (void)state;
    void *bad[] = {NULL, fake, (char *)node_new() + 8};
    pym_decref((char *)bad[2] - 8);     /* freed now too */
    for (size_t i = 0; i < 3; i++) {
        EXPECT_EINVAL(pym_gc_is_tracked(bad[i]), -1);
        EXPECT_EINVAL(pym_gc_is_finalized(bad[i]), -1);
        EXPECT_EINVAL(pym_is_immortal(bad[i]), -1);
        EXPECT_EINVAL(pym_typeof(bad[i]), NULL);
        long calls = 0;
        EXPECT_EINVAL(pym_gc_get_referents(bad[i], count_call, &calls), PYM_GC_ERROR);
        EXPECT_EINVAL(pym_gc_get_referrers(bad[i], count_call, &calls), PYM_GC_ERROR);
        EXPECT_EINVAL(pym_gc_explain(bad[i], stderr), -2);
        EXPECT_EINVAL(pym_weakref_new(bad[i], NULL, NULL), NULL);
        EXPECT_EINVAL(pym_weakref_get(bad[i]), NULL);
        assert_int_equal(calls, 0);
    }
}

static void a_freed_object_is_not_an_object(void **state)
{
    (void)state;
    node *n = node_new();
    assert_int_equal(pym_gc_is_tracked(n), 1);
    pym_decref(n);
    EXPECT_EINVAL(pym_gc_is_tracked(n), -1);
}

static void weakref_get_of_a_non_weakref_is_einval(void **state)
{
    (void)state;
    node *n = node_new();
    EXPECT_EINVAL(pym_weakref_get(n), NULL);
    void *wr = pym_weakref_new(n, NULL, NULL);
    assert_non_null(wr);
    assert_ptr_equal(pym_weakref_get(wr), n);
    pym_decref(n);
    errno = 0;
    assert_null(pym_weakref_get(wr));   /* dead referent: NULL, no error */
    assert_int_equal(errno, 0);
    pym_decref(wr);
}

static void new_of_null_type_is_einval(void **state)
{
    (void)state;
    EXPECT_EINVAL(pym_new(NULL), NULL);
}

/* gc.get_objects(generation=3) raises ValueError; an empty generation
 * gives []: PYM_GC_ERROR versus 0. */
static void get_objects_bad_generation_differs_from_empty(void **state)
{
    (void)state;
    long calls = 0;
    pym_gc_collect(2);
    errno = 0;
    assert_int_equal(pym_gc_get_objects(0, count_call, &calls), 0);   /* empty */
    assert_int_equal(errno, 0);
    EXPECT_EINVAL(pym_gc_get_objects(3, count_call, &calls), PYM_GC_ERROR);
    EXPECT_EINVAL(pym_gc_get_objects(-2, count_call, &calls), PYM_GC_ERROR);
    EXPECT_EINVAL(pym_gc_get_objects(0, NULL, NULL), PYM_GC_ERROR);
    node *n = node_new();
    EXPECT_EINVAL(pym_gc_get_referents(n, NULL, NULL), PYM_GC_ERROR);
    EXPECT_EINVAL(pym_gc_get_referrers(n, NULL, NULL), PYM_GC_ERROR);
    EXPECT_EINVAL(pym_gc_explain(n, NULL), -2);
    pym_decref(n);
    assert_int_equal(calls, 0);
}

/* gc.callbacks.append(None) makes the next collection raise TypeError;
 * here the registration itself is refused and collections go on. */
static void null_callback_is_refused(void **state)
{
    (void)state;
    EXPECT_EINVAL(pym_gc_callback_add(NULL, NULL), -1);
    node *r = ring_new(2);
    pym_decref(r);
    assert_int_equal(pym_gc_collect(2), 2);
}

/* Where CPython stops with a fatal error. */
static void expect_abort(void (*fn)(void *), void *arg, const char *what)
{
    expect_abort_message(fn, arg, what, "not a live object");
}

static void call_track(void *p) { pym_gc_track(p); }
static void call_untrack(void *p) { pym_gc_untrack(p); }
static void call_immortalize(void *p) { pym_immortalize(p); }

static void track_untrack_immortalize_of_a_non_object_abort(void **state)
{
    (void)state;
    void *bad[] = {NULL, fake};
    for (size_t i = 0; i < 2; i++) {
        expect_abort(call_track, bad[i], "pym_gc_track");
        expect_abort(call_untrack, bad[i], "pym_gc_untrack");
        expect_abort(call_immortalize, bad[i], "pym_immortalize");
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(queries_of_a_non_object_are_einval),
        T(a_freed_object_is_not_an_object),
        T(weakref_get_of_a_non_weakref_is_einval),
        T(new_of_null_type_is_einval),
        T(get_objects_bad_generation_differs_from_empty),
        T(null_callback_is_refused),
        T(track_untrack_immortalize_of_a_non_object_abort),
    };
    return cmocka_run_group_tests_name("gc bad arguments", tests, NULL, NULL);
}
