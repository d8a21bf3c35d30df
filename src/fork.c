/*
 * fork.c -- fork never waits for us, and the child keeps only state it can
 * trust (docs/design.md, "fork").
 *
 * No lock of ours is held across fork.  The prepare handler only notes
 * whether the process is single-threaded; there is no parent handler.
 * Holding our locks across fork deadlocks (issue 14): glibc's fork takes
 * the stdio list lock after the prepare handlers ran, the list lock's
 * holder (fflush(NULL)) waits for a FILE lock, and that FILE lock's holder
 * (getline) waits inside malloc for the lock the forking thread holds.  A
 * prepare handler that locks also deadlocks against itself when a signal
 * handler forks while its thread is inside fork, malloc or free.
 *
 * So every lock of ours is a leaf: its holder never waits for anything but
 * the kernel (mmap, madvise) while holding it, and fork never waits for it.
 *
 * The child, multi-threaded parent: the memory is a snapshot taken while the
 * other threads ran; in it each other thread has done a prefix of its work
 * (a write the fork's copy has not caught is not in the child, and the
 * kernel stops a thread that writes a page already copied until the copy is
 * done).  For each lock the child handler asks "was it held?" (trylock,
 * alone in the process):
 *   - free: no thread was inside a critical section of that lock, and every
 *     critical section that ended is wholly in the snapshot (its unlock was
 *     a release).  What the lock protects is consistent; keep it.
 *   - held: its holder did not come along (the forking thread is in fork,
 *     not in our code -- except from a signal handler, below), and what the
 *     lock protects may be half-changed.  The lock is re-initialised and
 *     that layer starts over with fresh, empty structures
 *     (pymi_arena_fork_child, pymi_heap_fork_child); what the old ones held
 *     is orphaned: its blocks stay valid (a free of them is accepted) but
 *     are never handed out again.
 * The heaps of threads that did not come along are orphaned whatever the
 * locks said (their owners may have been half-way through a fast path).
 * Structures changed without a lock (remote free lists, reclaim stacks,
 * all_heaps) are changed by single atomic steps, so any prefix is a
 * consistent state; at worst a block or pool is never reused (a leak in
 * the child, never a corruption).
 *
 * The child, single-threaded parent (glibc's __libc_single_threaded): no
 * other thread can hold a lock, and the only code of ours that can be half
 * done is the forking thread's own, interrupted by the signal handler that
 * forks.  Like glibc, which skips its malloc locks in that case, we do
 * nothing: the child is the parent's exact copy, and the interrupted call
 * finishes when the handler returns, in the parent and in the child alike.
 *
 * Fork from a signal handler in a multi-threaded process: the parent never
 * deadlocks in our code (there is no lock to wait for).  If the handler
 * interrupted our own code on the forking thread while it held a lock, the
 * child treats that lock like one held by a vanished thread: the handler
 * may malloc, free and _exit in the child, but the interrupted call must
 * not be resumed there (the child of a multi-threaded fork may only call
 * async-signal-safe functions anyway; glibc deadlocks in the parent here).
 *
 * Registered last in initialisation (pymi_fork_init), so the child handler
 * only ever runs in a process whose state is fully set up.
 */
#include "internal.h"

#include <stdatomic.h>
#include <sys/single_threaded.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "fork_single_threaded is written in signal handlers");

/* Written by every prepare handler, read by the child handler.  Once a
 * process has had a second thread glibc never sets __libc_single_threaded
 * back (not even in a fork child), so concurrent forks, and a nested fork
 * from a signal handler, all write the value the others wrote.  Atomic
 * (lock-free, so usable in a signal handler) only because several threads
 * may write it at once. */
static atomic_int fork_single_threaded;

static void fork_prepare(void)
{
    atomic_store_explicit(&fork_single_threaded, __libc_single_threaded, memory_order_relaxed);
}

static void fork_child(void)
{
    if (atomic_load_explicit(&fork_single_threaded, memory_order_relaxed))
        return;
    pymi_init_fork_child();
    pymi_heap_fork_child(pymi_fork_reset_lock(&pymi_heaps_lock));
    pymi_arena_fork_child(pymi_fork_reset_lock(&pymi_arena_lock));
    pymi_fwd_fork_child(pymi_fork_reset_lock(&pymi_fwd_shared_lock));
}

int pymi_fork_init(void)
{
    /* pthread_atfork may allocate: that allocation is forwarded to libc
     * because initialisation is still running on this thread. */
    return pthread_atfork(fork_prepare, NULL, fork_child) == 0;
}
