# Out-of-memory tests (tests/oom/): RLIMIT_AS of 1 GiB, 256 MiB and 64 MiB.
# Not under sanitizers: ASan and TSan reserve terabytes of shadow address
# space, so no address-space limit can hold them.  Linked with -static (the
# library only) so that the test re-executes itself, not a libtool wrapper.
if !PYM_SANITIZER
check_PROGRAMS += tests/oom/test_oom
TESTS += tests/oom/test_oom
tests_oom_test_oom_SOURCES = tests/oom/test_oom.c
tests_oom_test_oom_LDADD = libpymalloc.la -ldl
tests_oom_test_oom_LDFLAGS = -static -pthread
endif
