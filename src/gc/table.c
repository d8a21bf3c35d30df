/*
 * table.c -- the tables of tracked objects (pymgc_table).
 *
 * A generation is an array of pointers to its objects' headers, in the
 * order they were tracked, and each header holds its index (slot).  This
 * replaces v2's doubly linked list threaded through the headers: the
 * header loses 16 bytes (objects are smaller, so every pass of the
 * collector reads less memory), and a pass walks an array, so it knows
 * which objects come next and can prefetch them, whatever their addresses.
 *
 * Removal is O(1): the last entry is popped (with the holes before it, so
 * an object that lives and dies young costs a push and a pop), any other
 * leaves a NULL hole.  A table more than half holes, with at least 4 096
 * of them, is compacted in place (order kept, slots rewritten) when it
 * loses another object outside a collection: amortised O(1) per removal,
 * and loops over a table during a collection never see entries move.
 */
#include "gc/gc_internal.h"

/* Room for n more in one reallocation (a collection reserves a whole
 * generation's worth at once: growing step by step would leave every
 * intermediate size behind in allocators that hold freed blocks back). */
static bool table_grow_to(pymgc_table *t, size_t n)
{
    size_t capacity = t->capacity ? t->capacity : 1024;
    while (capacity - t->len < n)
        capacity *= 2;
    if (capacity > UINT32_MAX)
        return false;
    pymgc_head **grown = pym_realloc(t->items, capacity * sizeof *grown);
    if (!grown)
        return false;
    t->items = grown;
    t->capacity = (uint32_t)capacity;
    return true;
}

bool pymgc_table_grow(pymgc_table *t)
{
    return table_grow_to(t, (size_t)t->capacity - t->len + 1);
}

void pymgc_table_reserve_n(pymgc_table *t, size_t n)
{
    if ((size_t)t->capacity - t->len < n && !table_grow_to(t, n))
        pymgc_fatal("pymalloc_gc: out of memory for a table of %zu tracked objects",
                    (size_t)t->len + n);
}

static void table_pop_holes(pymgc_table *t)
{
    if (t->holes == t->len) {
        /* Nothing but holes (objects that died in the order they were
         * made): empty in O(1). */
        t->len = t->holes = 0;
        return;
    }
    while (t->items[t->len - 1] == NULL) {
        t->len--;
        t->holes--;
    }
}

static void table_compact(pymgc_table *t)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < t->len; i++) {
        pymgc_head *h = t->items[i];
        if (h) {
            h->slot = kept;
            t->items[kept++] = h;
        }
    }
    t->len = kept;
    t->holes = 0;
}

void pymgc_table_remove_with_upkeep(pymgc_domain *d, pymgc_head *h)
{
    pymgc_table *t = &d->tables[h->gen];
    h->gen = PYMGC_GEN_UNTRACKED;
    if (h->slot + 1 == t->len) {
        t->len--;
        if (t->holes != 0)
            table_pop_holes(t);
        return;
    }
    t->items[h->slot] = NULL;
    if (++t->holes >= 4096 && t->holes > t->len / 2 && !d->collecting)
        table_compact(t);
}

void pymgc_table_move_all(pymgc_table *from, pymgc_table *to, uint8_t gen)
{
    pymgc_table_reserve_n(to, pymgc_table_size(from));
    for (uint32_t i = 0; i < from->len; i++)
        if (from->items[i])
            pymgc_table_push(to, from->items[i], gen);
    from->len = from->holes = 0;
}
