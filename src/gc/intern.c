/*
 * intern.c -- interned bytes objects: one live object per distinct content
 * in a domain, so that pointer equality works like `is` on interned
 * Python strings.
 *
 * The table (chained hash, buckets of pymgc_bytes via `chain`) does not own
 * its entries: an interned object is mortal and its dealloc removes it.
 * pym_intern_immortal makes the entry permanent.  The bytes type is not a
 * container (never tracked).  Its objects have a variable size: the bytes
 * past sizeof(pymgc_bytes) are counted as extra bytes by pymgc_new_extra and
 * taken off the accounting again by bytes_dealloc.
 */
#include <errno.h>
#include <string.h>
#include "gc/gc_internal.h"

struct pymgc_bytes {
    pymgc_bytes *chain;          /* next entry in the same bucket */
    uint64_t hash;
    size_t size;
    char data[];                /* size bytes and a NUL */
};

static void bytes_dealloc(void *self);

pym_type pymgc_bytes_type = {
    .name = "bytes",
    .size = sizeof(pymgc_bytes),
    .dealloc = bytes_dealloc,
};

static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The bytes an interned object has past sizeof(pymgc_bytes): its contents
 * and a NUL (what pymgc_new_extra adds to the accounting, and the dealloc
 * takes off). */
static size_t bytes_extra(size_t len) { return len + 1; }

static void bytes_dealloc(void *self)
{
    pymgc_bytes *b = self;
    pymgc_domain *d = pymgc_domain_of(pymgc_head_of(self));
    pymgc_bytes **link = &d->intern_buckets[b->hash & (d->intern_nbuckets - 1)];
    while (*link != b)
        link = &(*link)->chain;
    *link = b->chain;
    d->intern_count--;
    d->type_counts[pymgc_bytes_type.pymgc_type_id].extra_bytes -= bytes_extra(b->size);
}

static int table_grow(pymgc_domain *d)
{
    size_t n = d->intern_nbuckets ? 2 * d->intern_nbuckets : 64;
    pymgc_bytes **buckets = pym_calloc(n, sizeof *buckets);
    if (!buckets)
        return -1;
    for (size_t i = 0; i < d->intern_nbuckets; i++) {
        pymgc_bytes *b = d->intern_buckets[i];
        while (b) {
            pymgc_bytes *next = b->chain;
            pymgc_bytes **slot = &buckets[b->hash & (n - 1)];
            b->chain = *slot;
            *slot = b;
            b = next;
        }
    }
    pym_free(d->intern_buckets);
    d->intern_buckets = buckets;
    d->intern_nbuckets = n;
    return 0;
}

void *pym_intern(const void *bytes, size_t len)
{
    pymgc_domain *d = pymgc_domain_current();
    if (d->shared) {
        errno = EINVAL;     /* per-thread domains only (see the header) */
        return NULL;
    }
    uint64_t hash = hash_bytes(bytes, len);
    if (d->intern_nbuckets) {
        for (pymgc_bytes *b = d->intern_buckets[hash & (d->intern_nbuckets - 1)]; b; b = b->chain) {
            if (b->hash == hash && b->size == len && memcmp(b->data, bytes, len) == 0) {
                pym_incref(b);
                return b;
            }
        }
    }
    if (d->intern_count >= d->intern_nbuckets && table_grow(d) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    if (len == SIZE_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    pymgc_bytes *b = pymgc_new_extra(&pymgc_bytes_type, bytes_extra(len));
    if (!b)
        return NULL;
    b->hash = hash;
    b->size = len;
    memcpy(b->data, bytes, len);
    b->data[len] = '\0';
    pymgc_bytes **slot = &d->intern_buckets[hash & (d->intern_nbuckets - 1)];
    b->chain = *slot;
    *slot = b;
    d->intern_count++;
    return b;
}

void *pym_intern_immortal(const void *bytes, size_t len)
{
    void *obj = pym_intern(bytes, len);
    if (obj)
        pym_immortalize(obj);
    return obj;
}

const char *pym_bytes_data(const void *obj)
{
    return ((const pymgc_bytes *)obj)->data;
}

size_t pym_bytes_size(const void *obj)
{
    return ((const pymgc_bytes *)obj)->size;
}
