"""report.py -- turn the raw CSVs of one run into results/latest.md.

    /usr/bin/python3 bench/report.py RESULTS_DIR [--readme bench/README.md --readme README.md]

One table per group; rows are workloads, columns allocators.  Each cell is
the median over the repetitions followed, in parentheses, by its ratio to
glibc; the last column is pymalloc's ratio to the best of the other
allocators (named).  Lower is better in every table except thread scaling.
A micro row's and a program time row's pymalloc ÷ peer is paired: the
median over repetitions of pymalloc's figure ÷ the peer's in the same
repetition (paired_median says why); the other rows (instructions, memory,
programs' peak RSS) divide the medians.

The headline lists every row of every table (thread scaling aside) with
pymalloc's figure, the best peer's figure and name, and pymalloc ÷ best
peer, worst ratio first and losses in bold, under a count of losses, ties
and wins; a second table gives pymalloc ÷ each peer for the same rows.
With --readme (repeatable), the headline replaces the text between the
"headline:start" and "headline:end" markers of each file; `make bench`
writes bench/README.md and the top-level README.md.
"""
import argparse
import os
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

FAILED = "FAILED"


def medians(rows, key_fields, value_field):
    """{(allocator, key...): median value}; FAILED marks a failed run."""
    values = defaultdict(list)
    for row in rows:
        key = tuple(row[f] for f in key_fields)
        value = row.get(value_field, "")
        try:
            values[key].append(float(value))
        except ValueError:
            values.setdefault(key, [])
    return {key: statistics.median(v) if v else FAILED for key, v in values.items()}


def figures_by_rep(rows, key_field, value_field):
    """{(allocator, key): {rep: value}}; a value that is not a number (a
    failed run) is left out."""
    figures = defaultdict(dict)
    for row in rows:
        try:
            figures[(row["allocator"], row[key_field])][row["rep"]] = float(row[value_field])
        except ValueError:
            pass
    return figures


def paired_median(mine, theirs):
    """The median over repetitions of mine ÷ theirs, each ratio taken within
    one repetition ({rep: value} each); a repetition one of the two lacks
    is left out.  None when no repetition pairs.

    Why: the CPU of the VM these figures come from changes speed by up to
    1.8x from one minute to the next.  bench/run.py runs the allocators of
    one (repetition, benchmark or program) cell back to back, seconds
    apart, so a ratio within the cell cancels most of the swing; the ratio
    of two medians mixes runs made minutes apart, at different speeds."""
    ratios = [mine[rep] / theirs[rep] for rep in mine
              if rep in theirs and theirs[rep] > 0]
    return statistics.median(ratios) if ratios else None


def paired_ratios(rows, value_field, key_field="benchmark"):
    """{key: {peer: pymalloc ÷ peer paired by repetition (paired_median)}},
    key being the benchmark (micro) or the workload (programs)."""
    figures = figures_by_rep(rows, key_field, value_field)
    out = defaultdict(dict)
    for (allocator, key), theirs in figures.items():
        if allocator == "pymalloc":
            continue
        ratio = paired_median(figures.get(("pymalloc", key), {}), theirs)
        if ratio is not None:
            out[key][allocator] = ratio
    return out


def best_paired_peer(paired):
    """(peer, ratio) of the best peer of a paired row, the one pymalloc ÷
    peer is highest against; None when no peer was paired with pymalloc."""
    if not paired:
        return None
    peer = max(paired, key=paired.get)
    return peer, paired[peer]


def ratio_to(peer, values, paired):
    """pymalloc ÷ peer of one row: paired by repetition for micro rows and
    the programs' time rows (paired is not None), else of the medians; None
    when there is none."""
    if paired is not None:
        return paired.get(peer)
    pym, v = values.get("pymalloc"), values.get(peer)
    return pym / v if isinstance(pym, float) and isinstance(v, float) and v > 0 else None


def allocators_in(rows):
    present = {row["allocator"] for row in rows}
    return [name for name in benchlib.ORDER if name in present]


def fmt(value, digits):
    if value == FAILED or value is None:
        return "FAIL" if value == FAILED else "-"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


