#!/usr/bin/env python3
"""Draws PNG plots from Google Benchmark JSON output of bench/message_passing,
bench/worker_pool and bench/tuning.

    build-bench/bench/message_passing --benchmark_repetitions=5 \
        --benchmark_enable_random_interleaving=true \
        --benchmark_out=docs/bench/message_passing_2core.json --benchmark_out_format=json
    python3 scripts/plot_bench.py docs/bench/*.json --out docs/plots

Written (only those the input has cases for), all under --out:
    message_passing_throughput.png  M msg/s per channel kind (spsc, spsc_batch, mpsc,
                                    mpmc), by shape PxC and implementation
    worker_pool_scaling.png         pool_keyed/WxW and pool_mesh/W against W; ingress/Px1
    latency_percentiles.png         p50/p99/p999 of rtt/* and pool_rtt/*; pool_idle wake-up
    tuning_queue_capacity.png       tuning/queue_capacity/N
    tuning_batch_size.png           tuning/batch_size/N
    tuning_affinity.png             tuning/affinity/{off,on}
    tuning_wait.png                 tuning/wait/P (throughput) and tuning/wake/P (latency, CPU)

Every figure is a median over repetitions: the `median` aggregate row where the file has
one, otherwise the median of the per-repetition rows; where per-repetition rows exist,
error bars span their minimum and maximum. When several files hold the same case, the
file with the latest context date wins (so docs/bench/*.json can mix runs). Each figure's
footer names the machine and run(s) it comes from (the JSON "context"). Only shapes that
were measured are drawn; nothing is extrapolated.
"""

import argparse
import json
import math
import os
import re
import statistics
import sys
import textwrap

# Google Benchmark suffixes that are not part of a case's name.
SUFFIX = re.compile(r"(/iterations:\d+)?(/repeats:\d+)?(/manual_time|/real_time)?$")
# Context keys that are not worth a footer.
SKIP_CONTEXT = {"caches", "executable", "library_build_type", "cpu_scaling_enabled", "json_schema_version"}
IMPL_ORDER = ["sn", "sn_per_message", "sn_consistent", "boost_lockfree", "moodycamel", "tbb", "caf",
              "moodycamel_unbounded", "cacheline", "inbox", "lanes"]


def case_name(row):
    name = row.get("run_name") or row["name"]
    return SUFFIX.sub("", name)


class Case:
    """One case from one file: its metrics (median) and their per-repetition ranges."""

    def __init__(self, name, run):
        self.name = name
        self.run = run
        self.samples = {}  # metric -> per-repetition values
        self.medians = {}  # metric -> value of the `median` aggregate row
        self.error = None

    def value(self, metric):
        if metric in self.medians:
            return self.medians[metric]
        vals = self.samples.get(metric)
        return statistics.median(vals) if vals else None

    def range(self, metric):
        vals = self.samples.get(metric)
        return (min(vals), max(vals)) if vals and len(vals) > 1 else None


NON_METRICS = {"name", "run_name", "run_type", "aggregate_name", "aggregate_unit", "family_index",
               "per_family_instance_index", "repetitions", "repetition_index", "threads", "iterations",
               "time_unit", "label", "error_occurred", "error_message"}


class Run:
    def __init__(self, path):
        with open(path) as f:
            data = json.load(f)
        self.path = path
        self.context = data.get("context", {})
        self.cases = {}
        for row in data.get("benchmarks", []):
            name = case_name(row)
            case = self.cases.setdefault(name, Case(name, self))
            if row.get("error_occurred"):
                case.error = row.get("error_message", "error")
                continue
            metrics = {k: v for k, v in row.items() if k not in NON_METRICS and isinstance(v, (int, float))}
            if row.get("run_type") == "aggregate":
                if row.get("aggregate_name") == "median":
                    case.medians.update(metrics)
            else:
                for k, v in metrics.items():
                    case.samples.setdefault(k, []).append(float(v))

    @property
    def date(self):
        return self.context.get("date", "")

    def footer(self):
        c = self.context
        load = c.get("load_avg")
        parts = [
            f"{os.path.basename(self.path)}: host {c.get('host_name', '?')}",
            f"{c.get('num_cpus', '?')} CPUs @ {c.get('mhz_per_cpu', '?')} MHz",
            f"date {c.get('date', '?')}",
        ]
        if load:
            parts.append("load " + "/".join(f"{x:.2f}" for x in load))
        extra = [f"{k}={v}" for k, v in sorted(c.items())
                 if k not in SKIP_CONTEXT and k not in ("host_name", "num_cpus", "mhz_per_cpu", "date", "load_avg")
                 and isinstance(v, str) and len(v) <= 60]
        return ", ".join(parts) + ("; " + ", ".join(extra) if extra else "")


