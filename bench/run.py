"""run.py -- run the benchmark suite under every allocator and write the raw
results; then report.py writes latest.md and plot.py the PNGs.

    /usr/bin/python3 bench/run.py --mode quick|full --builddir B --out DIR \
        [--pymalloc B/.libs/libpymalloc.so] [--only micro,memory,...]

`make bench` and `make bench-quick` call this.  Sections:
  micro         google-benchmark binary (bench/micro), JSON output parsed
  memory        bench/memory/rss_probe: peak RSS and RSS after freeing
  instructions  bench/instructions/count_pairs under callgrind
  programs      python3 (with PYTHONMALLOC=malloc and with its own obmalloc),
                sqlite3, git, redis-server: wall time, peak RSS

Every allocator runs the same binaries: preloaded with LD_PRELOAD, glibc
with nothing preloaded.  Runs are interleaved (repetition r runs the
allocators in an order rotated by r; micro and programs rotate per
benchmark or program too and run every allocator on one of them before the
next) and repeated, so a noisy moment on a shared machine hits every
allocator alike; report.py uses the medians, and for micro rows and the
programs' time rows the paired ratios of each repetition.
Nothing here judges: a failing or slower allocator is recorded, not fatal.
"""
import argparse
import glob
import os
import shutil
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHDIR = os.path.join(SRCDIR, "bench")

MODES = {
    # quick: the whole suite in well under 3 minutes on 2 cores
    "quick": dict(micro_reps=2, micro_min_time=0.03, memory_reps=1, allfree_mib=64,
                  xthread_rounds=100,
                  churn_objects=200000, pairs=20000, program_reps=1, py_scale=30000,
                  sqlite_rows=60000, git_files=200, git_commits=80, redis_requests=20000),
    "full": dict(micro_reps=5, micro_min_time=0.3, memory_reps=2, allfree_mib=1024,
                 xthread_rounds=1000,
                 churn_objects=1000000, pairs=200000, program_reps=3, py_scale=200000,
                 sqlite_rows=400000, git_files=400, git_commits=300, redis_requests=100000),
}


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def rotated(allocators, rep):
    k = rep % len(allocators)
    return allocators[k:] + allocators[:k]


GNU_TIME = "/usr/bin/time"


def peak_rss_wrapper(cmd, env, rss_file):
    """(cmd, env) that run cmd under GNU time, which writes cmd's own peak RSS
    (KiB) to rss_file; None when /usr/bin/time is missing.

    Why: a child's ru_maxrss starts at its parent's RSS.  When a process
    forked from this runner execs, the kernel records the high-water mark of
    the memory it leaves behind (a copy of this Python process, 10-20 MiB),
    and wait4 reports at least that: every program smaller than the runner
    came out at the runner's size.  GNU time is small, and the command is
    its child, so time's %M is the command's own peak.  LD_PRELOAD is set
    only for the command (through env), not for time itself."""
    if not os.access(GNU_TIME, os.X_OK):
        return None
    outer = dict(env)
    preload = outer.pop("LD_PRELOAD", None)
    inner = ["env", f"LD_PRELOAD={preload}"] if preload else []
    return [GNU_TIME, "-f", "%M", "-o", rss_file] + inner + list(cmd), outer


def read_peak_rss(rss_file, fallback):
    """KiB from GNU time's -o file (its last line); fallback when unreadable."""
    try:
        with open(rss_file) as f:
            return int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return fallback


def kill_group(pid):
    """SIGKILL a process group started with start_new_session (the command
    and, under GNU time, its child); it may be gone already."""
    try:
        os.killpg(pid, 9)
    except OSError:
        pass