class Table:
    """A markdown table of one group, with the ratio columns."""

    def __init__(self, title, unit, allocators, higher_is_better=False, digits=1, note=None):
        self.title, self.unit, self.allocators = title, unit, allocators
        self.higher_is_better, self.digits, self.note = higher_is_better, digits, note
        self.rows = []  # (label, {allocator: value}, paired ratios or None)
        self.python_own = None  # program times: see program_tables

    def add(self, label, values, paired=None):
        """paired: {peer: pymalloc ÷ peer, paired by repetition} for micro
        rows and the programs' time rows (see paired_ratios); None divides
        the medians."""
        if any(isinstance(v, float) for v in values.values()):
            self.rows.append((label, values, paired))

    def best_peer(self, values):
        peers = [(v, name) for name, v in values.items()
                 if name != "pymalloc" and isinstance(v, float) and v > 0]
        if not peers:
            return None, None
        return (max if self.higher_is_better else min)(peers)

    def versus_best_peer(self, values, paired):
        """The last column: pymalloc ÷ best peer, and the peer's name."""
        if paired is not None:
            best = best_paired_peer(paired)
            return f"{best[1]:.2f} vs {best[0]}" if best else "-"
        best, best_name = self.best_peer(values)
        pym = values.get("pymalloc")
        return f"{pym / best:.2f} vs {best_name}" if isinstance(pym, float) and best else "-"

    def render(self):
        if not self.rows:
            return ""
        with_pym = "pymalloc" in self.allocators
        lines = [f"### {self.title}", "", f"{self.unit}; (x) = ratio to glibc"
                 + ("; higher is better" if self.higher_is_better else "; lower is better")
                 + ("." if not with_pym else "; last column: pymalloc / best other allocator."), ""]
        if self.note:
            lines += [self.note, ""]
        header = ["workload"] + self.allocators + (["pymalloc vs best peer"] if with_pym else [])
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for label, values, paired in self.rows:
            glibc = values.get("glibc")
            cells = [label]
            for name in self.allocators:
                v = values.get(name)
                cell = fmt(v, self.digits)
                if isinstance(v, float) and isinstance(glibc, float) and glibc > 0 and name != "glibc":
                    cell += f" ({v / glibc:.2f})"
                cells.append(cell)
            if with_pym:
                cells.append(self.versus_best_peer(values, paired))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def micro_tables(results):
    _, rows = benchlib.read_raw_csv(os.path.join(results, "micro.csv"))
    if not rows:
        return {}
    allocs = allocators_in(rows)
    ns = medians(rows, ["allocator", "benchmark"], "ns_per_op")
    ips = medians(rows, ["allocator", "benchmark"], "items_per_second")
    paired = paired_ratios(rows, "ns_per_op")
    names = []
    for row in rows:
        if row["benchmark"] != FAILED and row["benchmark"] not in names:
            names.append(row["benchmark"])

    def values(table, bench):
        return {a: table.get((a, bench)) for a in allocs}

    pairs = Table("Micro: malloc+free pair at one size", "ns per pair (median)", allocs, digits=2)
    sets = Table("Micro: working sets", "ns per malloc+free pair (realloc/: per realloc call)",
                 allocs, digits=2)
    threads = Table("Micro: threads", "wall ns per pair, all threads together", allocs, digits=2)
    scaling = Table("Micro: thread scaling of threads/churn",
                    "throughput relative to the same allocator with 1 thread", allocs,
                    higher_is_better=True, digits=2,
                    note="The machine has %s cores; 4 threads oversubscribe it." % os.cpu_count())
    for bench in names:
        group = (pairs if bench.startswith(("pair/", "calloc/")) else
                 threads if bench.startswith(("xthread/", "threads/")) else sets)
        group.add(bench, values(ns, bench), paired.get(bench, {}))
    one = [n for n in names if n.startswith("threads/churn") and n.endswith("threads:1")]
    for bench in names:
        if bench.startswith("threads/churn") and one:
            rel = {}
            for a in allocs:
                base, v = ips.get((a, one[0])), ips.get((a, bench))
                rel[a] = v / base if isinstance(v, float) and isinstance(base, float) and base else None
            scaling.add(bench.replace("threads/churn/", "threads/churn, "), rel)
    return {"pairs": pairs, "sets": sets, "threads": threads, "scaling": scaling,
            "_ns": ns, "_allocs": allocs}


