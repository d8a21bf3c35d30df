/*
 * preload_check.c -- tells whether this process's malloc is pymalloc's.
 *
 * Linked against nothing of ours: with LD_PRELOAD=libpymalloc.so the
 * library's pym_owns is found with dlsym(RTLD_DEFAULT) and must say that
 * blocks from malloc(32), calloc, realloc and from inside libc (strdup) are
 * ours; without the preload, pym_owns must not exist at all.
 * Exit status 0: "ours" (all pointers owned), 1: "not ours" (no pym_owns),
 * 2: inconsistent (pym_owns present but some pointer not owned).
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*owns_fn)(const void *ptr);

int main(void)
{
    owns_fn owns = (owns_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "pym_owns");
    void *block = malloc(32);
    void *zeroed = calloc(4, 8);
    void *grown = realloc(malloc(8), 64);
    char *copy = strdup("pymalloc");
    int status;
    if (owns == NULL)
        status = 1;
    else
        status = owns(block) && owns(zeroed) && owns(grown) && owns(copy) ? 0 : 2;
    printf("%s\n", status == 0 ? "ours" : status == 1 ? "not ours" : "inconsistent");
    free(copy);
    free(grown);
    free(zeroed);
    free(block);
    return status;
}
