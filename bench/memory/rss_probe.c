/*
 * rss_probe.c -- how much memory an allocator holds, measured from inside
 * the process through /proc/self/statm (resident pages) and
 * /proc/self/status (VmHWM, the kernel's peak).  Run once per allocator
 * (preloaded) by bench/run.py.
 *
 *   rss_probe allfree MIB SIZE
 *       allocate MIB MiB of SIZE-byte blocks (every byte written), then free
 *       them all; no trim or purge call.  Reports RSS at start, at the
 *       peak and after the frees.
 *   rss_probe churn OBJECTS
 *       a phased working set with the CPython-like size mix: grow to
 *       OBJECTS blocks, churn (2 x OBJECTS random replacements), free a
 *       random 90 %, churn the rest, free everything.  Prints an RSS sample
 *       every OBJECTS/50 operations (the timeline plot) and the RSS at the
 *       end of each phase.
 *
 * Output is CSV on stdout, one record per line:
 *   sample,<operation>,<phase>,<rss_kib>,<live_request_kib>
 *   result,<workload>,<key>,<value>
 * The pointer tables come from mmap, never from the allocator under test,
 * and are touched before the starting RSS is read, so the numbers are the
 * allocator's alone.  /proc is read with open/read into stack buffers
 * (stdio would allocate).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../size_mix.h"

static size_t read_proc_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(path);
        exit(2);
    }
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0) {
        perror(path);
        exit(2);
    }
    buf[n] = '\0';
    return (size_t)n;
}

/* Resident set in KiB: second field of /proc/self/statm, in pages. */
static long rss_kib(void)
{
    char buf[256];
    read_proc_file("/proc/self/statm", buf, sizeof buf);
    long size_pages = 0, resident_pages = 0;
    if (sscanf(buf, "%ld %ld", &size_pages, &resident_pages) != 2) {
        fprintf(stderr, "rss_probe: cannot parse /proc/self/statm\n");
        exit(2);
    }
    return resident_pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Peak resident set in KiB (VmHWM of /proc/self/status). */
static long peak_rss_kib(void)
{
    char buf[4096];
    read_proc_file("/proc/self/status", buf, sizeof buf);
    const char *line = strstr(buf, "VmHWM:");
    return line ? strtol(line + 6, NULL, 10) : -1;
}

static void *table_alloc(size_t bytes)
{
    void *table = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (table == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    memset(table, 0, bytes);
    return table;
}

static void *checked_malloc(size_t size)
{
    void *p = malloc(size);
    if (!p) {
        fprintf(stderr, "rss_probe: malloc(%zu) failed\n", size);
        exit(2);
    }
    return p;
}

static void result(const char *workload, const char *key, long value)
{
    printf("result,%s,%s,%ld\n", workload, key, value);
}

static int run_allfree(size_t mib, size_t size)
{
    size_t count = (mib << 20) / size;
    void **blocks = table_alloc(count * sizeof *blocks);
    long start = rss_kib();
    for (size_t i = 0; i < count; i++) {
        blocks[i] = checked_malloc(size);
        memset(blocks[i], (int)(i & 0xFF), size);
    }
    long peak = rss_kib();
    for (size_t i = 0; i < count; i++)
        free(blocks[i]);
    long after = rss_kib();
    result("allfree", "requested_kib", (long)((count * size) >> 10));
    result("allfree", "start_kib", start);
    result("allfree", "peak_kib", peak);
    result("allfree", "after_free_kib", after);
    result("allfree", "hwm_kib", peak_rss_kib());
    return 0;
}

struct churn_state {
    void **blocks;
    size_t *sizes;
    size_t live;            /* blocks[0..live) are allocated */
    size_t live_bytes;      /* sum of their request sizes */
    unsigned long operations;
    unsigned long sample_every;
    long peak;
    bench_rng_t rng;
};

static void churn_tick(struct churn_state *st, const char *phase)
{
    if (++st->operations % st->sample_every != 0)
        return;
    long rss = rss_kib();
    if (rss > st->peak)
        st->peak = rss;
    printf("sample,%lu,%s,%ld,%zu\n", st->operations, phase, rss, st->live_bytes >> 10);
}

static void churn_add(struct churn_state *st, size_t slot)
{
    size_t size = bench_size_cpython_mix(&st->rng);
    char *p = checked_malloc(size);
    memset(p, 0x5A, size < 64 ? size : 64);
    st->blocks[slot] = p;
    st->sizes[slot] = size;
    st->live_bytes += size;
}

static void churn_remove(struct churn_state *st, size_t slot)
{
    free(st->blocks[slot]);
    st->live_bytes -= st->sizes[slot];
}

static void churn_replace_many(struct churn_state *st, unsigned long count, const char *phase)
{
    for (unsigned long i = 0; i < count; i++) {
        size_t slot = (size_t)bench_rng_below(&st->rng, st->live);
        churn_remove(st, slot);
        churn_add(st, slot);
        churn_tick(st, phase);
    }
}

static void churn_phase_end(struct churn_state *st, const char *phase)
{
    char key[64];
    snprintf(key, sizeof key, "end_%s_kib", phase);
    long rss = rss_kib();
    if (rss > st->peak)
        st->peak = rss;
    result("churn", key, rss);
    printf("sample,%lu,%s,%ld,%zu\n", st->operations, phase, rss, st->live_bytes >> 10);
}

static int run_churn(size_t objects)
{
    struct churn_state st = {0};
    st.blocks = table_alloc(objects * sizeof *st.blocks);
    st.sizes = table_alloc(objects * sizeof *st.sizes);
    st.sample_every = objects / 50 ? objects / 50 : 1;
    st.rng = bench_rng_seeded(2024);
    long start = rss_kib();
    st.peak = start;
    result("churn", "start_kib", start);
    printf("sample,0,start,%ld,0\n", start);

    for (size_t i = 0; i < objects; i++) {
        churn_add(&st, i);
        st.live++;
        churn_tick(&st, "grow");
    }
    churn_phase_end(&st, "grow");
    churn_replace_many(&st, 2 * objects, "churn");
    churn_phase_end(&st, "churn");
    result("churn", "live_request_kib", (long)(st.live_bytes >> 10));

    size_t kept = 0;
    for (size_t i = 0; i < st.live; i++) {
        if (bench_rng_below(&st.rng, 10) == 0) {
            st.blocks[kept] = st.blocks[i];
            st.sizes[kept] = st.sizes[i];
            kept++;
        } else {
            churn_remove(&st, i);
        }
        churn_tick(&st, "shrink");
    }
    st.live = kept;
    churn_phase_end(&st, "shrink");
    churn_replace_many(&st, 2 * objects, "churn_small");
    churn_phase_end(&st, "churn_small");

    for (size_t i = 0; i < st.live; i++) {
        churn_remove(&st, i);
        churn_tick(&st, "free_all");
    }
    st.live = 0;
    churn_phase_end(&st, "free_all");
    result("churn", "peak_kib", st.peak);
    result("churn", "hwm_kib", peak_rss_kib());
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "allfree") == 0)
        return run_allfree(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "churn") == 0)
        return run_churn(strtoul(argv[2], NULL, 10));
    fprintf(stderr, "usage: rss_probe allfree MIB SIZE | rss_probe churn OBJECTS\n");
    return 2;
}
