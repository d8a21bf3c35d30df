/*
 * bench_newdecref.c -- the overhead of the layer on an object's life:
 * pym_new + pym_decref of a container (tracked, the full path) and of a
 * plain type, against pym_malloc + pym_free of the same object size.
 * Two patterns: one object at a time (pair) and 1,000 live then freed
 * (batch).  Prints ns per object and the ratios, best of 7 rounds, each
 * round timing the three kinds one after the other (so that a burst of
 * load on the machine hits all three, not one).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "pymalloc_gc.h"

#define SIZE 32
#define BATCH 1000

static int no_refs(void *self, pym_visit_fn visit, void *arg)
{
    (void)self;
    (void)visit;
    (void)arg;
    return 0;
}

static pym_type container_type = {.name = "container", .size = SIZE, .traverse = no_refs};
static pym_type plain_type = {.name = "plain", .size = SIZE};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps the compiler from dropping or merging the allocations. */
static inline void touch(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static void *slots[BATCH];

static double run(int kind, int batch, long n)
{
    double t0 = now();
    for (long i = 0; i < n; i += batch) {
        for (int j = 0; j < batch; j++) {
            void *p = kind == 0 ? pym_malloc(SIZE) : pym_new(kind == 1 ? &container_type : &plain_type);
            touch(p);
            slots[j] = p;
        }
        for (int j = 0; j < batch; j++) {
            if (kind == 0)
                pym_free(slots[j]);
            else
                pym_decref(slots[j]);
        }
    }
    return (now() - t0) * 1e9 / (double)n;
}

/* best[kind] for kind 0 (malloc+free), 1 (container), 2 (plain). */
static void best_of_rounds(int batch, long n, double best[3])
{
    for (int kind = 0; kind < 3; kind++)
        best[kind] = 1e9;
    for (int r = 0; r < 7; r++) {
        for (int kind = 0; kind < 3; kind++) {
            double t = run(kind, batch, n);
            if (t < best[kind])
                best[kind] = t;
        }
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5000000;
    pym_gc_set_threshold(0, 10, 10);   /* measure the layer, not collections */
    static const char *pattern[2] = {"pair", "batch"};
    for (int b = 0; b < 2; b++) {
        int batch = b == 0 ? 1 : BATCH;
        double best[3];
        best_of_rounds(batch, n, best);
        double m = best[0], c = best[1], p = best[2];
        printf("new+decref %-5s %d B: malloc+free %.2f ns, container %.2f ns (%.2fx), "
               "plain %.2f ns (%.2fx)\n", pattern[b], SIZE, m, c, c / m, p, p / m);
    }
    return 0;
}
