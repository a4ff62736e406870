"""Side-by-side benchmark of two OCI runtimes with runc's CLI (default: ocirt vs runc).

The command line of bench/run.py: the flags, one run of the chosen sections,
and the files it writes (the report, its JSON data, the chart).
"""
import argparse
import json
import os
import platform
import signal
import sys

from .chart import setup_chart, write_chart
from .report import report
from .runner import BENCH_DIR, MAKE_BUNDLE, Bench, now_iso
from .sections import MODULES, SECTIONS


def section_list(text, p):
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SECTIONS]
    if bad:
        p.error(f"unknown section(s) {', '.join(bad)}; sections: {', '.join(SECTIONS)}")
    return names


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=None,
                   help="measured pairs per operation (default 20; 5 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="5 runs, 1 scale round, N=10,100 only: for CI")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed iterations per runtime before measuring (default 1)")
    p.add_argument("--only", default=None, metavar="SECTIONS",
                   help=f"comma-separated sections to run ({','.join(SECTIONS)}); the "
                        "other sections of the previous results are kept")
    p.add_argument("--skip", default=None, metavar="SECTIONS",
                   help="comma-separated sections not to run")
    p.add_argument("--concurrent", type=int, default=50,
                   help="scale: containers created and started at once (default 50)")
    p.add_argument("--scale-rounds", type=int, default=None,
                   help="scale: rounds of the concurrent test per runtime (default 5; 1 with "
                        "--quick)")
    p.add_argument("--scale-n", default=None,
                   help="scale: container counts for list/state (default 10,100,1000; "
                        "10,100 with --quick)")
    p.add_argument("--scale-workers", type=int, default=2 * (os.cpu_count() or 1),
                   help="scale: parallel runtime calls when filling and emptying a root "
                        "(default 2 per CPU)")
    p.add_argument("--runtime-a", default="ocirt", help="default: ocirt on PATH")
    p.add_argument("--runtime-b", default="/usr/sbin/runc", help="default: /usr/sbin/runc")
    p.add_argument("--output", default=os.path.join(BENCH_DIR, "RESULTS.md"),
                   help="Markdown output (default bench/RESULTS.md; the data go to the same "
                        "path with .json)")
    p.add_argument("--chart", default=None,
                   help="PNG chart path (default: OUTPUT with .png; needs matplotlib)")
    p.add_argument("--no-chart", action="store_true", help="do not draw the chart")
    p.add_argument("--chart-from", default=None, metavar="JSON",
                   help="only draw the chart of a results .json, then exit")
    p.add_argument("--setup-chart", action="store_true",
                   help="create bench/.venv with matplotlib for the chart, then exit")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds before a single runtime command is killed (default 30)")
    a = p.parse_args(argv)
    if a.runs is None:
        a.runs = 5 if a.quick else 20
    if a.scale_rounds is None:
        a.scale_rounds = 1 if a.quick else 5
    if a.scale_n is None:
        a.scale_n = "10,100" if a.quick else "10,100,1000"
    try:
        a.scale_n = sorted({int(x) for x in a.scale_n.split(",") if x.strip()})
    except ValueError:
        p.error("--scale-n: comma-separated numbers")
    if a.runs < 1 or a.warmup < 0 or a.concurrent < 1 or a.scale_rounds < 1 or \
            a.scale_workers < 1 or not a.scale_n or min(a.scale_n) < 1:
        p.error("--runs, --concurrent, --scale-rounds, --scale-workers and --scale-n must be "
                ">= 1 and --warmup >= 0")
    sel = section_list(a.only, p) if a.only else list(SECTIONS)
    skip = section_list(a.skip, p) if a.skip else []
    a.sections = [s for s in SECTIONS if s in sel and s not in skip]
    if not a.sections and not (a.chart_from or a.setup_chart):
        p.error("no section left to run")
    if a.chart is None:
        base = a.chart_from or a.output
        a.chart = os.path.splitext(base)[0] + ".png"
    a.json = os.path.splitext(a.output)[0] + ".json"
    return a


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def runtime_info(rt):
    return {"label": rt.label, "path": rt.path, "shim": rt.shim, "version": rt.version()}


def merge_previous(args, data):
    """Keep the sections of the previous results that this run does not measure."""
    if set(args.sections) == set(SECTIONS) or not os.path.exists(args.json):
        return
    try:
        with open(args.json) as f:
            old = json.load(f)
        same = all(old["runtimes"][k]["path"] == data["runtimes"][k]["path"] and
                   old["runtimes"][k]["label"] == data["runtimes"][k]["label"]
                   for k in ("a", "b"))
    except (OSError, ValueError, KeyError, TypeError):
        print(f"run.py: cannot read {args.json}; writing only this run's sections",
              file=sys.stderr)
        return
    if not same:
        print(f"run.py: {args.json} is for other runtimes; writing only this run's sections",
              file=sys.stderr)
        return
    for name, sec in old.get("sections", {}).items():
        if name in SECTIONS and name not in data["sections"]:
            data["sections"][name] = sec


def main(argv=None):
    args = parse_args(argv)
    if args.setup_chart:
        return setup_chart()
    if args.chart_from:
        return 0 if write_chart(args.chart_from, args.chart) else 1
    if os.geteuid() != 0:
        raise SystemExit("run.py: must run as root")
    if not os.path.exists(MAKE_BUNDLE):
        raise SystemExit(f"run.py: {MAKE_BUNDLE} missing")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    bench = Bench(args)
    interrupted = False
    try:
        bench.run_sections([(name, MODULES[name].run) for name in args.sections])
    except KeyboardInterrupt:
        interrupted = True
        print("\nrun.py: interrupted; cleaning up", file=sys.stderr)
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        bench.cleanup()
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
    if interrupted:
        for x in bench.leftovers:
            print(f"run.py: {x}", file=sys.stderr)
        return 130
    data = {"format": 1, "updated": now_iso(),
            "host": {"kernel": platform.release(), "cpus": os.cpu_count(),
                     "python": platform.python_version()},
            "runtimes": {"a": runtime_info(bench.a), "b": runtime_info(bench.b)},
            "sections": dict(bench.results)}
    merge_previous(args, data)
    text, _ = report(data, bench.leftovers)
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(text)
    with open(args.json, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    if not args.no_chart:
        write_chart(args.json, args.chart)
    if bench.failures:
        print(f"\nrun.py: {len(bench.failures)} operation(s) failed:", file=sys.stderr)
        for f in bench.failures:
            print(f.report(), file=sys.stderr)
        return 1
    return 0
