# Real programs under LD_PRELOAD, and the sanitizer/checker builds.
# None of these is part of `make check`; .ci/run calls them.
#
#   make check-programs   CPython's regression tests, sqlite3, git, perl, g++,
#                         xz, zstd, sort, redis: with and without the preload,
#                         compared (tests/programs/run-programs.sh).
#   make check-asan       configure + build + make check in sub/asan:
#                         --disable-override --enable-sanitizer=address,undefined
#   make check-tsan       the same in sub/tsan with --enable-sanitizer=thread
#   make check-valgrind   this build's unit and API test programs under
#                         valgrind memcheck, pymalloc active (PYMALLOC_DISABLE=0)
EXTRA_DIST += tests/programs/run-programs.sh

check-programs: libpymalloc.la
	$(SHELL) $(top_srcdir)/tests/programs/run-programs.sh \
	  '$(abs_top_builddir)/.libs/libpymalloc.so' '$(abs_top_builddir)/tests/programs/work'

# pym_sanitizer_check NAME CONFIGURE-ARGS: a sibling build under sub/NAME.
define pym_sanitizer_check
	@$(MKDIR_P) sub/$(1)
	cd sub/$(1) && { test -f Makefile || '$(abs_top_srcdir)/configure' --quiet $(2); } \
	  && $(MAKE) && $(MAKE) check
endef

check-asan:
	$(call pym_sanitizer_check,asan,--disable-override --enable-debug --enable-sanitizer=address$(comma)undefined)

check-tsan:
	$(call pym_sanitizer_check,tsan,--disable-override --enable-sanitizer=thread)

comma := ,

# The test programs of this build that exist (unit tests; API tests once
# tests/api is in), each under memcheck.  pymalloc steps aside under
# valgrind unless PYMALLOC_DISABLE=0.  The test programs link the library
# statically; somalloc=nouserintercepts stops valgrind from replacing the
# malloc defined in the executable, so the blocks really come from our pools.
# Exit 99 means memcheck found an error; any other failure is the test's.  Memcheck cannot see inside a pool
# (no client requests yet): what it checks is that the allocator itself
# reads no uninitialised or unmapped memory.
PYM_VALGRIND = valgrind --error-exitcode=99 --leak-check=no --track-origins=yes -q \
	--soname-synonyms=somalloc=nouserintercepts
check-valgrind: $(check_PROGRAMS)
	@failed=0; for t in $(filter tests/unit/% tests/api/%,$(check_PROGRAMS)); do \
	  if PYMALLOC_DISABLE=0 CMOCKA_MESSAGE_OUTPUT=TAP $(PYM_VALGRIND) ./$$t > $$t.valgrind.log 2>&1; \
	  then echo "ok - $$t"; \
	  elif test $$? -eq 99; then echo "not ok - $$t: memcheck error (see $$t.valgrind.log)"; failed=$$((failed + 1)); \
	  else echo "not ok - $$t: test failed under valgrind (see $$t.valgrind.log)"; failed=$$((failed + 1)); fi; \
	done; test $$failed -eq 0

.PHONY: check-programs check-asan check-tsan check-valgrind