def instruction_table(results):
    _, rows = benchlib.read_raw_csv(os.path.join(results, "instructions.csv"))
    if not rows:
        return None
    allocs = allocators_in(rows)
    per_pair = medians(rows, ["allocator", "workload"], "ir_per_pair")
    table = Table("Instructions per malloc+free pair (callgrind)",
                  "instructions per pair beyond a no-op stub (deterministic)", allocs, digits=1,
                  note=f"{rows[0]['pairs']} pairs per workload; pymalloc run with PYMALLOC_DISABLE=0.")
    for workload in sorted({r["workload"] for r in rows if r["workload"] != FAILED},
                           key=benchlib.instruction_workload_order):
        table.add(workload, {a: per_pair.get((a, workload)) for a in allocs})
    return table


def memory_table(results):
    _, rows = benchlib.read_raw_csv(os.path.join(results, "memory.csv"))
    if not rows:
        return None
    allocs = allocators_in(rows)
    value = medians(rows, ["allocator", "workload", "key"], "value")
    workloads = []
    for r in rows:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    table = Table("Memory: resident set above the program's start (no trim/purge call)",
                  "MiB (median)", allocs, digits=1,
                  note="Light activity: a malloc+free pair of 64 B every 10 ms for one "
                       "second.  Contracts (issue 11), in MiB above start: allfree after "
                       "light activity ≤ 4; oldest90 after light activity ≤ live × 1.15 + 4, "
                       "peak ≤ 1.02 × requested.  xthread-mixed-N: the server pattern of "
                       "micro xthread/server with N threads.")

    def above_start(workload, key):
        out = {}
        for a in allocs:
            v, start = value.get((a, workload, key)), value.get((a, workload, "start_kib"))
            if value.get((a, workload, "FAILED")) is not None:
                out[a] = FAILED
            else:
                out[a] = (v - start) / 1024 if isinstance(v, float) and isinstance(start, float) else None
        return out

    def first(workload, key):
        """A figure that is the same for every allocator (the request bytes), in MiB."""
        return next((value[(a, workload, key)] for a in allocs
                     if isinstance(value.get((a, workload, key)), float)), 0) / 1024

    for w in workloads:
        if w.startswith("allfree"):
            req = first(w, "requested_kib")
            table.add(f"{w}: peak (requested {req:.0f})", above_start(w, "peak_kib"))
            table.add(f"{w}: after free", above_start(w, "after_free_kib"))
            table.add(f"{w}: after 1 s of light activity (contract ≤ 4)",
                      above_start(w, "after_light_kib"))
        elif w.startswith("oldest90"):
            req, live = first(w, "requested_kib"), first(w, "live_request_kib")
            table.add(f"{w}: peak (requested {req:.0f}; contract ≤ {1.02 * req:.0f})",
                      above_start(w, "peak_kib"))
            table.add(f"{w}: after freeing the oldest 90% (live {live:.0f})",
                      above_start(w, "after_free_kib"))
            table.add(f"{w}: after 1 s of light activity (contract ≤ {1.15 * live + 4:.0f})",
                      above_start(w, "after_light_kib"))
        elif w.startswith("xthread-mixed"):
            table.add(f"{w}: peak (VmHWM)", above_start(w, "peak_kib"))
            table.add(f"{w}: after the last round (all freed)", above_start(w, "after_kib"))
        elif w == "churn":
            live = next((value[(a, w, "live_request_kib")] for a in allocs
                         if isinstance(value.get((a, w, "live_request_kib")), float)), 0) / 1024
            table.add(f"churn: peak (live requests {live:.0f})", above_start(w, "peak_kib"))
            table.add("churn: after freeing 90%", above_start(w, "end_shrink_kib"))
            table.add("churn: after churning the 10% left", above_start(w, "end_churn_small_kib"))
            table.add("churn: after free-all", above_start(w, "end_free_all_kib"))
    return table


