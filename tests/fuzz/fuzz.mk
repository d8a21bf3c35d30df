# libFuzzer target over the pym_* API (tests/fuzz/).  Not part of make
# check: it needs clang with compiler-rt (Debian clang + libclang-rt-14-dev).
#   make fuzz-build         build tests/fuzz/fuzz_api
#   make fuzz-smoke         run it FUZZ_SMOKE_SECONDS (60) -- what CI runs
#   make fuzz               run it FUZZ_SECONDS (600)
# The library is compiled into the fuzzer from its sources, without
# src/override.c and with PYM_OVERRIDE undefined whatever this build was
# configured with: ASan owns malloc here.  Internal assertions are on
# (FUZZ_DEBUG_LEVEL, 1 = --enable-debug).  New inputs go to
# tests/fuzz/corpus-work/ in the build tree, crashes to tests/fuzz/artifacts/.
FUZZ_CC = clang
FUZZ_SECONDS = 600
FUZZ_SMOKE_SECONDS = 60
FUZZ_DEBUG_LEVEL = 1
FUZZ_FLAGS = -g -O1 -std=c11 -Wall -Wextra -pthread \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_OPTIONS = -max_len=4096 -timeout=20 -print_final_stats=1
FUZZ_LIBRARY_C_FILES = $(filter %.c,$(PYM_CORE_SOURCES))
EXTRA_DIST += tests/fuzz/fuzz_api.c tests/fuzz/corpus tests/fuzz/reproducers tests/fuzz/make-seeds.py

tests/fuzz/cfg/pym_build_config.h: pym_build_config.h
	@$(MKDIR_P) tests/fuzz/cfg
	$(AM_V_GEN)printf '%s\n' '#include "$(abs_top_builddir)/pym_build_config.h"' \
	  '#undef PYM_OVERRIDE' '#undef PYM_DEBUG_LEVEL' '#define PYM_DEBUG_LEVEL $(FUZZ_DEBUG_LEVEL)' > $@

tests/fuzz/fuzz_api: $(top_srcdir)/tests/fuzz/fuzz_api.c tests/fuzz/cfg/pym_build_config.h \
		$(addprefix $(top_srcdir)/,$(PYM_CORE_SOURCES)) $(top_srcdir)/include/pymalloc.h
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_FLAGS) -Itests/fuzz/cfg -I$(top_srcdir)/include -I$(top_srcdir)/src \
	  -o $@ $(top_srcdir)/tests/fuzz/fuzz_api.c $(addprefix $(top_srcdir)/,$(FUZZ_LIBRARY_C_FILES)) -ldl

fuzz-build: tests/fuzz/fuzz_api

# run-fuzz SECONDS: a fresh working corpus seeded from the source tree.
define pym_run_fuzz
	@$(MKDIR_P) tests/fuzz/corpus-work tests/fuzz/artifacts
	./tests/fuzz/fuzz_api $(FUZZ_OPTIONS) -max_total_time=$(1) \
	  -artifact_prefix=tests/fuzz/artifacts/ tests/fuzz/corpus-work $(top_srcdir)/tests/fuzz/corpus
endef

fuzz-smoke: tests/fuzz/fuzz_api
	$(call pym_run_fuzz,$(FUZZ_SMOKE_SECONDS))

fuzz: tests/fuzz/fuzz_api
	$(call pym_run_fuzz,$(FUZZ_SECONDS))

clean-local: clean-fuzz
clean-fuzz:
	-rm -rf tests/fuzz/fuzz_api tests/fuzz/cfg tests/fuzz/corpus-work

.PHONY: fuzz fuzz-build fuzz-smoke clean-fuzz
