# stacked.mk -- tests/preload/stacked.sh: pymalloc preloaded beside mimalloc
# or tcmalloc (issue 12, item 7).  As the other preload tests: override
# builds without sanitizers.
EXTRA_DIST += tests/preload/stacked.sh
if PYM_OVERRIDE
if !PYM_SANITIZER
TESTS += tests/preload/stacked.sh
endif !PYM_SANITIZER
endif PYM_OVERRIDE
