/*
 * range.c -- regions of address space, their descriptor tables, and the
 * ownership test.
 *
 * Address space is reserved from the kernel one 32 MiB region at a time, as
 * arenas are needed: nothing large is reserved up front, so a program that
 * lowers RLIMIT_AS after start (test runners, sandboxes) keeps the room it
 * leaves itself for thread stacks and glibc's own mappings.  Each region is
 * 32 MiB-aligned; its first arena holds one 64-byte descriptor per pool of
 * the region (128 KiB; the rest of that arena is never touched), so a
 * pointer finds its pool's descriptor by arithmetic (pymi_pool_of), and the
 * descriptor slots of that metadata arena's own pools hold the region's 32
 * arena descriptors (pymi_arena_of).  The blocks of a pool start at offset
 * 0: no header shares a cache set with every other, and an overrun of a
 * pool's last block never lands in metadata.
 *
 * Regions are placed in a window of PYM_WINDOW_REGIONS 32 MiB slots (64 GiB)
 * around the first one: the slots below it first (the kernel hands out
 * addresses top-down, so those are usually free), then those above; a slot
 * the kernel will not give us as is (MAP_FIXED_NOREPLACE) is skipped.
 * Arenas are carved in address order, except that arena.c may ask for one
 * apart from the arena carved last (another heap's): the arena between is
 * left out as a gap, carved only once no new region can be had.  Two
 * threads whose arenas were side by side, each nearly full, ran 10 %
 * slower than apart (docs/design.md, "Session 31").  Where huge pages may
 * back the chunks, the gap is a whole chunk, and none is left in a chunk
 * already entered (it would be resident).
 * A region's arena tags (internal.h) are set when it becomes ours and never
 * go back to 0: a purged arena stays reserved and is reused before a new
 * one is carved.
 *
 * pymi_const.window_base is written once, in pymi_range_init, before any pointer
 * of ours exists; the tags are written under pymi_arena_lock, a region's
 * first ones before any block of the region is handed out.
 *
 * Huge pages (PYMALLOC_HUGE_PAGES).  Regions are mapped without them.  Once
 * a heap has PYM_HUGE_AFTER of arenas, each 2 MiB chunk of a region that
 * carving enters is advised MADV_HUGEPAGE before its first page is touched,
 * so the kernel backs it with one huge page: one fault, one TLB entry, and
 * one page-table edit when the whole chunk is purged (a full collection of
 * bench/gc's 1 M-object graph gives 16 MiB back in 0.45-0.65 ms instead of
 * 1.15).  A purge that covers only part of a huge chunk turns the chunk
 * back to 4 KiB pages first (MADV_NOHUGEPAGE, then the purge splits the
 * huge page): purging stays page-exact, RSS falls by what was purged, and
 * khugepaged, which leaves NOHUGEPAGE ranges alone, cannot gather the
 * purged pages back into a huge page.  Such a chunk keeps 4 KiB pages
 * until a purge covers it whole, which advises it huge again (it holds
 * nothing then; its next touch takes a huge page).
 * Everything in a huge chunk is resident, used or not: a purge there takes
 * every free pool of an arena (arena.c), and the chunk's arenas not carved
 * yet go too when the chunk is split.
 * A region's first chunk holds its descriptors and is never made huge.
 * huge_chunks[slot] has bit n set while chunk n of that region is advised
 * huge (under pymi_arena_lock).  jemalloc's HPA and tcmalloc's huge-page
 * allocator make the same trade with more bookkeeping.
 */
#include "internal.h"

_Atomic uint16_t pymi_arena_tags[PYM_WINDOW_ARENAS];

/* Under pymi_arena_lock. */
static uintptr_t current_region;     /* the region arenas are carved from */
static unsigned current_next;        /* its next never-used arena */
static unsigned slot_below, slot_above;   /* the next slots to try each way */
static size_t regions;
static size_t arenas_carved;
static uint16_t huge_chunks[PYM_WINDOW_REGIONS];
static uint32_t gaps[PYM_WINDOW_REGIONS];   /* bit a: arena a left uncarved, apart */

static unsigned slot_of(uintptr_t region)
{
    return (unsigned)((region - pymi_const.window_base) >> PYM_REGION_SHIFT);
}

static int region_is_ours(unsigned slot)
{
    return atomic_load_explicit(&pymi_arena_tags[slot * PYM_ARENAS_PER_REGION], memory_order_relaxed) !=
           PYM_ARENA_TAG_FOREIGN;
}

void pymi_range_tag_arena(const pym_arena_t *arena, uint16_t tag)
{
    uintptr_t slot = pymi_arena_slot((const void *)pymi_arena_base(arena));
    atomic_store_explicit(&pymi_arena_tags[slot], tag, memory_order_relaxed);
}

static void region_adopt(uintptr_t region)
{
    uintptr_t first = pymi_arena_slot((const void *)region);
    for (unsigned a = 0; a < PYM_ARENAS_PER_REGION; a++)
        atomic_store_explicit(&pymi_arena_tags[first + a], PYM_ARENA_TAG_NOBODY, memory_order_relaxed);
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
    pymi_const.window_base = base > below ? base - below : 0;
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
        uintptr_t want = pymi_const.window_base + ((uintptr_t)slot << PYM_REGION_SHIFT);
        int status = pymi_os_reserve_at((void *)want, PYM_REGION_SIZE);
        if (status > 0)
            return want;
        if (status < 0)
            return 0;   /* out of memory or address space: no point trying on */
    }
    return 0;
}

/* Huge pages for chunks entered from now on: the option, and a heap past
 * PYM_HUGE_AFTER. */
static int huge_wanted(void)
{
    return arenas_carved * PYM_ARENA_SIZE > PYM_HUGE_AFTER && pymi_option(PYM_OPTION_HUGE_PAGES);
}

