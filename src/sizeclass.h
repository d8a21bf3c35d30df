/*
 * sizeclass.h -- request size <-> size class <-> block size (hot, inline).
 *
 * Class c serves requests of (16c, 16(c+1)] bytes; malloc(0) uses class 0,
 * exactly CPython's `(nbytes - 1) >> ALIGNMENT_SHIFT` with 0 mapped to 0.
 */
#ifndef PYM_SIZECLASS_H
#define PYM_SIZECLASS_H

#include "config.h"

/* size_t, not unsigned: the fast path indexes with it, and a 32-bit result
 * would cost a zero-extension there. */
PYM_INLINE size_t pymi_size_to_class(size_t size)
{
    return (size - (size != 0)) >> PYM_ALIGNMENT_SHIFT;
}

/* A macro as well, for the tables below, which need constant expressions. */
#define PYM_CLASS_SIZE_(c) (((size_t)(c) + 1) << PYM_ALIGNMENT_SHIFT)

PYM_INLINE size_t pymi_class_to_size(unsigned sizeclass)
{
    return PYM_CLASS_SIZE_(sizeclass);
}

/* The size of the block a small request of `size` bytes gets: its class's. */
PYM_INLINE size_t pymi_request_block_size(size_t size)
{
    return pymi_class_to_size((unsigned)pymi_size_to_class(size));
}

PYM_INLINE int pymi_is_small(size_t size)
{
    return size <= PYM_SMALL_MAX;
}

/* Per class, in tables made by the compiler: the blocks a pool holds, and
 * the block-start test's multiplier, floor(2^32 / size) + 1 (pool.c).
 * Computed, each was a 64-bit division, tens of cycles: two on every fresh
 * pool, and the capacity on every refill of random churn (heap.c's
 * worth_taking_back).  32 entries, the most classes a build can have. */
#define PYM_CAPACITY_(c)       ((uint16_t)(PYM_POOL_SIZE / PYM_CLASS_SIZE_(c)))
#define PYM_START_MAGIC_(c)    ((uint32_t)(((uint64_t)1 << 32) / PYM_CLASS_SIZE_(c) + 1))
#define PYM_EACH4_(f, c)       f(c), f(c + 1), f(c + 2), f(c + 3)
#define PYM_EACH16_(f, c)      PYM_EACH4_(f, c), PYM_EACH4_(f, c + 4), PYM_EACH4_(f, c + 8), \
                               PYM_EACH4_(f, c + 12)
static const uint16_t pymi_class_capacities[32] = {PYM_EACH16_(PYM_CAPACITY_, 0),
                                                   PYM_EACH16_(PYM_CAPACITY_, 16)};
static const uint32_t pymi_class_start_magics[32] = {PYM_EACH16_(PYM_START_MAGIC_, 0),
                                                     PYM_EACH16_(PYM_START_MAGIC_, 16)};
_Static_assert(PYM_NUM_CLASSES <= 32, "the class tables hold 32 classes");

/* Blocks a pool of this class holds. */
PYM_INLINE unsigned pymi_class_capacity(unsigned sizeclass)
{
    return pymi_class_capacities[sizeclass];
}

PYM_INLINE uint32_t pymi_class_start_magic(unsigned sizeclass)
{
    return pymi_class_start_magics[sizeclass];
}

#endif /* PYM_SIZECLASS_H */
