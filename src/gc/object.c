/*
 * object.c -- the object header: allocation, reference counting, tracking,
 * immortality, per-type accounting, and the death of an object whose count
 * reaches zero.
 *
 * Memory: header + object in one pym_malloc block, so objects live in
 * pymalloc's pools (the header is 16 bytes: the object stays 16-aligned).
 * A container is also in its generation's table (table.c).
 *
 * Death (pym_dealloc_), CPython's order: untrack; finalize once (PEP 442)
 * with a temporary reference, and stop if the finalizer resurrected the
 * object (a container is tracked again); clear weak references and run their
 * callbacks; dealloc; account; free.  The object is untracked before user
 * code runs, so a collection started from a finalizer or a dealloc never
 * sees a dying object (what it refers to counts as held from outside).
 * Deep chains of deaths are flattened by a trashcan (dealloc_with_user_code).
 * An object with no user code to run (no finalize, dealloc or clear, no
 * weak reference) takes a short path: out of its table, count, free.
 * "Free" is first the type's free list (below), then pym_free.
 *
 * Speed: pym_new + pym_decref is compared with pym_malloc + pym_free in
 * `make bench-gc` (target under 2x).  The common allocation pops the
 * type's free list and makes no call at all (new_object_slow takes every
 * exception); TLS is initial-exec and calls into libpymalloc skip the
 * PLT.
 *
 * Counting rule (CPython's): generation 0's count goes up on every
 * container allocation and down on every container deallocation.
 */
#include <errno.h>
#include <string.h>
#include <sys/auxv.h>
#include "gc/gc_internal.h"

static void check_owner(const pymgc_head *h, const char *what)
{
    if (h->tag != PYMGC_TAG_LOCAL && h->tag != PYMGC_TAG_SHARED)
        pymgc_fatal("pymalloc_gc: %s of %p, which is not a live object", what, (const void *)(h + 1));
    if (h->tag == PYMGC_TAG_SHARED) {
        if (!pymgc_inside_shared())
            pymgc_fatal("pymalloc_gc: %s of <%s %p> of the shared domain from a thread outside it",
                        what, pymgc_type_of(h)->name, (void *)(h + 1));
        return;
    }
    pymgc_domain *d = pymgc_current_domain;
    if (d && d->shared)
        d = NULL;
    if (!d || d->id != h->domain_id)
        pymgc_fatal("pymalloc_gc: %s of <%s %p> (domain %u) from a thread of domain %u",
                   what, pymgc_type_of(h)->name, (void *)(h + 1), h->domain_id, d ? d->id : 0u);
}

static PYMGC_NOINLINE void type_counts_grow(pymgc_domain *d, unsigned id)
{
    size_t n = d->ntype_counts ? d->ntype_counts : 16;
    while (n <= id)
        n *= 2;
    pymgc_type_count *grown = pym_realloc(d->type_counts, n * sizeof *grown);
    if (!grown)
        pymgc_fatal("pymalloc_gc: out of memory for type accounting");
    memset(grown + d->ntype_counts, 0, (n - d->ntype_counts) * sizeof *grown);
    d->type_counts = grown;
    d->ntype_counts = n;
    d->fast_type_ids = d->shared ? 0 : n;
}

/* Bytes 8-15 of the header of a new object of type (id) in domain d. */
static uint64_t make_head_word(const pymgc_domain *d, unsigned id, const pym_type *type)
{
    bool container = type->traverse != NULL;
    pymgc_head h = {.type_id = (uint16_t)id, .domain_id = d->id,
                    .gen = container ? 0 : PYMGC_GEN_UNTRACKED,
                    .flags = (uint8_t)((container ? PYMGC_FLAG_CONTAINER : 0) |
                                       (type->clear ? PYMGC_FLAG_CLEAR_DEATH : 0) |
                                       (type->finalize || type->dealloc ? PYMGC_FLAG_CODE_DEATH : 0) |
                                       (type->finalize ? PYMGC_FLAG_FINALIZE : 0) |
                                       (type->flags & PYM_TYPE_LEGACY_FINALIZER ? PYMGC_FLAG_LEGACY : 0)),
                    .tag = d->shared ? PYMGC_TAG_SHARED : PYMGC_TAG_LOCAL};
    uint64_t word;
    memcpy(&word, &h.type_id, sizeof word);
    return word;
}

