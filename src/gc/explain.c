/*
 * explain.c -- "why is this object alive?"
 *
 * Found as the collector finds it: over every tracked object of the domain
 * (all generations and the permanent one), gc_refs = refcount - references
 * from tracked objects.  An object with gc_refs > 0 is held from outside
 * the tracked graph (a C variable, an untracked object, another domain):
 * a root.  A breadth-first search from all roots along traverse edges finds
 * the shortest chain to the object; the map `parent` records the edge that
 * first reached each object (a root is its own parent).
 *
 * It uses the domain's gc_refs array (gc_refs.c), so it refuses to run
 * inside a collection.
 */
#include <errno.h>
#include "gc/gc_internal.h"

typedef struct search {
    pymgc_set set;
    pymgc_ptrmap parent;     /* object -> object that first reached it */
    void **queue;
    size_t head, tail, capacity;
    void *from;             /* the object being expanded */
    void *target;
    bool out_of_memory;
} search;

/* References from outside the tracked objects (an overcount, which the
 * collector reports as a fatal error, counts as none here). */
static uint32_t outside_refs(const search *s, const pymgc_head *h)
{
    uint32_t refs = s->set.gc_refs[pymgc_position(h, &s->set)];
    return refs > h->refcnt ? 0 : refs;
}

static bool enqueue(search *s, void *obj, void *parent)
{
    if (pymgc_ptrmap_get(&s->parent, obj))
        return true;
    if (s->tail == s->capacity) {
        size_t cap = s->capacity ? 2 * s->capacity : 256;
        void **grown = pym_realloc(s->queue, cap * sizeof *grown);
        if (!grown)
            return false;
        s->queue = grown;
        s->capacity = cap;
    }
    if (pymgc_ptrmap_put(&s->parent, obj, parent) < 0)
        return false;
    s->queue[s->tail++] = obj;
    return true;
}

static int visit_expand(void *obj, void *arg)
{
    search *s = arg;
    if (!pymgc_in_set(pymgc_head_of(obj), &s->set))
        return 0;
    if (!enqueue(s, obj, s->from)) {
        s->out_of_memory = true;
        return 1;
    }
    return obj == s->target;
}

static void describe(FILE *out, const void *obj)
{
    fprintf(out, "<%s %p>", pym_typeof(obj)->name, obj);
}

static int chain_length(search *s, void *obj)
{
    int n = 0;
    for (void *p; (p = pymgc_ptrmap_get(&s->parent, obj)) != obj; obj = p)
        n++;
    return n;
}

/* Root first; iterative, as chains can be as long as the graph. */
static void print_chain(FILE *out, search *s, void *obj, int length)
{
    void **chain = pym_malloc(((size_t)length + 1) * sizeof *chain);
    if (!chain) {
        fprintf(out, "pym_gc_explain: out of memory\n");
        return;
    }
    for (int i = length; i >= 0; i--) {
        chain[i] = obj;
        obj = pymgc_ptrmap_get(&s->parent, obj);
    }
    describe(out, chain[0]);
    fprintf(out, " is held by %u reference(s) from outside the tracked objects\n",
            outside_refs(s, pymgc_head_of(chain[0])));
    for (int i = 1; i <= length; i++) {
        fprintf(out, "  -> which refers to ");
        describe(out, chain[i]);
        fputc('\n', out);
    }
    pym_free(chain);
}

int pym_gc_explain(void *obj, FILE *out)
{
    PYMGC_DOMAIN_EXCLUSIVE(d);
    if (!out || !pymgc_checked_head(obj)) {
        errno = EINVAL;
        return -2;
    }
    pymgc_head *target = pymgc_head_of(obj);
    if (d->collecting)
        return -1;
    if (!pymgc_is_tracked(target) || target->domain_id != d->id) {
        describe(out, obj);
        fprintf(out, " is not tracked by this thread's collector: all its %u reference(s) "
                "count as held from outside\n", target->refcnt);
        return -1;
    }
    search s = {.target = obj};
    pymgc_set_gc_refs(&s.set, d, 0, PYMGC_GEN_PERMANENT);
    const pymgc_table *tables = d->tables;

    bool found = false;
    if (outside_refs(&s, target) > 0) {
        found = enqueue(&s, obj, obj);
    } else {
        for (int i = 0; i <= PYMGC_GEN_PERMANENT && !s.out_of_memory; i++) {
            for (uint32_t j = 0; j < tables[i].len; j++) {
                pymgc_head *h = tables[i].items[j];
                if (h && outside_refs(&s, h) > 0 && !enqueue(&s, pymgc_object_of(h), pymgc_object_of(h)))
                    s.out_of_memory = true;
            }
        }
        while (!s.out_of_memory && s.head < s.tail && !pymgc_ptrmap_get(&s.parent, obj)) {
            s.from = s.queue[s.head++];
            pymgc_type_of(pymgc_head_of(s.from))->traverse(s.from, visit_expand, &s);
        }
        found = !s.out_of_memory && pymgc_ptrmap_get(&s.parent, obj) != NULL;
    }
    int length = -1;
    if (found) {
        length = chain_length(&s, obj);
        print_chain(out, &s, obj, length);
    } else if (s.out_of_memory) {
        fprintf(out, "pym_gc_explain: out of memory\n");
    } else {
        describe(out, obj);
        fprintf(out, " is unreachable: only cyclic garbage refers to it; "
                "the next full collection will free it\n");
    }
    pymgc_set_zero(&s.set);
    pymgc_ptrmap_destroy(&s.parent);
    pym_free(s.queue);
    return length;
}
