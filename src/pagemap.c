/*
 * pagemap.c -- "is this pointer ours, and which arena holds it?"
 *
 * One range of address space is reserved at start-up (64 GiB, halved until
 * the kernel agrees, see os.c) and every arena is carved from it in order.
 * Ownership is then one subtraction and one compare (pymi_owns in
 * internal.h), exact, and it never reads memory that may not be ours --
 * the fault of CPython's pre-3.10 address_in_range (bpo-18859).  When the
 * range is used up, small requests are forwarded to libc; the exact test
 * keeps that correct.
 *
 * The arena descriptors live in a table parallel to the range, indexed by
 * (ptr - base) >> 18, mapped NORESERVE so only the used part is resident.
 *
 * pymi_range is written once, by pymi_pagemap_init during process
 * initialisation, before any pointer of ours exists.
 */
#include "internal.h"

struct pymi_range pymi_range;
pym_arena_t *pymi_arena_table;
static size_t arenas_carved;   /* arenas taken from the range so far; under pymi_arena_lock */

int pymi_pagemap_init(void)
{
    size_t size = PYM_RESERVE_MAX;
    void *base = pymi_os_reserve(&size, PYM_ARENA_SIZE);
    if (base == NULL)
        return 0;
    size_t slots = size >> PYM_ARENA_SHIFT;
    pym_arena_t *table = pymi_os_map(slots * sizeof(pym_arena_t));
    if (table == NULL)
        return 0;
    pymi_arena_table = table;
    pymi_range.base = (uintptr_t)base;
    pymi_range.size = size;
    if (pymi_option(PYM_OPTION_VERBOSE))
        pymi_message("reserved %zu MiB of address space for arenas at %p", size >> 20, base);
    return 1;
}

/* The next never-used arena of the range, or NULL when it is used up.
 * Caller holds pymi_arena_lock. */
pym_arena_t *pymi_pagemap_new_arena(void)
{
    if (arenas_carved >= (pymi_range.size >> PYM_ARENA_SHIFT))
        return NULL;
    return &pymi_arena_table[arenas_carved++];
}

size_t pymi_pagemap_arena_count(void)
{
    return arenas_carved;
}