/* Free lists, CPython's (tuples, lists, dicts, floats ... keep their dead
 * objects for the next allocation of the type), here for every type: a
 * domain keeps up to PYMGC_FREELIST_BYTES of each type's dead objects, and
 * pym_new takes its memory from there before pym_malloc.  A new object
 * then costs no allocator call, and a death that reaches its type's list
 * no free.  A kept object is dead to every check: count 0, bytes 8-15
 * zero (no tag: argument checks refuse it, a second decref aborts), and
 * its first body word links it to the next, scrambled with the domain's
 * key; pym_new aborts on a kept object whose count or tag word was
 * written after its death.  Not kept: the shared domain's objects (their
 * deaths take a lock already; a list would need one more), objects with
 * extra bytes (a death cannot tell their size), bodies under a link.  Every
 * full collection gives them back (CPython's clears its free lists there
 * too), and so does a thread's exit. */
#define PYMGC_FREELIST_BYTES 65536

static uint32_t freelist_cap_for(const pymgc_domain *d, const pym_type *type)
{
    if (d->shared || type->size < sizeof(uintptr_t) || type->size >= PYMGC_FREELIST_BYTES)
        return 0;
    return (uint32_t)(PYMGC_FREELIST_BYTES / (sizeof(pymgc_head) + type->size));
}

uintptr_t pymgc_freelist_key_make(const pymgc_domain *d)
{
    uintptr_t key = (uintptr_t)d * 0x9E3779B97F4A7C15u;
    const unsigned char *random = (const unsigned char *)getauxval(AT_RANDOM);
    if (random) {
        uintptr_t r;
        memcpy(&r, random, sizeof r);
        key ^= r;
    }
    return key;
}

/* h: dead, bytes 8-15 zeroed.  True when it was kept on l, its link
 * scrambled with key (the domain's freelist_key). */
static inline bool freelist_keep(pymgc_freelist *l, pymgc_head *h, uintptr_t key)
{
    if (l->len >= l->cap)
        return false;
    uintptr_t link = (uintptr_t)l->head ^ key;
    h->refcnt = 0;
    memcpy(h + 1, &link, sizeof link);
    l->head = h;
    l->len++;
    return true;
}

/* Takes h, the first of l's kept objects, off the list. */
static inline void freelist_pop(pymgc_freelist *l, pymgc_head *h, uintptr_t key)
{
    uint64_t identity;
    uintptr_t link;
    memcpy(&identity, &h->type_id, sizeof identity);
    memcpy(&link, h + 1, sizeof link);
    if (pymgc_unlikely((identity | h->refcnt) != 0))
        pymgc_fatal("pymalloc_gc: a dead object at %p was written to after its death", (void *)(h + 1));
    l->head = (pymgc_head *)(link ^ key);
    l->len--;
}

void pymgc_freelists_clear(pymgc_domain *d)
{
    for (size_t id = 0; id < d->ntype_counts; id++) {
        pymgc_freelist *l = &d->type_counts[id].freelist;
        while (l->head) {
            pymgc_head *h = l->head;
            freelist_pop(l, h, d->freelist_key);
            pym_free(h);
        }
    }
}

/* The type's counter in this domain, registering the type and making room
 * for the counter on first use. */
static PYMGC_NOINLINE pymgc_type_count *type_first_use(pymgc_domain *d, pym_type *type)
{
    unsigned id = __atomic_load_n(&type->pymgc_type_id, __ATOMIC_ACQUIRE);
    if (id == 0)
        id = pymgc_type_register(type);
    if (id >= d->ntype_counts)
        type_counts_grow(d, id);
    pymgc_type_count *c = &d->type_counts[id];
    if (c->head_word == 0) {
        c->head_word = make_head_word(d, id, type);
        c->freelist.cap = freelist_cap_for(d, type);
    }
    return c;
}

/* Into generation 0, whose table has room. */
static inline void track_locked(pymgc_domain *d, pymgc_head *h)
{
    pymgc_table_push(&d->tables[0], h, 0);
}

/* Into generation 0, aborting when its table cannot grow (pym_gc_track
 * and a resurrection have no way to report the failure). */
static void track_or_abort_locked(pymgc_domain *d, pymgc_head *h)
{
    pymgc_table_reserve_n(&d->tables[0], 1);
    track_locked(d, h);
}

void pymgc_untrack(pymgc_domain *d, pymgc_head *h)
{
    pymgc_lock(d);
    pymgc_table_remove(d, h);
    pymgc_unlock(d);
}

