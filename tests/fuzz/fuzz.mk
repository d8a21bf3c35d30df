# libFuzzer targets over the pym_* API (tests/fuzz/).  Not part of make
# check: they need clang with compiler-rt (Debian clang + libclang-rt-14-dev).
#   tests/fuzz/fuzz_api        the release layout
#   tests/fuzz/fuzz_api_debug  the same in debug mode (PYMALLOC_DEBUG=1:
#                              fill patterns, guard bytes, checks at free)
#   make fuzz-build         build both
#   make fuzz-smoke         run each FUZZ_SMOKE_SECONDS (30) -- what CI runs
#   make fuzz               run each FUZZ_SECONDS (600)
# make check replays tests/fuzz/reproducers and tests/fuzz/corpus through
# the target without libFuzzer (tests/fuzz/replay, built with the ordinary
# compiler and linked with libpymalloc), in both modes.
# The library is compiled into the fuzzer from its sources, without
# src/override.c and with PYM_OVERRIDE undefined whatever this build was
# configured with: ASan owns malloc here.  Internal assertions are on
# (FUZZ_DEBUG_LEVEL, 1 = --enable-debug).  New inputs go to
# tests/fuzz/corpus-work-TARGET/ in the build tree, crashes to
# tests/fuzz/artifacts/TARGET-*.
FUZZ_CC = clang
FUZZ_SECONDS = 600
FUZZ_SMOKE_SECONDS = 30
FUZZ_DEBUG_LEVEL = 1
FUZZ_FLAGS = -g -O1 -std=c11 -Wall -Wextra -pthread \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_OPTIONS = -max_len=4096 -timeout=20 -print_final_stats=1
FUZZ_LIBRARY_C_FILES = $(filter %.c,$(PYM_CORE_SOURCES))
EXTRA_DIST += tests/fuzz/fuzz_api.c tests/fuzz/corpus tests/fuzz/reproducers tests/fuzz/make-seeds.py

# --- make check: the reproducers and seeds, replayed without libFuzzer -------
check_PROGRAMS += tests/fuzz/replay
TESTS += tests/fuzz/replay
tests_fuzz_replay_SOURCES = tests/fuzz/replay_main.c tests/fuzz/fuzz_api.c \
	$(tests_tap_sources) $(tests_child_sources)
tests_fuzz_replay_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/common
tests_fuzz_replay_CFLAGS = $(AM_CFLAGS) -pthread
tests_fuzz_replay_LDADD = libpymalloc.la
tests_fuzz_replay_LDFLAGS = -pthread

tests/fuzz/cfg/pym_build_config.h: pym_build_config.h
	@$(MKDIR_P) tests/fuzz/cfg
	$(AM_V_GEN)printf '%s\n' '#include "$(abs_top_builddir)/pym_build_config.h"' \
	  '#undef PYM_OVERRIDE' '#undef PYM_DEBUG_LEVEL' '#define PYM_DEBUG_LEVEL $(FUZZ_DEBUG_LEVEL)' > $@

tests/fuzz/fuzz_api: $(top_srcdir)/tests/fuzz/fuzz_api.c tests/fuzz/cfg/pym_build_config.h \
		$(addprefix $(top_srcdir)/,$(PYM_CORE_SOURCES)) $(top_srcdir)/include/pymalloc.h
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_FLAGS) -Itests/fuzz/cfg -I$(top_srcdir)/include -I$(top_srcdir)/src \
	  -o $@ $(top_srcdir)/tests/fuzz/fuzz_api.c $(addprefix $(top_srcdir)/,$(FUZZ_LIBRARY_C_FILES)) -ldl

tests/fuzz/fuzz_api_debug: $(top_srcdir)/tests/fuzz/fuzz_api.c tests/fuzz/cfg/pym_build_config.h \
		$(addprefix $(top_srcdir)/,$(PYM_CORE_SOURCES)) $(top_srcdir)/include/pymalloc.h
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_FLAGS) -DFUZZ_PYMALLOC_DEBUG -Itests/fuzz/cfg -I$(top_srcdir)/include \
	  -I$(top_srcdir)/src -o $@ $(top_srcdir)/tests/fuzz/fuzz_api.c \
	  $(addprefix $(top_srcdir)/,$(FUZZ_LIBRARY_C_FILES)) -ldl

fuzz-build: tests/fuzz/fuzz_api tests/fuzz/fuzz_api_debug

# pym_run_fuzz TARGET SECONDS: a working corpus per target, seeded from the
# source tree; crashes go to tests/fuzz/artifacts/TARGET-*.
define pym_run_fuzz
	@$(MKDIR_P) tests/fuzz/corpus-work-$(1) tests/fuzz/artifacts
	./tests/fuzz/$(1) $(FUZZ_OPTIONS) -max_total_time=$(2) \
	  -artifact_prefix=tests/fuzz/artifacts/$(1)- tests/fuzz/corpus-work-$(1) $(top_srcdir)/tests/fuzz/corpus
endef

fuzz-smoke: tests/fuzz/fuzz_api tests/fuzz/fuzz_api_debug
	$(call pym_run_fuzz,fuzz_api,$(FUZZ_SMOKE_SECONDS))
	$(call pym_run_fuzz,fuzz_api_debug,$(FUZZ_SMOKE_SECONDS))

fuzz: tests/fuzz/fuzz_api tests/fuzz/fuzz_api_debug
	$(call pym_run_fuzz,fuzz_api,$(FUZZ_SECONDS))
	$(call pym_run_fuzz,fuzz_api_debug,$(FUZZ_SECONDS))

clean-local: clean-fuzz
clean-fuzz:
	-rm -rf tests/fuzz/fuzz_api tests/fuzz/fuzz_api_debug tests/fuzz/cfg tests/fuzz/corpus-work*

.PHONY: fuzz fuzz-build fuzz-smoke clean-fuzz
