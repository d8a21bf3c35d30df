/*
 * option_probe.c -- shows what the library made of its PYMALLOC_* variables.
 *
 * Linked with libpymalloc (statically, so it also runs in sanitizer builds);
 * test_options.sh runs it under different environments.  It allocates a few
 * small blocks, so PYMALLOC_STATS has something to print, and prints one line:
 *   STATS=0 DEBUG=0 ARENA_CACHE=1 DISABLE=0 VERBOSE=0 pym_owns=1 malloc_owns=1
 * malloc_owns is "-" in --disable-override builds, where malloc is libc's.
 */
#include "pym_build_config.h"   /* PYM_OVERRIDE */

#include <stdio.h>
#include <stdlib.h>

#include "pymalloc.h"

#define PROBE_BLOCKS 1000

int main(void)
{
    static void *blocks[PROBE_BLOCKS];
    for (int i = 0; i < PROBE_BLOCKS; i++)
        blocks[i] = pym_malloc(32);
    int pym_owned = pym_owns(blocks[0]);
#ifdef PYM_OVERRIDE
    void *from_malloc = malloc(32);
    char malloc_owned = pym_owns(from_malloc) ? '1' : '0';
    free(from_malloc);
#else
    char malloc_owned = '-';
#endif
    for (int i = 0; i < PROBE_BLOCKS; i++)
        pym_free(blocks[i]);
    printf("STATS=%ld DEBUG=%ld ARENA_CACHE=%ld DISABLE=%ld VERBOSE=%ld pym_owns=%d malloc_owns=%c\n",
           pym_option_get(PYM_OPTION_STATS), pym_option_get(PYM_OPTION_DEBUG),
           pym_option_get(PYM_OPTION_ARENA_CACHE), pym_option_get(PYM_OPTION_DISABLE),
           pym_option_get(PYM_OPTION_VERBOSE), pym_owned, malloc_owned);
    return 0;
}