class Cases:
    """The newest run's version of every case across the input files."""

    def __init__(self, runs):
        self.by_name = {}
        for run in sorted(runs, key=lambda r: (r.date, r.path)):
            for name, case in run.cases.items():
                self.by_name[name] = case  # later (newer) runs replace earlier ones

    def matching(self, pattern):
        rx = re.compile(pattern)
        out = []
        for name, case in sorted(self.by_name.items()):
            m = rx.fullmatch(name)
            if m and case.error is None:
                out.append((m, case))
        return out

    def failed(self):
        return sorted((n, c.error) for n, c in self.by_name.items() if c.error is not None)


def impl_key(impl):
    return (IMPL_ORDER.index(impl) if impl in IMPL_ORDER else len(IMPL_ORDER), impl)


def impl_color(impl):
    """The same colour for an implementation in every panel and figure."""
    palette = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"]
    i = IMPL_ORDER.index(impl) if impl in IMPL_ORDER else sum(map(ord, impl))
    return palette[i % len(palette)]


def shape_key(shape):
    nums = [int(x) for x in re.findall(r"\d+", shape)]
    return (sum(nums), nums)


def mega_items_with_range(cases):
    """Each case's median items_per_second in millions, and the error bars (below, above)
    that reach its repetitions' minimum and maximum (0 when there was one repetition)."""
    ys = [c.value("items_per_second") * 1e-6 for c in cases]
    err = [[], []]
    for c, y in zip(cases, ys):
        r = c.range("items_per_second")
        err[0].append(y - r[0] * 1e-6 if r else 0)
        err[1].append(r[1] * 1e-6 - y if r else 0)
    return ys, err


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


