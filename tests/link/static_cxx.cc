/*
 * static_cxx.cc -- a C++ program that links the static archive
 * libpymalloc.a gets pymalloc behind new and delete: libstdc++'s operator
 * new calls malloc, which resolves to the one linked into the executable.
 * Objects of <= 256 bytes land in our pools, larger and over-aligned ones
 * are forwarded, and the containers built on them work.  In a
 * --disable-override build those checks are skipped.
 */
#ifdef HAVE_CONFIG_H
#include "pym_build_config.h"   // PYM_OVERRIDE
#endif
#include "linked_library.h"
#include "pymalloc.h"
#include "tap.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

struct alignas(64) cache_line {
    unsigned char bytes[64];
};

[[maybe_unused]]   // --disable-override builds skip the checks
bool new_and_delete_are_ours()
{
    bool ok = true;
    int *one = new int(42);
    ok &= pym_owns(one) && *one == 42;
    delete one;
    for (std::size_t size = 1; size <= 256; size++) {
        char *array = new char[size];
        ok &= pym_owns(array) != 0;
        array[size - 1] = 'x';
        delete[] array;
    }
    char *large = new char[5000];
    ok &= !pym_owns(large);
    delete[] large;
    cache_line *aligned = new cache_line();
    ok &= (reinterpret_cast<std::uintptr_t>(aligned) & 63) == 0;
    delete aligned;
    return ok;
}

[[maybe_unused]] bool containers_work_on_our_blocks()
{
    std::map<int, std::string> names;
    for (int i = 0; i < 5000; i++)
        names[i] = "name-" + std::to_string(i);
    bool ok = names.size() == 5000 && names[4321] == "name-4321";
    ok &= pym_owns(&*names.begin()) != 0;   // a map node: a small block
    auto shared = std::make_shared<std::vector<int>>(10, 7);
    ok &= pym_owns(shared.get()) && pym_owns(shared->data()) && (*shared)[9] == 7;
    std::vector<std::unique_ptr<std::string>> owned;
    for (int i = 0; i < 1000; i++)
        owned.push_back(std::make_unique<std::string>(100, static_cast<char>('a' + i % 26)));
    for (int i = 0; i < 1000; i++)
        ok &= (*owned[i])[99] == static_cast<char>('a' + i % 26);
    return ok;
}

}  // namespace

int main()
{
    tap_plan(3);
    tap_check(!shared_pymalloc_is_loaded(), "libpymalloc.so is not loaded: the archive was linked");
#ifdef PYM_OVERRIDE
    tap_check(new_and_delete_are_ours(), "new and delete are pymalloc's and work");
    tap_check(containers_work_on_our_blocks(), "standard containers live in pymalloc's pools");
#else
    tap_skip("new and delete are pymalloc's and work", "--disable-override build");
    tap_skip("standard containers live in pymalloc's pools", "--disable-override build");
#endif
    return tap_exit_status();
}
