"""Section ops: the commands an engine calls, one by one, against the same bundles.

`run /bin/true` in the foreground; create, start, state, kill and delete of one
`sleep 1000` lifecycle, each timed alone; and the engine's lifecycle (create
--pid-file, start, kill TERM, delete --force) timed as a whole.
"""
import functools
import os

from ..proc import CommandFailed
from ..table import pairs_table, section_heading

TITLE = "Operations"


def op_run(bench, rt, bundle, samples, name="run /bin/true"):
    cid = bench.new_id(rt, "run")
    r = bench.call(rt, "run", "--bundle", bundle, cid)
    if os.path.exists(os.path.join(rt.root, cid)):
        raise CommandFailed(rt.label, r.argv, "foreground run left the container behind "
                            f"({os.path.join(rt.root, cid)} exists)", r.rc, r.stdout,
                            r.stderr)
    rt.ids.discard(cid)
    if samples is not None:
        samples[name][rt.label].append(r.wall)


def op_lifecycle(bench, rt, bundle, samples):
    cid = bench.new_id(rt, "life")
    rc = bench.call(rt, "create", "--bundle", bundle, cid)
    st = bench.state(rt, cid)
    bench.expect_status(rt, cid, st, "created")
    bench.note_init(rt, st.get("pid"))
    rs = bench.call(rt, "start", cid)
    rq = bench.call(rt, "state", cid)
    bench.expect_status(rt, cid, bench.state(rt, cid, rq), "running", rq)
    rk = bench.call(rt, "kill", cid, "9")
    bench.wait_stopped(rt, cid)
    rd = bench.call(rt, "delete", cid)
    if os.path.exists(os.path.join(rt.root, cid)):
        raise CommandFailed(rt.label, rd.argv, "delete left the state directory behind")
    rt.ids.discard(cid)
    if samples is not None:
        for name, r in (("create", rc), ("start", rs), ("state (running)", rq),
                        ("kill KILL", rk), ("delete (stopped)", rd)):
            samples[name][rt.label].append(r.wall)


def op_engine(bench, rt, bundle, samples):
    cid = bench.new_id(rt, "eng")
    pid_file = os.path.join(bench.tmp, f"{cid}.pid")
    total = 0.0
    total += bench.call(rt, "create", "--bundle", bundle, "--pid-file", pid_file, cid).wall
    try:
        with open(pid_file) as f:
            bench.note_init(rt, int(f.read().strip()))
    except (OSError, ValueError) as e:
        raise CommandFailed(rt.label, rt.argv("create", "--pid-file", pid_file, cid),
                            f"bad --pid-file: {e}")
    total += bench.call(rt, "start", cid).wall
    total += bench.call(rt, "kill", cid, "15").wall
    rd = bench.call(rt, "delete", "--force", cid)
    total += rd.wall
    if os.path.exists(os.path.join(rt.root, cid)):
        raise CommandFailed(rt.label, rd.argv, "delete --force left the state directory "
                            "behind")
    rt.ids.discard(cid)
    os.unlink(pid_file)
    if samples is not None:
        samples["engine lifecycle (create+start+kill TERM+delete -f)"][rt.label].append(total)


def run(bench):
    b_true, b_sleep = bench.b_true(), bench.b_sleep()
    bench.measure("run /bin/true", functools.partial(op_run, bench), b_true,
                  ["run /bin/true"])
    bench.measure("lifecycle steps (sleep 1000)", functools.partial(op_lifecycle, bench),
                  b_sleep, ["create", "start", "state (running)", "kill KILL",
                            "delete (stopped)"])
    bench.measure("engine lifecycle (sleep 1000)", functools.partial(op_engine, bench),
                  b_sleep, ["engine lifecycle (create+start+kill TERM+delete -f)"])


def render(sec, la, lb, out, chart):
    section_heading(TITLE, "ops", sec, out)
    pairs_table(sec["rows"], la, lb, "s", out, chart, "ops")
    out.append("")
    out.append("Each `run /bin/true` is a foreground run that removes the container. "
               "`create` … `delete` are the single calls of one `sleep 1000` lifecycle; "
               "`kill KILL` is followed by untimed `state` polling until stopped, then "
               "`delete`. The engine lifecycle's `sleep` is pid 1 of its pid namespace and "
               "ignores SIGTERM, so `delete --force` does the kill.")
