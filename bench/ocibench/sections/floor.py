"""Section floor: what the kernel alone charges for a container of /bin/true.

floor.c, built with gcc here, does only what such a container needs from the
kernel: one clone() with the namespaces of the bundle's config.json, a private
bind mount of the rootfs, pivot_root, exec, waitpid. Each round times it, both
runtimes' foreground `run` of the same bundle and a bare fork+exec, in an order
that rotates from round to round.
"""
import json
import os
import shutil
import subprocess
import sys

from ..proc import CommandFailed, execute
from ..runner import BENCH_DIR
from ..table import fmt, med, section_heading
from .ops import op_run

TITLE = "The floor: what the kernel costs"


def run(bench):
    bundle = bench.b_true()
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    namespaces = [ns["type"] for ns in cfg.get("linux", {}).get("namespaces", [])
                  if not ns.get("path")]
    bench.cur["namespaces"] = namespaces
    gcc = shutil.which("gcc") or shutil.which("cc")
    if not gcc:
        bench.cur["status"] = "gcc not installed"
        return
    floor = os.path.join(bench.tmp, "floor")
    r = subprocess.run([gcc, "-O2", "-o", floor, os.path.join(BENCH_DIR, "floor.c")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        bench.fail(CommandFailed("floor", [gcc, "floor.c"], "bench/floor.c does not build",
                                 r.returncode, r.stdout, r.stderr))
        bench.cur["status"] = "floor.c does not build"
        return
    bench.cur["status"] = "ok"
    rootfs = os.path.join(bundle, "rootfs")
    floor_argv = [floor, rootfs, *namespaces]
    spawn_argv = ["/bin/true"]
    samples = {"run /bin/true": bench.empty()}
    samples["run /bin/true"]["floor"] = []
    samples["run /bin/true"]["spawn"] = []
    data = samples["run /bin/true"]

    def plain(label, argv, keep):
        r = execute(argv, bench.tmp, bench.args.timeout)
        if r.timed_out or r.rc != 0:
            raise CommandFailed(label, argv, "timed out" if r.timed_out else
                                "command failed", r.rc, r.stdout, r.stderr)
        if keep:
            data[label].append(r.wall)

    steps = [
        (bench.a.label, lambda keep: op_run(bench, bench.a, bundle, samples if keep else None)),
        (bench.b.label, lambda keep: op_run(bench, bench.b, bundle, samples if keep else None)),
        ("floor", lambda keep: plain("floor", floor_argv, keep)),
        ("spawn", lambda keep: plain("spawn", spawn_argv, keep)),
    ]
    failed = None
    print(f"# floor: {bench.args.warmup} warm-up + {bench.args.runs} rounds of "
          f"{', '.join(lb for lb, _ in steps)}", file=sys.stderr, flush=True)
    try:
        for label, step in steps:
            for _ in range(bench.args.warmup):
                failed = label
                step(False)
        for i in range(bench.args.runs):
            k = i % len(steps)          # rotate who goes first
            for label, step in steps[k:] + steps[:k]:
                failed = label
                step(True)
        failed = None
    except CommandFailed as e:
        bench.fail(e)
        bench.cleanup_containers()
    bench.cur["data"] = data
    bench.cur["failed"] = failed


def render(sec, la, lb, out, chart):
    section_heading(TITLE, "floor", sec, out, what="rounds")
    status = sec.get("status", "?")
    if status != "ok":
        out.append(f"Floor not measured: {status}.")
        out.append("")
        return
    data, failed = sec.get("data", {}), sec.get("failed")
    if failed:
        out.append(f"**FAILED ({failed})**; see Failures.")
        out.append("")
    fl = med(data.get("floor", []))
    ns = ", ".join(sec.get("namespaces", []))
    names = {
        "floor": f"floor: clone({ns}) + pivot_root + exec /bin/true",
        la: f"{la} run /bin/true",
        lb: f"{lb} run /bin/true",
        "spawn": "fork+exec of the host's /bin/true (no namespaces)",
    }
    out.append("| what | median ms | min–max | × floor | above the floor |")
    out.append("|---|---:|---:|---:|---:|")
    for key in ("floor", la, lb, "spawn"):
        xs = data.get(key, [])
        if not xs:
            out.append(f"| {names[key]} | {'FAILED' if failed == key else '—'} | — | — | — |")
            continue
        m = med(xs)
        times = f"{m / fl:.1f}" if fl else "—"
        above = f"{(m - fl) * 1000:+.1f} ms" if fl else "—"
        out.append(f"| {names[key]} | {fmt(m, 1000)} | {fmt(min(xs), 1000)}–"
                   f"{fmt(max(xs), 1000)} | {times} | {above} |")
        if key in (la, lb) and fl and not failed:
            chart.append(("floor", f"{la if key == la else lb} run /bin/true ÷ floor", m / fl))
    out.append("")
    out.append("`bench/floor.c`, built with gcc by the benchmark, is all a container of "
               "/bin/true needs from the kernel: one clone() with the namespaces of the "
               f"benchmark's config.json ({ns}), a private bind mount of the same busybox "
               "rootfs, pivot_root, exec of its /bin/true, waitpid. No cgroup, no /proc, "
               "/dev or /sys mounts, no capabilities, masked paths or seccomp. Each "
               "round times the floor, both runtimes' foreground `run` of the same bundle "
               "and the bare fork+exec, in an order that rotates from round to round; every "
               "time includes starting the program from the benchmark.")
