/*
 * new_semantics.cc -- operator new as the C++ standard says it behaves
 * ([new.delete.single], [new.delete.array], [new.handler]): an impossible
 * request throws std::bad_alloc; a new-handler is called, and the request
 * retried, until it makes memory available or is removed; the nothrow forms
 * return NULL instead of throwing; the same for arrays and align_val_t.
 *
 * Built three ways (tests/cxx/cxx.mk): linked with libpymalloc.a, linked
 * with libpymalloc.so, and linked with nothing of ours -- that one is run
 * plainly (glibc and libstdc++'s own operator new: the reference) and under
 * LD_PRELOAD (tests/cxx/new_preload.sh).  Built with EXPECT_OURS, or run
 * with the argument "ours", the program also checks that new is
 * pymalloc's (pym_owns found by dlsym).
 */
#include "tap.h"
#ifdef EXPECT_OURS
#include "pymalloc.h"
#endif

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <new>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

// Sizes no machine can give: through a volatile, so that the compiler
// cannot reason about (or drop) the calls.
volatile std::size_t huge = std::size_t(1) << 46;   // 64 TiB
volatile std::size_t huger = SIZE_MAX / 2;
void *volatile sink;

int handler_calls;
void handler_gives_up_after_three()
{
    if (++handler_calls == 3)
        std::set_new_handler(nullptr);
}
void handler_throws_bad_alloc()
{
    handler_calls++;
    throw std::bad_alloc();
}
struct custom_error {};
void handler_throws_custom()
{
    handler_calls++;
    throw custom_error();
}

template <typename F> bool throws_bad_alloc(F f)
{
    try {
        sink = f();
    } catch (const std::bad_alloc &) {
        return true;
    } catch (...) {
        return false;
    }
    ::operator delete(sink);
    return false;
}

bool plain_new_throws()
{
    bool ok = throws_bad_alloc([] { return static_cast<void *>(new char[huge]); });
    ok &= throws_bad_alloc([] { return ::operator new(huge); });
    ok &= throws_bad_alloc([] { return ::operator new(huger); });
    ok &= throws_bad_alloc([] { return ::operator new[](huge); });
    return ok;
}

bool aligned_new_throws()
{
    bool ok = throws_bad_alloc([] { return ::operator new(huge, std::align_val_t(64)); });
    ok &= throws_bad_alloc([] { return ::operator new[](huge, std::align_val_t(4096)); });
    return ok;
}

bool handler_is_called_until_removed()
{
    handler_calls = 0;
    std::set_new_handler(handler_gives_up_after_three);
    bool ok = throws_bad_alloc([] { return ::operator new(huge); });
    ok &= handler_calls == 3;
    handler_calls = 0;
    std::set_new_handler(handler_gives_up_after_three);
    ok &= throws_bad_alloc([] { return ::operator new[](huge, std::align_val_t(64)); });
    ok &= handler_calls == 3;
    std::set_new_handler(nullptr);
    return ok;
}

bool handler_exception_propagates()
{
    handler_calls = 0;
    std::set_new_handler(handler_throws_custom);
    bool ok = false;
    try {
        sink = ::operator new(huge);
    } catch (const custom_error &) {
        ok = true;
    } catch (...) {
    }
    std::set_new_handler(nullptr);
    return ok && handler_calls == 1;
}

bool nothrow_returns_null()
{
    bool ok = ::operator new(huge, std::nothrow) == nullptr;
    ok &= ::operator new[](huge, std::nothrow) == nullptr;
    ok &= ::operator new(huge, std::align_val_t(64), std::nothrow) == nullptr;
    ok &= ::operator new[](huger, std::align_val_t(256), std::nothrow) == nullptr;
    ok &= new (std::nothrow) char[huge] == nullptr;
    return ok;
}

