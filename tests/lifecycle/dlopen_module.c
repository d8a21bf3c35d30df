/*
 * dlopen_module.c -- a shared module that links libpymalloc and allocates in
 * its constructor.  dlopen_host (which does not link libpymalloc) loads it
 * at run time, so libpymalloc itself is loaded by dlopen: its thread-local
 * state must fit in the static TLS that glibc keeps for late loads, its
 * initialisation must work from inside dlopen, and threads that existed
 * before the load must be able to allocate afterwards.
 *
 * The module calls the pym_* API only: in a late-loaded library the libc
 * names resolve to glibc's, whatever the build.
 */
#include "pattern.h"
#include "pymalloc.h"

#define MODULE_BLOCKS 1000
#define SMALL_MAX 256

static unsigned char *constructor_blocks[MODULE_BLOCKS];
static size_t constructor_sizes[MODULE_BLOCKS];
static int constructor_failures;

__attribute__((constructor)) static void module_allocate(void)
{
    for (int i = 0; i < MODULE_BLOCKS; i++) {
        constructor_sizes[i] = (size_t)(i * 11) % (SMALL_MAX + 1);
        constructor_blocks[i] = pym_malloc(constructor_sizes[i]);
        if (constructor_blocks[i] == NULL || !pym_owns(constructor_blocks[i])) {
            constructor_failures++;
            continue;
        }
        pattern_fill(constructor_blocks[i], constructor_sizes[i],
                     pattern_seed(constructor_blocks[i], 0));
    }
}

/* Checks and frees the constructor's blocks; returns the number of blocks
 * that were missing, not ours, or overwritten. */
__attribute__((visibility("default"))) int dlopen_module_free_constructor_blocks(void)
{
    int failures = constructor_failures;
    for (int i = 0; i < MODULE_BLOCKS; i++) {
        unsigned char *block = constructor_blocks[i];
        if (block == NULL)
            continue;
        failures += !pattern_intact(block, constructor_sizes[i], pattern_seed(block, 0));
        pym_free(block);
        constructor_blocks[i] = NULL;
    }
    return failures;
}

/* Allocates, checks and frees count small blocks in the calling thread;
 * returns the number of failures. */
__attribute__((visibility("default"))) int dlopen_module_churn(int count)
{
    int failures = 0;
    for (int i = 0; i < count; i++) {
        size_t size = (size_t)(i * 17) % (SMALL_MAX + 1);
        unsigned char *block = pym_malloc(size);
        if (block == NULL || !pym_owns(block)) {
            failures++;
            continue;
        }
        pattern_fill(block, size, (uint64_t)i);
        failures += !pattern_intact(block, size, (uint64_t)i);
        pym_free(block);
    }
    return failures;
}
