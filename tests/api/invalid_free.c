/*
 * invalid_free.c -- misuse is caught, never silently absorbed: freeing a
 * pointer that lies inside one of our pools but not at the start of a block
 * prints one line on stderr naming pymalloc and aborts.
 *
 * Each case runs in a forked child (tests/common/child.c) whose stderr is
 * captured through a pipe; the parent checks that the child died of SIGABRT
 * and that one line of its stderr says "pymalloc" and "invalid".  The match
 * is loose on purpose so the wording of the message can evolve.  Core dumps
 * are switched off in the child.
 *
 * With PYM_OVERRIDE (override builds) the same misuse through the libc
 * name free() is checked as well.
 */
#define _GNU_SOURCE 1
#ifdef HAVE_CONFIG_H
#include "pym_build_config.h"   /* PYM_OVERRIDE */
#endif
#include "child.h"
#include "cmocka_all.h"
#include "pymalloc.h"

#include <signal.h>
#include <stdlib.h>

#define CHILD_TIMEOUT_MS 10000

typedef struct misuse {
    void *(*allocate)(size_t size);
    void (*release)(void *ptr);
    size_t block_size;
    size_t offset;      /* added to the block's address before it is freed */
} misuse_t;

/* Child body: frees an interior pointer; returning at all is the failure. */
static int free_interior_pointer(void *arg)
{
    const misuse_t *misuse = arg;
    child_no_core_dump();
    unsigned char *block = misuse->allocate(misuse->block_size);
    if (block == NULL || !pym_owns(block))
        return 2;   /* the premise failed: not a pool block */
    misuse->release(block + misuse->offset);
    return 0;
}

static void expect_abort_with_diagnostic(misuse_t *misuse)
{
    child_result_t result;
    assert_int_equal(child_run(free_interior_pointer, misuse, CHILD_TIMEOUT_MS, &result), 0);
    if (result.timed_out)
        fail_msg("the child hung instead of aborting");
    if (child_exited_with(&result, 2))
        fail_msg("a %zu-byte block was not served by pymalloc", misuse->block_size);
    if (!child_killed_by(&result, SIGABRT))
        fail_msg("freeing block + %zu did not abort (status 0x%x, stderr: %s)",
                 misuse->offset, result.status, result.stderr_text);
    const char *const words[] = { "pymalloc", "invalid", NULL };
    if (!child_stderr_line_has(&result, words))
        fail_msg("no line of stderr names pymalloc and says invalid: \"%s\"",
                 result.stderr_text);
}

static void freeing_an_unaligned_interior_pointer_aborts(void **state)
{
    (void)state;
    misuse_t misuse = { pym_malloc, pym_free, 64, 8 };
    expect_abort_with_diagnostic(&misuse);
}

/* block + 16 is 16-byte aligned, so it would be a block start in a pool of
 * 16-byte blocks; in a pool of 256-byte blocks it is not. */
static void freeing_a_16_aligned_interior_pointer_aborts(void **state)
{
    (void)state;
    misuse_t misuse = { pym_malloc, pym_free, 256, 16 };
    expect_abort_with_diagnostic(&misuse);
}

static void freeing_the_middle_of_a_block_aborts(void **state)
{
    (void)state;
    misuse_t misuse = { pym_malloc, pym_free, 128, 64 };
    expect_abort_with_diagnostic(&misuse);
}

#ifdef PYM_OVERRIDE
static void libc_free_of_an_interior_pointer_aborts(void **state)
{
    (void)state;
    misuse_t misuse = { malloc, free, 64, 8 };
    expect_abort_with_diagnostic(&misuse);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(freeing_an_unaligned_interior_pointer_aborts),
        cmocka_unit_test(freeing_a_16_aligned_interior_pointer_aborts),
        cmocka_unit_test(freeing_the_middle_of_a_block_aborts),
#ifdef PYM_OVERRIDE
        cmocka_unit_test(libc_free_of_an_interior_pointer_aborts),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