bool nothrow_calls_the_handler()
{
    handler_calls = 0;
    std::set_new_handler(handler_gives_up_after_three);
    bool ok = ::operator new(huge, std::nothrow) == nullptr && handler_calls == 3;
    handler_calls = 0;
    std::set_new_handler(handler_throws_bad_alloc);
    ok &= ::operator new[](huge, std::align_val_t(64), std::nothrow) == nullptr && handler_calls == 1;
    std::set_new_handler(nullptr);
    return ok;
}

// A handler that makes memory available: under an address-space limit, a
// reserve is held; the request does not fit beside it, the handler frees
// it, and the retry succeeds.  In a child: the limit is for the process.
void *reserve;
void handler_frees_reserve()
{
    handler_calls++;
    std::free(reserve);
    reserve = nullptr;
}

bool handler_success_child()
{
    long pages = 0;
    FILE *statm = std::fopen("/proc/self/statm", "r");
    if (statm == nullptr || std::fscanf(statm, "%ld", &pages) != 1)
        return false;
    std::fclose(statm);
    const std::size_t mib = 1 << 20;
    rlimit limit;
    limit.rlim_cur = limit.rlim_max = static_cast<rlim_t>(pages) * 4096 + 64 * mib;
    if (setrlimit(RLIMIT_AS, &limit) != 0)
        return false;
    reserve = std::malloc(40 * mib);
    if (reserve == nullptr)
        return false;
    std::memset(reserve, 1, 40 * mib);
    handler_calls = 0;
    std::set_new_handler(handler_frees_reserve);
    char *big = new char[40 * mib];
    big[40 * mib - 1] = 1;
    bool ok = handler_calls == 1 && reserve == nullptr;
    delete[] big;
    std::set_new_handler(nullptr);
    return ok;
}

bool handler_success()
{
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        bool ok = false;
        try {
            ok = handler_success_child();
        } catch (...) {
        }
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct alignas(128) wide {
    unsigned char bytes[128];
};

bool ordinary_requests_work(bool ours)
{
    using owns_fn = int (*)(const void *);
#ifdef EXPECT_OURS
    owns_fn owns = pym_owns;   // linked: a static executable exports nothing to dlsym
#else
    owns_fn owns = reinterpret_cast<owns_fn>(dlsym(RTLD_DEFAULT, "pym_owns"));
#endif
    bool ok = !ours || owns != nullptr;
    for (std::size_t size = 1; size <= 256 && ok; size += 15) {
        char *p = new char[size];
        std::memset(p, 'x', size);
        ok &= !ours || owns(p);
        delete[] p;
        void *q = ::operator new(size, std::nothrow);
        ok &= q != nullptr && (!ours || owns(q));
        ::operator delete(q, std::nothrow);
    }
    wide *w = new wide();
    ok &= (reinterpret_cast<std::uintptr_t>(w) & 127) == 0;
    delete w;
    wide *n = new (std::nothrow) wide[3];
    ok &= n != nullptr && (reinterpret_cast<std::uintptr_t>(n) & 127) == 0;
    delete[] n;
    return ok;
}

}  // namespace

int main(int argc, char **argv)
{
#ifdef EXPECT_OURS
    (void)argc;
    (void)argv;
    bool ours = true;
#else
    bool ours = argc > 1 && std::strcmp(argv[1], "ours") == 0;
#endif
    tap_plan(8);
    tap_check(ordinary_requests_work(ours),
              ours ? "new and delete work and are pymalloc's" : "new and delete work");
    tap_check(plain_new_throws(), "an impossible new / new[] throws std::bad_alloc");
    tap_check(aligned_new_throws(), "an impossible aligned new throws std::bad_alloc");
    tap_check(handler_is_called_until_removed(),
              "the new-handler is called and the request retried until the handler is removed");
    tap_check(handler_exception_propagates(), "an exception thrown by the new-handler propagates");
    tap_check(handler_success(), "a new-handler that frees memory makes the retry succeed");
    tap_check(nothrow_returns_null(), "nothrow new of an impossible size returns NULL");
    tap_check(nothrow_calls_the_handler(),
              "nothrow new calls the new-handler too, and returns NULL when it gives up or throws");
    return tap_exit_status();
}
