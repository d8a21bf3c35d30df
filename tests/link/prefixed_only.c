/*
 * prefixed_only.c -- the --disable-override way in: a program that calls
 * the pym_* API gets pymalloc blocks from it, while its plain malloc stays
 * glibc's.  The second half is only meaningful in a --disable-override
 * build; in an override build the program's malloc is ours by design, so
 * that check is skipped there.
 */
#define _GNU_SOURCE 1
#ifdef HAVE_CONFIG_H
#include "pym_build_config.h"   /* PYM_OVERRIDE */
#endif
#include "pattern.h"
#include "pymalloc.h"
#include "tap.h"

#include <malloc.h>
#include <stdlib.h>

#define SMALL_MAX 256

#ifndef PYM_OVERRIDE
static int plain_malloc_is_not_ours(void)
{
    int ok = 1;
    for (size_t size = 0; size <= SMALL_MAX; size += 8) {
        void *block = malloc(size);
        ok &= block != NULL && !pym_owns(block);
        free(block);
    }
    return ok;
}
#endif

static int prefixed_api_serves_small_blocks(void)
{
    int ok = 1;
    for (size_t size = 0; size <= SMALL_MAX; size++) {
        unsigned char *block = pym_malloc(size);
        if (block == NULL)
            return 0;
        ok &= pym_owns(block) && pym_usable_size(block) >= size;
        pattern_fill(block, size, size);
        block = pym_realloc(block, size + SMALL_MAX);
        ok &= block != NULL && pattern_intact(block, size, size);
        pym_free(block);
    }
    return ok;
}

int main(void)
{
    tap_plan(2);
#ifdef PYM_OVERRIDE
    tap_skip("plain malloc stays glibc's", "override build: malloc is pymalloc's by design");
#else
    tap_check(plain_malloc_is_not_ours(), "plain malloc stays glibc's");
#endif
    tap_check(prefixed_api_serves_small_blocks(), "the pym_* API serves small blocks from pools");
    return tap_exit_status();
}
