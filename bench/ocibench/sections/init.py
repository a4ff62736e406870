"""Section init: the memory of ocirt's built-in init (`run --init`).

Runtime A runs `sleep 1000` with --init (pid 1 is then the built-in init,
csrc/init.c, and sleep its child); runtime B runs it plainly (pid 1 is
sleep itself), for scale. Each round reads VmRSS of the pid that `state`
reports (pid 1 of the container) from /proc/<pid>/status on the host. The
init's budget is 1 MiB.
"""
import os
import sys

from ..proc import CommandFailed, vmrss_kb
from ..table import fmt, med, section_heading

TITLE = "Built-in init"
LIMIT_KB = 1024


def pid1_rss(bench, rt, flags):
    cid = bench.new_id(rt, "init")
    r = bench.call(rt, "run", "-d", *flags, "--bundle", bench.b_sleep(), cid)
    try:
        st = bench.state(rt, cid)
        bench.expect_status(rt, cid, st, "running", r)
        pid = st.get("pid")
        bench.note_init(rt, pid)
        kb = vmrss_kb(pid) if pid else None
        if kb is None:
            raise CommandFailed(rt.label, r.argv, f"cannot read VmRSS of pid 1 (pid {pid})",
                                stdout=r.stdout)
    finally:
        bench.call(rt, "delete", "--force", cid, expect_rc=None)
        if not os.path.exists(os.path.join(rt.root, cid)):
            rt.ids.discard(cid)
    return kb


def run(bench):
    data = {bench.a.label: [], bench.b.label: []}
    steps = ((bench.a, ("--init",)), (bench.b, ()))
    print(f"# init: {bench.args.warmup} warm-up + {bench.args.runs} rounds", file=sys.stderr,
          flush=True)
    failed = None
    try:
        for rt, flags in steps:
            for _ in range(bench.args.warmup):
                failed = rt.label
                pid1_rss(bench, rt, flags)
        for _ in range(bench.args.runs):
            for rt, flags in steps:
                failed = rt.label
                data[rt.label].append(pid1_rss(bench, rt, flags))
        failed = None
    except CommandFailed as e:
        bench.fail(e)
        bench.cleanup_containers()
    bench.cur["data"] = data
    bench.cur["failed"] = failed


def render(sec, la, lb, out, chart):
    section_heading(TITLE, "init", sec, out, what="rounds")
    data, failed = sec.get("data", {}), sec.get("failed")
    if failed:
        out.append(f"**FAILED ({failed})**; see Failures.")
        out.append("")
    names = {la: f"{la} run --init: the built-in init", lb: f"{lb} run: the process (sleep)"}
    out.append("| pid 1 of a running container of `sleep 1000` | median KiB | min–max |")
    out.append("|---|---:|---:|")
    for key in (la, lb):
        xs = data.get(key, [])
        if not xs:
            out.append(f"| {names[key]} | {'FAILED' if failed == key else '—'} | — |")
            continue
        out.append(f"| {names[key]} | {fmt(med(xs), 1, 0)} | {fmt(min(xs), 1, 0)}–"
                   f"{fmt(max(xs), 1, 0)} |")
    xs = data.get(la, [])
    if xs:
        verdict = "within" if max(xs) <= LIMIT_KB else "OVER"
        out.append("")
        out.append(f"The built-in init's VmRSS (read from /proc/<pid>/status on the host) is "
                   f"{verdict} its budget of {LIMIT_KB} KiB in every round; its child, "
                   f"the process, is not counted. {lb} has no built-in init: its row is the "
                   f"process itself as pid 1, for scale.")
    out.append("")
