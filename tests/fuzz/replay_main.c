/*
 * replay_main.c -- `make check` without libFuzzer: feeds every file of
 * tests/fuzz/reproducers and tests/fuzz/corpus to fuzz_api.c's
 * LLVMFuzzerTestOneInput, built with the ordinary compiler and linked with
 * libpymalloc, once in the release layout and once in debug mode
 * (PYMALLOC_DEBUG=1, the layout of the second fuzz target, fuzz_api_debug).
 *
 * Options are read when the library starts, so each (file, mode) runs in a
 * child that re-executes this program as `replay --one FILE` with the mode
 * in its environment (tests/common/child.c: deadline, stderr captured).
 * A crash, an abort of the target's checks, a pymalloc diagnostic or a hang
 * fails that file's line.  Prints TAP.
 */
#define _GNU_SOURCE 1
#include "child.h"
#include "pymalloc.h"
#include "tap.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPLAY_TIMEOUT_MS 60000
#define MAX_INPUTS 256

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_one(const char *path, int argc, char **argv)
{
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        return 2;
    static uint8_t data[1 << 20];
    size_t size = fread(data, 1, sizeof data, in);
    fclose(in);
    const char *want = getenv("PYMALLOC_DEBUG");
    if (pym_option_get(PYM_OPTION_DEBUG) != (want != NULL && strcmp(want, "1") == 0))
        return 3;   /* not the mode asked for */
    LLVMFuzzerInitialize(&argc, &argv);
    LLVMFuzzerTestOneInput(data, size);
    return 0;
}

struct job {
    const char *self;
    const char *path;
    int debug;
};

/* In the child: the same program, one input, the mode in the environment. */
static int exec_one(void *arg)
{
    const struct job *job = arg;
    setenv("PYMALLOC_DEBUG", job->debug ? "1" : "0", 1);
    execl(job->self, job->self, "--one", job->path, (char *)NULL);
    return 127;
}

static char *inputs[MAX_INPUTS];
static size_t input_count;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    size_t first = input_count;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && input_count < MAX_INPUTS) {
        if (e->d_name[0] == '.')
            continue;
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, e->d_name) > 0)
            inputs[input_count++] = path;
    }
    closedir(d);
    qsort(inputs + first, input_count - first, sizeof inputs[0], by_name);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--one") == 0)
        return replay_one(argv[2], argc, argv);
    const char *top = getenv("top_srcdir");
    if (top == NULL)
        top = ".";
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/reproducers", top);
    collect(dir);
    size_t reproducers = input_count;
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus", top);
    collect(dir);
    if (reproducers == 0) {
        tap_plan(1);
        tap_check(0, "tests/fuzz/reproducers holds inputs (is top_srcdir set?)");
        return tap_exit_status();
    }
    static char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    tap_plan((unsigned)(2 * input_count));
    for (size_t i = 0; i < input_count; i++) {
        for (int debug = 0; debug <= 1; debug++) {
            struct job job = { self, inputs[i], debug };
            child_result_t r;
            int ok = child_run(exec_one, &job, REPLAY_TIMEOUT_MS, &r) == 0 && child_exited_with(&r, 0);
            char name[600];
            const char *shown = strstr(inputs[i], "tests/fuzz/");
            snprintf(name, sizeof name, "%s replays cleanly%s", shown != NULL ? shown : inputs[i],
                     debug ? " in debug mode (PYMALLOC_DEBUG=1)" : "");
            tap_check(ok, name);
            if (!ok) {
                char note[300];
                snprintf(note, sizeof note, "%s; stderr: %.200s",
                         r.timed_out ? "timed out" : "failed", r.stderr_text);
                tap_note(note);
            }
        }
    }
    return tap_exit_status();
}
