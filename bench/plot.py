"""plot.py -- draw the PNGs of one run from its raw CSVs (matplotlib, Agg).

    /usr/bin/python3 bench/plot.py RESULTS_DIR IMAGES_DIR

  ns_per_size.png     ns per malloc+free pair against the request size
  thread_scaling.png  threads/churn throughput against the thread count
  rss_timeline.png    resident set over the phases of the churn probe,
                      with the bytes the program actually holds
  instructions.png    callgrind instructions per pair, per workload
Medians over repetitions, as in latest.md.  Without matplotlib this prints
a note and draws nothing (the suite reports, it never fails on that).
"""
import os
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

COLOURS = {"pymalloc": "#d62728", "glibc": "#1f77b4", "jemalloc": "#2ca02c",
           "mimalloc": "#9467bd", "tcmalloc": "#ff7f0e"}


def median_by(rows, key_fields, value_field):
    values = defaultdict(list)
    for row in rows:
        try:
            values[tuple(row[f] for f in key_fields)].append(float(row[value_field]))
        except (ValueError, KeyError):
            pass
    return {k: statistics.median(v) for k, v in values.items() if v}


def ordered(names):
    return [n for n in benchlib.ORDER if n in names]


def plot_lines(ax, points_by_alloc, **style):
    """One line per allocator, in the report's order and colours."""
    for alloc in ordered(points_by_alloc):
        points = sorted(points_by_alloc[alloc])
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], label=alloc,
                    color=COLOURS.get(alloc), **style)


def finish(plt, fig, ax, images, name, title, grid_axis="both", legend_size=None):
    """Title, grid and legend, then the PNG."""
    ax.set_title(title, fontsize=9)
    ax.grid(axis=grid_axis, alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(os.path.join(images, name), dpi=110)
    plt.close(fig)


def plot_sizes(plt, rows, images, subtitle):
    ns = median_by(rows, ["allocator", "benchmark"], "ns_per_op")
    points = defaultdict(list)
    for (alloc, bench), v in ns.items():
        if bench.startswith("pair/"):
            points[alloc].append((int(bench.split("/")[1]), v))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    plot_lines(ax, points, marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("request size (bytes)")
    ax.set_ylabel("ns per malloc+free pair")
    ax.set_ylim(bottom=0)
    finish(plt, fig, ax, images, "ns_per_size.png", "malloc+free pair by size\n" + subtitle)


def plot_scaling(plt, rows, images, subtitle):
    ips = median_by(rows, ["allocator", "benchmark"], "items_per_second")
    points = defaultdict(list)
    for (alloc, bench), v in ips.items():
        if bench.startswith("threads/churn/threads:"):
            points[alloc].append((int(bench.rsplit(":", 1)[1]), v / 1e6))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    plot_lines(ax, points, marker="o")
    ax.set_xticks([1, 2, 4])
    ax.set_xlabel(f"threads (machine: {os.cpu_count()} cores)")
    ax.set_ylabel("million malloc+free pairs per second")
    ax.set_ylim(bottom=0)
    finish(plt, fig, ax, images, "thread_scaling.png",
           "threads/churn: private 10k-object working set per thread\n" + subtitle)


def plot_timeline(plt, rows, images, subtitle):
    series = defaultdict(list)
    live = {}
    for row in rows:
        op, rss = int(row["operation"]), int(row["rss_kib"]) / 1024
        series[row["allocator"]].append((op, rss))
        live[op] = int(row["live_request_kib"]) / 1024
    fig, ax = plt.subplots(figsize=(8, 4.5))
    plot_lines(ax, series, linewidth=1.4)
    points = sorted(live.items())
    ax.plot([p[0] for p in points], [p[1] for p in points], "k--", linewidth=1,
            label="bytes requested and live")
    ax.set_xlabel("operations (grow, churn, free 90%, churn, free all)")
    ax.set_ylabel("resident set (MiB)")
    ax.set_ylim(bottom=0)
    finish(plt, fig, ax, images, "rss_timeline.png",
           "RSS over time, CPython-like size mix (no trim/purge call)\n" + subtitle,
           legend_size=8)


def plot_instructions(plt, rows, images, subtitle):
    per_pair = median_by(rows, ["allocator", "workload"], "ir_per_pair")
    allocs = ordered({a for a, _ in per_pair})
    workloads = sorted({w for _, w in per_pair}, key=benchlib.instruction_workload_order)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / max(1, len(allocs))
    for i, alloc in enumerate(allocs):
        xs = [j + i * width for j in range(len(workloads))]
        ax.bar(xs, [per_pair.get((alloc, w), 0) for w in workloads], width,
               label=alloc, color=COLOURS.get(alloc))
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(workloads))])
    ax.set_xticklabels(workloads)
    ax.set_ylabel("instructions per malloc+free pair")
    finish(plt, fig, ax, images, "instructions.png",
           "callgrind instruction counts (lower is better)\n" + subtitle,
           grid_axis="y", legend_size=8)


def write_plots(results, images):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[bench] matplotlib not available (Debian: python3-matplotlib); no plots",
              file=sys.stderr)
        return
    os.makedirs(images, exist_ok=True)
    machine_path = os.path.join(results, "machine.json")
    subtitle = ""
    if os.path.exists(machine_path):
        machine = benchlib.load_json(machine_path)
        subtitle = f"{machine['cpu']}, {machine['cores']} cores, {machine['date']}"
    for csv_name, draw in (("micro.csv", plot_sizes), ("micro.csv", plot_scaling),
                           ("rss_timeline.csv", plot_timeline),
                           ("instructions.csv", plot_instructions)):
        _, rows = benchlib.read_raw_csv(os.path.join(results, csv_name))
        if rows:
            draw(plt, rows, images, subtitle)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py RESULTS_DIR IMAGES_DIR")
    write_plots(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
