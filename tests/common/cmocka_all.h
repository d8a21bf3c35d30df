/*
 * cmocka_all.h -- cmocka needs <stdarg.h>, <stddef.h>, <setjmp.h> and
 * <stdint.h> before <cmocka.h>; include this instead.  UNIT_TESTING is left
 * undefined on purpose: with it, cmocka would replace malloc and free with
 * its own leak-checking wrappers, and these tests are about our malloc.
 */
#ifndef PYM_TEST_CMOCKA_ALL_H
#define PYM_TEST_CMOCKA_ALL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#endif /* PYM_TEST_CMOCKA_ALL_H */
