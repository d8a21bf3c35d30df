/*
 * resident.h -- the process's resident set size in bytes, as `top` shows it
 * (/proc/self/statm's second field).  The memory tests read it before and
 * after what they measure; one that cannot read it stops there (abort),
 * since every assertion after would compare zeros.
 */
#ifndef PYM_TEST_RESIDENT_H
#define PYM_TEST_RESIDENT_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline size_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    int fields = f != NULL ? fscanf(f, "%lu %lu", &size, &resident) : 0;
    if (f != NULL)
        fclose(f);
    if (fields != 2) {
        fprintf(stderr, "cannot read /proc/self/statm\n");
        abort();
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

#endif /* PYM_TEST_RESIDENT_H */