def run_measured(cmd, env, stdin=None, stdout=subprocess.DEVNULL, timeout=600, cwd=None,
                 own_peak_rss=False, cpus=None):
    """Run cmd; return (exit status, wall seconds, CPU seconds, peak RSS KiB, stdout).

    The child is reaped with wait4, which gives its CPU time (with that of
    the children it reaped) and a peak RSS; with own_peak_rss the command
    runs under GNU time and the peak RSS is the command's own (see
    peak_rss_wrapper).  cpus: the set of CPUs the command may run on.  A
    timer kills the process group after timeout s."""
    rss_file = os.path.join(tempfile.gettempdir(), f"pym-bench-rss-{os.getpid()}")
    wrapped = peak_rss_wrapper(cmd, env, rss_file) if own_peak_rss else None
    run_cmd, run_env = wrapped or (cmd, env)
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        proc = subprocess.Popen(run_cmd, env=run_env, stdin=stdin, stdout=stdout, stderr=err,
                                cwd=cwd, start_new_session=True, preexec_fn=pin)
        killer = threading.Timer(timeout, kill_group, (proc.pid,))
        killer.start()
        output = proc.stdout.read() if stdout == subprocess.PIPE else b""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        message = err.read().decode(errors="replace")
    peak = usage.ru_maxrss
    if wrapped:
        peak = read_peak_rss(rss_file, peak)
        if os.path.exists(rss_file):
            os.unlink(rss_file)
    if proc.returncode != 0:
        log(f"  exit {proc.returncode}: {' '.join(cmd)}\n{message[-600:]}")
    return (proc.returncode, wall, usage.ru_utime + usage.ru_stime, peak,
            output.decode(errors="replace"))


# ---------------------------------------------------------------- micro ----
CPU_PROBE = ("import time\nt = time.perf_counter()\nx = 0\nfor i in range(200000):\n"
             "    x += i\nprint(time.perf_counter() - t)")


def cpu_probe_ms(cpu):
    """Milliseconds a fixed Python loop takes on cpu now (best of three)."""
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", CPU_PROBE], stdout=subprocess.PIPE,
                             preexec_fn=lambda: os.sched_setaffinity(0, {cpu}), check=True).stdout
        runs.append(float(out) * 1e3)
    return min(runs)


def fastest_cpu(cpus):
    """The CPU of cpus that runs the probe loop fastest right now.  The two
    vCPUs of the VM these figures come from take turns at running 1.7x
    slower than the other, for minutes at a time; a run pinned to the slow
    one moved the memory-bound rows' ratios by up to 20 % (session 16).
    Choosing at the start does not protect against a change during the run:
    run_micro probes again before each benchmark's pinned runs and
    machine.json keeps the figures (report.py prints their range)."""
    if len(cpus) == 1:
        return next(iter(cpus))
    timings = {cpu: cpu_probe_ms(cpu) for cpu in sorted(cpus)}
    best = min(timings, key=timings.get)
    log("micro: pinned to cpu %d (loop probe: %s)" % (
        best, ", ".join("cpu %d %.1f ms" % (c, t) for c, t in sorted(timings.items()))))
    return best


def micro_benchmarks(binary, user_filter):
    """The micro benchmarks to run, as (name, cpus) pairs: the
    single-threaded ones pinned to one CPU, the same for every allocator, and
    the multi-threaded ones (threads/..., xthread/...) free to use them all.
    Unpinned, a process stays on whichever CPU it started on, and one of
    the two vCPUs of the VM these figures come from runs 1.7x slower than
    the other at a time (tcmalloc's pair/64: 3.1 ns on one, 5.7 ns on the
    other; which one changes over the hours), more than the allocators
    differ: which allocator drew which CPU decided the ratios."""
    cmd = [binary, "--benchmark_list_tests"]
    if user_filter:
        cmd.append(f"--benchmark_filter={user_filter}")
    names = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           check=True).stdout.decode().split()
    threaded = [n for n in names if "threads:" in n or n.startswith("xthread/")]
    single = [n for n in names if n not in threaded]
    one_cpu = {fastest_cpu(os.sched_getaffinity(0))}
    return [(n, one_cpu) for n in single] + [(n, None) for n in threaded]


def run_one_micro(ctx, binary, benchmark, cpus, allocator, json_path):
    """google-benchmark's iteration entries of one allocator's run of one
    benchmark (in a process of its own), or None when the run failed."""
    name, path, extra = allocator
    cmd = [binary, f"--benchmark_min_time={ctx.mode['micro_min_time']}",
           f"--benchmark_out={json_path}", "--benchmark_out_format=json",
           f"--benchmark_filter=^{re.escape(benchmark)}$"]
    code, *_ = run_measured(cmd, benchlib.allocator_env(path, extra), cpus=cpus)
    if code != 0 or not os.path.exists(json_path):
        return None
    return [b for b in benchlib.load_json(json_path)["benchmarks"]
            if b.get("run_type", "iteration") == "iteration"]