class Plotter:
    def __init__(self, plt, out, dpi):
        self.plt = plt
        self.out = out
        self.dpi = dpi
        self.written = []

    def finish(self, fig, name, cases, note=None):
        runs = sorted({c.run for c in cases}, key=lambda r: (r.date, r.path))
        text = "\n".join(textwrap.fill(r.footer(), 170) for r in runs)
        if note:
            text = note + "\n" + text
        lines = text.count("\n") + 1
        fig.text(0.01, 0.005, text, fontsize=6.5, va="bottom", ha="left", family="monospace")
        from matplotlib.ticker import FormatStrFormatter, LogLocator
        for ax in fig.axes:  # label 2x and 5x minor ticks of log axes too
            if ax.get_yscale() == "log":
                ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
                ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
                ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
                ax.tick_params(axis="y", which="minor", labelsize=6)
        # Leave room for the footer: ~0.11 inch per line of 6.5 pt text.
        bottom = min(0.45, (0.12 * lines + 0.1) / fig.get_figheight())
        fig.tight_layout(rect=(0, bottom, 1, 1))
        path = os.path.join(self.out, name + ".png")
        fig.savefig(path, dpi=self.dpi, metadata={"Software": None})
        self.plt.close(fig)
        self.written.append(path)

    def bars(self, ax, groups, series, get, log=False, ylabel="", scale=1.0, annotate=True):
        """Grouped bars: one group per x label, one bar per series; get(group, series) ->
        Case or None. Error bars from the repetitions' min..max."""
        metric = get.metric
        n = max(1, len(series))
        width = 0.8 / n
        for j, s in enumerate(series):
            xs, ys, lo, hi = [], [], [], []
            for i, g in enumerate(groups):
                case = get(g, s)
                v = case.value(metric) if case else None
                if v is None:
                    continue
                r = case.range(metric)
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(v * scale)
                lo.append(v * scale - (r[0] * scale if r else v * scale))
                hi.append((r[1] * scale if r else v * scale) - v * scale)
            if not xs:
                continue
            ax.bar(xs, ys, width, label=s, yerr=[lo, hi], capsize=2, error_kw={"elinewidth": 0.8},
                   color=impl_color(s))
            if annotate:
                for x, y in zip(xs, ys):
                    ax.text(x, y, fmt(y), ha="center", va="bottom", fontsize=6, rotation=90 if n > 3 else 0)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups)
        if log:
            ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)

    # ---------------------------------------------------------------- message_passing

    def message_passing(self, cases):
        found = cases.matching(r"(spsc|spsc_batch|mpsc|mpmc)/(\d+x\d+)/([^/]+)")
        if not found:
            return
        kinds = [k for k in ("spsc", "spsc_batch", "mpsc", "mpmc") if any(m.group(1) == k for m, _ in found)]
        fig, axes = self.plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 4.4), squeeze=False)
        used = []
        for ax, kind in zip(axes[0], kinds):
            table = {(m.group(2), m.group(3)): c for m, c in found if m.group(1) == kind}
            shapes = sorted({s for s, _ in table}, key=shape_key)
            impls = sorted({i for _, i in table}, key=impl_key)
            get = lambda g, s: table.get((g, s))
            get.metric = "items_per_second"
            self.bars(ax, shapes, impls, get, log=True, ylabel="M msg/s (log)", scale=1e-6)
            ax.set_title(f"{kind}: producers x consumers")
            ax.set_xlabel("shape (P x C)")
            used += table.values()
        handles, labels = [], []
        for ax in axes[0]:
            for h, l in zip(*ax.get_legend_handles_labels()):
                if l not in labels:
                    handles.append(h)
                    labels.append(l)
        fig.legend(handles, labels, loc="upper right", fontsize=7, ncol=len(labels))
        fig.suptitle("message_passing throughput (median of repetitions; bars: min-max)", fontsize=10, x=0.3)
        shapes_all = sorted({m.group(2) for m, _ in found}, key=shape_key)
        note = f"shapes measured: {', '.join(shapes_all)} (only those whose threads fit the allowed CPUs are registered)"
        self.finish(fig, "message_passing_throughput", used, note)

    # ---------------------------------------------------------------- worker_pool

    def scaling(self, cases):
        keyed = cases.matching(r"pool_keyed/(\d+)x(\d+)/([^/]+)")
        mesh = cases.matching(r"pool_mesh/(\d+)/([^/]+)")
        ingress = cases.matching(r"ingress/(\d+)x1/([^/]+)")
        panels = [p for p in (("keyed", keyed), ("mesh", mesh), ("ingress", ingress)) if p[1]]
        if not panels:
            return
        fig, axes = self.plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.2), squeeze=False)
        used = []
        for ax, (what, found) in zip(axes[0], panels):
            series = {}
            for m, c in found:
                w = int(m.group(1))
                impl = m.group(m.lastindex)
                series.setdefault(impl, []).append((w, c))
            for impl in sorted(series, key=impl_key):
                pts = sorted(series[impl])
                xs = [w for w, _ in pts]
                ys, err = mega_items_with_range([c for _, c in pts])
                ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=impl, color=impl_color(impl))
                for x, y in zip(xs, ys):
                    ax.annotate(fmt(y), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
                if impl == "sn" and len(xs) > 1 and what != "ingress":
                    # Ideal linear scaling from the smallest shape, for reference.
                    x0, y0 = xs[0], ys[0]
                    ax.plot(xs, [y0 * x / x0 for x in xs], ls=":", color="gray", lw=1, label="sn, linear")
                used += [c for _, c in pts]
            xs_all = sorted({int(m.group(1)) for m, _ in found})
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs_all)
            ax.set_xticklabels([str(x) for x in xs_all])
            ax.set_xlim(min(xs_all) / 1.5, max(max(xs_all) * 1.5, 8))
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.set_ylabel("M msg/s")
            ax.legend(fontsize=7)
            if what == "keyed":
                ax.set_title("pool_keyed/WxW: W producers, W workers")
                ax.set_xlabel("workers W")
            elif what == "mesh":
                ax.set_title("pool_mesh/W: all-to-all between workers")
                ax.set_xlabel("workers W")
            else:
                ax.set_title("ingress/Px1: P producers, 1 consumer")
                ax.set_xlabel("producers P")
        fig.suptitle("worker_pool scaling (median of repetitions; bars: min-max)", fontsize=10)
        ws = sorted({int(m.group(1)) for m, _ in keyed + mesh})
        note = (f"worker counts measured: {', '.join(map(str, ws))}; larger pools register only where each thread "
                "gets its own CPU, so missing points were not measured on this machine")
        self.finish(fig, "worker_pool_scaling", used, note)

    def latency(self, cases):
        rtt = cases.matching(r"(rtt|pool_rtt)/([^/]+)")
        rtt = [(m, c) for m, c in rtt if c.value("p50_ns") is not None]
        idle = [(m, c) for m, c in cases.matching(r"pool_idle/([^/]+)") if c.value("wake_p50_us") is not None]
        if not rtt and not idle:
            return
        panels = (1 if rtt else 0) + (1 if idle else 0)
        fig, axes = self.plt.subplots(1, panels, figsize=(7.5 if panels == 1 else 11, 4.4), squeeze=False,
                                      gridspec_kw={"width_ratios": [3, 1][:panels]})
        used = []
        i = 0
        if rtt:
            ax = axes[0][i]
            i += 1
            names = sorted((f"{m.group(1)}/{m.group(2)}" for m, _ in rtt),
                           key=lambda n: (n.split("/")[0], impl_key(n.split("/")[1])))
            table = {f"{m.group(1)}/{m.group(2)}": c for m, c in rtt}
            pcts = [p for p in ("p50_ns", "p99_ns", "p999_ns") if any(c.value(p) is not None for c in table.values())]

            def get(g, s):
                return table.get(g) if table.get(g) and table[g].value(s) is not None else None

            # One series per percentile; bars() reads get.metric, so draw each separately.
            n = len(pcts)
            width = 0.8 / n
            for j, p in enumerate(pcts):
                xs, ys = [], []
                for k, name in enumerate(names):
                    v = table[name].value(p)
                    if v is not None:
                        xs.append(k - 0.4 + width * (j + 0.5))
                        ys.append(v)
                ax.bar(xs, ys, width, label=p.replace("_ns", ""))
                for x, y in zip(xs, ys):
                    ax.text(x, y, fmt(y), ha="center", va="bottom", fontsize=6, rotation=90)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
            ax.set_yscale("log")
            ax.set_ylabel("round trip, ns (log)")
            ax.set_title("round-trip latency percentiles (cacheline = hardware floor)")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=7)
            used += table.values()
        if idle:
            ax = axes[0][i]
            table = {m.group(1): c for m, c in idle}
            get = lambda g, s: table.get(g)
            names = sorted(table)
            for j, p in enumerate(("wake_p50_us", "wake_p99_us")):
                xs = [k - 0.2 + 0.4 * j for k in range(len(names))]
                ys = [table[n].value(p) for n in names]
                ax.bar(xs, ys, 0.4, label=p.replace("wake_", "").replace("_us", ""))
                for x, y in zip(xs, ys):
                    ax.text(x, y, fmt(y), ha="center", va="bottom", fontsize=7)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels([f"pool_idle/{n}" for n in names], fontsize=7)
            ax.set_ylabel("wake-up of a parked worker, µs")
            ax.set_title("parked worker wake-up")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=7)
            used += table.values()
        fig.suptitle("latency percentiles (median over repetitions of each percentile)", fontsize=10)
        self.finish(fig, "latency_percentiles", used)

    # ---------------------------------------------------------------- tuning

    def tuning_sweep(self, cases, knob, xlabel, title):
        found = cases.matching(rf"tuning/{knob}/(\d+)")
        if not found:
            return
        pts = sorted((int(m.group(1)), c) for m, c in found)
        xs = [x for x, _ in pts]
        ys, err = mega_items_with_range([c for _, c in pts])
        fig, ax = self.plt.subplots(figsize=(6.4, 4.2))
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3)
        for x, y in zip(xs, ys):
            ax.annotate(fmt(y), (x, y), textcoords="offset points", xytext=(4, 6), fontsize=7)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
        ax.set_ylim(bottom=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("M msg/s (1 producer -> 1 worker)")
        ax.set_title(title + " (median; bars: min-max)", fontsize=10)
        ax.grid(alpha=0.3)
        self.finish(fig, f"tuning_{knob}", [c for _, c in pts])

    def tuning_affinity(self, cases):
        found = cases.matching(r"tuning/affinity/([^/]+)")
        if not found:
            return
        table = {m.group(1): c for m, c in found}
        names = [n for n in ("off", "on") if n in table] + sorted(n for n in table if n not in ("off", "on"))
        fig, ax = self.plt.subplots(figsize=(5.2, 4.2))
        get = lambda g, s: table.get(g)
        get.metric = "items_per_second"
        self.bars(ax, names, ["throughput"], get, ylabel="M msg/s (1 producer -> 1 worker)", scale=1e-6)
        ax.set_xticklabels([f"pinning {n}" for n in names])
        ax.set_title("cpu_affinity (median; bars: min-max)", fontsize=10)
        self.finish(fig, "tuning_affinity", list(table.values()))

    def tuning_wait(self, cases):
        stream = {m.group(1): c for m, c in cases.matching(r"tuning/wait/([^/]+)")}
        wake = {m.group(1): c for m, c in cases.matching(r"tuning/wake/([^/]+)")}
        if not stream and not wake:
            return
        order = ["spin", "yield", "low_latency", "default", "park"]
        names = [n for n in order if n in stream or n in wake] + sorted(
            n for n in set(stream) | set(wake) if n not in order)
        panels = [p for p in ("stream", "wake", "cpu") if (p == "stream" and stream) or (p != "stream" and wake)]
        fig, axes = self.plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), squeeze=False)
        used = list(stream.values()) + list(wake.values())
        for ax, p in zip(axes[0], panels):
            if p == "stream":
                get = lambda g, s: stream.get(g)
                get.metric = "items_per_second"
                self.bars(ax, names, ["throughput"], get, ylabel="M msg/s, streaming", scale=1e-6)
                ax.set_title("throughput, 1 producer -> 1 worker", fontsize=9)
            elif p == "wake":
                for j, metric in enumerate(("wake_p50_us", "wake_p99_us")):
                    get = lambda g, s, metric=metric: wake.get(g)
                    xs, ys = [], []
                    for k, n in enumerate(names):
                        c = wake.get(n)
                        if c and c.value(metric) is not None:
                            xs.append(k - 0.2 + 0.4 * j)
                            ys.append(c.value(metric))
                    ax.bar(xs, ys, 0.4, label=metric.replace("wake_", "").replace("_us", ""))
                    for x, y in zip(xs, ys):
                        ax.text(x, y, fmt(y), ha="center", va="bottom", fontsize=6)
                ax.set_yscale("log")
                ax.set_ylabel("send -> handler, µs (log)")
                ax.set_title("wake-up latency, 1 msg per ms", fontsize=9)
                ax.legend(fontsize=7)
            else:
                for j, metric in enumerate(("idle_cpu_percent", "lowrate_cpu_percent")):
                    xs, ys = [], []
                    for k, n in enumerate(names):
                        c = wake.get(n)
                        if c and c.value(metric) is not None:
                            xs.append(k - 0.2 + 0.4 * j)
                            ys.append(c.value(metric))
                    label = "idle (no messages)" if metric.startswith("idle") else "1 msg per ms"
                    ax.bar(xs, ys, 0.4, label=label)
                    for x, y in zip(xs, ys):
                        ax.text(x, y, fmt(y), ha="center", va="bottom", fontsize=6)
                ax.set_ylabel("process CPU, % of one CPU")
                ax.set_title("CPU use while waiting", fontsize=9)
                ax.legend(fontsize=7)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=20, fontsize=8)
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle("wait policy: spin {2^32-1,0}, yield {0,2^32-1}, low_latency {2^20,256}, "
                     "default {4096,16}, park {0,0}  (medians)", fontsize=9)
        self.finish(fig, "tuning_wait", used)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="Google Benchmark JSON files (--benchmark_out)")
    ap.add_argument("--out", default="docs/plots", help="directory for the PNGs (default docs/plots)")
    ap.add_argument("--dpi", type=int, default=100)
    args = ap.parse_args()

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        # A pyenv or venv python3 may lack the distribution's matplotlib: try the system one.
        system = "/usr/bin/python3"
        if (not os.environ.get("PLOT_BENCH_REEXEC") and os.path.exists(system)
                and os.path.realpath(sys.executable) != os.path.realpath(system)):
            print(f"plot_bench.py: no matplotlib in {sys.executable}; trying {system}", file=sys.stderr)
            os.environ["PLOT_BENCH_REEXEC"] = "1"
            try:
                os.execv(system, [system] + sys.argv)
            except OSError:
                pass
        sys.exit("plot_bench.py needs matplotlib: apt-get install python3-matplotlib "
                 "(or pip install matplotlib into the python3 that runs this script)")
    plt.rcParams.update({"font.size": 8, "svg.hashsalt": "sn", "figure.max_open_warning": 0})

    runs = []
    for path in args.json:
        try:
            runs.append(Run(path))
        except (OSError, ValueError) as e:
            sys.exit(f"{path}: {e}")
    cases = Cases(runs)
    os.makedirs(args.out, exist_ok=True)
    p = Plotter(plt, args.out, args.dpi)
    p.message_passing(cases)
    p.scaling(cases)
    p.latency(cases)
    p.tuning_sweep(cases, "queue_capacity", "PoolConfig::queue_capacity (slots)", "queue_capacity")
    p.tuning_sweep(cases, "batch_size", "PoolConfig::batch_size (messages per loop iteration)", "batch_size")
    p.tuning_affinity(cases)
    p.tuning_wait(cases)
    for name, err in cases.failed():
        print(f"warning: {name} failed in its newest run and is not drawn: {err}", file=sys.stderr)
    if not p.written:
        sys.exit("no known benchmark cases in the input")
    for path in p.written:
        print(path)


if __name__ == "__main__":
    main()
