/*
 * test_static_link.c -- libpymalloc_gc.a and libpymalloc.a in one link
 * (issue 12, item 8): each library keeps its internal names under its own
 * prefix (pymi_ for the allocator, pymgc_ for the GC layer), so the link
 * succeeds; the program then uses both layers.  Built with libtool's
 * -static: the uninstalled libraries come in as archives, which the test
 * checks by looking for any libpymalloc shared object in /proc/self/maps.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include "gc_test.h"

static void no_pymalloc_shared_object_is_mapped(void **state)
{
    (void)state;
    FILE *maps = fopen("/proc/self/maps", "r");
    assert_non_null(maps);
    char line[4096];
    int shared = 0;
    while (fgets(line, sizeof line, maps))
        if (strstr(line, "libpymalloc"))
            shared++;
    fclose(maps);
    assert_int_equal(shared, 0);
}

static void both_layers_work_in_one_static_program(void **state)
{
    (void)state;
    void *block = pym_malloc(40);
    assert_non_null(block);
    assert_true(pym_owns(block));
    pym_free(block);
    node *r = ring_new(3);
    pym_decref(r);
    assert_int_equal(pym_gc_collect(2), 3);
    assert_int_equal(node_deallocs, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_pymalloc_shared_object_is_mapped),
        GC_TEST(both_layers_work_in_one_static_program),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