static inline void untrack_if_tracked_locked(pymgc_domain *d, pymgc_head *h)
{
    if (pymgc_is_tracked(h))
        pymgc_table_remove(d, h);
}

/* Out of line: the lock calls would make every death save registers. */
static PYMGC_NOINLINE void untrack_if_tracked_shared(pymgc_domain *d, pymgc_head *h)
{
    pthread_mutex_lock(&d->lock);
    untrack_if_tracked_locked(d, h);
    pthread_mutex_unlock(&d->lock);
}

/* In the shared domain h->gen is read only with the lock held: a
 * collection's sweep writes it. */
static inline void untrack_if_tracked(pymgc_domain *d, pymgc_head *h)
{
    if (pymgc_unlikely(d->shared))
        untrack_if_tracked_shared(d, h);
    else
        untrack_if_tracked_locked(d, h);
}

/* The header of a new object (bytes 8-15 from c->head_word), its
 * tracking and its accounting (generation 0's count is the caller's; a
 * container, as the type's head word says, needs room in generation 0's
 * table). */
static inline void *init_object(pymgc_domain *d, pymgc_head *h, pymgc_type_count *c, size_t extra,
                                bool container)
{
    h->refcnt = 1;
    memcpy(&h->type_id, &c->head_word, sizeof c->head_word);
    if (container)
        pymgc_table_append(&d->tables[0], h);   /* the head word says generation 0 */
    else
        h->slot = 0;
    c->objects++;
    if (extra) {
        c->extra_bytes += extra;
        c->freelist.cap = 0;    /* a death cannot tell an object's size */
    }
    return h + 1;
}

/* new_object when anything is out of the ordinary: first object of its
 * type or thread, an object size that needs memset (or overflows), a
 * collection to run, generation 0's table full. */
static PYMGC_NOINLINE void *new_object_slow(pym_type *type, size_t size, size_t extra)
{
    if (size < extra || size > SIZE_MAX - sizeof(pymgc_head)) {
        errno = ENOMEM;
        return NULL;
    }
    pymgc_head *h = pym_malloc(sizeof *h + size);
    if (!h)
        return NULL;
    pymgc_domain *d = pymgc_domain_current();
    bool container = type->traverse != NULL;
    pymgc_lock(d);
    pymgc_type_count *c = type_first_use(d, type);
    bool collect = container && ++d->gens[0].count > d->gen0_trigger && !d->collecting;
    pymgc_unlock(d);
    if (collect) {
        pymgc_domain *x = pymgc_exclusive_begin();
        if (!x->collecting)
            pymgc_collect_generations(x);
        pymgc_exclusive_end(&x);
    }
    memset(h + 1, 0, size);
    pymgc_lock(d);
    if (collect)    /* its user code may have grown the per-type table */
        c = &d->type_counts[type->pymgc_type_id];
    if (container && !pymgc_table_reserve(&d->tables[0])) {
        if (d->gens[0].count > 0)
            d->gens[0].count--;
        pymgc_unlock(d);
        pym_free(h);
        errno = ENOMEM;
        return NULL;
    }
    void *obj = init_object(d, h, c, extra, container);
    pymgc_unlock(d);
    return obj;
}

/* An object of type->size + extra bytes (extra is 0 but for interned
 * bytes: pym_new is this function with the constant).  As in CPython's
 * gc_alloc, the memory comes first (a kept dead object of the type, else
 * pym_malloc), then the count of generation 0 and perhaps a collection
 * (which cannot see the new object: it is not tracked yet), then the
 * header.  What the common case tests is read before the memory is taken,
 * so that the slow path is one jump and the rest no call at all when the
 * type's free list has an object. */