def program_tables(results):
    """(time table, peak RSS table).  The time rows' pymalloc ÷ peer is
    paired by repetition, as micro's: bench/run.py runs every allocator on
    one program back to back.  The time table's python_own is the headline's
    python3 comparison, paired the same way (python_own_allocator_row)."""
    _, rows = benchlib.read_raw_csv(os.path.join(results, "programs.csv"))
    if not rows:
        return None, None
    allocs = allocators_in(rows)
    for r in rows:  # a run that failed must not look like a fast run
        if r["exit_status"] != "0":
            r["wall_s"] = r["cpu_s"] = r["peak_rss_kib"] = FAILED
    wall = medians(rows, ["allocator", "workload"], "wall_s")
    cpu = medians(rows, ["allocator", "workload"], "cpu_s")
    rss = medians(rows, ["allocator", "workload"], "peak_rss_kib")
    paired_wall = paired_ratios(rows, "wall_s", "workload")
    paired_cpu = paired_ratios(rows, "cpu_s", "workload")
    workloads = []
    for r in rows:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    note = ("redis-benchmark: wall = the client's run; CPU = redis-server's user+sys. "
            "Debian's redis-server links libjemalloc, so its glibc column is really jemalloc.")
    times = Table("Whole programs: time", "seconds (median)", allocs, digits=3, note=note)
    # pymalloc's PYTHONMALLOC=malloc runs against glibc's obmalloc runs
    # (python3 as shipped), repetition by repetition.
    walls = figures_by_rep(rows, "workload", "wall_s")
    times.python_own = paired_median(walls.get(("pymalloc", PY_MALLOC), {}),
                                     walls.get(("glibc", PY_OBMALLOC), {}))
    mem = Table("Whole programs: peak RSS", "MiB, getrusage ru_maxrss (median)", allocs, digits=1)
    for w in workloads:
        times.add(f"{w} (wall)", {a: wall.get((a, w)) for a in allocs},
                  paired_wall.get(w, {}))
        if w == "redis-benchmark":
            times.add("redis-server (CPU)", {a: cpu.get((a, w)) for a in allocs},
                      paired_cpu.get(w, {}))
        mem.add(w, {a: (rss.get((a, w)) / 1024 if isinstance(rss.get((a, w)), float)
                         else rss.get((a, w))) for a in allocs})
    return times, mem


# Every table but thread scaling (which is derived from threads/churn) feeds
# the headline, with the measure each row is in.
HEADLINE_GROUPS = [("pairs", "ns per pair"), ("sets", "ns per pair"),
                   ("threads", "wall ns per pair"), ("instructions", "instructions per pair"),
                   ("memory", "MiB above start"), ("program_times", "seconds"),
                   ("program_rss", "MiB peak RSS")]
PY_MALLOC = "python3-objects (PYTHONMALLOC=malloc)"
PY_OBMALLOC = "python3-objects (obmalloc)"
TIE = 0.005  # |ratio - 1| below this prints as 1.00: a tie


def headline_rows(tables):
    """[(label, measure, {allocator: value}, paired ratios or None)]: every
    row of every table."""
    rows = []
    for group, measure in HEADLINE_GROUPS:
        table = tables.get(group)
        if table is None:
            continue
        for label, values, paired in table.rows:
            row_measure = measure
            if group == "instructions":
                label = f"{label} (callgrind)"
            elif label.startswith("realloc/"):
                row_measure = "ns per realloc call"
            elif group == "program_rss":
                label = f"{label} (peak RSS)"
            rows.append((label, row_measure, values, paired))
    return rows


def python_own_allocator_row(tables):
    """The issue-11 comparison: python3 with PYTHONMALLOC=malloc under
    pymalloc against python3 as shipped (its obmalloc, nothing preloaded).
    The figures are the medians; the ratio is paired by repetition
    (program_tables' python_own)."""
    table = tables.get("program_times")
    if table is None or table.python_own is None:
        return None
    by_label = {label: values for label, values, _ in table.rows}
    malloc_row = by_label.get(f"{PY_MALLOC} (wall)")
    own_row = by_label.get(f"{PY_OBMALLOC} (wall)")
    if not malloc_row or not own_row:
        return None
    pym, own = malloc_row.get("pymalloc"), own_row.get("glibc")
    if not isinstance(pym, float) or not isinstance(own, float):
        return None
    return ("python3-objects: pymalloc with PYTHONMALLOC=malloc vs python3's own obmalloc "
            "(wall)", "seconds", pym, own, "python3 as shipped", table.python_own)


