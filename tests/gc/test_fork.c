/*
 * test_fork.c -- issue 12, item 18: the GC layer's registry lock does not
 * reach a child locked.  The test makes another thread hold the lock at the
 * moment of fork, deterministically: it interposes pym_calloc (the layer
 * calls it, through the GOT, to make a new collector domain while it holds
 * the lock), and the call blocks until the fork is done.  The child then
 * registers a new type, which takes the lock.  (It starts no thread: TSan
 * cannot follow threads started in the child of a threaded process.)  Without the layer's fork handler the child hangs; alarm()
 * bounds that and the parent sees SIGALRM.  Its own program: a new domain
 * is made only when no exited thread has left one to adopt.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "gc_test.h"

static _Atomic int block_calloc;
static sem_t inside, forked;

/* Interposes libpymalloc's pym_calloc (for everyone: calloc of the
 * override calls it too); blocks only a call from libpymalloc_gc. */
static int called_from_gc_layer(const void *caller)
{
    Dl_info info;
    return dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, "libpymalloc_gc");
}

void *pym_calloc(size_t count, size_t size)
{
    if (block_calloc && called_from_gc_layer(__builtin_return_address(0))) {
        block_calloc = 0;
        sem_post(&inside);
        while (sem_wait(&forked) != 0)
            ;
    }
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes))
        return NULL;
    void *p = pym_malloc(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

static void *thread_one_node(void *arg)
{
    (void)arg;
    pym_decref(node_new());
    return NULL;
}

static void registry_lock_held_by_another_thread_at_fork(void **state)
{
    (void)state;
    assert_int_equal(sem_init(&inside, 0, 0), 0);
    assert_int_equal(sem_init(&forked, 0, 0), 0);
    pym_decref(node_new());             /* this thread's domain exists */
    block_calloc = 1;
    pthread_t holder;
    assert_int_equal(pthread_create(&holder, NULL, thread_one_node, NULL), 0);
    while (sem_wait(&inside) != 0)
        ;
    /* holder is inside the registry lock, making its domain. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        static pym_type fresh = {.name = "fresh", .size = 8};
        void *x = pym_new(&fresh);
        if (!x)
            _exit(3);
        pym_decref(x);
        _exit(0);
    }
    sem_post(&forked);
    assert_int_equal(pthread_join(holder, NULL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_false(WIFSIGNALED(status));  /* SIGALRM: the child hung */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GC_TEST(registry_lock_held_by_another_thread_at_fork),
    };
    return cmocka_run_group_tests_name("gc fork", tests, NULL, NULL);
}
