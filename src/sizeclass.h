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

/* The request in 16-byte units, rounded up: the class + 1, and 0 for
 * malloc(0).  The malloc fast path indexes the heap's pools with it
 * (types.h, pool_for_units), two instructions where the class takes four. */
PYM_INLINE size_t pymi_size_to_units(size_t size)
{
    return (size + PYM_ALIGNMENT - 1) >> PYM_ALIGNMENT_SHIFT;
}

PYM_INLINE size_t pymi_class_to_size(unsigned sizeclass)
{
    return (size_t)(sizeclass + 1) << PYM_ALIGNMENT_SHIFT;
}

PYM_INLINE int pymi_is_small(size_t size)
{
    return size <= PYM_SMALL_MAX;
}

/* Blocks a pool of this class holds. */
PYM_INLINE unsigned pymi_class_capacity(unsigned sizeclass)
{
    return (unsigned)(PYM_POOL_SIZE / pymi_class_to_size(sizeclass));
}

#endif /* PYM_SIZECLASS_H */