static PYMGC_ALWAYS_INLINE void *new_object(pym_type *type, size_t extra)
{
    if (pymgc_unlikely(!type)) {
        errno = EINVAL;
        return NULL;
    }
    size_t size = type->size + extra;
    pymgc_domain *d = pymgc_current_domain;
    unsigned id = __atomic_load_n(&type->pymgc_type_id, __ATOMIC_ACQUIRE);
    bool container = type->traverse != NULL;
    if (pymgc_unlikely(!d || id >= d->fast_type_ids || size - 16 > 48 ||
                      (container && (d->gens[0].count >= d->gen0_trigger ||
                                     d->tables[0].len == d->tables[0].capacity))))
        return new_object_slow(type, size, extra);
    /* Type 0 (unregistered) and a type first seen in this domain have no
     * head word yet. */
    pymgc_type_count *c = &d->type_counts[id];
    if (pymgc_unlikely(c->head_word == 0))
        return new_object_slow(type, size, extra);
    pymgc_head *h = c->freelist.head;
    if (extra == 0 && pymgc_likely(h != NULL)) {
        freelist_pop(&c->freelist, h, d->freelist_key);
    } else {
        h = pym_malloc(sizeof *h + size);
        if (pymgc_unlikely(!h))
            return NULL;
    }
    /* 16 to 64 bytes: two or four 16-byte stores, overlapping. */
    static const char zeros[16];
    char *p = (char *)(h + 1);
    memcpy(p, zeros, 16);
    memcpy(p + size - 16, zeros, 16);
    if (size > 32) {
        memcpy(p + 16, zeros, 16);
        memcpy(p + size - 32, zeros, 16);
    }
    if (container)
        d->gens[0].count++;
    return init_object(d, h, c, extra, container);
}

void *pymgc_new_extra(pym_type *type, size_t extra)
{
    return new_object(type, extra);
}

void *pym_new(pym_type *type)
{
    return new_object(type, 0);
}

/* A header that no argument check takes for an object's any more: type,
 * domain, generation, flags and tag (bytes 8-15) zeroed in one 8-byte
 * store. */
static inline void header_clear_identity(pymgc_head *h)
{
    static const uint64_t zero;
    _Static_assert(offsetof(pymgc_head, type_id) == 8 && sizeof(pymgc_head) == 16,
                   "type, domain, gen, flags, marked and tag fill bytes 8-15");
    memcpy(&h->type_id, &zero, sizeof zero);
}

/* The end of every death: the counters (count_death), and the memory
 * kept on the type's free list or given back to pymalloc.
 * release_unlocked: a thread's own domain (or the caller holds the lock);
 * release: any domain. */
static inline pymgc_type_count *count_death(pymgc_domain *d, const pymgc_head *h)
{
    if ((h->flags & PYMGC_FLAG_CONTAINER) && d->gens[0].count > 0)
        d->gens[0].count--;
    pymgc_type_count *c = &d->type_counts[h->type_id];
    c->objects--;
    return c;
}

static inline void release_unlocked(pymgc_domain *d, pymgc_head *h)
{
    pymgc_type_count *c = count_death(d, h);
    header_clear_identity(h);
    if (!freelist_keep(&c->freelist, h, d->freelist_key))
        pym_free(h);
}

static inline void release(pymgc_domain *d, pymgc_head *h)
{
    if (pymgc_likely(!d->shared)) {
        release_unlocked(d, h);
        return;
    }
    pymgc_lock(d);
    count_death(d, h);
    pymgc_unlock(d);
    header_clear_identity(h);
    pym_free(h);
}

/* CPython's trashcan: a long chain of objects whose deallocs drop the next
 * one would recurse once per object.  Deaths that run user code are
 * counted in dealloc_depth; past PYMGC_TRASH_DEPTH nested ones the object
 * is parked on trash and the outermost death finishes it.  Per thread (it
 * is about this thread's stack), whatever the objects' domains. */
#define PYMGC_TRASH_DEPTH 50
static PYMGC_TLS unsigned dealloc_depth;
static PYMGC_TLS pymgc_head *trash;

/* A parked object is dead and untracked: its first 8 bytes (count and
 * slot, read by no one) link it to the next parked one. */
static inline void trash_push(pymgc_head *h)
{
    memcpy((char *)h, &trash, sizeof trash);   /* the link, not a header */
    trash = h;
}

static inline pymgc_head *trash_pop(void)
{
    pymgc_head *h = trash;
    memcpy(&trash, (const char *)h, sizeof trash);
    h->refcnt = 0;
    return h;
}

/* A death that runs user code: finalize once (PEP 442), and stop if it
 * resurrected the object; weak references and their callbacks; dealloc or
 * clear.  The object is untracked already. */
