/*
 * fork_alloc.h -- the allocation calls of the fork tests: pym_malloc and
 * pym_free in the programs linked with the library, the libc names in the
 * _plain builds run under LD_PRELOAD (FORK_TEST_PRELOAD).
 */
#ifndef PYM_TEST_FORK_ALLOC_H
#define PYM_TEST_FORK_ALLOC_H

#ifdef FORK_TEST_PRELOAD
#include <stdlib.h>
#define t_malloc malloc
#define t_free free
#else
#include "pymalloc.h"
#define t_malloc pym_malloc
#define t_free pym_free
#endif

#endif
