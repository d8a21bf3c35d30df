/*
 * test_tables.c -- the tables of tracked objects behind the generations
 * (src/gc/table.c): after deaths that leave holes and compact a table,
 * after a collection's sweep, and after freeze/unfreeze, every tracked
 * object is reported once, in the order it was tracked, and untracking one
 * takes out that one alone (each header's slot still names its entry).
 * Not in CPython's test_gc: its generations are linked lists.
 */
#include "gc_test.h"

/* Over get_objects: are the objects' ids increasing, and how many? */
typedef struct walk {
    long last_id;
    long count;
    int out_of_order;
} walk;

static int check_order(void *obj, void *arg)
{
    walk *w = arg;
    if (pym_typeof(obj) != &node_type)
        return 0;
    long id = ((node *)obj)->id;
    w->out_of_order += id <= w->last_id;
    w->last_id = id;
    w->count++;
    return 0;
}

static walk walk_generation(int gen)
{
    walk w = {-1, 0, 0};
    pym_gc_get_objects(gen, check_order, &w);
    return w;
}

/* Untracks kept[i] for every i % step == 0 and checks that each takes one
 * object, itself, out of generation gen. */
static void untrack_some(node **kept, long n, long step, int gen)
{
    long expected = walk_generation(gen).count;
    for (long i = 0; i < n; i += step) {
        pym_gc_untrack(kept[i]);
        expected--;
        assert_int_equal(pym_gc_is_tracked(kept[i]), 0);
    }
    walk w = walk_generation(gen);
    assert_int_equal(w.count, expected);
    assert_int_equal(w.out_of_order, 0);
    for (long i = 0; i < n; i++)
        assert_int_equal(pym_gc_is_tracked(kept[i]), i % step != 0);
}

/* The n kept objects are all of generation gen, in tracking order; then
 * some are untracked (untrack_some) and all released. */
static void expect_in_order_then_release(node **kept, long n, int gen, long untrack_step)
{
    walk w = walk_generation(gen);
    assert_int_equal(w.count, n);
    assert_int_equal(w.out_of_order, 0);
    untrack_some(kept, n, untrack_step, gen);
    for (long i = 0; i < n; i++)
        pym_decref(kept[i]);
}

enum { N = 30000 };
static node *kept[N];

/* Two of every three die: more than half of generation 0's table becomes
 * holes (more than 4 096), which compacts it while objects keep dying. */
static void deaths_compact_the_table_and_keep_the_order(void **state)
{
    (void)state;
    pym_gc_disable();
    long nkept = 0;
    for (long i = 0; i < N; i++) {
        node *x = node_new();
        x->id = i;
        if (i % 3 == 2)
            kept[nkept++] = x;
        else
            pym_decref(x);      /* the newest entry: popped, no hole */
    }
    walk w = walk_generation(0);
    assert_int_equal(w.count, nkept);
    assert_int_equal(w.out_of_order, 0);

    /* Now deaths in the middle of the table. */
    long survivors = 0;
    for (long i = 0; i < nkept; i++) {
        if (i % 3 != 0) {
            pym_decref(kept[i]);
            kept[i] = NULL;
        } else {
            kept[survivors++] = kept[i];
        }
    }
    expect_in_order_then_release(kept, survivors, 0, 7);
    assert_int_equal(walk_generation(0).count, 0);
}

/* Drops kept[i] where gone(i), keeping the rest in order; returns how
 * many are left. */
static long drop_some(node **kept, long n, int (*gone)(long))
{
    long left = 0;
    for (long i = 0; i < n; i++) {
        if (gone(i))
            pym_decref(kept[i]);
        else
            kept[left++] = kept[i];
    }
    return left;
}

static int every_fifth(long i) { return i % 5 == 0; }
static int every_fourth(long i) { return i % 4 == 0; }

/* Survivors interleaved with garbage cycles: generation 0's collection
 * moves them to generation 1's table, a full one compacts generation 2's
 * table in place. */
static void collections_keep_the_survivors_order(void **state)
{
    (void)state;
    pym_gc_disable();
    long n = 0;
    for (long i = 0; i < N / 4; i++) {
        node *x = node_new();
        x->id = i;
        kept[n++] = x;
        pym_decref(ring_new(3));
    }
    assert_int_equal(pym_gc_collect(0), 3 * (N / 4));
    walk w = walk_generation(1);
    assert_int_equal(w.count, n);
    assert_int_equal(w.out_of_order, 0);
    untrack_some(kept, n, 5, 1);
    n = drop_some(kept, n, every_fifth);

    pym_gc_collect(1);              /* all to generation 2 */
    long garbage = 0;
    for (long i = 0; i < n; i += 2) {
        pym_decref(ring_new(2));    /* garbage in generation 0 */
        garbage += 2;
    }
    n = drop_some(kept, n, every_fourth);   /* holes in generation 2 */
    assert_int_equal(pym_gc_collect(2), garbage);
    expect_in_order_then_release(kept, n, 2, 3);
}

static void freeze_and_unfreeze_keep_the_order(void **state)
{
    (void)state;
    pym_gc_disable();
    for (long i = 0; i < 3000; i++) {
        node *x = node_new();
        x->id = i;
        kept[i] = x;
        if (i == 1000)
            pym_gc_collect(1);     /* 0..1000 in generation 2, the rest in 0 */
    }
    pym_gc_freeze();
    walk w = walk_generation(-1);
    assert_int_equal(w.count, 0);
    assert_int_equal(pym_gc_get_freeze_count(), 3000);
    pym_gc_unfreeze();
    w = walk_generation(2);
    assert_int_equal(w.count, 3000);
    assert_int_equal(w.out_of_order, 0);
    untrack_some(kept, 3000, 4, 2);
    for (long i = 0; i < 3000; i++)
        pym_decref(kept[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GC_TEST(deaths_compact_the_table_and_keep_the_order),
        GC_TEST(collections_keep_the_survivors_order),
        GC_TEST(freeze_and_unfreeze_keep_the_order),
    };
    return cmocka_run_group_tests_name("gc tables", tests, NULL, NULL);
}
