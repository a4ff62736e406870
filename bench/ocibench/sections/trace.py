"""Section trace: where the time of `run` goes, from ocirt's own --trace.

Runtime a only (runc has no trace). Each round runs the /bin/true bundle
(the demo's: `ocirt spec`'s config) twice, in alternating order: once plain
and once with `--trace FILE` (a new file each time), reads the spans of
every process of the traced run (the command, stage-1 if any, the
container's init), relative to the start of `run`'s own span, and keeps the
mean of each phase and the whole timeline of the median run. The report
gives the mean of each phase, the cost of tracing when it is on (traced vs
plain `run`), and when it is off: the trace points one run passes, times
what a disabled point costs (`ocirt.TRACE and ocirt.TRACE.begin(...)`
with TRACE None, timed here by timeit). The chart, <output>-trace.png, is
a timeline of the run of median length, one row per process and nesting
level, and the mean phases stacked per process (chart.draw_trace).
"""
import json
import os
import subprocess
import sys

from ..proc import CommandFailed
from ..table import fmt, med, section_heading

TITLE = "Where `run` spends its time (ocirt --trace)"


def load(path):
    """A trace file as Perfetto reads it: its text plus the closing bracket."""
    with open(path) as f:
        text = f.read()
    return json.loads(text if text.rstrip().endswith("]") else text + "]")


