"""benchlib.py -- what run.py, report.py and plot.py share: the list of
allocators, the machine description, and the raw CSV format.

Raw CSV files (bench/results/*.csv) are never filtered: line 1 is a comment
holding the exact command and the machine, line 2 the column names, then one
row per measurement (every repetition).  Medians and ratios are computed by
report.py and plot.py, never stored in place of the data.
"""
import csv
import json
import os
import platform
import subprocess

# Preference order of the peers; pymalloc comes first in every table.
PEERS = [
    ("glibc", None),
    ("jemalloc", "libjemalloc.so.2"),
    ("mimalloc", "libmimalloc.so.2"),
    ("tcmalloc", "libtcmalloc_minimal.so.4"),
]
ORDER = ["pymalloc"] + [name for name, _ in PEERS]


def find_library(soname):
    """Absolute path of a shared library known to the dynamic linker."""
    try:
        out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.split(" ")[0] == soname and os.path.exists(path.strip()):
            return path.strip()
    for directory in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
        candidate = os.path.join(directory, soname)
        if os.path.exists(candidate):
            return candidate
    return None


def discover_allocators(pymalloc_path):
    """[(name, library path or None, extra environment)] of those present.

    pymalloc gets PYMALLOC_DISABLE=0 explicitly: without it, it forwards
    everything to glibc when it detects valgrind."""
    found = []
    if pymalloc_path and os.path.exists(pymalloc_path):
        found.append(("pymalloc", os.path.abspath(pymalloc_path), {"PYMALLOC_DISABLE": "0"}))
    for name, soname in PEERS:
        if soname is None:
            found.append((name, None, {}))
            continue
        path = find_library(soname)
        if path:
            found.append((name, path, {}))
    return found


def allocator_env(path, extra):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("PYTHONMALLOC", None)  # run.py sets it per workload, never inherited
    for key in list(env):
        if key.startswith("PYMALLOC_"):
            del env[key]
    if path:
        env["LD_PRELOAD"] = path
    env.update(extra)
    return env


def _first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def package_version(path):
    """Debian package and version owning a library file, e.g. libjemalloc2 5.3.0-1."""
    if not path:
        return None
    real = os.path.realpath(path)
    for candidate in (path, real, real.replace("/usr/lib/", "/lib/"), real.replace("/lib/", "/usr/lib/", 1)):
        owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if owner.returncode == 0:
            package = owner.stdout.split(":")[0].strip()
            version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                                     capture_output=True, text=True).stdout.strip()
            return f"{package} {version}"
    return os.path.basename(real)


def describe_machine(srcdir, allocators):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    os_name = "unknown"
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    commit = subprocess.run(["git", "-C", srcdir, "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    versions = {}
    for name, path, _ in allocators:
        if name == "pymalloc":
            versions[name] = f"pymalloc {commit} ({path})"
        elif name == "glibc":
            versions[name] = "glibc " + os.confstr("CS_GNU_LIBC_VERSION").split()[-1]
        else:
            versions[name] = package_version(path)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1048576, 1),
        "kernel": platform.release(),
        "os": os_name,
        "compiler": _first_line(["gcc", "--version"]),
        "versions": versions,
    }


def machine_summary(machine):
    return (f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
            f"{machine['os']}, Linux {machine['kernel']}")


class RawCsv:
    """A raw results file: line 1 '# command | machine', line 2 the header."""

    def __init__(self, path, command, machine, columns):
        self.file = open(path, "w", newline="")
        self.file.write(f"# command: {command} | machine: {machine_summary(machine)}\n")
        self.writer = csv.writer(self.file)
        self.writer.writerow(columns)

    def row(self, *values):
        self.writer.writerow(values)
        self.file.flush()

    def close(self):
        self.file.close()


def read_raw_csv(path):
    """(first line without '# ', list of dict rows); ([], None) when absent."""
    if not os.path.exists(path):
        return None, []
    with open(path, newline="") as f:
        first = f.readline().rstrip("\n")
        return first.lstrip("# "), list(csv.DictReader(f))


def save_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def load_json(path):
    with open(path) as f:
        return json.load(f)


def instruction_workload_order(workload):
    """Sort key of count_pairs' workloads: pair/16 < ... < pair/1024 <
    batch/random < churn/10k."""
    kind, _, rest = workload.partition("/")
    kinds = ["pair", "batch", "churn"]
    number = rest.rstrip("k")
    return (kinds.index(kind) if kind in kinds else len(kinds),
            int(number) if number.isdigit() else 0, rest)
