#!/bin/sh
# Runs fork_signal_plain (built without pymalloc) with LD_PRELOAD=$PYM_LIB.
# The program bounds itself (deadline.h); timeout(1) is the last resort.
: "${PYM_LIB:?PYM_LIB must name libpymalloc.so (the harness exports it)}"
exec env LD_PRELOAD="$PYM_LIB" timeout -k 5 300 "${top_builddir:-.}/tests/forkstress/fork_signal_plain"
