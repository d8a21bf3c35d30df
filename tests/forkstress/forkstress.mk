# fork stress (tests/forkstress/): 4 threads allocating while the main
# thread forks 200 children (10 under TSan, whose fork is slow and whose
# runtime is not the thing under test).
check_PROGRAMS += tests/forkstress/test_forkstress
TESTS += tests/forkstress/test_forkstress
tests_forkstress_test_forkstress_SOURCES = tests/forkstress/test_forkstress.c
tests_forkstress_test_forkstress_CFLAGS = $(AM_CFLAGS) -pthread
tests_forkstress_test_forkstress_LDADD = libpymalloc.la -ldl
tests_forkstress_test_forkstress_LDFLAGS = -static -pthread
tests_forkstress_test_forkstress_CPPFLAGS = $(AM_CPPFLAGS) $(PYM_FORKSTRESS_FORKS) $(PYM_FORKSTRESS_SIZES)
if PYM_TSAN
PYM_FORKSTRESS_FORKS = -DFORKSTRESS_FORKS=10
else
PYM_FORKSTRESS_FORKS =
endif
if PYM_SANITIZER
PYM_FORKSTRESS_SIZES = -DFORKSTRESS_SMALL_ONLY=1
else
PYM_FORKSTRESS_SIZES =
endif

# Issue 14: fork never deadlocks.  fork_stdio: fork from 4 threads while 11
# use stdio (part 1); fork_signal: fork from a signal handler that
# interrupted malloc, free or fork (part 2).  Each runs its scenario in a
# child with a deadline (deadline.h), linked with the library, and again
# under LD_PRELOAD (the _plain programs do not link it) in override builds
# without a sanitizer (a sanitizer runtime cannot be preloaded after libc).
forkstress_deadline_sources = tests/forkstress/deadline.h tests/forkstress/fork_alloc.h \
	$(tests_tap_sources) tests/common/pattern.h \
	tests/common/sanitizer.h
check_PROGRAMS += tests/forkstress/fork_stdio tests/forkstress/fork_signal
TESTS += tests/forkstress/fork_stdio tests/forkstress/fork_signal
tests_forkstress_fork_stdio_SOURCES = tests/forkstress/fork_stdio.c $(forkstress_deadline_sources)
tests_forkstress_fork_stdio_CPPFLAGS = $(tests_cppflags)
tests_forkstress_fork_stdio_CFLAGS = $(AM_CFLAGS) -pthread -fno-builtin
tests_forkstress_fork_stdio_LDADD = libpymalloc.la
tests_forkstress_fork_stdio_LDFLAGS = -pthread
tests_forkstress_fork_signal_SOURCES = tests/forkstress/fork_signal.c $(forkstress_deadline_sources)
tests_forkstress_fork_signal_CPPFLAGS = $(tests_cppflags)
tests_forkstress_fork_signal_CFLAGS = $(AM_CFLAGS) -fno-builtin
tests_forkstress_fork_signal_LDADD = libpymalloc.la
EXTRA_DIST += tests/forkstress/fork_stdio_preload.sh tests/forkstress/fork_signal_preload.sh
if PYM_OVERRIDE
if !PYM_SANITIZER
check_PROGRAMS += tests/forkstress/fork_stdio_plain tests/forkstress/fork_signal_plain
TESTS += tests/forkstress/fork_stdio_preload.sh tests/forkstress/fork_signal_preload.sh
tests_forkstress_fork_stdio_plain_SOURCES = $(tests_forkstress_fork_stdio_SOURCES)
tests_forkstress_fork_stdio_plain_CPPFLAGS = $(tests_cppflags) -DFORK_TEST_PRELOAD
tests_forkstress_fork_stdio_plain_CFLAGS = $(AM_CFLAGS) -pthread -fno-builtin
tests_forkstress_fork_stdio_plain_LDFLAGS = -pthread
tests_forkstress_fork_signal_plain_SOURCES = $(tests_forkstress_fork_signal_SOURCES)
tests_forkstress_fork_signal_plain_CPPFLAGS = $(tests_cppflags) -DFORK_TEST_PRELOAD
tests_forkstress_fork_signal_plain_CFLAGS = $(AM_CFLAGS) -fno-builtin
endif
endif

# The child's handling of a lock held at the fork, made certain: a helper
# thread holds the arena lock (then the heap list lock and an abandoned
# heap's lock) while the main thread forks.  Static: it reads pymi_* internals.
check_PROGRAMS += tests/forkstress/fork_locks_held
TESTS += tests/forkstress/fork_locks_held
tests_forkstress_fork_locks_held_SOURCES = tests/forkstress/fork_locks_held.c $(forkstress_deadline_sources)
tests_forkstress_fork_locks_held_CPPFLAGS = $(tests_cppflags)
tests_forkstress_fork_locks_held_CFLAGS = $(AM_CFLAGS) -pthread
tests_forkstress_fork_locks_held_LDADD = libpymalloc.la -ldl
tests_forkstress_fork_locks_held_LDFLAGS = -static -pthread
