#!/bin/bash
# gxx.sh -- g++ compiles a small template-heavy C++ file (and runs the
# result): the same diagnostics, assembly and output under LD_PRELOAD.
. "${top_srcdir:?the harness exports top_srcdir}/tests/preload/common.sh"

gxx_scenario() {
    cat >templates.cc <<'CXX'
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

template <unsigned N> struct fib { static constexpr unsigned long value = fib<N - 1>::value + fib<N - 2>::value; };
template <> struct fib<1> { static constexpr unsigned long value = 1; };
template <> struct fib<0> { static constexpr unsigned long value = 0; };

template <typename... Ts> struct type_list {};
template <typename T, typename... Ts> constexpr std::size_t count_bytes(type_list<T, Ts...>) {
    if constexpr (sizeof...(Ts) == 0) return sizeof(T); else return sizeof(T) + count_bytes(type_list<Ts...>{});
}

using value_t = std::variant<int, double, std::string, std::vector<int>>;

struct visitor {
    std::string operator()(int v) const { return "i" + std::to_string(v); }
    std::string operator()(double v) const { return "d" + std::to_string(static_cast<int>(v)); }
    std::string operator()(const std::string &v) const { return "s" + v; }
    std::string operator()(const std::vector<int> &v) const { return "v" + std::to_string(v.size()); }
};

int main() {
    std::map<std::string, std::vector<std::tuple<int, std::string, value_t>>> table;
    for (int i = 0; i < 2000; i++) {
        value_t v;
        switch (i % 4) {
        case 0: v = i; break;
        case 1: v = i * 0.5; break;
        case 2: v = std::string(static_cast<std::size_t>(i % 17), 'x'); break;
        default: v = std::vector<int>(static_cast<std::size_t>(i % 9), i);
        }
        table["k" + std::to_string(i % 37)].emplace_back(i, std::to_string(i * i), std::move(v));
    }
    std::size_t total = 0;
    for (auto &[key, rows] : table) {
        std::sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) { return std::get<1>(a) < std::get<1>(b); });
        for (auto &row : rows) total += std::visit(visitor{}, std::get<2>(row)).size();
    }
    auto owned = std::make_unique<std::vector<std::shared_ptr<std::string>>>();
    for (int i = 0; i < 1000; i++) owned->push_back(std::make_shared<std::string>(std::to_string(i)));
    std::cout << fib<80>::value << ' ' << count_bytes(type_list<char, int, double, long>{}) << ' '
              << table.size() << ' ' << total << ' ' << owned->size() << '\n';
}
CXX
    set -e
    g++ -std=c++17 -Og -Wall -Wextra -S -o templates.s templates.cc
    cksum <templates.s
    g++ -o templates templates.s
    ./templates
}
preload_test g++ g++ gxx_scenario
