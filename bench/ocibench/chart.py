"""The chart: the ratio of the medians per row, and run /bin/true over the floor;
and, with the trace section, where `run`'s time goes (<chart>-trace.png).

matplotlib is optional: if this Python cannot import it, bench/.venv's python
(made by --setup-chart) draws the chart through run.py --chart-from.
"""
import json
import os
import subprocess
import sys

from .report import report
from .runner import BENCH_DIR

CHART_VENV = os.path.join(BENCH_DIR, ".venv")
RUN_PY = os.path.join(BENCH_DIR, "run.py")


GROUP_COLORS = {"ops": "tab:blue", "exec": "tab:cyan", "memory": "tab:green",
                "scale": "tab:orange", "podman": "tab:purple"}


def draw_chart(chart, path, la, lb):
    """Horizontal bars: ratio la/lb per row; a second panel: run /bin/true ÷ floor."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    main = [(g, n, r) for g, n, r in chart if r is not None and g != "floor"]
    floor = [(g, n, r) for g, n, r in chart if r is not None and g == "floor"]
    if not main and not floor:
        return False
    heights = [max(1, len(main)), max(1, len(floor))] if floor else [max(1, len(main))]
    fig, axes = plt.subplots(len(heights), 1, squeeze=False,
                             figsize=(9, 0.32 * sum(heights) + 1.8 * len(heights)),
                             gridspec_kw={"height_ratios": heights})
    ax = axes[0][0]
    if main:
        ax.barh([n for _, n, _ in main][::-1], [r for _, _, r in main][::-1],
                color=[GROUP_COLORS.get(g, "tab:gray") for g, _, _ in main][::-1])
        ax.axvline(1.0, color="black", linewidth=0.8)
        for y, (_, _, r) in enumerate(main[::-1]):
            ax.text(r, y, f" {r:.2f}", va="center", fontsize=7)
        ax.set_xlabel(f"ratio {la}/{lb} of the medians (1.0 = as fast / as small; "
                      "colour = section)")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlim(0, max(r for _, _, r in main) * 1.15)
    if floor:
        fx = axes[1][0]
        fx.barh([n for _, n, _ in floor][::-1], [r for _, _, r in floor][::-1],
                color="tab:red")
        for y, (_, _, r) in enumerate(floor[::-1]):
            fx.text(r, y, f" {r:.1f}×", va="center", fontsize=7)
        fx.set_xlabel("median time ÷ the floor (clone + pivot_root + exec, bench/floor.c)")
        fx.tick_params(axis="y", labelsize=7)
        fx.set_xlim(0, max(r for _, _, r in floor) * 1.15)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def trace_png(png):
    return os.path.splitext(png)[0] + "-trace.png"


def draw_trace(sec, path):
    """Two panels from the trace section: the timeline of the median traced
    run (one row per process and nesting level; a bar per span), and the
    mean phases of each process stacked (the same scale: ms since `run`)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    run = sec.get("timeline")
    if not run:
        return False
    lanes = [(proc, depth) for proc, rows in run.items()
             for depth in sorted({r[3] for r in rows})]
    phases = dict(sec["phases"])
    cmap = plt.get_cmap("tab20")
    colors = {}

    def color(name):
        return colors.setdefault(name, cmap(len(colors) % 20))
    fig, (ax, mx) = plt.subplots(2, 1, figsize=(12, 0.42 * len(lanes) + 0.5 * len(phases) + 3),
                                 gridspec_kw={"height_ratios": [len(lanes), len(phases) + 1]})
    for y, (proc, depth) in enumerate(lanes):
        for name, start, dur, d in run[proc]:
            if d != depth:
                continue
            ax.barh(y, dur, left=start, height=0.8, color=color(name), edgecolor="white",
                    linewidth=0.5)
            if dur > 0.6:
                ax.text(start + dur / 2, y, name, ha="center", va="center", fontsize=7,
                        clip_on=True)
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([proc if d == 0 else f"{proc}  +{d}" for proc, d in lanes], fontsize=8)
    ax.invert_yaxis()
    total = max(s + d for rows in run.values() for _, s, d, _ in rows)
    ax.set_xlim(0, total * 1.01)
    ax.set_xlabel("ms since `run` began (CLOCK_MONOTONIC; one row per process and "
                  "nesting level)")
    ax.set_title(f"ocirt run of the /bin/true bundle: the median of {sec['count']} "
                 "traced runs", fontsize=10)
    for y, (proc, parts) in enumerate(phases.items()):
        left = 0
        for name, ms in parts:
            mx.barh(y, ms, left=left, color=color(name) if name != "other" else "lightgray",
                    edgecolor="white", linewidth=0.5)
            if ms > 0.6:
                mx.text(left + ms / 2, y, name, ha="center", va="center", fontsize=7)
            left += ms
        mx.text(left, y, f" {left:.1f} ms", va="center", fontsize=7)
    mx.set_yticks(range(len(phases)))
    mx.set_yticklabels(list(phases), fontsize=8)
    mx.invert_yaxis()
    mx.set_xlim(0, max([total] + [sum(ms for _, ms in p) for p in phases.values()]) * 1.08)
    mx.set_xlabel("mean ms per phase, stacked (the level below each process's own span; "
                  "grey: in no phase)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_chart(json_path, png):
    """Draw the chart here if matplotlib imports, else with bench/.venv's python."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        venv_py = os.path.join(CHART_VENV, "bin", "python")
        if os.access(venv_py, os.X_OK):
            r = subprocess.run([venv_py, RUN_PY, "--chart-from", json_path,
                                "--chart", png])
            return r.returncode == 0
        print("run.py: matplotlib is not importable, so there is no chart. "
              "`python3 bench/run.py --setup-chart` puts it in bench/.venv "
              "(pip install matplotlib, ~200 MB); or pip install matplotlib.",
              file=sys.stderr)
        return False
    with open(json_path) as f:
        data = json.load(f)
    _, chart = report(data)
    if "trace" in data["sections"] and draw_trace(data["sections"]["trace"], trace_png(png)):
        print(f"run.py: trace chart written to {trace_png(png)}", file=sys.stderr)
    if draw_chart(chart, png, data["runtimes"]["a"]["label"], data["runtimes"]["b"]["label"]):
        print(f"run.py: chart written to {png}", file=sys.stderr)
        return True
    return False


def setup_chart():
    py = sys.executable
    if not os.path.exists(os.path.join(CHART_VENV, "bin", "python")):
        subprocess.run([py, "-m", "venv", CHART_VENV], check=True)
    subprocess.run([os.path.join(CHART_VENV, "bin", "pip"), "install", "-q", "matplotlib"],
                   check=True)
    print(f"run.py: matplotlib installed in {CHART_VENV}", file=sys.stderr)
    return 0
