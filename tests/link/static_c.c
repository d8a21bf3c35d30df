/*
 * static_c.c -- a normally (dynamically) linked C program that links the
 * static archive libpymalloc.a gets pymalloc as its malloc: the program's own
 * calls and the calls glibc makes internally (strdup, asprintf) land in
 * our pools, and the blocks work.  In a --disable-override build the archive
 * exports no malloc, so those checks are skipped.
 */
#define _GNU_SOURCE 1
#ifdef HAVE_CONFIG_H
#include "pym_build_config.h"   /* PYM_OVERRIDE */
#endif
#include "linked_library.h"
#include "pattern.h"
#include "pymalloc.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_MAX 256

/* malloc'd blocks of every small size are ours, aligned, and keep contents. */
__attribute__((unused))   /* --disable-override builds skip the checks */
static int malloc_blocks_are_ours(void)
{
    enum { COUNT = 2 * (SMALL_MAX + 1) };
    unsigned char *blocks[COUNT];
    int ok = 1;
    for (size_t i = 0; i < COUNT; i++) {
        size_t size = i % (SMALL_MAX + 1);
        blocks[i] = (i & 1) ? calloc(1, size) : malloc(size);
        if (blocks[i] == NULL)
            return 0;
        ok &= pym_owns(blocks[i]) && ((uintptr_t)blocks[i] & 15) == 0;
        pattern_fill(blocks[i], size, i);
    }
    for (size_t i = 0; i < COUNT; i++) {
        ok &= pattern_intact(blocks[i], i % (SMALL_MAX + 1), i);
        blocks[i] = realloc(blocks[i], 1000);   /* and across the threshold */
        ok &= blocks[i] != NULL && !pym_owns(blocks[i])
              && pattern_intact(blocks[i], i % (SMALL_MAX + 1), i);
        free(blocks[i]);
    }
    return ok;
}

/* glibc's own small allocations (strdup, asprintf) resolve to the
 * executable's malloc. */
__attribute__((unused)) static int libc_internal_allocations_are_ours(void)
{
    char *copy = strdup("static link");
    char *text = NULL;
    if (copy == NULL || asprintf(&text, "%s %d", "hello", 42) < 0)
        return 0;
    int ok = pym_owns(copy) && strcmp(copy, "static link") == 0
             && pym_owns(text) && strcmp(text, "hello 42") == 0;
    free(text);
    free(copy);
    return ok;
}

int main(void)
{
    tap_plan(3);
    tap_check(!shared_pymalloc_is_loaded(), "libpymalloc.so is not loaded: the archive was linked");
#ifdef PYM_OVERRIDE
    tap_check(malloc_blocks_are_ours(), "malloc, calloc and realloc are pymalloc's and work");
    tap_check(libc_internal_allocations_are_ours(), "glibc's internal allocations are pymalloc's");
#else
    tap_skip("malloc, calloc and realloc are pymalloc's and work", "--disable-override build");
    tap_skip("glibc's internal allocations are pymalloc's", "--disable-override build");
#endif
    return tap_exit_status();
}