def spans_by_process(events):
    """{process name: [[name, start ms, duration ms, depth], ...]}, times
    relative to the start of the command's own (longest) span."""
    names = {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M"}
    spans = [e for e in events if e["ph"] == "X"]
    t0 = min(e["ts"] for e in spans)
    out = {}
    for pid in sorted({e["pid"] for e in spans}, key=lambda p: min(
            e["ts"] for e in spans if e["pid"] == p)):
        mine = sorted((e for e in spans if e["pid"] == pid), key=lambda e: (e["ts"], -e["dur"]))
        stack, rows = [], []
        for e in mine:
            while stack and e["ts"] >= stack[-1] - 1e-3:
                stack.pop()
            rows.append([e["name"], (e["ts"] - t0) / 1000, e["dur"] / 1000, len(stack)])
            stack.append(e["ts"] + e["dur"])
        out[names.get(pid, str(pid))] = rows
    return out


def disabled_point_ns(python=sys.executable):
    """ns per `m.TRACE and m.TRACE.begin(...)` with m.TRACE None: the test
    every trace point makes when tracing is off."""
    code = ("import timeit, types\nm = types.ModuleType('ocirt'); m.TRACE = None\n"
            "n = 2_000_000\nt = min(timeit.repeat(\"m.TRACE and m.TRACE.begin('x')\", "
            "globals={'m': m}, number=n, repeat=5))\n"
            "e = min(timeit.repeat('pass', number=n, repeat=5))\nprint((t - e) / n * 1e9)")
    r = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return float(r.stdout) if r.returncode == 0 else None


def run(bench):
    rt = bench.a
    bundle = bench.b_true()
    plain, traced, runs = [], [], []
    failed = None
    print(f"# trace: {bench.args.warmup} warm-up + {bench.args.runs} rounds of {rt.label} "
          "run, plain and --trace", file=sys.stderr, flush=True)

    def one(with_trace, keep):
        cid = bench.new_id(rt, "trace")
        path = os.path.join(bench.tmp, f"{cid}.json")
        args = ["--trace", path] if with_trace else []
        r = bench.call(rt, *args, "run", "--bundle", bundle, cid)
        rt.ids.discard(cid)
        if not keep:
            return
        (traced if with_trace else plain).append(r.wall)
        if with_trace:
            try:
                runs.append(spans_by_process(load(path)))
            except (OSError, ValueError, KeyError) as e:
                raise CommandFailed(rt.label, r.argv, f"unreadable trace {path}: {e}")
            os.unlink(path)
    try:
        for _ in range(bench.args.warmup):
            failed = rt.label
            one(True, False)
            one(False, False)
        for i in range(bench.args.runs):
            for with_trace in ((True, False) if i % 2 == 0 else (False, True)):
                one(with_trace, True)
        failed = None
    except CommandFailed as e:
        bench.fail(e)
        bench.cleanup_containers()
    timeline = median_run(runs)
    bench.cur.update(plain=plain, traced=traced, failed=failed, point_ns=disabled_point_ns(),
                     count=len(runs), phases=list(mean_phases(runs).items()),
                     points=points_per_run(timeline) if timeline else 0,
                     timeline={proc: [[n, round(s, 3), round(d, 3), depth]
                                      for n, s, d, depth in rows]
                               for proc, rows in (timeline or {}).items()})


def mean_phases(runs):
    """{process: [(phase, mean ms)]}: the phases one level below each
    process's outermost span, and "other" (the outermost less them)."""
    sums, counts, order = {}, {}, {}
    for r in runs:
        for proc, rows in r.items():
            top = max((row for row in rows if row[3] == 0), key=lambda x: x[2], default=None)
            if top is None:
                continue
            inner = [row for row in rows if row[3] == 1]
            parts = [(row[0], row[2]) for row in inner]
            parts.append(("other", top[2] - sum(d for _, d in parts)))
            for name, d in parts:
                key = (proc, name)
                sums[key] = sums.get(key, 0) + d
                counts[key] = counts.get(key, 0) + 1
                order.setdefault(proc, [])
                if name not in order[proc]:
                    order[proc].append(name)
    n = len(runs) or 1
    return {proc: [(name, sums[(proc, name)] / n) for name in names]
            for proc, names in order.items()}


def median_run(runs):
    """The traced run of median length (the one the timeline shows)."""
    if not runs:
        return None
    def length(r):
        return max(row[1] + row[2] for rows in r.values() for row in rows)
    return sorted(runs, key=length)[len(runs) // 2]


def points_per_run(run):
    """Trace points one traced run passed: a begin and an end per span."""
    return 2 * sum(len(rows) for rows in run.values())


def render(sec, la, lb, out, chart):
    section_heading(TITLE, "trace", sec, out, what="rounds")
    if sec.get("failed"):
        out.append(f"**FAILED ({sec['failed']})**; see Failures.")
        out.append("")
    if not sec.get("count"):
        out.append("No traced run.")
        out.append("")
        return
    plain, traced = med(sec.get("plain", [])), med(sec.get("traced", []))
    out.append(f"`{la} --trace FILE run` of the /bin/true bundle, {sec['count']} runs: the mean "
               "of each phase, by process (one level below the process's own span; "
               "\"other\" is what no phase covers: imports, the interpreter's start is not "
               "in any span).")
    out.append("")
    out.append("| process | phase | mean ms |")
    out.append("|---|---|---:|")
    for proc, phases in sec["phases"]:
        for name, ms in phases:
            out.append(f"| {proc} | {name} | {ms:.2f} |")
    out.append("")
    if plain and traced:
        out.append(f"Tracing on: `run` takes {fmt(traced, 1000, 2)} ms traced against "
                   f"{fmt(plain, 1000, 2)} ms plain (medians; {traced / plain:.3f}×).")
    pts = sec["points"]
    ns = sec.get("point_ns")
    if ns is not None and plain:
        out.append(f"Tracing off: a run passes about {pts} trace points; a disabled one "
                   f"costs {ns:.1f} ns (timeit), so {pts * ns / 1000:.2f} µs in all, "
                   f"{pts * ns / 1e9 / plain * 100:.4f}% of the plain run's "
                   f"{fmt(plain, 1000, 2)} ms.")
    out.append("")
    out.append("The timeline of the median run is the chart `<output>-trace.png` "
               "(bench/RESULTS-trace.png), drawn with the ratio chart.")
    out.append("")