def micro_row(allocator, rep, entry):
    """micro.csv's row for one google-benchmark entry."""
    scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[entry.get("time_unit", "ns")]
    real_ns = entry["real_time"] * scale
    ips = entry.get("items_per_second")
    ns_per_op = 1e9 / ips if ips else real_ns
    name = entry["name"].replace("/real_time", "").replace("/manual_time", "")
    return (allocator, name, rep, entry.get("threads", 1), entry["iterations"],
            f"{real_ns:.3f}", f"{ns_per_op:.4f}", f"{ips or 0:.1f}")


def probe_pinned_cpu(ctx, rep, benchmark, cpus):
    """Time the probe loop on the pinned CPU before a cell's runs and keep
    the figure in machine.json; the log line's note of where the cell runs."""
    if not cpus:
        return "all cpus"
    cpu = min(cpus)
    ms = round(cpu_probe_ms(cpu), 2)
    ctx.machine.setdefault("cpu_probe_ms", []).append(
        {"rep": rep, "benchmark": benchmark, "ms": ms})
    return f"cpu {cpu}, probe {ms:.1f} ms"


def run_micro_cell(ctx, out, binary, rep, index, benchmark, cpus):
    """Every allocator on one benchmark, back to back, in an order rotated
    by repetition and by benchmark so that no allocator is always first."""
    order = rotated(ctx.allocators, rep + index)
    where = probe_pinned_cpu(ctx, rep, benchmark, cpus)
    log(f"micro rep {rep + 1}/{ctx.mode['micro_reps']}: {benchmark} ({where}): "
        + ", ".join(name for name, _, _ in order))
    for allocator in order:
        name = allocator[0]
        json_path = os.path.join(ctx.tmp, f"micro-{name}-{rep}-{index}.json")
        entries = run_one_micro(ctx, binary, benchmark, cpus, allocator, json_path)
        if entries is None:
            out.row(name, "FAILED", rep, "", "", "", "", "")
            continue
        for entry in entries:
            out.row(*micro_row(name, rep, entry))


def run_micro(ctx):
    """Each repetition runs every allocator on one benchmark, then the next.

    The pinned CPU's speed swings by up to 1.8x from one minute to the next
    on the VM these figures come from (machine.json's cpu_probe_ms shows
    it).  Running one allocator over every benchmark before the next put
    minutes, and those swings, between the figures report.py compares; now
    the allocators of one (repetition, benchmark) cell run seconds apart,
    and report.py pairs them by repetition."""
    binary = os.path.join(ctx.builddir, "bench", "micro", "pym_micro")
    if not os.path.exists(binary):
        log("micro: bench/micro/pym_micro not built (google-benchmark missing?); skipped")
        return
    out = benchlib.RawCsv(os.path.join(ctx.results, "micro.csv"), ctx.command, ctx.machine,
                          ["allocator", "benchmark", "rep", "threads", "iterations",
                           "real_time_ns", "ns_per_op", "items_per_second"])
    benchmarks = micro_benchmarks(binary, ctx.filter)
    for rep in range(ctx.mode["micro_reps"]):
        for index, (benchmark, cpus) in enumerate(benchmarks):
            run_micro_cell(ctx, out, binary, rep, index, benchmark, cpus)
    out.close()


