/*
 * init_fini.c -- the allocator works before main and after it: in a
 * constructor, in an atexit handler and in a destructor.
 *
 * The constructor (priority 101, the earliest a program may ask for) may run
 * before pymalloc's own constructor -- always so when this program is linked
 * with the static library (init_fini_static), where both live in the same
 * executable -- so its allocations exercise lazy initialisation.  It keeps
 * one block alive until the destructor, which checks and frees it last.
 *
 * Checks before main are recorded and reported by main, which prints the
 * TAP plan; the atexit handler and the destructor print their own lines
 * (tests/common/tap.c writes with write(2), safe at that point).
 */
#define _GNU_SOURCE 1
#ifdef HAVE_CONFIG_H
#include "pym_build_config.h"   /* PYM_OVERRIDE */
#endif
#include "pattern.h"
#include "pymalloc.h"
#include "tap.h"

#include <stdlib.h>

#define SMALL_MAX 256
#define BLOCKS 500

/* Allocates, checks and frees BLOCKS blocks of every size class, through
 * the pym_* API and, in override builds, through malloc; returns 1 when all
 * blocks were small ones of ours and kept their contents. */
static int allocate_check_free(uint64_t salt)
{
    unsigned char *blocks[BLOCKS];
    size_t sizes[BLOCKS];
    int ok = 1;
    for (int i = 0; i < BLOCKS; i++) {
        sizes[i] = (size_t)(i * 7) % (SMALL_MAX + 1);
#ifdef PYM_OVERRIDE
        blocks[i] = (i & 1) ? malloc(sizes[i]) : pym_malloc(sizes[i]);
#else
        blocks[i] = pym_malloc(sizes[i]);
#endif
        if (blocks[i] == NULL || !pym_owns(blocks[i]))
            return 0;
        pattern_fill(blocks[i], sizes[i], pattern_seed(blocks[i], salt));
    }
    for (int i = 0; i < BLOCKS; i++) {
        ok &= pattern_intact(blocks[i], sizes[i], pattern_seed(blocks[i], salt));
        pym_free(blocks[i]);
    }
    return ok;
}

static int constructor_ok;
static unsigned char *constructor_block;   /* lives from the constructor to the destructor */
static unsigned char *main_block;          /* lives from main to the atexit handler */

__attribute__((constructor(101))) static void allocate_in_constructor(void)
{
    constructor_ok = allocate_check_free(1);
    constructor_block = pym_malloc(100);
    if (constructor_block != NULL)
        pattern_fill(constructor_block, 100, 2);
}

static void allocate_in_atexit_handler(void)
{
    tap_check(main_block != NULL && pattern_intact(main_block, 64, 3),
              "a block from main is intact in an atexit handler");
    pym_free(main_block);
    tap_check(allocate_check_free(4), "allocation works in an atexit handler");
}

__attribute__((destructor)) static void allocate_in_destructor(void)
{
    tap_check(allocate_check_free(5), "allocation works in a destructor");
    tap_check(constructor_block != NULL && pym_owns(constructor_block)
                  && pattern_intact(constructor_block, 100, 2),
              "a block from the constructor is intact in a destructor");
    pym_free(constructor_block);
}

int main(void)
{
    tap_plan(6);
    tap_check(constructor_ok, "allocation works in a constructor");
    tap_check(allocate_check_free(6), "allocation works in main");
    main_block = pym_malloc(64);
    if (main_block != NULL)
        pattern_fill(main_block, 64, 3);
    if (atexit(allocate_in_atexit_handler) != 0)
        return 1;
    return tap_exit_status();
}
