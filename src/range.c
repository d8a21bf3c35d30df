/*
 * range.c -- regions of address space, their descriptor tables, and the
 * ownership test.
 *
 * Address space is reserved from the kernel one 32 MiB region at a time, as
 * arenas are needed: nothing large is reserved up front, so a program that
 * lowers RLIMIT_AS after start (test runners, sandboxes) keeps the room it
 * leaves itself for thread stacks and glibc's own mappings.  Each region is
 * 32 MiB-aligned; its first two arenas hold one 64-byte descriptor per pool
 * of the region, so a pointer finds its pool's descriptor by arithmetic
 * (pymi_pool_of), and the descriptor slots of those two metadata arenas hold
 * the region's 128 arena descriptors (pymi_arena_of).  The blocks of a pool
 * start at offset 0 of its page: no header shares a cache set with every
 * other, and an overrun of a pool's last block never lands in metadata.
 *
 * Regions are placed in a window of PYM_WINDOW_REGIONS 32 MiB slots (64 GiB)
 * around the first one: the slots below it first (the kernel hands out
 * addresses top-down, so those are usually free), then those above; a slot
 * the kernel will not give us as is (MAP_FIXED_NOREPLACE) is skipped.
 * pymi_region_map[slot] is set once a region is ours, never cleared: a
 * purged arena stays reserved and is reused before a new one is carved.
 *
 * pymi_window_base is written once, in pymi_range_init, before any pointer
 * of ours exists; the map's bytes are written under pymi_arena_lock before
 * any block of the region is handed out.
 */
#include "internal.h"

uintptr_t pymi_window_base;
uint8_t pymi_region_map[PYM_WINDOW_REGIONS];

/* Under pymi_arena_lock. */
static uintptr_t current_region;     /* the region arenas are carved from */
static unsigned current_next;        /* its next never-used arena */
static unsigned slot_below, slot_above;   /* the next slots to try each way */
static size_t regions;
static size_t arenas_carved;

static unsigned slot_of(uintptr_t region)
{
    return (unsigned)((region - pymi_window_base) >> PYM_REGION_SHIFT);
}

static void region_adopt(uintptr_t region)
{
    pymi_region_map[slot_of(region)] = 1;
    current_region = region;
    current_next = PYM_REGION_META_ARENAS;
    regions++;
}

int pymi_range_init(void)
{
    void *first = pymi_os_reserve(PYM_REGION_SIZE, PYM_REGION_SIZE);
    if (first == NULL)
        return 0;
    uintptr_t base = (uintptr_t)first;
    uintptr_t below = (uintptr_t)(PYM_WINDOW_REGIONS / 2) << PYM_REGION_SHIFT;
    pymi_window_base = base > below ? base - below : 0;
    slot_below = slot_of(base);    /* decremented before use */
    slot_above = slot_of(base) + 1;
    region_adopt(base);
    if (pymi_option(PYM_OPTION_VERBOSE))
        pymi_message("reserved the first 32 MiB region at %p; more are reserved as needed, "
                     "up to %u (%zu GiB)", first, PYM_WINDOW_REGIONS,
                     (PYM_WINDOW_REGIONS * PYM_REGION_SIZE) >> 30);
    return 1;
}

/* A new region in a free slot of the window, or 0. */
static uintptr_t region_reserve(void)
{
    while (slot_below > 0 || slot_above < PYM_WINDOW_REGIONS) {
        unsigned slot = slot_below > 0 ? --slot_below : slot_above++;
        uintptr_t want = pymi_window_base + ((uintptr_t)slot << PYM_REGION_SHIFT);
        int status = pymi_os_reserve_at((void *)want, PYM_REGION_SIZE);
        if (status > 0)
            return want;
        if (status < 0)
            return 0;   /* out of memory or address space: no point trying on */
    }
    return 0;
}

pym_arena_t *pymi_range_new_arena(void)
{
    if (current_next == PYM_ARENAS_PER_REGION) {
        uintptr_t region = region_reserve();
        if (region == 0)
            return NULL;
        region_adopt(region);
    }
    uintptr_t base = current_region + ((uintptr_t)current_next++ << PYM_ARENA_SHIFT);
    arenas_carved++;
    return pymi_arena_of((const void *)base);
}

void pymi_range_each_arena(void (*fn)(pym_arena_t *arena, void *arg), void *arg)
{
    for (unsigned slot = 0; slot < PYM_WINDOW_REGIONS; slot++) {
        if (!pymi_region_map[slot])
            continue;
        uintptr_t region = pymi_window_base + ((uintptr_t)slot << PYM_REGION_SHIFT);
        unsigned end = region == current_region ? current_next : PYM_ARENAS_PER_REGION;
        for (unsigned a = PYM_REGION_META_ARENAS; a < end; a++)
            fn(pymi_arena_of((const void *)(region + ((uintptr_t)a << PYM_ARENA_SHIFT))), arg);
    }
}

/* fork child, the arena lock having been held: the region state may be
 * half-changed; carve from a fresh region from now on. */
void pymi_range_fork_child(void)
{
    current_next = PYM_ARENAS_PER_REGION;
}

size_t pymi_range_arenas_carved(void)
{
    return arenas_carved;
}

size_t pymi_range_reserved(void)
{
    return regions * PYM_REGION_SIZE;
}
