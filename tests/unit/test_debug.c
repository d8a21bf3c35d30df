/* Faults pymalloc reports with one line and abort(): in debug mode
 * (PYMALLOC_DEBUG=1: fill patterns, guard bytes, checks at free), and in
 * the release build (an overwritten free-list link).  Options are read at
 * start-up, so each case re-executes this program with the case's name (and
 * PYMALLOC_DEBUG=1 for the debug cases), and checks how the child ended and
 * what it printed. */
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *self_path;

/* ---- what the child does ---------------------------------------------------- */

static int child_case(const char *name)
{
    unsigned char *p = pym_malloc(40);
    if (strcmp(name, "fills") == 0) {
        for (int i = 0; i < 40; i++)
            if (p[i] != 0xCD)
                return 10;
        if (pym_usable_size(p) != 40)
            return 11;
        memset(p, 1, 40);
        pym_free(p);
        for (int i = 0; i < 40; i++)   /* the freed block's bytes, still mapped */
            if (p[i] != 0xDD)
                return 12;
        unsigned char *z = pym_calloc(5, 8);
        for (int i = 0; i < 40; i++)
            if (z[i] != 0)
                return 13;
        unsigned char *g = pym_realloc(z, 60);
        for (int i = 0; i < 40; i++)
            if (g[i] != 0)
                return 14;
        pym_free(g);
        return 0;
    }
    if (strcmp(name, "double-free") == 0) {
        pym_free(p);
        pym_free(p);
    } else if (strcmp(name, "overrun") == 0) {
        p[40] = 'x';
        pym_free(p);
    } else if (strcmp(name, "realloc-overrun") == 0) {
        p[43] = 'x';
        p = pym_realloc(p, 100);
    } else if (strcmp(name, "interior") == 0) {
        pym_free(p + 16);
    } else if (strcmp(name, "never-allocated") == 0) {
        /* A block that was never handed out in a pool of ours. */
        pym_free(p + 64 * 20);
    } else if (strcmp(name, "use-after-free") == 0) {
        /* Release mode: overwrite a free block's link, then allocate it. */
        unsigned char *q = pym_malloc(40);
        pym_free(p);
        pym_free(q);
        memcpy(q, "AAAAAAAA", 8);
        /* Freed blocks come back once the pool's free list runs dry; the
         * malloc that pops q reads its forged link. */
        for (int i = 0; i < 300; i++)
            if (pym_malloc(40) == q)
                return 3;
        return 4;
    }
    if (strcmp(name, "free-sized-right") == 0) {
        pym_free_sized(p, 40);
        void *q = pym_aligned_alloc(64, 100);
        pym_free_aligned_sized(q, 64, 100);
        void *big = pym_malloc(5000);
        pym_free_sized(big, 5000);
        return 0;
    } else if (strcmp(name, "free-sized-wrong") == 0) {
        pym_free_sized(p, 41);
    } else if (strcmp(name, "free-sized-smaller") == 0) {
        pym_free_sized(p, 32);   /* same class: only debug mode can tell */
    } else if (strcmp(name, "free-aligned-sized-wrong") == 0) {
        void *q = pym_malloc(24);
        pym_free_aligned_sized(q, 16, 40);
    }
    if (strcmp(name, "write-after-free") == 0 || strcmp(name, "write-after-free-last") == 0) {
        pym_free(p);
        p[strcmp(name, "write-after-free") == 0 ? 3 : 39] = 'x';
        void *volatile again = pym_malloc(40);   /* the same pool hands p out again */
        (void)again;
    } else if (strcmp(name, "no-write-after-free") == 0) {
        /* Freed and reused blocks of every size, untouched: no report. */
        for (size_t size = 0; size <= 232; size += 8) {
            void *blocks[20];
            for (int i = 0; i < 20; i++)
                blocks[i] = pym_malloc(size);
            for (int i = 0; i < 20; i++)
                pym_free(blocks[i]);
            for (int i = 0; i < 20; i++)
                blocks[i] = pym_malloc(size + 8);
            for (int i = 0; i < 20; i++)
                pym_free(blocks[i]);
        }
        pym_free(p);
        return 0;
    } else if (strcmp(name, "pools-change-class") == 0) {
        /* Pools emptied and carved again for other classes, then for the
         * first one again: the bytes of their earlier lives (freed blocks'
         * trailers among them) must not be taken for a write after free. */
        static const size_t sizes[] = { 200, 24, 100, 8, 56, 200, 40, 150, 200, 8 };
        static void *blocks[400];
        for (int round = 0; round < 3; round++) {
            for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
                for (int i = 0; i < 400; i++) {
                    blocks[i] = pym_malloc(sizes[k]);
                    memset(blocks[i], 0x11 * (k + 1), sizes[k]);
                }
                for (int i = 0; i < 400; i += 2)
                    pym_free(blocks[i]);
                for (int i = 1; i < 400; i += 2)
                    pym_free(blocks[i]);
            }
        }
        pym_free(p);
        return 0;
    } else if (strcmp(name, "double-free-100") == 0) {
        void *q = pym_malloc(100);
        pym_free(q);
        pym_free(q);
    }
    return 0;   /* reaching this means the fault went unnoticed */
}

/* ---- the parent's checks ------------------------------------------------------ */