def verdict(pym, best, ratio):
    """(sort key, ratio text, verdict): ratio > 1 loses, < 1 wins; ratio
    None when best is zero or less (a memory row)."""
    if ratio is not None:
        text = f"{ratio:.2f}"
        if abs(ratio - 1) < TIE:
            return ratio, text, "tie"
        return ratio, (f"**{text}**" if ratio > 1 else text), ("loses" if ratio > 1 else "wins")
    # A memory figure of zero or less (RSS back at its start): no ratio.
    if pym <= best:
        return 0.0, "-", "wins"
    return float("inf"), f"**n/a** (+{pym - best:.1f})", "loses"


def against_best_peer(values, paired):
    """(pymalloc, best peer's figure, its name, pymalloc ÷ best peer or
    None) of one row, or None when there is nothing to compare.  A paired
    row's (micro, program time) best peer is the one its paired ratio is
    highest against; another row's is the lowest figure, and its ratio is None when that
    figure is zero or less."""
    pym = values.get("pymalloc")
    if not isinstance(pym, float):
        return None
    if paired is not None:
        best = best_paired_peer(paired)
        return (pym, values[best[0]], best[0], best[1]) if best else None
    peers = [(v, name) for name, v in values.items()
             if name != "pymalloc" and isinstance(v, float)]
    if not peers:
        return None
    best, best_name = min(peers)
    return pym, best, best_name, pym / best if best > 0 else None


def headline(tables):
    """Every workload: pymalloc, the best peer (figure and name), pymalloc ÷
    best peer; sorted worst ratio first, so the losses lead the table."""
    rows = []
    for label, measure, values, paired in headline_rows(tables):
        compared = against_best_peer(values, paired)
        if compared:
            rows.append((label, measure, *compared))
    own = python_own_allocator_row(tables)
    if own:
        rows.append(own)
    if not rows:
        return ""
    judged = []
    for label, measure, pym, best, best_name, ratio in rows:
        key, ratio_text, word = verdict(pym, best, ratio)
        judged.append((key, label, measure, pym, best, best_name, ratio_text, word))
    judged.sort(key=lambda r: -r[0])
    count = {w: sum(1 for r in judged if r[7] == w) for w in ("loses", "tie", "wins")}
    lines = [f"pymalloc loses on **{count['loses']}** of {len(judged)} workloads "
             f"(pymalloc ÷ best peer > 1, in bold), ties on {count['tie']} and wins on "
             f"{count['wins']}.  Lower is better in every row; worst ratio first.", "",
             "| workload | measure | pymalloc | best peer | pymalloc ÷ best peer | result |",
             "|---|---|---|---|---|---|"]
    for _, label, measure, pym, best, best_name, ratio, word in judged:
        lines.append(f"| {label} | {measure} | {fmt(pym, 2)} | {fmt(best, 2)} {best_name} "
                     f"| {ratio} | {word} |")
    return "\n".join(lines) + "\n"


def per_peer_table(tables):
    """Every workload, pymalloc's figure divided by each peer's (latest.md only)."""
    rows = [(f"{label} ({measure})", values, paired)
            for label, measure, values, paired in headline_rows(tables)]
    if not rows:
        return ""
    allocs = [a for a in benchlib.ORDER if any(a in v for _, v, _ in rows)]
    peers = [a for a in allocs if a != "pymalloc"]
    if "pymalloc" not in allocs:
        lines = ["| workload | " + " | ".join(allocs) + " |", "|" + "---|" * (len(allocs) + 1)]
        for label, values, _ in rows:
            lines.append(f"| {label} | " + " | ".join(fmt(values.get(a), 2) for a in allocs) + " |")
        return "\n".join(lines) + "\n"
    lines = ["| workload | pymalloc | " + " | ".join(f"pymalloc / {p}" for p in peers) + " |",
             "|" + "---|" * (len(peers) + 2)]
    for label, values, paired in rows:
        ratios = [ratio_to(p, values, paired) for p in peers]
        cells = [fmt(values.get("pymalloc"), 2)]
        cells += [f"{r:.2f}" if r is not None else "-" for r in ratios]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cpu_probe_range(machine):
    """(low, high) ms of the pinned CPU's probe loop (bench/run.py's
    cpu_probe_ms, taken before each benchmark's pinned micro runs; in runs
    before that, before each allocator's), or None.  A higher figure is a
    slower CPU; a wide range says its speed changed during the run, and the
    ns figures measured then moved with it."""
    probes = [p["ms"] for p in machine.get("cpu_probe_ms", [])]
    return (min(probes), max(probes)) if probes else None


