/*
 * test_refcount.c -- reference counting without the collector: counts,
 * alignment, the order of death, immortality, tracking, accounting.
 */
#include <string.h>
#include "gc_test.h"

static void new_object_has_one_reference_zeroed_and_16_aligned(void **state)
{
    (void)state;
    for (int i = 0; i < 64; i++) {
        node *n = node_new();
        assert_int_equal((uintptr_t)n % 16, 0);
        assert_int_equal(pym_refcount(n), 1);
        assert_null(n->slot[0]);
        assert_int_equal(n->id, 0);
        assert_ptr_equal(pym_typeof(n), &node_type);
        assert_true(pym_owns(n) || pym_option_get(PYM_OPTION_DISABLE));
        pym_decref(n);
    }
}

/* Every object size starts zeroed, also in a block whose last object left
 * other bytes behind (pym_new zeroes 16-64 bytes with inline stores, the
 * other sizes with memset; the second object of a size reuses the block
 * of the first, which the test fills with 0xff). */
static void objects_of_every_size_start_zeroed(void **state)
{
    (void)state;
    static pym_type sized[200];
    for (size_t size = 1; size <= 200; size++) {
        pym_type *t = &sized[size - 1];
        t->name = "sized";
        t->size = size;
        for (int round = 0; round < 2; round++) {
            unsigned char *p = pym_new(t);
            assert_non_null(p);
            for (size_t i = 0; i < size; i++)
                if (p[i] != 0)
                    fail_msg("byte %zu of a new %zu-byte object is %#x", i, size, p[i]);
            memset(p, 0xff, size);
            pym_decref(p);
        }
    }
}

static void object_dies_when_last_reference_goes(void **state)
{
    (void)state;
    node *n = node_new();
    pym_incref(n);
    assert_int_equal(pym_refcount(n), 2);
    pym_decref(n);
    assert_int_equal(node_deallocs, 0);
    pym_decref(n);
    assert_int_equal(node_deallocs, 1);
}

static void death_drops_references_it_held(void **state)
{
    (void)state;
    node *parent = node_new(), *child = node_new();
    node_link(parent, 0, child);
    pym_decref(child);
    assert_int_equal(pym_refcount(child), 1);
    pym_decref(parent);
    assert_int_equal(node_deallocs, 2);
}

static void long_chain_dies_without_deep_recursion(void **state)
{
    (void)state;
    node *head = node_new();
    node *tail = head;
    for (int i = 0; i < 300000; i++) {
        node *x = node_new();
        node_link(tail, 0, x);
        pym_decref(x);
        tail = x;
    }
    pym_decref(head);       /* would overflow the stack without the trashcan */
    assert_int_equal(node_deallocs, 300001);
}

static char order[8];
static int order_len;
static void record_finalize(void *self) { (void)self; order[order_len++] = 'f'; }
static void record_dealloc(void *self) { (void)self; order[order_len++] = 'd'; }
static void record_weakref_cb(void *wr, void *arg) { (void)wr; (void)arg; order[order_len++] = 'w'; }
static pym_type recorded_type = {
    .name = "recorded", .size = 16, .finalize = record_finalize, .dealloc = record_dealloc,
};

static void death_runs_finalize_then_weakref_callbacks_then_dealloc(void **state)
{
    (void)state;
    order_len = 0;
    void *obj = pym_new(&recorded_type);
    void *wr = pym_weakref_new(obj, record_weakref_cb, NULL);
    pym_decref(obj);
    order[order_len] = '\0';
    assert_string_equal(order, "fwd");
    pym_decref(wr);
}

static void immortal_object_ignores_reference_counting(void **state)
{
    (void)state;
    node *n = node_new();
    pym_immortalize(n);
    assert_true(pym_is_immortal(n));
    assert_false(pym_gc_is_tracked(n));
    size_t rc = pym_refcount(n);
    for (int i = 0; i < 10; i++)
        pym_decref(n);
    pym_incref(n);
    assert_int_equal(pym_refcount(n), rc);
    assert_int_equal(node_deallocs, 0);
    pym_gc_track(n);        /* the collector never examines it */
    assert_false(pym_gc_is_tracked(n));
}

static pym_type leaf_type = {.name = "leaf", .size = 24};

static void type_without_traverse_is_never_tracked(void **state)
{
    (void)state;
    void *leaf = pym_new(&leaf_type);
    assert_false(pym_gc_is_tracked(leaf));
    pym_gc_track(leaf);
    assert_false(pym_gc_is_tracked(leaf));
    pym_decref(leaf);
}

static void container_is_tracked_from_birth_and_can_be_untracked(void **state)
{
    (void)state;
    node *n = node_new();
    assert_true(pym_gc_is_tracked(n));
    pym_gc_untrack(n);
    assert_false(pym_gc_is_tracked(n));
    pym_gc_track(n);
    assert_true(pym_gc_is_tracked(n));
    pym_decref(n);
}

static void per_type_accounting_follows_births_and_deaths(void **state)
{
    (void)state;
    pym_gc_type_stats_t row;
    assert_int_equal(type_row(&leaf_type, &row), 0);
    void *a = pym_new(&leaf_type), *b = pym_new(&leaf_type);
    assert_int_equal(type_row(&leaf_type, &row), 1);
    assert_int_equal(row.objects, 2);
    assert_int_equal(row.bytes, 2 * (GC_HEADER_BYTES + 24));
    node *n = node_new();
    pym_gc_collect(0);      /* n survives into generation 1 */
    assert_int_equal(type_row(&node_type, &row), 1);
    assert_int_equal(row.per_generation[1], 1);
    pym_decref(a);
    assert_int_equal(type_row(&leaf_type, &row), 1);
    assert_int_equal(row.objects, 1);
    pym_decref(b);
    assert_int_equal(type_row(&leaf_type, &row), 0);
    pym_decref(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GC_TEST(new_object_has_one_reference_zeroed_and_16_aligned),
        GC_TEST(objects_of_every_size_start_zeroed),
        GC_TEST(object_dies_when_last_reference_goes),
        GC_TEST(death_drops_references_it_held),
        GC_TEST(long_chain_dies_without_deep_recursion),
        GC_TEST(death_runs_finalize_then_weakref_callbacks_then_dealloc),
        GC_TEST(immortal_object_ignores_reference_counting),
        GC_TEST(type_without_traverse_is_never_tracked),
        GC_TEST(container_is_tracked_from_birth_and_can_be_untracked),
        GC_TEST(per_type_accounting_follows_births_and_deaths),
    };
    return cmocka_run_group_tests_name("gc refcount", tests, NULL, NULL);
}