static void run_child(const char *name, int debug, int *status, char *err, size_t err_size)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        setenv("PYMALLOC_DEBUG", debug ? "1" : "0", 1);
        execl(self_path, self_path, "--child", name, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t n;
    while ((n = read(fds[0], err + used, err_size - 1 - used)) > 0)
        used += (size_t)n;
    err[used] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, status, 0), pid);
}

static void expect_abort_in(const char *name, int debug, const char *phrase, const char *also)
{
    char err[1024];
    int status;
    run_child(name, debug, &status, err, sizeof err);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("case %s: expected SIGABRT, got status 0x%x; stderr: %s", name, status, err);
    if (strstr(err, "pymalloc: ") == NULL || strstr(err, phrase) == NULL)
        fail_msg("case %s: stderr lacks \"%s\": %s", name, phrase, err);
    assert_non_null(strstr(err, also));
    assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1);   /* one line */
}

static void expect_abort(const char *name, const char *phrase)
{
    expect_abort_in(name, 1, phrase, "-byte class");   /* names the size class */
}

static void fresh_blocks_are_0xCD_freed_blocks_0xDD(void **state)
{
    (void)state;
    char err[1024];
    int status;
    run_child("fills", 1, &status, err, sizeof err);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("fills child: status 0x%x; stderr: %s", status, err);
}

static void double_free_is_reported(void **state)
{
    (void)state;
    expect_abort("double-free", "double free");
}

static void overrun_into_the_guard_bytes_is_reported_at_free(void **state)
{
    (void)state;
    expect_abort("overrun", "buffer overrun: byte 0 after the end of a 40-byte block");
}

static void overrun_is_reported_at_realloc(void **state)
{
    (void)state;
    expect_abort("realloc-overrun", "realloc(");
}

static void interior_pointer_is_reported(void **state)
{
    (void)state;
    expect_abort("interior", "invalid pointer");
}

static void pointer_never_returned_by_malloc_is_reported(void **state)
{
    (void)state;
    expect_abort("never-allocated", "free(");
}

/* Not in a configure --disable-hardening build, which stores links in the
 * clear (cmocka's skip() prints "not ok # SKIP", which automake counts as
 * a failure). */
#if PYM_HARDENING
static void overwritten_free_list_link_is_reported(void **state)
{
    (void)state;
    expect_abort_in("use-after-free", 0, "heap corruption", "free block");
}
#endif

static void free_sized_with_the_requested_size_is_silent(void **state)
{
    (void)state;
    char err[1024];
    int status;
    run_child("free-sized-right", 1, &status, err, sizeof err);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || err[0] != '\0')
        fail_msg("free-sized-right child: status 0x%x; stderr: %s", status, err);
}

static void free_sized_with_a_wrong_size_is_reported(void **state)
{
    (void)state;
    expect_abort_in("free-sized-wrong", 1, "free_sized(", "wrong size: the block was allocated with 40 bytes (48-byte class)");
    expect_abort_in("free-sized-smaller", 1, "free_sized(", "allocated with 40 bytes");
    expect_abort_in("free-aligned-sized-wrong", 1, "free_aligned_sized(",
                    "allocated with 24 bytes (32-byte class)");
}

static void write_after_free_is_reported_at_the_next_allocation(void **state)
{
    (void)state;
    expect_abort_in("write-after-free", 1, "write after free: byte 3 of the freed 40-byte block",
                    "(48-byte class) was changed (0x78 instead of 0xdd)");
    expect_abort_in("write-after-free-last", 1, "write after free: byte 39 of the freed 40-byte block",
                    "malloc(40)");
}

static void untouched_freed_blocks_are_not_reported(void **state)
{
    (void)state;
    char err[1024];
    int status;
    run_child("no-write-after-free", 1, &status, err, sizeof err);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || err[0] != '\0')
        fail_msg("no-write-after-free child: status 0x%x; stderr: %s", status, err);
}

static void pools_that_change_class_are_not_reported(void **state)
{
    (void)state;
    char err[1024];
    int status;
    run_child("pools-change-class", 1, &status, err, sizeof err);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || err[0] != '\0')
        fail_msg("pools-change-class child: status 0x%x; stderr: %s", status, err);
}

static void double_free_names_the_requested_size_and_class(void **state)
{
    (void)state;
    expect_abort_in("double-free", 1, "double free of a 40-byte block", "(48-byte class)");
    expect_abort_in("double-free-100", 1, "double free of a 100-byte block", "(112-byte class)");
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child_case(argv[2]);
    self_path = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fresh_blocks_are_0xCD_freed_blocks_0xDD),
        cmocka_unit_test(double_free_is_reported),
        cmocka_unit_test(overrun_into_the_guard_bytes_is_reported_at_free),
        cmocka_unit_test(overrun_is_reported_at_realloc),
        cmocka_unit_test(interior_pointer_is_reported),
        cmocka_unit_test(pointer_never_returned_by_malloc_is_reported),
#if PYM_HARDENING
        cmocka_unit_test(overwritten_free_list_link_is_reported),
#endif
        cmocka_unit_test(free_sized_with_the_requested_size_is_silent),
        cmocka_unit_test(free_sized_with_a_wrong_size_is_reported),
        cmocka_unit_test(write_after_free_is_reported_at_the_next_allocation),
        cmocka_unit_test(untouched_freed_blocks_are_not_reported),
        cmocka_unit_test(pools_that_change_class_are_not_reported),
        cmocka_unit_test(double_free_names_the_requested_size_and_class),
    };
    return cmocka_run_group_tests_name("debug", tests, NULL, NULL);
}
