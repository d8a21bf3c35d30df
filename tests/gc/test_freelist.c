/*
 * test_freelist.c -- the dead objects each thread keeps per type for
 * pym_new (CPython's free lists): reused zeroed, bounded, given back by a
 * full collection and by the thread's exit, and dead to every check while
 * kept (a second decref, or a write through a stale pointer, aborts).
 */
#include <pthread.h>
#include <stdbool.h>
#include "gc_test.h"
#include "gc_abort.h"

/* 32 bytes, no hooks: a 48-byte block with its header. */
static pym_type plain_type = {.name = "plain", .size = 32};

static size_t bytes_in_use(void)
{
    pym_stats_t s;
    pym_stats_get(&s);
    return s.bytes_in_use;
}

/* pymalloc's statistics say nothing with the allocator off. */
static bool stats_count(void)
{
    return !pym_option_get(PYM_OPTION_DISABLE);
}

static void a_dead_objects_memory_comes_back_zeroed_for_the_next_of_its_type(void **state)
{
    (void)state;
    node *a = node_new();
    a->id = 42;
    pym_decref(a);
    assert_int_equal(node_deallocs, 1);
    node *b = node_new();
    assert_ptr_equal(b, a);        /* the kept object, last in first out */
    assert_int_equal(b->id, 0);
    for (int i = 0; i < NODE_SLOTS; i++)
        assert_null(b->slot[i]);
    assert_int_equal(pym_refcount(b), 1);
    assert_ptr_equal(pym_typeof(b), &node_type);
    assert_int_equal(pym_gc_is_tracked(b), 1);
    pym_decref(b);
}

static void decref_twice(void *unused)
{
    (void)unused;
    void *p = pym_new(&plain_type);
    pym_decref(p);
    pym_decref(p);
}

static void incref_after_death_then_new(void *unused)
{
    (void)unused;
    void *p = pym_new(&plain_type);
    pym_decref(p);
    pym_incref(p);              /* a stale pointer's count goes up */
    (void)pym_new(&plain_type);
}

static void a_second_decref_of_a_dead_object_aborts(void **state)
{
    (void)state;
    expect_abort_message(decref_twice, NULL, "already zero", NULL);
}

static void a_dead_object_written_through_a_stale_pointer_aborts_the_next_new(void **state)
{
    (void)state;
    expect_abort_message(incref_after_death_then_new, NULL, "written to after its death", NULL);
}

/* Makes and drops n plain objects, all alive at once first. */
static void make_and_drop(size_t n)
{
    void **objs = pym_malloc(n * sizeof *objs);
    assert_non_null(objs);
    for (size_t i = 0; i < n; i++) {
        objs[i] = pym_new(&plain_type);
        assert_non_null(objs[i]);
    }
    for (size_t i = 0; i < n; i++)
        pym_decref(objs[i]);
    pym_free(objs);
}

#define SLACK (16 * 1024)

static void a_full_collection_gives_the_kept_objects_back(void **state)
{
    (void)state;
    size_t before = bytes_in_use();
    make_and_drop(1000);
    size_t kept = bytes_in_use();
    pym_gc_collect(2);
    size_t after = bytes_in_use();
    if (stats_count()) {
        assert_true(kept >= before + 1000 * 48 - SLACK);   /* they were kept */
        assert_true(after <= before + SLACK);
    }
}

/* At most 64 KiB of a type's dead objects stay with a thread. */
static void the_kept_objects_of_a_type_are_bounded(void **state)
{
    (void)state;
    size_t before = bytes_in_use();
    make_and_drop(20000);          /* 960 KB */
    size_t kept = bytes_in_use();
    if (stats_count())
        assert_true(kept <= before + 64 * 1024 + SLACK);
    pym_gc_collect(2);
}

static void *make_and_drop_in_a_thread(void *arg)
{
    (void)arg;
    make_and_drop(1000);
    return NULL;
}

static void a_threads_exit_gives_its_kept_objects_back(void **state)
{
    (void)state;
    size_t before = bytes_in_use();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, make_and_drop_in_a_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    if (stats_count())
        assert_true(bytes_in_use() <= before + SLACK);
}

/* A collection releases its garbage in runs of one type and holds the
 * run's free list in locals; a dealloc in the middle (user code) may take
 * an object off that list.  Garbage ring A (link) -> B (maker) -> C (link)
 * -> A, in that tracking order: A is kept, B's dealloc makes a link object
 * (A's memory, popped), C is kept.  No later pym_new may hand out the
 * object B's dealloc holds. */
typedef struct ring_link {
    void *next;
    long value;
} ring_link;

static int link_traverse(void *self, pym_visit_fn visit, void *arg)
{
    ring_link *l = self;
    PYM_VISIT(l->next);
    return 0;
}

static void link_clear(void *self)
{
    ring_link *l = self;
    PYM_CLEAR(l->next);
}

static pym_type link_type = {
    .name = "link", .size = sizeof(ring_link), .traverse = link_traverse, .clear = link_clear,
};

static ring_link *made_in_dealloc;

static void maker_dealloc(void *self)
{
    link_clear(self);
    made_in_dealloc = pym_new(&link_type);
    made_in_dealloc->value = 7;
}

static pym_type maker_type = {
    .name = "maker", .size = sizeof(ring_link), .traverse = link_traverse, .clear = link_clear,
    .dealloc = maker_dealloc,
};

static void an_object_made_by_a_dealloc_during_a_collection_is_not_handed_out_again(void **state)
{
    (void)state;
    pym_gc_collect(2);              /* empty free lists */
    ring_link *a = pym_new(&link_type), *b = pym_new(&maker_type), *c = pym_new(&link_type);
    a->next = b;
    b->next = c;
    c->next = a;                    /* each new reference moves in */
    assert_int_equal(pym_gc_collect(0), 3);
    assert_non_null(made_in_dealloc);
    ring_link *later[4];
    for (int i = 0; i < 4; i++) {
        later[i] = pym_new(&link_type);
        assert_ptr_not_equal(later[i], made_in_dealloc);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(later[i], later[j]);
    }
    assert_int_equal(made_in_dealloc->value, 7);
    assert_int_equal(pym_refcount(made_in_dealloc), 1);
    for (int i = 0; i < 4; i++)
        pym_decref(later[i]);
    pym_decref(made_in_dealloc);
    made_in_dealloc = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GC_TEST(a_dead_objects_memory_comes_back_zeroed_for_the_next_of_its_type),
        GC_TEST(a_second_decref_of_a_dead_object_aborts),
        GC_TEST(a_dead_object_written_through_a_stale_pointer_aborts_the_next_new),
        GC_TEST(a_full_collection_gives_the_kept_objects_back),
        GC_TEST(the_kept_objects_of_a_type_are_bounded),
        GC_TEST(a_threads_exit_gives_its_kept_objects_back),
        GC_TEST(an_object_made_by_a_dealloc_during_a_collection_is_not_handed_out_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
