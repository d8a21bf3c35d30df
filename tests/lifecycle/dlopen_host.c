/*
 * dlopen_host.c -- loads dlopen_module (which links libpymalloc) with
 * dlopen, from a program that does not link libpymalloc, while a second
 * thread that was started before the load waits to allocate through it.
 * See dlopen_module.c for what this proves.
 *
 * Last, the early thread, which has a heap, exits after the module (and
 * with it libpymalloc) is unloaded: if the unload left a thread-exit hook (a
 * pthread key destructor) pointing into unmapped code, its exit would crash.
 *
 * The module is found at $top_builddir/tests/lifecycle/.libs/ (the harness
 * exports top_builddir), or relative to the current directory when run by
 * hand from the build directory.
 */
#define _GNU_SOURCE 1
#include "tap.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MODULE_PATH "tests/lifecycle/.libs/dlopen_module.so"

typedef int (*churn_fn)(int count);

static pthread_barrier_t module_loaded, early_thread_done, module_unloaded;
static churn_fn module_churn;

/* Started before the module is loaded; allocates through it afterwards. */
static void *early_thread_run(void *arg)
{
    int *failures = arg;
    pthread_barrier_wait(&module_loaded);
    *failures = module_churn != NULL ? module_churn(5000) : -1;
    pthread_barrier_wait(&early_thread_done);
    pthread_barrier_wait(&module_unloaded);
    return NULL;
}

int main(void)
{
    tap_plan(5);
    char path[4096];
    const char *builddir = getenv("top_builddir");
    snprintf(path, sizeof path, "%s%s%s", builddir ? builddir : "", builddir ? "/" : "",
             MODULE_PATH);

    pthread_t early;
    int early_failures = -1;
    pthread_barrier_init(&module_loaded, NULL, 2);
    pthread_barrier_init(&early_thread_done, NULL, 2);
    pthread_barrier_init(&module_unloaded, NULL, 2);
    if (pthread_create(&early, NULL, early_thread_run, &early_failures) != 0)
        return 1;

    void *module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!tap_check(module != NULL, "dlopen of a module that links libpymalloc succeeds")) {
        tap_note(dlerror());
        pthread_barrier_wait(&module_loaded);
        pthread_barrier_wait(&early_thread_done);
        pthread_barrier_wait(&module_unloaded);
        pthread_join(early, NULL);
        return 1;
    }
    module_churn = (churn_fn)(uintptr_t)dlsym(module, "dlopen_module_churn");
    int (*free_constructor_blocks)(void) =
        (int (*)(void))(uintptr_t)dlsym(module, "dlopen_module_free_constructor_blocks");
    pthread_barrier_wait(&module_loaded);

    tap_check(free_constructor_blocks != NULL && free_constructor_blocks() == 0,
              "blocks allocated in the module's constructor are ours and intact");
    tap_check(module_churn != NULL && module_churn(5000) == 0,
              "the loading thread allocates through the module");
    pthread_barrier_wait(&early_thread_done);
    tap_check(dlclose(module) == 0, "the module unloads");
    pthread_barrier_wait(&module_unloaded);
    tap_check(pthread_join(early, NULL) == 0 && early_failures == 0,
              "a thread started before dlopen allocates through it, and exits after dlclose");
    pthread_barrier_destroy(&module_loaded);
    pthread_barrier_destroy(&early_thread_done);
    pthread_barrier_destroy(&module_unloaded);
    return tap_exit_status();
}
