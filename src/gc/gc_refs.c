/*
 * gc_refs.c -- step 1 of a collection (and of pym_gc_explain): for every
 * object of a set of tables, gc_refs = its reference count minus the
 * references to it from objects of the set.  What is left is held from
 * outside: those objects are the roots.
 *
 * gc_refs live in one array by position (the table's base plus the slot),
 * not in the headers: the search for roots then reads 4 bytes per object,
 * one dense array, instead of every header.  The array is zeroed, then one
 * walk over the tables adds each object's count at its position and
 * subtracts one at each referent's position (an unsigned sum: a referent
 * may be seen before its own count is added).  CPython copies the counts
 * in a walk of their own (update_refs); this needs one walk, in the
 * tables' order, prefetching the objects a few entries ahead.
 *
 * A large set (PARALLEL_MIN objects or more) is walked by two threads, the
 * collector's helper (helper.c) beside the caller: they take chunks of
 * positions from a shared counter, each summing into an array of its own
 * (a referent's count may be decremented by both), and the helper's array
 * is then added into the caller's, each thread adding one half.  Only
 * `traverse` runs on the helper, and it only reads.
 */
#include <string.h>
#include "gc/gc_internal.h"

/* Below this many objects the walk is not worth a second thread (waking
 * it takes some tens of microseconds). */
#define PARALLEL_MIN 65536u
/* Positions taken at a time from the shared counter. */
#define CHUNK 16384u

/* Room for n entries in *array (capacity *capacity, kept between
 * collections). */
static uint32_t *refs_reserve(uint32_t **array, size_t *capacity, size_t n)
{
    if (n <= *capacity)
        return *array;
    size_t grown_capacity = *capacity ? *capacity : 1024;
    while (grown_capacity < n)
        grown_capacity *= 2;
    uint32_t *grown = pym_realloc(*array, grown_capacity * sizeof *grown);
    if (!grown)
        pymgc_fatal("pymalloc_gc: out of memory for the gc_refs of %zu objects", n);
    *array = grown;
    *capacity = grown_capacity;
    return grown;
}

static int visit_subtract(void *obj, void *arg)
{
    const pymgc_set *s = arg;
    pymgc_head *h = pymgc_head_of(obj);
    if (pymgc_in_set(h, s))
        s->gc_refs[pymgc_position(h, s)]--;
    return 0;
}

/* The same for a set of one table (a young collection): the position is
 * the slot. */
static int visit_subtract_one_table(void *obj, void *arg)
{
    const pymgc_set *s = arg;
    pymgc_head *h = pymgc_head_of(obj);
    if (h->domain_id == s->domain_id && h->gen == s->lo)
        s->gc_refs[h->slot]--;
    return 0;
}

/* Entries [from, to) of table t, whose position 0 is gc_refs[0].  Items
 * in locals: traverse is opaque, and would otherwise make the compiler
 * load them again at every step. */
static void subtract_table(const pymgc_table *t, pymgc_set *s, uint32_t *gc_refs, uint32_t from, uint32_t to)
{
    pymgc_head *const *items = t->items;
    pym_visit_fn visit = s->lo == s->hi ? visit_subtract_one_table : visit_subtract;
    for (uint32_t i = from; i < to; i++) {
        pymgc_prefetch_ahead(items, to, i);
        pymgc_head *h = items[i];
        if (!h)
            continue;
        gc_refs[i] += h->refcnt;
        pymgc_type_of(h)->traverse(pymgc_object_of(h), visit, s);
    }
}

/* Positions [from, to) of the set, into s->gc_refs. */
static void subtract_positions(const pymgc_domain *d, pymgc_set *s, size_t from, size_t to)
{
    for (unsigned g = s->lo; g <= s->hi; g++) {
        size_t base = s->base[g - s->lo], len = d->tables[g].len;
        size_t lo = from > base ? from - base : 0, hi = to - base < len ? to - base : len;
        if (to > base && lo < hi)
            subtract_table(&d->tables[g], s, s->gc_refs + base, (uint32_t)lo, (uint32_t)hi);
    }
}

/* The walk of a large set, shared by the caller and the helper. */
typedef struct refs_job {
    const pymgc_domain *d;
    pymgc_set set;              /* the caller's; the helper's copy differs in gc_refs */
    size_t n;
    size_t next;                /* the next chunk's first position (atomic) */
    uint32_t *helper_refs;
    bool helper_worked;         /* it took a chunk (and zeroed its array) */
} refs_job;

/* Takes chunks until none is left; returns whether it took any.  The
 * helper zeroes its array before its first chunk: when the caller has
 * taken every chunk by the time the helper wakes, it never needs it. */
static bool take_chunks(refs_job *job, pymgc_set *s, bool zero_first)
{
    bool took = false;
    for (;;) {
        size_t from = __atomic_fetch_add(&job->next, CHUNK, __ATOMIC_RELAXED);
        if (from >= job->n)
            return took;
        if (!took && zero_first)
            memset(s->gc_refs, 0, job->n * sizeof *s->gc_refs);
        took = true;
        subtract_positions(job->d, s, from, from + CHUNK < job->n ? from + CHUNK : job->n);
    }
}

static void helper_walk(void *arg)
{
    refs_job *job = arg;
    pymgc_set mine = job->set;
    mine.gc_refs = job->helper_refs;
    job->helper_worked = take_chunks(job, &mine, true);
}

/* The second half of the helper's array into the caller's. */
static void helper_add_second_half(void *arg)
{
    refs_job *job = arg;
    for (size_t i = job->n / 2; i < job->n; i++)
        job->set.gc_refs[i] += job->helper_refs[i];
}

void pymgc_set_gc_refs(pymgc_set *s, pymgc_domain *d, uint8_t lo, uint8_t hi)
{
    s->domain_id = d->id;
    s->lo = lo;
    s->hi = hi;
    size_t n = 0;
    for (unsigned g = lo; g <= hi; g++) {
        s->base[g - lo] = (uint32_t)n;
        n += d->tables[g].len;
    }
    if (n > UINT32_MAX)
        pymgc_fatal("pymalloc_gc: more than 2^32 objects in one collection");
    s->gc_refs = refs_reserve(&d->gc_refs, &d->gc_refs_capacity, n ? n : 1);
    memset(s->gc_refs, 0, n * sizeof *s->gc_refs);
    if (n < PARALLEL_MIN) {
        subtract_positions(d, s, 0, n);
        return;
    }
    refs_job job = {.d = d, .set = *s, .n = n,
                    .helper_refs = refs_reserve(&d->helper_gc_refs, &d->helper_gc_refs_capacity, n)};
    if (!pymgc_helper_start(helper_walk, &job)) {
        subtract_positions(d, s, 0, n);
        return;
    }
    take_chunks(&job, s, false);
    pymgc_helper_wait();
    if (!job.helper_worked)
        return;
    bool shared = pymgc_helper_start(helper_add_second_half, &job);
    size_t end = shared ? n / 2 : n;
    for (size_t i = 0; i < end; i++)
        s->gc_refs[i] += job.helper_refs[i];
    if (shared)
        pymgc_helper_wait();
}