static PYMGC_ALWAYS_INLINE void die_with_user_code(pymgc_domain *d, pymgc_head *h, pym_type *t)
{
    void *obj = h + 1;
    dealloc_depth++;
    if (t->finalize && !(h->flags & PYMGC_FLAG_FINALIZED)) {
        pymgc_set_finalized(h);
        __atomic_store_n(&h->refcnt, 1, __ATOMIC_RELAXED);
        t->finalize(obj);
        if (__atomic_sub_fetch(&h->refcnt, 1, __ATOMIC_ACQ_REL) != 0) {
            /* Resurrected: it lives on, tracked if it is a container. */
            if (t->traverse) {
                pymgc_lock(d);
                if (!pymgc_is_tracked(h))
                    track_or_abort_locked(d, h);
                pymgc_unlock(d);
            }
            dealloc_depth--;
            return;
        }
    }
    if (h->flags & PYMGC_FLAG_WEAKREFS)
        pymgc_weakrefs_clear_and_call(d, obj);
    if (t->dealloc)
        t->dealloc(obj);
    else if (t->clear)
        t->clear(obj);
    untrack_if_tracked(d, h);   /* dealloc may have tracked it again */
    release(d, h);
    dealloc_depth--;
}

/* Untracks h first (here, not in pym_dealloc_: a call there would make
 * every short death save registers). */
static PYMGC_NOINLINE void dealloc_with_user_code(pymgc_domain *d, pymgc_head *h, pym_type *t)
{
    untrack_if_tracked(d, h);
    if (dealloc_depth >= PYMGC_TRASH_DEPTH) {
        trash_push(h);
        return;
    }
    die_with_user_code(d, h, t);
    if (trash != NULL && dealloc_depth == 0) {
        while (trash) {
            pymgc_head *parked = trash_pop();
            die_with_user_code(pymgc_domain_of(parked), parked, pymgc_type_of(parked));
        }
    }
}

int pym_gc_slow_refcount_;     /* PYMGC_SLOW_* */

/* The shared domain's counts are atomic (several threads inside at once);
 * a count of 1 held by the caller cannot be raised by anyone else, so the
 * last decref needs no compare-and-swap. */
