/*
 * gc_test.h -- shared by the tests of the GC layer: a container type
 * "node" with four reference slots, counters of the hooks that ran, and a
 * teardown that restores the domain's defaults so tests stay independent.
 */
#ifndef GC_TEST_H
#define GC_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "pymalloc_gc.h"

/* The hidden header in front of every object (pymalloc_gc.h: "a hidden
 * 16-byte header"), which the per-type byte counts include. */
#define GC_HEADER_BYTES 16

#define NODE_SLOTS 4

typedef struct node {
    void *slot[NODE_SLOTS];
    long id;
} node;

/* Atomic: the thread tests free nodes in several threads at once. */
static _Atomic long node_deallocs;
static _Atomic long node_finalizes;

static int node_traverse(void *self, pym_visit_fn visit, void *arg)
{
    node *n = self;
    for (int i = 0; i < NODE_SLOTS; i++)
        PYM_VISIT(n->slot[i]);
    return 0;
}

static void node_clear(void *self)
{
    node *n = self;
    for (int i = 0; i < NODE_SLOTS; i++)
        PYM_CLEAR(n->slot[i]);
}

static void node_dealloc(void *self)
{
    node_clear(self);
    node_deallocs++;
}

static pym_type node_type = {
    .name = "node",
    .size = sizeof(node),
    .traverse = node_traverse,
    .clear = node_clear,
    .dealloc = node_dealloc,
};

static inline node *node_new(void)
{
    node *n = pym_new(&node_type);
    assert_non_null(n);
    return n;
}

/* from->slot[i] = a new reference to to (replacing what was there). */
static inline void node_link(node *from, int i, void *to)
{
    if (to)
        pym_incref(to);
    void *old = from->slot[i];
    from->slot[i] = to;
    if (old)
        pym_decref(old);
}

/* A ring of n nodes (slot 0 to the next); returns a reference to the first. */
static inline node *ring_new(long n)
{
    node *first = node_new();
    node *last = first;
    for (long i = 1; i < n; i++) {
        node *x = node_new();
        node_link(last, 0, x);
        pym_decref(x);
        last = x;
    }
    node_link(last, 0, first);
    return first;
}

/* The per-type accounting row of t: 1 and *out, or 0 when t has no live
 * object. */
static inline size_t type_row(const pym_type *t, pym_gc_type_stats_t *out)
{
    pym_gc_type_stats_t rows[64];
    size_t n = pym_gc_get_type_stats(rows, 64);
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        if (rows[i].type == t) {
            *out = rows[i];
            return 1;
        }
    return 0;
}

static inline int gc_test_setup(void **state)
{
    (void)state;
    pym_gc_collect(2);
    node_deallocs = 0;
    node_finalizes = 0;
    return 0;
}

static inline int gc_test_teardown(void **state)
{
    (void)state;
    pym_gc_set_debug(0);
    pym_gc_garbage_clear();
    pym_gc_collect(2);
    pym_gc_garbage_clear();
    pym_gc_unfreeze();
    pym_gc_collect(2);
    pym_gc_set_threshold(700, 10, 10);
    pym_gc_enable();
    return 0;
}

#define GC_TEST(f) cmocka_unit_test_setup_teardown(f, gc_test_setup, gc_test_teardown)

#endif
