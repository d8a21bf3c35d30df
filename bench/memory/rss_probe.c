/*
 * rss_probe.c -- how much memory an allocator holds, measured from inside
 * the process through /proc/self/statm (resident pages) and
 * /proc/self/status (VmHWM, the kernel's peak).  Run once per allocator
 * (preloaded) by bench/run.py.
 *
 *   rss_probe allfree MIB SIZE
 *       allocate MIB MiB of SIZE-byte blocks (every byte written), then free
 *       them all; no trim or purge call.  Reports RSS at start, at the
 *       peak, right after the frees, and again after one second of light
 *       activity (a malloc+free pair of SIZE bytes every 10 ms, see
 *       light_activity): an allocator that gives memory back on a timer or
 *       on later activity, rather than inside free, shows it there.
 *   rss_probe oldest90 MIB SIZE
 *       allocate MIB MiB of SIZE-byte blocks, then free the oldest 90 %
 *       (the first allocated), keeping the newest 10 % live.  Reports RSS
 *       at the peak, right after the frees and after one second of light
 *       activity, with the live request bytes to compare against.
 *   rss_probe xthread-mixed THREADS ROUNDS
 *       the server pattern of ../xthread_mixed.h (as the micro benchmark
 *       xthread/server): THREADS threads allocate blocks of 16 B..4 KiB and
 *       hand them to each other to free, ROUNDS rounds of 4096 blocks per
 *       thread.  Reports the peak RSS (VmHWM) and the RSS after the last
 *       round, when every block has been freed.
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
#include <time.h>
#include <unistd.h>

#include "../size_mix.h"
#include "../xthread_mixed.h"

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

/*
 * One second of light activity: a malloc+free pair of `size` bytes every
 * 10 ms, 100 pairs, and no trim call.  The issue-11 memory contract reads
 * RSS after this, so that a delayed purge (on activity or on a timer) has
 * had its chance, as it would in a program that goes on running.
 */
static void light_activity(size_t size)
{
    const struct timespec pause = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 100; i++) {
        char *p = checked_malloc(size);
        p[0] = (char)i;
        free(p);
        nanosleep(&pause, NULL);
    }
}

/* allfree and oldest90: allocate mib MiB of size-byte blocks, each written
 * whole (so resident), in a table that does not come from the allocator
 * under test and is resident before the start figure is read (table_alloc
 * writes it); free the oldest freed_tenths tenths of them (10: all, for
 * allfree), read RSS right after and after the light second; free the
 * rest. */
static int run_free_oldest(const char *name, size_t mib, size_t size, size_t freed_tenths)
{
    size_t count = (mib << 20) / size;
    size_t freed = freed_tenths == 10 ? count : count / 10 * freed_tenths;
    void **blocks = table_alloc(count * sizeof *blocks);
    long start = rss_kib();
    for (size_t i = 0; i < count; i++) {
        blocks[i] = checked_malloc(size);
        memset(blocks[i], (int)(i & 0xFF), size);
    }
    long peak = rss_kib();
    for (size_t i = 0; i < freed; i++)
        free(blocks[i]);
    long after = rss_kib();
    light_activity(size);
    long after_light = rss_kib();
    result(name, "requested_kib", (long)((count * size) >> 10));
    if (freed < count)
        result(name, "live_request_kib", (long)(((count - freed) * size) >> 10));
    result(name, "start_kib", start);
    result(name, "peak_kib", peak);
    result(name, "after_free_kib", after);
    result(name, "after_light_kib", after_light);
    result(name, "hwm_kib", peak_rss_kib());
    for (size_t i = freed; i < count; i++)
        free(blocks[i]);
    return 0;
}

static int run_xthread_mixed(unsigned threads, unsigned long rounds)
{
    struct xmixed *x = xmixed_create(threads, 4096, 500);
    long start = rss_kib();
    long peak_between = start;
    for (unsigned long r = 0; r < rounds; r++) {
        xmixed_round(x);
        long rss = rss_kib();
        if (rss > peak_between)
            peak_between = rss;
    }
    long after = rss_kib();
    long hwm = peak_rss_kib();
    xmixed_destroy(x);
    result("xthread-mixed", "pairs", (long)(rounds * threads * 4096));
    result("xthread-mixed", "start_kib", start);
    result("xthread-mixed", "peak_kib", hwm);
    result("xthread-mixed", "peak_between_rounds_kib", peak_between);
    result("xthread-mixed", "after_kib", after);
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
        return run_free_oldest("allfree", strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10), 10);
    if (argc == 4 && strcmp(argv[1], "oldest90") == 0)
        return run_free_oldest("oldest90", strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10), 9);
    if (argc == 3 && strcmp(argv[1], "churn") == 0)
        return run_churn(strtoul(argv[2], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "xthread-mixed") == 0)
        return run_xthread_mixed((unsigned)strtoul(argv[2], NULL, 10),
                                 strtoul(argv[3], NULL, 10));
    fprintf(stderr, "usage: rss_probe allfree MIB SIZE | oldest90 MIB SIZE | churn OBJECTS"
                    " | xthread-mixed THREADS ROUNDS\n");
    return 2;
}
