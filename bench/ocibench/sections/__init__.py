"""The sections of the benchmark, in the order they run and appear in the report.

Each module has TITLE (its heading in the report), run(bench), which measures
and fills bench.cur (rows, failures, what it needs to say), and
render(sec, la, lb, out, chart), which appends its part of the report to out
and its ratios to chart.
"""
import importlib

SECTIONS = ("ops", "exec", "memory", "scale", "podman", "cri", "floor", "rootless", "trace",
            "init", "checkpoint")
MODULES = {name: importlib.import_module(f"{__name__}.{name}") for name in SECTIONS}
