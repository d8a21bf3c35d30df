/*
 * unit.h -- what every unit test includes: cmocka and the allocator's
 * internal headers.  Unit tests link libpymalloc statically, so they can
 * call hidden pymi_* functions and read internal structures.
 */
#ifndef PYM_TESTS_UNIT_H
#define PYM_TESTS_UNIT_H

#include "internal.h"   /* first: it brings _GNU_SOURCE from configure */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

/* Block counts sized for 4 KiB pools, scaled to this build's pools. */
#define POOL_SCALE ((unsigned)(PYM_POOL_SIZE / 4096))

/* Whether block is on pool's free list (the owner's list, not the remote
 * one); a walk of at most capacity + 1 links, so a cycle ends it. */
static inline int on_free_list(const pym_pool_t *pool, const void *block)
{
    unsigned steps = 0;
    for (const pym_block_t *b = pool->free; b != NULL && !pymi_is_list_end(b) && steps <= pymi_class_capacity(pool->sizeclass);
         b = pymi_block_next(b), steps++)
        if (b == block)
            return 1;
    return 0;
}

#endif
