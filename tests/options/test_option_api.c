/*
 * test_option_api.c -- pym_option_get/pym_option_set from a program.
 *
 * Round trips for the options that may change at run time, EINVAL (and no
 * change) for bad values, unknown options and the start-up-only ones
 * (DISABLE, DEBUG), and one check that a change takes effect:
 * PYMALLOC_ARENA_CACHE decides whether an arena that empties is kept mapped
 * (a spare) or given back (counted in arenas_reclaimed; the library gives
 * empty arenas back 16 at a time, so the test empties more than 16).
 * The test assumes the environment sets no PYMALLOC_* variable
 * (test_options.sh covers the environment).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"   /* PYM_ARENA_SIZE */
#include "pymalloc.h"

#define OBJECT_SIZE 64
#define BLOCKS_PER_ARENA (PYM_ARENA_SIZE / OBJECT_SIZE)
#define ARENAS 20

static void defaults(void **state)
{
    (void)state;
    assert_int_equal(pym_option_get(PYM_OPTION_STATS), 0);
    assert_int_equal(pym_option_get(PYM_OPTION_DEBUG), 0);
    assert_int_equal(pym_option_get(PYM_OPTION_ARENA_CACHE), 1);
    assert_int_equal(pym_option_get(PYM_OPTION_DISABLE), 0);   /* resolved: not under valgrind */
    assert_int_equal(pym_option_get(PYM_OPTION_VERBOSE), 0);
}

static void round_trip(void **state)
{
    (void)state;
    /* Each option ends at its default (STATS off: no table at exit). */
    static const struct { pym_option_t option; long value; } steps[] = {
        {PYM_OPTION_ARENA_CACHE, 7}, {PYM_OPTION_ARENA_CACHE, 1024}, {PYM_OPTION_ARENA_CACHE, 1},
        {PYM_OPTION_VERBOSE, 1},     {PYM_OPTION_VERBOSE, 0},
        {PYM_OPTION_STATS, 1},       {PYM_OPTION_STATS, 0},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        assert_int_equal(pym_option_set(steps[i].option, steps[i].value), 0);
        assert_int_equal(pym_option_get(steps[i].option), steps[i].value);
    }
}

static void expect_einval_set(pym_option_t option, long value)
{
    long before = pym_option_get(option);
    errno = 0;
    assert_int_equal(pym_option_set(option, value), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(pym_option_get(option), before);
}

static void bad_values(void **state)
{
    (void)state;
    expect_einval_set(PYM_OPTION_ARENA_CACHE, -1);
    expect_einval_set(PYM_OPTION_ARENA_CACHE, 1025);
    expect_einval_set(PYM_OPTION_STATS, 2);
    expect_einval_set(PYM_OPTION_VERBOSE, -1);
    /* These decide the layout of blocks: start-up only. */
    expect_einval_set(PYM_OPTION_DISABLE, 1);
    expect_einval_set(PYM_OPTION_DEBUG, 1);
}

static void unknown_options(void **state)
{
    (void)state;
    errno = 0;
    assert_int_equal(pym_option_get(PYM_OPTION_COUNT_), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(pym_option_get((pym_option_t)-1), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(pym_option_set(PYM_OPTION_COUNT_, 0), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(pym_option_set((pym_option_t)1000, 0), -1);
    assert_int_equal(errno, EINVAL);
}

/* Fills ARENAS arenas with 64-byte blocks and frees them all; returns how
 * many arenas were given back meanwhile. */
static uint64_t arenas_reclaimed_by_fill_and_free(void)
{
    static void *blocks[ARENAS * BLOCKS_PER_ARENA];
    pym_stats_t before, after;
    pym_stats_get(&before);
    for (size_t i = 0; i < ARENAS * BLOCKS_PER_ARENA; i++) {
        blocks[i] = pym_malloc(OBJECT_SIZE);
        assert_non_null(blocks[i]);
    }
    for (size_t i = 0; i < ARENAS * BLOCKS_PER_ARENA; i++)
        pym_free(blocks[i]);
    pym_stats_get(&after);
    return after.arenas_reclaimed - before.arenas_reclaimed;
}

static void arena_cache_takes_effect(void **state)
{
    (void)state;
    /* The cache is what stays past the purge delay: no delay here. */
    long delay = pym_option_get(PYM_OPTION_PURGE_DELAY_MS);
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 0), 0);
    assert_int_equal(pym_option_set(PYM_OPTION_ARENA_CACHE, 1024), 0);
    assert_int_equal(arenas_reclaimed_by_fill_and_free(), 0);     /* all kept as spares */
    assert_int_equal(pym_option_set(PYM_OPTION_ARENA_CACHE, 0), 0);
    pym_trim();                                                   /* drop those spares */
    /* All but the arenas of the class's current and spare pools went back. */
    assert_true(arenas_reclaimed_by_fill_and_free() >= ARENAS - 2);
    assert_int_equal(pym_option_set(PYM_OPTION_ARENA_CACHE, 1), 0);
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, delay), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(unknown_options),
        cmocka_unit_test(arena_cache_takes_effect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