def cpu_probe_warning(machine):
    """One sentence for the headline when the pinned CPU's speed moved by
    more than 20 % during the run, else ''."""
    span = cpu_probe_range(machine)
    if not span or span[1] <= 1.2 * span[0]:
        return ""
    return (f"During this run the pinned CPU's speed changed by {span[1] / span[0]:.2f}x "
            f"(probe loop {span[0]:.1f}-{span[1]:.1f} ms over the pinned micro runs): "
            "the single-threaded rows' ns figures moved with it.")


def write_report(results, readmes=()):
    machine = benchlib.load_json(os.path.join(results, "machine.json"))
    tables = micro_tables(results)
    tables.pop("_ns", None)
    tables.pop("_allocs", None)
    tables["instructions"] = instruction_table(results)
    tables["memory"] = memory_table(results)
    tables["program_times"], tables["program_rss"] = program_tables(results)
    head = headline(tables)
    warning = cpu_probe_warning(machine)
    if head and warning:
        head = warning + "\n\n" + head

    parts = ["# pymalloc benchmark results", "",
             f"- Command: `{machine['command']}` ({machine['mode']} mode, "
             f"{machine.get('total_seconds', '?')} s)",
             f"- Date: {machine['date']}",
             *[f"- Pinned CPU's probe loop over the micro runs: "
               f"{span[0]:.1f}-{span[1]:.1f} ms (a higher figure is a slower CPU)"
               for span in [cpu_probe_range(machine)] if span],
             f"- Machine: {benchlib.machine_summary(machine)}; {machine['compiler']}"]
    for name, version in machine["versions"].items():
        parts.append(f"- {name}: {version} — preload: `{machine['allocators'].get(name, '?')}`")
    settings = machine["mode_settings"]
    parts += [f"- Repetitions: micro {settings['micro_reps']} × (min time "
              f"{settings['micro_min_time']} s per benchmark), programs {settings['program_reps']}, "
              f"memory {settings['memory_reps']}; allocators interleaved, order rotated each "
              "repetition; cells are medians. Micro and programs run every allocator on one "
              "benchmark or program back to back, seconds apart, and the pymalloc ÷ peer of "
              "a micro row or a program time row (wall, CPU) is the median over repetitions "
              "of pymalloc's figure ÷ the peer's in the same repetition, so the CPU's speed "
              "swings over the run cancel out; other rows (instructions, memory, programs' "
              "peak RSS) divide the medians. Single-thread micro figures are CPU time per "
              "operation (google-benchmark's items_per_second), thread figures wall time. Raw data: `micro.csv`, `memory.csv`, "
              "`instructions.csv`, `programs.csv`, `rss_timeline.csv` next to this file.", ""]
    if head:
        parts += ["## Headline: pymalloc against the best peer, every workload", "", head]
    per_peer = per_peer_table(tables)
    if per_peer:
        parts += ["## pymalloc against each peer", "",
                  "Each cell is pymalloc's figure divided by that allocator's: below 1, "
                  "pymalloc needs less time, fewer instructions or less memory.", "", per_peer]
    parts += ["## Tables", ""]
    for key in ("pairs", "sets", "threads", "scaling", "instructions", "memory",
                "program_times", "program_rss"):
        table = tables.get(key)
        if table is not None and table.rows:
            parts.append(table.render())
    with open(os.path.join(results, "latest.md"), "w") as f:
        f.write("\n".join(parts))
    for readme in readmes if head else ():
        replace_between_markers(readme, head)


def replace_between_markers(path, text):
    start, end = "<!-- headline:start -->", "<!-- headline:end -->"
    with open(path) as f:
        content = f.read()
    if start not in content or end not in content:
        return
    before, rest = content.split(start, 1)
    _, after = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(before + start + "\n" + text + end + after)


def main():
    parser = argparse.ArgumentParser(description="write latest.md from a results directory")
    parser.add_argument("results")
    parser.add_argument("--readme", action="append", default=[],
                        help="a file whose headline markers get the headline (repeatable)")
    args = parser.parse_args()
    write_report(args.results, args.readme)


if __name__ == "__main__":
    main()
