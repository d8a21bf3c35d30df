# override_new.mk -- C++'s operator new (src/override_new.cc) inside
# libpymalloc.  The library is still linked by the C compiler driver, so
# that neither libpymalloc.so nor a C program linking libpymalloc.a needs
# libstdc++ or libgcc_s: the file refers to the C++ runtime weakly (see its
# top comment).  tests/cxx checks both halves of that.
libpymalloc_la_SOURCES += src/override_new.cc
libpymalloc_la_CXXFLAGS = $(AM_CXXFLAGS) -fvisibility=hidden -fno-stack-protector -pthread
libpymalloc_la_LINK = $(LIBTOOL) $(AM_V_lt) --tag=CC $(AM_LIBTOOLFLAGS) $(LIBTOOLFLAGS) \
	--mode=link $(CCLD) $(libpymalloc_la_CFLAGS) $(CFLAGS) $(libpymalloc_la_LDFLAGS) \
	$(LDFLAGS) -o $@
