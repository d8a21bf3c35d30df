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