# --------------------------------------------------------------- memory ----
def run_memory(ctx):
    probe = os.path.join(ctx.builddir, "bench", "memory", "rss_probe")
    out = benchlib.RawCsv(os.path.join(ctx.results, "memory.csv"), ctx.command, ctx.machine,
                          ["allocator", "workload", "rep", "key", "value"])
    timeline = benchlib.RawCsv(os.path.join(ctx.results, "rss_timeline.csv"), ctx.command,
                               ctx.machine, ["allocator", "operation", "phase", "rss_kib",
                                             "live_request_kib"])
    mib, rounds = str(ctx.mode["allfree_mib"]), str(ctx.mode["xthread_rounds"])
    workloads = [
        (f"allfree-{mib}MiB-64B", [probe, "allfree", mib, "64"]),
        (f"oldest90-{mib}MiB-64B", [probe, "oldest90", mib, "64"]),
        ("churn", [probe, "churn", str(ctx.mode["churn_objects"])]),
        ("xthread-mixed-2", [probe, "xthread-mixed", "2", rounds]),
        ("xthread-mixed-4", [probe, "xthread-mixed", "4", rounds]),
    ]
    for rep in range(ctx.mode["memory_reps"]):
        for name, path, extra in rotated(ctx.allocators, rep):
            for workload, cmd in workloads:
                log(f"memory rep {rep + 1}: {name} {workload}")
                code, wall, _, maxrss, text = run_measured(
                    cmd, benchlib.allocator_env(path, extra), stdout=subprocess.PIPE)
                if code != 0:
                    out.row(name, workload, rep, "FAILED", code)
                    continue
                out.row(name, workload, rep, "wall_s", f"{wall:.3f}")
                for line in text.splitlines():
                    fields = line.split(",")
                    if fields[0] == "result":
                        out.row(name, workload, rep, fields[2], fields[3])
                    elif fields[0] == "sample" and rep == 0:
                        timeline.row(name, *fields[1:])
    out.close()
    timeline.close()


# --------------------------------------------------------- instructions ----
TRIGGER = "desc: Trigger: Client Request: "


def run_instructions(ctx):
    counter = os.path.join(ctx.builddir, "bench", "instructions", "count_pairs")
    if not shutil.which("valgrind"):
        log("instructions: valgrind not installed; skipped")
        return
    out = benchlib.RawCsv(os.path.join(ctx.results, "instructions.csv"), ctx.command, ctx.machine,
                          ["allocator", "workload", "pairs", "ir_real", "ir_stub", "ir_per_pair"])
    pairs = ctx.mode["pairs"]
    for name, path, extra in ctx.allocators:
        log(f"instructions: {name}")
        dump_dir = tempfile.mkdtemp(dir=ctx.tmp, prefix=f"callgrind-{name}-")
        cmd = ["valgrind", "--tool=callgrind", "--dump-instr=no",
               f"--callgrind-out-file={dump_dir}/cg.out", counter, str(pairs)]
        code, *_ = run_measured(cmd, benchlib.allocator_env(path, extra))
        counts = {}
        for dump in glob.glob(os.path.join(dump_dir, "cg.out.*")):
            label, total = None, None
            with open(dump) as f:
                for line in f:
                    if line.startswith(TRIGGER):
                        label = line[len(TRIGGER):].strip()
                    elif line.startswith("summary:") or line.startswith("totals:"):
                        total = int(line.split()[1])
            if label:
                counts[label] = total
        workloads = sorted({label.split(" ", 1)[1] for label in counts})
        if code != 0 or not workloads:
            out.row(name, "FAILED", pairs, "", "", "")
        for workload in workloads:
            real, stub = counts.get(f"real {workload}"), counts.get(f"stub {workload}")
            if real is None or stub is None:
                continue
            out.row(name, workload, pairs, real, stub, f"{(real - stub) / pairs:.2f}")
    out.close()


