# cxx.mk -- C++ operator new (src/override_new.cc): std::bad_alloc, the
# new-handler and the nothrow forms, in every way of using pymalloc.
#   new_static   linked with libpymalloc.a (system libraries shared)
#   new_allstatic  fully static, libstdc++.a and libc.a included
#   new_shared   linked with libpymalloc.so
#   new_plain    linked with nothing of ours; run plainly and under
#                LD_PRELOAD by new_preload.sh
# Only with override (otherwise new is libstdc++'s, nothing to test) and
# without sanitizers (whose runtimes own operator new).
if PYM_OVERRIDE
if !PYM_SANITIZER
check_PROGRAMS += tests/cxx/new_static tests/cxx/new_allstatic tests/cxx/new_shared \
	tests/cxx/new_plain
tests_cxx_new_sources = tests/cxx/new_semantics.cc $(tests_tap_sources)
tests_cxx_new_static_SOURCES = $(tests_cxx_new_sources)
tests_cxx_new_static_CPPFLAGS = $(tests_cppflags) -DEXPECT_OURS
tests_cxx_new_static_LDADD = libpymalloc.la -ldl
tests_cxx_new_static_LDFLAGS = -static
tests_cxx_new_allstatic_SOURCES = $(tests_cxx_new_sources)
tests_cxx_new_allstatic_CPPFLAGS = $(tests_cppflags) -DEXPECT_OURS
tests_cxx_new_allstatic_LDADD = libpymalloc.la
tests_cxx_new_allstatic_LDFLAGS = -all-static -pthread
tests_cxx_new_shared_SOURCES = $(tests_cxx_new_sources)
tests_cxx_new_shared_CPPFLAGS = $(tests_cppflags) -DEXPECT_OURS
tests_cxx_new_shared_LDADD = libpymalloc.la -ldl
tests_cxx_new_plain_SOURCES = $(tests_cxx_new_sources)
tests_cxx_new_plain_CPPFLAGS = $(tests_cppflags)
tests_cxx_new_plain_LDADD = -ldl
# EXPECT_OURS: also check that new is pymalloc's.
TESTS += tests/cxx/new_static tests/cxx/new_allstatic tests/cxx/new_shared \
	tests/cxx/new_preload.sh
endif !PYM_SANITIZER
endif PYM_OVERRIDE
EXTRA_DIST += tests/cxx/new_preload.sh
