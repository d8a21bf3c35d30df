/*
 * ptrmap.c -- a small open-addressing hash map from object pointers to
 * pointers (linear probing, backward-shift deletion, no tombstones), used
 * for the weak-reference lists and by pym_gc_explain.  Keys are never NULL.
 * Memory comes from pymalloc; the load factor stays at or below 1/2.
 */
#include <string.h>
#include "gc/gc_internal.h"

static size_t slot_of(const pymgc_ptrmap *m, const void *key)
{
    uint64_t x = (uint64_t)(uintptr_t)key >> 4;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 32) & (m->capacity - 1);
}

static size_t find(const pymgc_ptrmap *m, const void *key)
{
    size_t i = slot_of(m, key);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->capacity - 1);
    return i;
}

static int grow(pymgc_ptrmap *m)
{
    size_t cap = m->capacity ? 2 * m->capacity : 16;
    void **keys = pym_calloc(cap, sizeof *keys);
    void **values = pym_calloc(cap, sizeof *values);
    if (!keys || !values) {
        pym_free(keys);
        pym_free(values);
        return -1;
    }
    pymgc_ptrmap bigger = {keys, values, cap, m->count};
    for (size_t i = 0; i < m->capacity; i++) {
        if (m->keys[i]) {
            size_t j = find(&bigger, m->keys[i]);
            keys[j] = m->keys[i];
            values[j] = m->values[i];
        }
    }
    pym_free(m->keys);
    pym_free(m->values);
    *m = bigger;
    return 0;
}

void *pymgc_ptrmap_get(const pymgc_ptrmap *m, const void *key)
{
    if (m->count == 0)
        return NULL;
    size_t i = find(m, key);
    return m->keys[i] ? m->values[i] : NULL;
}

int pymgc_ptrmap_put(pymgc_ptrmap *m, void *key, void *value)
{
    if (m->capacity) {
        size_t i = find(m, key);
        if (m->keys[i]) {
            m->values[i] = value;
            return 0;
        }
    }
    if (2 * (m->count + 1) > m->capacity && grow(m) < 0)
        return -1;
    size_t i = find(m, key);
    m->keys[i] = key;
    m->values[i] = value;
    m->count++;
    return 0;
}

void *pymgc_ptrmap_remove(pymgc_ptrmap *m, const void *key)
{
    if (m->count == 0)
        return NULL;
    size_t mask = m->capacity - 1;
    size_t i = find(m, key);
    if (!m->keys[i])
        return NULL;
    void *value = m->values[i];
    /* Backward shift: pull later entries of the probe run into the hole
     * unless their home slot lies cyclically in (hole, j]. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t home = slot_of(m, m->keys[j]);
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            m->keys[hole] = m->keys[j];
            m->values[hole] = m->values[j];
            hole = j;
        }
    }
    m->keys[hole] = NULL;
    m->values[hole] = NULL;
    m->count--;
    return value;
}

void pymgc_ptrmap_destroy(pymgc_ptrmap *m)
{
    pym_free(m->keys);
    pym_free(m->values);
    memset(m, 0, sizeof *m);
}
