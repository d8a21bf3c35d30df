/*
 * test_explain.c -- "why is this alive?": the chain printed by
 * pym_gc_explain from a reference held outside the tracked graph.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gc_test.h"

static char *explain_to_string(void *obj, int *result)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    *result = pym_gc_explain(obj, out);
    fclose(out);
    return text;
}

static void object_held_from_outside_is_its_own_root(void **state)
{
    (void)state;
    node *n = node_new();
    int result;
    char *text = explain_to_string(n, &result);
    assert_int_equal(result, 0);
    char expected[96];
    snprintf(expected, sizeof expected, "<node %p> is held by 1 reference(s) from outside", (void *)n);
    assert_non_null(strstr(text, expected));
    free(text);
    pym_decref(n);
}

static void chain_leads_from_the_held_object_to_the_target(void **state)
{
    (void)state;
    node *root = node_new(), *mid = node_new(), *leaf = node_new(), *decoy = node_new();
    node_link(root, 0, mid);
    node_link(mid, 1, leaf);
    node_link(decoy, 0, leaf);      /* decoy is not held: it is garbage... */
    node_link(leaf, 0, decoy);      /* ...in a cycle with leaf */
    pym_decref(mid);
    pym_decref(leaf);
    pym_decref(decoy);
    int result;
    char *text = explain_to_string(leaf, &result);
    assert_int_equal(result, 2);
    char root_line[96], mid_line[96], leaf_line[96];
    snprintf(root_line, sizeof root_line, "<node %p> is held by 1 reference(s)", (void *)root);
    snprintf(mid_line, sizeof mid_line, "-> which refers to <node %p>", (void *)mid);
    snprintf(leaf_line, sizeof leaf_line, "-> which refers to <node %p>", (void *)leaf);
    char *r = strstr(text, root_line), *m = strstr(text, mid_line), *l = strstr(text, leaf_line);
    assert_non_null(r);
    assert_non_null(m);
    assert_non_null(l);
    assert_true(r < m && m < l);
    free(text);
    pym_decref(root);
    assert_int_equal(pym_gc_collect(2), 2);     /* leaf and decoy */
}

static void cyclic_garbage_is_reported_unreachable(void **state)
{
    (void)state;
    node *first = ring_new(3);
    node *second = first->slot[0];
    pym_decref(first);
    int result;
    char *text = explain_to_string(second, &result);
    assert_int_equal(result, -1);
    assert_non_null(strstr(text, "is unreachable"));
    free(text);
    assert_int_equal(pym_gc_collect(2), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GC_TEST(object_held_from_outside_is_its_own_root),
        GC_TEST(chain_leads_from_the_held_object_to_the_target),
        GC_TEST(cyclic_garbage_is_reported_unreachable),
    };
    return cmocka_run_group_tests_name("gc explain", tests, NULL, NULL);
}