# ------------------------------------------------------------- programs ----
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_redis(port, proc, timeout=10):
    """Poll until the server answers PING (or dies, or the timeout passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            time.sleep(0.02)
    return False


def run_redis(ctx, env, requests):
    """(status, client wall s, server CPU s, server peak RSS KiB)."""
    port = free_port()
    server_cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--loglevel", "warning", "--protected-mode", "yes",
                  "--dir", ctx.tmp]
    rss_file = os.path.join(ctx.tmp, "redis-rss")
    wrapped = peak_rss_wrapper(server_cmd, env, rss_file)
    server_cmd, env = wrapped or (server_cmd, env)
    server = subprocess.Popen(server_cmd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    if not wait_for_redis(port, server):
        if server.poll() is None:  # alive but silent; poll() reaps a dead one
            kill_group(server.pid)
            server.wait()
        log(f"  redis-server did not answer PING (exit status {server.returncode})")
        return 1, 0.0, 0.0, 0
    client_env = benchlib.allocator_env(None, {})
    code, wall, _, _, _ = run_measured(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(requests), "-c", "10",
         "-P", "8", "-d", "64", "-r", "100000", "-q", "--csv",
         "-t", "set,get,lpush,lpop,sadd,hset,zadd"], client_env, timeout=120)
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], env=client_env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    _, status, usage = os.wait4(server.pid, 0)
    code = code or os.waitstatus_to_exitcode(status)
    peak = read_peak_rss(rss_file, usage.ru_maxrss) if wrapped else usage.ru_maxrss
    return code, wall, usage.ru_utime + usage.ru_stime, peak


PY_MALLOC = "python3-objects (PYTHONMALLOC=malloc)"
PY_OBMALLOC = "python3-objects (obmalloc)"


def command_program(cmd, stdin_path=None, workload_env=None, fresh=None):
    """A program that is one command: run(env) -> (status, wall s, CPU s,
    peak RSS KiB).  stdin_path: a file fed on stdin; workload_env: set on
    top of the allocator's environment; fresh: a file removed before each
    run (sqlite3's database, so that every run starts from nothing)."""
    def run(env):
        if fresh and os.path.exists(fresh):
            os.unlink(fresh)
        stdin = open(stdin_path) if stdin_path else subprocess.DEVNULL
        try:
            code, wall, cpu, rss, _ = run_measured(cmd, dict(env, **(workload_env or {})),
                                                   stdin=stdin, own_peak_rss=True)
        finally:
            if stdin_path:
                stdin.close()
        return code, wall, cpu, rss
    return run


def run_program_cell(ctx, out, rep, index, workload, run):
    """Every allocator on one program, back to back, in an order rotated by
    repetition and by program (as run_micro_cell does for micro)."""
    order = rotated(ctx.allocators, rep + index)
    log(f"programs rep {rep + 1}/{ctx.mode['program_reps']}: {workload}: "
        + ", ".join(name for name, _, _ in order))
    for name, path, extra in order:
        code, wall, cpu, rss = run(benchlib.allocator_env(path, extra))
        out.row(name, workload, rep, code, f"{wall:.4f}", f"{cpu:.4f}", rss)


def run_programs(ctx):
    """Each repetition runs every allocator on one program, then the next.

    As in run_micro: the VM these figures come from changes speed by up to
    1.8x over minutes, and when each allocator ran every program in turn,
    its runs of one program were minutes from the others' (every allocator
    had one repetition 1.35x slower than its others, and which repetition
    was the median decided the row).  Now the allocators of one
    (repetition, program) cell run seconds apart, and report.py pairs their
    time figures by repetition."""
    m = ctx.mode
    out = benchlib.RawCsv(os.path.join(ctx.results, "programs.csv"), ctx.command, ctx.machine,
                          ["allocator", "workload", "rep", "exit_status", "wall_s", "cpu_s",
                           "peak_rss_kib"])
    programs = os.path.join(BENCHDIR, "programs")
    python3 = "/usr/bin/python3"
    repo = os.path.join(ctx.tmp, "git-repo")
    if shutil.which("git"):
        log(f"programs: generating git repository ({m['git_files']} files, {m['git_commits']} commits)")
        subprocess.run([python3, os.path.join(programs, "make_git_repo.py"), repo,
                        str(m["git_files"]), str(m["git_commits"])],
                       env=benchlib.allocator_env(None, {}), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(programs, "sqlite_bulk.sql")) as f:
        sql_path = os.path.join(ctx.tmp, "sqlite_bulk.sql")
        with open(sql_path, "w") as g:
            g.write(f.read().replace("ROWS", str(m["sqlite_rows"])))
    db_path = os.path.join(ctx.tmp, "bulk.db")

    # (workload, run(env)).  python3 runs twice: with PYTHONMALLOC=malloc
    # every Python object goes to the allocator under test (the run that
    # measures pymalloc serving Python's objects); without it CPython's own
    # obmalloc serves objects <= 512 B and only larger buffers reach the
    # allocator, so that row is labelled "(obmalloc)".  redis: a server
    # under the allocator, started and stopped for each run, and a client
    # with nothing preloaded (run_redis).
    py_cmd = [python3, os.path.join(programs, "py_objects.py"), str(m["py_scale"])]
    workloads = [(PY_MALLOC, command_program(py_cmd, workload_env={"PYTHONMALLOC": "malloc"})),
                 (PY_OBMALLOC, command_program(py_cmd))]
    if shutil.which("sqlite3"):
        workloads.append(("sqlite3-insert-index",
                          command_program(["sqlite3", db_path], sql_path, fresh=db_path)))
    if shutil.which("git"):
        workloads.append(("git-log-p", command_program(
            ["git", "-C", repo, "--no-pager", "log", "-p"])))
        workloads.append(("git-repack", command_program(
            ["git", "-C", repo, "-c", "pack.threads=1", "repack", "-a", "-d", "-f", "-q"])))
    if shutil.which("redis-server") and shutil.which("redis-benchmark"):
        workloads.append(("redis-benchmark",
                          lambda env: run_redis(ctx, env, m["redis_requests"])))

    for rep in range(m["program_reps"]):
        for index, (workload, run) in enumerate(workloads):
            run_program_cell(ctx, out, rep, index, workload, run)
    out.close()


SECTIONS = {"micro": run_micro, "memory": run_memory, "instructions": run_instructions,
            "programs": run_programs}


class Context:
    pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, default="quick")
    parser.add_argument("--builddir", required=True)
    parser.add_argument("--out", required=True, help="writes OUT/results and OUT/images")
    parser.add_argument("--pymalloc", help="path of libpymalloc.so (skipped when absent)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--allocators", help="comma-separated subset (default: all present)")
    parser.add_argument("--filter", help="google-benchmark filter for the micro section")
    parser.add_argument("--command", help="the command to record in the CSVs")
    args = parser.parse_args()

    ctx = Context()
    ctx.builddir = os.path.abspath(args.builddir)
    ctx.mode = MODES[args.mode]
    ctx.filter = args.filter
    ctx.allocators = benchlib.discover_allocators(args.pymalloc)
    if args.allocators:
        wanted = args.allocators.split(",")
        ctx.allocators = [a for a in ctx.allocators if a[0] in wanted]
    if not any(a[0] == "pymalloc" for a in ctx.allocators):
        log(f"pymalloc library not found at {args.pymalloc}: measuring the peers only")
    ctx.results = os.path.join(args.out, "results")
    ctx.images = os.path.join(args.out, "images")
    os.makedirs(ctx.results, exist_ok=True)
    os.makedirs(ctx.images, exist_ok=True)
    ctx.command = f"{args.command or 'bench/run.py'} (" + " ".join(
        [os.path.relpath(sys.argv[0], SRCDIR)] + sys.argv[1:]) + ")"
    ctx.machine = benchlib.describe_machine(SRCDIR, ctx.allocators)
    ctx.machine["mode"] = args.mode
    ctx.machine["mode_settings"] = ctx.mode
    ctx.machine["command"] = ctx.command
    ctx.machine["allocators"] = {name: path or "(nothing preloaded)"
                                 for name, path, _ in ctx.allocators}
    ctx.machine["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    log("allocators: " + ", ".join(f"{n}={p or '-'}" for n, p, _ in ctx.allocators))

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pym-bench-") as tmp:
        ctx.tmp = tmp
        for section in args.only.split(","):
            t0 = time.monotonic()
            try:
                SECTIONS[section](ctx)
            except (OSError, subprocess.SubprocessError, ValueError, KeyError) as error:
                # Report what ran; a broken section must not hide the others.
                log(f"{section}: aborted: {error!r}")
            ctx.machine.setdefault("section_seconds", {})[section] = round(time.monotonic() - t0, 1)
    ctx.machine["total_seconds"] = round(time.monotonic() - started, 1)
    benchlib.save_json(os.path.join(ctx.results, "machine.json"), ctx.machine)

    import report
    in_tree = os.path.abspath(args.out) == BENCHDIR
    readmes = [os.path.join(BENCHDIR, "README.md"),
               os.path.join(os.path.dirname(BENCHDIR), "README.md")] if in_tree else []
    report.write_report(ctx.results, readmes)
    import plot
    plot.write_plots(ctx.results, ctx.images)
    log(f"done in {ctx.machine['total_seconds']} s: {ctx.results}/latest.md, {ctx.images}/*.png")


if __name__ == "__main__":
    main()
