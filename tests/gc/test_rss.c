/*
 * test_rss.c -- a full collection gives the memory it freed back to the
 * kernel at once (it ends with pym_trim): resident set size, read from
 * /proc/self/statm, falls right after pym_gc_collect(2).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include "gc_test.h"
#include "../common/resident.h"

static void full_collection_returns_freed_pools_to_the_kernel(void **state)
{
    (void)state;
    enum { CYCLES = 100000, PER_CYCLE = 4 };   /* 400,000 objects of 64 bytes */
    pym_gc_disable();
    for (int i = 0; i < CYCLES; i++)
        pym_decref(ring_new(PER_CYCLE));
    long before = (long)resident_bytes();
    long garbage_bytes = (long)CYCLES * PER_CYCLE * (long)(GC_HEADER_BYTES + sizeof(node));
    assert_int_equal(pym_gc_collect(2), CYCLES * PER_CYCLE);
    long after = (long)resident_bytes();
    print_message("# RSS %ld KiB -> %ld KiB after collecting %ld KiB of objects\n",
                  before / 1024, after / 1024, garbage_bytes / 1024);
    assert_true(before - after >= garbage_bytes / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GC_TEST(full_collection_returns_freed_pools_to_the_kernel),
    };
    return cmocka_run_group_tests_name("gc rss", tests, NULL, NULL);
}
