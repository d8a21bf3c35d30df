/*
 * A fully static executable (-all-static) whose malloc is pymalloc's: glibc's
 * malloc object is not linked, so requests pymalloc would forward are served
 * by its own mmap-backed path (src/bigalloc.c).  Prints TAP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pymalloc.h"

static int test_number;
static int failures;

static void check(int ok, const char *name)
{
    printf("%sok %d - %s\n", ok ? "" : "not ", ++test_number, name);
    failures += !ok;
}

static int filled(const unsigned char *p, size_t n, unsigned char byte)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != byte)
            return 0;
    return 1;
}

static void *thread_work(void *arg)
{
    (void)arg;
    int ok = 1;
    for (int round = 0; round < 200; round++) {
        void *blocks[64];
        for (int i = 0; i < 64; i++) {
            size_t n = (size_t)(i * 97 % 5000) + 1;
            blocks[i] = malloc(n);
            memset(blocks[i], i, n);
        }
        for (int i = 0; i < 64; i++) {
            size_t n = (size_t)(i * 97 % 5000) + 1;
            ok &= filled(blocks[i], n, (unsigned char)i);
            free(blocks[i]);
        }
    }
    return ok ? (void *)1 : NULL;
}

int main(void)
{
    printf("1..10\n");
    char *small = malloc(48);
    if (small != NULL)
        small[0] = 1;   /* gcc 12 warns of an uninitialised const void * argument */
    check(small != NULL && pym_owns(small), "small requests are served by pymalloc pools");

    char *large = malloc(100000);
    memset(large, 0x5a, 100000);
    check(large != NULL && !pym_owns(large) && malloc_usable_size(large) >= 100000 &&
          filled((unsigned char *)large, 100000, 0x5a),
          "large requests are served without glibc's malloc");

    char *grown = malloc(200);
    memset(grown, 7, 200);
    grown = realloc(grown, 50000);
    int kept = grown != NULL && filled((unsigned char *)grown, 200, 7);
    grown = realloc(grown, 100);
    kept &= grown != NULL && filled((unsigned char *)grown, 100, 7) && pym_owns(grown);
    check(kept, "realloc keeps contents across the threshold both ways");

    unsigned char *zeroed = calloc(4096, 4);
    check(zeroed != NULL && filled(zeroed, 4096 * 4, 0), "large calloc is zeroed");

    void *aligned = NULL;
    int rc = posix_memalign(&aligned, 4096, 10000);
    check(rc == 0 && ((uintptr_t)aligned & 4095) == 0, "over-aligned requests are aligned");

    /* Through a volatile: clang may drop a malloc whose result is only
     * compared with NULL, and fold the comparison to false. */
    volatile size_t impossible = SIZE_MAX / 2;
    errno = 0;
    void *huge = malloc(impossible);
    check(huge == NULL && errno == ENOMEM, "impossible sizes give NULL and ENOMEM");
    free(huge);

    /* pvalloc rounds the size up to whole pages: the rounding must not
     * wrap around to a small block (glibc: NULL and ENOMEM). */
    volatile size_t almost_all = SIZE_MAX - 100;
    errno = 0;
    void *paged = pvalloc(almost_all);
    int paged_ok = paged == NULL && errno == ENOMEM;
    errno = 0;
    void *paged2 = valloc(almost_all);
    paged_ok &= paged2 == NULL && errno == ENOMEM;
    errno = 0;
    void *paged3 = memalign(4096, almost_all);
    paged_ok &= paged3 == NULL && errno == ENOMEM;
    check(paged_ok, "pvalloc, valloc, memalign of SIZE_MAX - 100 give NULL and ENOMEM");
    free(paged);
    free(paged2);
    free(paged3);

    long page = sysconf(_SC_PAGESIZE);
    unsigned char *one = pvalloc(1);
    check(one != NULL && ((uintptr_t)one & (uintptr_t)(page - 1)) == 0 &&
          malloc_usable_size(one) >= (size_t)page && (memset(one, 1, (size_t)page), 1),
          "pvalloc(1) gives a whole, page-aligned page");
    free(one);

    pthread_t threads[4];
    int threads_ok = 1;
    for (int i = 0; i < 4; i++)
        threads_ok &= pthread_create(&threads[i], NULL, thread_work, NULL) == 0;
    for (int i = 0; i < 4; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        threads_ok &= result != NULL;
    }
    check(threads_ok, "threads allocate and free small and large blocks");

    pid_t child = fork();
    if (child == 0) {
        void *p = malloc(5000), *q = malloc(32);
        _exit(p != NULL && q != NULL && pym_owns(q) ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    check(child > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "a fork child allocates");

    free(small);
    free(large);
    free(grown);
    free(zeroed);
    free(aligned);
    return failures != 0;
}