static void shared_incref(pymgc_head *h)
{
    uint32_t old = __atomic_load_n(&h->refcnt, __ATOMIC_RELAXED);
    do {
        if (old == PYMGC_IMMORTAL)
            return;
    } while (!__atomic_compare_exchange_n(&h->refcnt, &old, old + 1, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
}

/* True when the caller dropped the last reference. */
static bool shared_decref(pymgc_head *h)
{
    uint32_t old = __atomic_load_n(&h->refcnt, __ATOMIC_ACQUIRE);
    do {
        if (old == PYMGC_IMMORTAL)
            return false;
        if (old <= 1)
            return true;
    } while (!__atomic_compare_exchange_n(&h->refcnt, &old, old - 1, true, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    return false;
}

void pym_incref_checked_(void *obj)
{
    pymgc_head *h = pymgc_head_of(obj);
    if (pymgc_unlikely(pym_gc_slow_refcount_ & PYMGC_SLOW_OWNER))
        check_owner(h, "incref");
    if (h->tag == PYMGC_TAG_SHARED)
        shared_incref(h);
    else if (h->refcnt != PYMGC_IMMORTAL)
        h->refcnt++;
}

/* A death without user code whose table removal needs upkeep: out of
 * line, so that pym_dealloc_'s common path makes no call but its tail
 * call of pym_free, and saves no registers. */
static PYMGC_NOINLINE void dealloc_plain_with_upkeep(pymgc_domain *d, pymgc_head *h)
{
    pymgc_table_remove_with_upkeep(d, h);
    release_unlocked(d, h);
}

void pym_dealloc_(void *obj)
{
    pymgc_head *h = pymgc_head_of(obj);
    if (pymgc_unlikely(__atomic_load_n(&h->refcnt, __ATOMIC_RELAXED) == 0))
        pymgc_fatal("pymalloc_gc: decref of %p, whose reference count is already zero (a dead object)", obj);
    __atomic_store_n(&h->refcnt, 0, __ATOMIC_RELAXED);
    pymgc_domain *d = pymgc_domain_of(h);
    if (h->flags & (PYMGC_FLAG_CLEAR_DEATH | PYMGC_FLAG_CODE_DEATH | PYMGC_FLAG_WEAKREFS)) {
        dealloc_with_user_code(d, h, pymgc_type_of(h));
    } else if (pymgc_is_tracked(h) && !pymgc_table_remove_without_upkeep(d, h)) {
        dealloc_plain_with_upkeep(d, h);
    } else {
        release_unlocked(d, h);
    }
}

/* The death of a shared object (its last reference gone).  Apart from
 * pym_dealloc_, which serves the inline pym_decref, and so only the
 * objects of threads' own domains: its short path takes no lock. */
static PYMGC_NOINLINE void dealloc_shared(pymgc_head *h)
{
    __atomic_store_n(&h->refcnt, 0, __ATOMIC_RELAXED);
    dealloc_with_user_code(pymgc_domain_of(h), h, pymgc_type_of(h));
}

/* The deaths release_garbage has counted but not yet written: a run of
 * objects of one type, the containers among them, and the type's free
 * list as the run left it.  Written before any user code runs and at the
 * end, so the counts go through the same values as with one count_death
 * per object (the generation-0 count is clamped at 0 either way), and
 * user code sees the free list whole. */
typedef struct pending_deaths {
    uint16_t type_id;
    bool containers;        /* the type's objects are (all or none) */
    size_t objects;
    pymgc_freelist freelist;    /* the type's, as the run left it */
} pending_deaths;

static PYMGC_ALWAYS_INLINE void pending_deaths_write(pymgc_domain *d, pending_deaths *p)
{
    if (!p->objects)
        return;
    if (d->shared)
        pymgc_lock(d);
    long count = d->gens[0].count, containers = p->containers ? (long)p->objects : 0;
    d->gens[0].count = count > containers ? count - containers : (count > 0 ? 0 : count);
    pymgc_type_count *c = &d->type_counts[p->type_id];
    c->objects -= p->objects;
    c->freelist = p->freelist;
    if (d->shared)
        pymgc_unlock(d);
    p->objects = 0;
    p->type_id = 0;     /* user code may change the list: the next run reads it afresh */
}

/* A run of h's type begins (the last one written). */
static PYMGC_ALWAYS_INLINE void pending_deaths_start(pymgc_domain *d, pending_deaths *p, const pymgc_head *h)
{
    const pymgc_type_count *c = &d->type_counts[h->type_id];
    p->type_id = h->type_id;
    p->containers = h->flags & PYMGC_FLAG_CONTAINER;
    p->freelist = c->freelist;
}

/* One loop here rather than a call per object from the collector: the
 * common death (no user code left) is inlined, its counts are written
 * once per run of one type, and the memory goes to the type's free list
 * or back in pym_free_batch calls (garbage is mostly consecutive blocks
 * of a few pools: 4 % fewer instructions per collection under
 * callgrind). */
#define DEAD_BATCH 128
void pymgc_release_garbage(pymgc_domain *d, pymgc_head *const *batch, size_t n, uint8_t old_gen)
{
    void *dead[DEAD_BATCH];
    size_t ndead = 0;
    pending_deaths pending = {0};      /* type id 0 is no type */
    uintptr_t key = d->freelist_key;
    for (size_t i = 0; i < n; i++) {
        pymgc_head *h = batch[i];
        if (h->refcnt > 1) {
            /* Still referenced (a clear or a death elsewhere kept it): it
             * lives on, in the older generation if it is a container. */
            h->refcnt--;
            if (!pymgc_is_tracked(h) && (h->flags & PYMGC_FLAG_CONTAINER)) {
                pymgc_table_reserve_n(&d->tables[old_gen], 1);
                pymgc_table_push(&d->tables[old_gen], h, old_gen);
            }
        } else if ((h->flags & (PYMGC_FLAG_CODE_DEATH | PYMGC_FLAG_WEAKREFS)) &&
                   (pymgc_type_of(h)->dealloc || (h->flags & PYMGC_FLAG_WEAKREFS) ||
                    !(h->flags & PYMGC_FLAG_FINALIZED))) {
            pending_deaths_write(d, &pending);
            if (h->tag == PYMGC_TAG_SHARED)
                dealloc_shared(h);
            else
                pym_dealloc_(h + 1);
        } else {
            /* Nothing left to run: its clear (the stand-in for a missing
             * dealloc) has just run. */
            if (h->type_id != pending.type_id) {
                pending_deaths_write(d, &pending);
                pending_deaths_start(d, &pending, h);
            }
            pending.objects++;
            header_clear_identity(h);
            if (freelist_keep(&pending.freelist, h, key))
                continue;
            h->refcnt = 0;
            dead[ndead++] = h;
            if (ndead == DEAD_BATCH) {
                pym_free_batch(dead, ndead);
                ndead = 0;
            }
        }
    }
    pending_deaths_write(d, &pending);
    pym_free_batch(dead, ndead);
}

void pym_decref_checked_(void *obj)
{
    pymgc_head *h = pymgc_head_of(obj);
    if (pymgc_unlikely(pym_gc_slow_refcount_ & PYMGC_SLOW_OWNER))
        check_owner(h, "decref");
    if (h->tag == PYMGC_TAG_SHARED) {
        if (shared_decref(h))
            dealloc_shared(h);
        return;
    }
    if (h->refcnt == PYMGC_IMMORTAL)
        return;
    if (h->refcnt > 1)
        h->refcnt--;
    else
        pym_dealloc_(obj);
}

bool pymgc_is_object(const void *obj)
{
    if (!obj || ((uintptr_t)obj & 15))
        return false;
    const pymgc_head *h = pymgc_head_of(obj);
    if (h->tag != PYMGC_TAG_LOCAL && h->tag != PYMGC_TAG_SHARED)
        return false;
    if (__atomic_load_n(&h->refcnt, __ATOMIC_RELAXED) == 0 || !__atomic_load_n(&pymgc_types[h->type_id], __ATOMIC_ACQUIRE) ||
        !__atomic_load_n(&pymgc_domains[h->domain_id], __ATOMIC_ACQUIRE))
        return false;
    return h->gen <= PYMGC_GEN_UNCOLLECTABLE || h->gen == PYMGC_GEN_UNTRACKED;
}

pymgc_head *pymgc_checked_head(const void *obj)
{
    if (pymgc_is_object(obj))
        return pymgc_head_of(obj);
    errno = EINVAL;
    return NULL;
}

pymgc_head *pymgc_required_head(const void *obj, const char *what)
{
    if (!pymgc_is_object(obj))
        pymgc_fatal("pymalloc_gc: %s(%p): not a live object of pymalloc_gc", what, obj);
    return pymgc_head_of(obj);
}

pym_type *pym_typeof(const void *obj)
{
    pymgc_head *h = pymgc_checked_head(obj);
    return h ? pymgc_type_of(h) : NULL;
}

void pym_immortalize(void *obj)
{
    pymgc_head *h = pymgc_required_head(obj, "pym_immortalize");
    pymgc_domain *d = pymgc_domain_of(h);
    pymgc_lock(d);
    untrack_if_tracked_locked(d, h);
    pymgc_unlock(d);
    __atomic_store_n(&h->refcnt, PYMGC_IMMORTAL, __ATOMIC_RELAXED);
}

int pym_is_immortal(const void *obj)
{
    pymgc_head *h = pymgc_checked_head(obj);
    return h ? __atomic_load_n(&h->refcnt, __ATOMIC_RELAXED) == PYMGC_IMMORTAL : -1;
}

int pym_gc_is_tracked(const void *obj)
{
    pymgc_head *h = pymgc_checked_head(obj);
    if (!h)
        return -1;
    pymgc_domain *d = pymgc_domain_of(h);
    pymgc_lock(d);
    int tracked = pymgc_is_tracked(h);
    pymgc_unlock(d);
    return tracked;
}

int pym_gc_is_finalized(const void *obj)
{
    pymgc_head *h = pymgc_checked_head(obj);
    return h ? (h->flags & PYMGC_FLAG_FINALIZED) != 0 : -1;
}

void pym_gc_track(void *obj)
{
    pymgc_head *h = pymgc_required_head(obj, "pym_gc_track");
    if (pymgc_unlikely(pym_gc_slow_refcount_ & PYMGC_SLOW_OWNER))
        check_owner(h, "track");
    pymgc_domain *d = pymgc_domain_of(h);
    pymgc_lock(d);
    if (!pymgc_is_tracked(h) && pymgc_type_of(h)->traverse &&
        __atomic_load_n(&h->refcnt, __ATOMIC_RELAXED) != PYMGC_IMMORTAL)
        track_or_abort_locked(d, h);
    pymgc_unlock(d);
}

void pym_gc_untrack(void *obj)
{
    pymgc_head *h = pymgc_required_head(obj, "pym_gc_untrack");
    if (pymgc_unlikely(pym_gc_slow_refcount_ & PYMGC_SLOW_OWNER))
        check_owner(h, "untrack");
    pymgc_domain *d = pymgc_domain_of(h);
    pymgc_lock(d);
    untrack_if_tracked_locked(d, h);
    pymgc_unlock(d);
}
