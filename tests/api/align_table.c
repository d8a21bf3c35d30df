/*
 * align_table.c -- prints, one line per case, what memalign, aligned_alloc
 * and posix_memalign do with a table of alignments and sizes: NULL or a
 * block, errno (or the return value), whether the block is aligned to the
 * alignment rounded up to a power of two.  Linked with nothing of ours:
 * align_vs_glibc.sh runs it plainly (glibc's answers) and under LD_PRELOAD
 * and compares the two outputs line by line.
 *
 * With the argument "pym" it prints the same table for pym_memalign and
 * pym_aligned_alloc (found by dlsym in the preloaded library), under the
 * names memalign and aligned_alloc, so that the script can compare them
 * with glibc's too.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void *(*align_fn)(size_t, size_t);
typedef int (*posix_fn)(void **, size_t, size_t);

static size_t next_power_of_two(size_t x)
{
    size_t p = 1;
    while (p < x && p != 0)
        p <<= 1;
    return p;
}

static void report(const char *name, size_t alignment, size_t size, void *block, int error)
{
    const char *kind = alignment != 0 && (alignment & (alignment - 1)) == 0 ? "pow2" : "npow2";
    if (block == NULL) {
        printf("%s(%zu, %zu) %s = NULL, error %s\n", name, alignment, size, kind,
               error == 0 ? "0" : error == EINVAL ? "EINVAL" : error == ENOMEM ? "ENOMEM" : "other");
        return;
    }
    size_t p = next_power_of_two(alignment);
    int aligned = p == 0 || ((uintptr_t)block & (p - 1)) == 0;
    printf("%s(%zu, %zu) %s = block, %s\n", name, alignment, size, kind,
           aligned ? "aligned" : "NOT aligned to the rounded-up alignment");
    memset(block, 0xab, size);
    free(block);
}

int main(int argc, char **argv)
{
    align_fn memalign_fn = memalign, aligned_alloc_fn = aligned_alloc;
    posix_fn posix_memalign_fn = posix_memalign;
    if (argc > 1 && strcmp(argv[1], "pym") == 0) {
        memalign_fn = (align_fn)dlsym(RTLD_DEFAULT, "pym_memalign");
        aligned_alloc_fn = (align_fn)dlsym(RTLD_DEFAULT, "pym_aligned_alloc");
        posix_memalign_fn = (posix_fn)dlsym(RTLD_DEFAULT, "pym_posix_memalign");
        if (memalign_fn == NULL || aligned_alloc_fn == NULL || posix_memalign_fn == NULL) {
            puts("pym_* functions not found: preload libpymalloc.so");
            return 1;
        }
    }
    const size_t alignments[] = { 0, 1, 2, 3, 4, 8, 12, 16, 24, 32, 48, 64, 100, 4095, 4096,
                                  65536, 100000, SIZE_MAX / 2, SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 2,
                                  SIZE_MAX };
    const size_t sizes[] = { 0, 1, 64, 300, 5000, SIZE_MAX - 100 };
    for (size_t a = 0; a < sizeof alignments / sizeof alignments[0]; a++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t alignment = alignments[a], size = sizes[s];
            errno = 0;
            void *block = memalign_fn(alignment, size);
            report("memalign", alignment, size, block, errno);
            errno = 0;
            block = aligned_alloc_fn(alignment, size);
            report("aligned_alloc", alignment, size, block, errno);
            errno = 0;
            block = NULL;
            int result = posix_memalign_fn(&block, alignment, size);
            if (errno != 0)   /* glibc's does on ENOMEM, and ours */
                printf("posix_memalign(%zu, %zu) changed errno\n", alignment, size);
            report("posix_memalign", alignment, size, result == 0 ? block : NULL, result);
        }
    }
    return 0;
}
