/*
 * plain_workload.c -- an ordinary program that knows nothing of pymalloc.
 *
 * It is NOT linked with the library: test_options.sh and the install test
 * run it with LD_PRELOAD (directly, under valgrind, through the pymalloc
 * command).  It allocates, fills, reallocates and frees blocks of many sizes
 * from two threads, frees everything (so a leak checker has nothing to
 * report), and prints one line saying whether pymalloc is loaded and
 * whether it served a malloc(32):
 *   pymalloc loaded=1 owns=1
 */
#define _GNU_SOURCE 1   /* RTLD_DEFAULT */

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 2000

static void *churn(void *arg)
{
    unsigned seed = (unsigned)(size_t)arg;
    void *kept[64] = {0};
    for (int i = 0; i < ROUNDS; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t size = 1 + (seed >> 8) % 600;   /* small and forwarded sizes */
        unsigned slot = (seed >> 20) % 64;
        if (kept[slot] != NULL && (seed & 1))
            kept[slot] = realloc(kept[slot], size);
        else {
            free(kept[slot]);
            kept[slot] = (seed & 2) ? calloc(1, size) : malloc(size);
        }
        if (kept[slot] == NULL)
            abort();
        memset(kept[slot], 0x5a, size);
    }
    for (int i = 0; i < 64; i++)
        free(kept[i]);
    return NULL;
}

int main(void)
{
    pthread_t thread;
    if (pthread_create(&thread, NULL, churn, (void *)1) != 0)
        return 1;
    churn((void *)2);
    pthread_join(thread, NULL);

    int (*owns)(const void *) = (int (*)(const void *))dlsym(RTLD_DEFAULT, "pym_owns");
    void *p = malloc(32);
    printf("pymalloc loaded=%d owns=%d\n", owns != NULL, owns != NULL && owns(p));
    free(p);
    return 0;
}
