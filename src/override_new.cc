/*
 * override_new.cc -- C++'s operator new, for LD_PRELOAD, shared and static
 * links: std::bad_alloc, std::set_new_handler and the nothrow forms as the
 * standard says ([new.delete.single], [new.delete.array]).
 *
 *   throwing forms   allocate; on failure call the installed new-handler and
 *                    retry, as long as there is one; with none, throw
 *                    std::bad_alloc (whatever the handler throws propagates)
 *   nothrow forms    the same, but return NULL where the throwing form would
 *                    throw (the handler is still called)
 *   aligned forms    the same through pym_memalign
 *
 * operator delete cannot throw and stays in override.c, in C.  Requests go
 * through pymi_new_alloc (override.c), so a static link that needs
 * operator new also pulls override.o: new and malloc are never split
 * between two allocators.
 *
 * No dependency on libstdc++.  A C program that preloads or links
 * libpymalloc must not get libstdc++ (or libgcc_s) as a needed library, so
 * the library is linked with the C linker and, in libpymalloc.so, every
 * symbol of the C++ runtime this file uses is a *weak* reference:
 * std::get_new_handler, std::__throw_bad_alloc and what a catch clause
 * needs (__gxx_personality_v0, __cxa_begin_catch, __cxa_end_catch).  In a C++ program libstdc++ is loaded and they resolve;
 * in a C program operator new is never called.  Should it be called anyway
 * (a C program calling _Znwm by hand), exhaustion prints one line and
 * aborts, as before this file existed.
 *
 * Exceptions are on (the default for C++), so the unwinder can pass through
 * these frames when the handler or std::__throw_bad_alloc throws.
 */
#ifdef HAVE_CONFIG_H
#include "pym_build_config.h"
#endif

#ifdef PYM_OVERRIDE

#include <cstddef>
#include <new>

#define PYM_NEW_PUBLIC __attribute__((visibility("default")))
#define PYM_NEW_HIDDEN __attribute__((visibility("hidden")))

extern "C" {
/* override.c: malloc's (or memalign's) fast path; NULL with errno on failure. */
PYM_NEW_HIDDEN void *pymi_new_alloc(std::size_t size, std::size_t alignment);
PYM_NEW_HIDDEN __attribute__((noreturn)) void pymi_fatal(const char *fmt, ...);

/* The C++ runtime: weakly in the shared library (see the top of the file).
 * The personality routine is referred to by the unwind tables the compiler
 * writes, and the catch clause's __cxa_begin_catch, __cxa_end_catch (and,
 * under clang++, the std::terminate of the handler around them) by calls
 * the compiler declares itself, not by any declaration it would honour,
 * hence the directives to the assembler.  libtool compiles the shared
 * library's objects with -DPIC and the archive's without: in libpymalloc.a
 * the references are strong, because a weak one does not pull a member out
 * of libstdc++.a, and a fully static C++ program would find no
 * std::__throw_bad_alloc.  Only a C++ program pulls this object out of the
 * archive. */
#ifdef PIC
#define PYM_CXXRT_REF __attribute__((weak))
#define PYM_CXXRT_PRESENT(fn) (fn != nullptr)
__asm__(".weak __gxx_personality_v0\n\t.weak __cxa_begin_catch\n\t.weak __cxa_end_catch\n\t"
        ".weak _ZSt9terminatev");
#else
#define PYM_CXXRT_PRESENT(fn) true
#define PYM_CXXRT_REF
#endif
}

namespace std {
PYM_CXXRT_REF new_handler get_new_handler() noexcept;
PYM_CXXRT_REF __attribute__((noreturn)) void __throw_bad_alloc();
}

namespace {

std::new_handler current_handler() noexcept
{
    return PYM_CXXRT_PRESENT(std::get_new_handler) ? std::get_new_handler() : nullptr;
}

/* The standard's loop: no handler means bad_alloc; a handler either makes
 * memory available, installs another handler or none, or throws. */
__attribute__((noinline, cold)) void *new_slow(std::size_t size, std::size_t alignment)
{
    for (;;) {
        std::new_handler handler = current_handler();
        if (handler == nullptr) {
            if (PYM_CXXRT_PRESENT(std::__throw_bad_alloc))
                std::__throw_bad_alloc();
            pymi_fatal("out of memory in operator new (%zu bytes), and no C++ runtime "
                       "to throw std::bad_alloc", size);
        }
        handler();
        void *p = pymi_new_alloc(size, alignment);
        if (p != nullptr)
            return p;
    }
}

/* nothrow: what the throwing form does, NULL instead of an exception. */
__attribute__((noinline, cold)) void *new_nothrow_slow(std::size_t size, std::size_t alignment) noexcept
{
    if (current_handler() == nullptr)
        return nullptr;   // what new_slow would throw: no need to throw it
    try {
        return new_slow(size, alignment);
    } catch (...) {
        return nullptr;
    }
}

inline void *new_throwing(std::size_t size, std::size_t alignment)
{
    void *p = pymi_new_alloc(size, alignment);
    if (__builtin_expect(p != nullptr, 1))
        return p;
    return new_slow(size, alignment);
}

inline void *new_nothrow(std::size_t size, std::size_t alignment) noexcept
{
    void *p = pymi_new_alloc(size, alignment);
    if (__builtin_expect(p != nullptr, 1))
        return p;
    return new_nothrow_slow(size, alignment);
}

}  // namespace

PYM_NEW_PUBLIC void *operator new(std::size_t size)
{
    return new_throwing(size, 0);
}

PYM_NEW_PUBLIC void *operator new[](std::size_t size)
{
    return new_throwing(size, 0);
}

PYM_NEW_PUBLIC void *operator new(std::size_t size, const std::nothrow_t &) noexcept
{
    return new_nothrow(size, 0);
}

PYM_NEW_PUBLIC void *operator new[](std::size_t size, const std::nothrow_t &) noexcept
{
    return new_nothrow(size, 0);
}

PYM_NEW_PUBLIC void *operator new(std::size_t size, std::align_val_t alignment)
{
    return new_throwing(size, static_cast<std::size_t>(alignment));
}

PYM_NEW_PUBLIC void *operator new[](std::size_t size, std::align_val_t alignment)
{
    return new_throwing(size, static_cast<std::size_t>(alignment));
}

PYM_NEW_PUBLIC void *operator new(std::size_t size, std::align_val_t alignment,
                                  const std::nothrow_t &) noexcept
{
    return new_nothrow(size, static_cast<std::size_t>(alignment));
}

PYM_NEW_PUBLIC void *operator new[](std::size_t size, std::align_val_t alignment,
                                    const std::nothrow_t &) noexcept
{
    return new_nothrow(size, static_cast<std::size_t>(alignment));
}

#endif /* PYM_OVERRIDE */
