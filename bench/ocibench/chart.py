"""The chart: the ratio of the medians per row, and run /bin/true over the floor.

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
