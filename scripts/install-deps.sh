#!/usr/bin/env bash
# Installs what building, testing and benchmarking pymalloc need on Debian 12.
# Idempotent; run as root (or through sudo).  jemalloc, mimalloc and tcmalloc
# are installed as benchmark baselines only: the library never links them.
set -euo pipefail
packages=(
  build-essential autoconf automake libtool pkg-config clang libclang-rt-14-dev
  libcmocka-dev valgrind
  python3 git sqlite3 perl xz-utils zstd g++ coreutils
  libbenchmark-dev libjemalloc2 libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev
  hyperfine gnuplot-nox python3-matplotlib redis-server redis-tools time
  libpython3.11-testsuite
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
