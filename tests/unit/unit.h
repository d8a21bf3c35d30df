/*
 * unit.h -- what every unit test includes: cmocka and the allocator's
 * internal headers.  Unit tests link libpymalloc statically, so they can
 * call hidden pymi_* functions and read internal structures.
 */
#ifndef PYM_TESTS_UNIT_H
#define PYM_TESTS_UNIT_H

#include "internal.h"   /* first: it brings _GNU_SOURCE from configure */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#endif