/* The bit of the chunk that holds addr in its region's huge_chunks mask. */
static uint16_t chunk_bit(uintptr_t addr)
{
    return (uint16_t)(1u << ((addr & PYM_REGION_MASK) >> PYM_HUGE_CHUNK_SHIFT));
}

static uint16_t *chunk_mask(uintptr_t addr)
{
    return &huge_chunks[slot_of(addr & ~(uintptr_t)PYM_REGION_MASK)];
}

/* Advises the 2 MiB chunk at `chunk` huge or not, unless it is already. */
static void chunk_set_huge(uintptr_t chunk, int huge)
{
    uint16_t *mask = chunk_mask(chunk), bit = chunk_bit(chunk);
    if (!(*mask & bit) == !huge)
        return;
    pymi_os_huge_pages((void *)chunk, PYM_HUGE_CHUNK_SIZE, huge);
    *mask ^= bit;
    /* The huge page made the chunk's arenas not carved yet resident too;
     * split, they would stay so. */
    uintptr_t frontier = current_region + ((uintptr_t)current_next << PYM_ARENA_SHIFT);
    if (!huge && frontier > chunk && frontier < chunk + PYM_HUGE_CHUNK_SIZE)
        pymi_os_purge((void *)frontier, chunk + PYM_HUGE_CHUNK_SIZE - frontier);
}

int pymi_range_is_huge(uintptr_t addr)
{
    return (*chunk_mask(addr) & chunk_bit(addr)) != 0;
}

const pym_arena_t *pymi_range_last_carved(void)
{
    if (current_next == PYM_REGION_META_ARENAS || current_next == PYM_ARENAS_PER_REGION)
        return NULL;
    return pymi_arena_of((const void *)(current_region + ((uintptr_t)(current_next - 1) << PYM_ARENA_SHIFT)));
}

/* An arena left out as a gap, carved now that no region can be had; 0
 * when there is none. */
static uintptr_t gap_take(void)
{
    for (unsigned slot = 0; slot < PYM_WINDOW_REGIONS; slot++) {
        if (gaps[slot] == 0)
            continue;
        unsigned a = (unsigned)__builtin_ctz(gaps[slot]);
        gaps[slot] &= gaps[slot] - 1;
        return pymi_const.window_base + ((uintptr_t)slot << PYM_REGION_SHIFT) + ((uintptr_t)a << PYM_ARENA_SHIFT);
    }
    return 0;
}

/* How many arenas to leave out so that the next one carved is apart from
 * the last: one, or where huge pages may back the chunks a whole chunk (a
 * gap in a chunk already entered would be resident: then none). */
static unsigned gap_before_next(void)
{
    if (!huge_wanted())
        return 1;
    unsigned per_chunk = (unsigned)(PYM_HUGE_CHUNK_SIZE / PYM_ARENA_SIZE);
    return current_next % per_chunk == 0 ? per_chunk : 0;
}

pym_arena_t *pymi_range_new_arena(int apart)
{
    unsigned gap = apart ? gap_before_next() : 0;
    if (gap > 0 && current_next + gap < PYM_ARENAS_PER_REGION) {
        gaps[slot_of(current_region)] |= ((1u << gap) - 1) << current_next;
        current_next += gap;
    }
    if (current_next == PYM_ARENAS_PER_REGION) {
        uintptr_t region = region_reserve();
        if (region == 0) {
            uintptr_t left_out = gap_take();
            if (left_out == 0)
                return NULL;
            arenas_carved++;
            return pymi_arena_of((const void *)left_out);
        }
        region_adopt(region);
    }
    uintptr_t base = current_region + ((uintptr_t)current_next++ << PYM_ARENA_SHIFT);
    arenas_carved++;
    if ((base & (PYM_HUGE_CHUNK_SIZE - 1)) == 0)
        chunk_set_huge(base, huge_wanted());
    return pymi_arena_of((const void *)base);
}

/* A chunk purged whole holds nothing: its next touch may take a huge page
 * again.  One purged in part goes to 4 KiB pages first. */
void pymi_range_purge(uintptr_t addr, size_t size)
{
    uintptr_t end = addr + size;
    uintptr_t first = addr & ~(uintptr_t)(PYM_HUGE_CHUNK_SIZE - 1);
    uintptr_t last = (end - 1) & ~(uintptr_t)(PYM_HUGE_CHUNK_SIZE - 1);
    int huge = huge_wanted();
    for (uintptr_t chunk = first; chunk <= last; chunk += PYM_HUGE_CHUNK_SIZE) {
        if (chunk >= addr && chunk + PYM_HUGE_CHUNK_SIZE <= end)
            chunk_set_huge(chunk, huge);
        else
            chunk_set_huge(chunk, 0);
    }
    pymi_os_purge((void *)addr, size);
}

size_t pymi_range_huge_chunks(void)
{
    size_t n = 0;
    for (unsigned slot = 0; slot < PYM_WINDOW_REGIONS; slot++)
        n += (size_t)__builtin_popcount(huge_chunks[slot]);
    return n;
}

void pymi_range_each_arena(void (*fn)(pym_arena_t *arena, void *arg), void *arg)
{
    for (unsigned slot = 0; slot < PYM_WINDOW_REGIONS; slot++) {
        if (!region_is_ours(slot))
            continue;
        uintptr_t region = pymi_const.window_base + ((uintptr_t)slot << PYM_REGION_SHIFT);
        unsigned end = region == current_region ? current_next : PYM_ARENAS_PER_REGION;
        for (unsigned a = PYM_REGION_META_ARENAS; a < end; a++)
            if (!(gaps[slot] >> a & 1))
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
