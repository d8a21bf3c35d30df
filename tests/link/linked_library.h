/*
 * linked_library.h -- how a link test tells which copy of pymalloc it runs.
 */
#ifndef PYM_TEST_LINKED_LIBRARY_H
#define PYM_TEST_LINKED_LIBRARY_H

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when a shared object whose name contains "libpymalloc" is loaded in this
 * process, else 0.  A program linked with the static archive must say 0. */
int shared_pymalloc_is_loaded(void);

#ifdef __cplusplus
}
#endif
#endif /* PYM_TEST_LINKED_LIBRARY_H */
