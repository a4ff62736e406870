"""Section exec: `exec ID /bin/true` into a running container, as engines do for probes.

Each runtime runs one `sleep 1000` container, created and started untimed; the
timed call is a foreground exec, which returns when /bin/true has exited in it.
"""
import os

from ..proc import CommandFailed
from ..runner import TRUE_ARGS
from ..table import pairs_table, section_heading

TITLE = "exec into a running container"
EXEC_ROW = "exec /bin/true (into a running container)"


def op_exec(bench, rt, cid, samples):
    r = bench.call(rt, "exec", cid, *TRUE_ARGS)
    if samples is not None:
        samples[EXEC_ROW][rt.label].append(r.wall)


def run(bench):
    """exec /bin/true into one running `sleep 1000` container per runtime."""
    bundle = bench.b_sleep()
    target = {}
    try:
        for rt in (bench.a, bench.b):
            cid = bench.new_id(rt, "exec")
            bench.call(rt, "create", "--bundle", bundle, cid)
            bench.call(rt, "start", cid)
            st = bench.state(rt, cid)
            bench.expect_status(rt, cid, st, "running")
            bench.note_init(rt, st.get("pid"))
            target[rt.label] = cid
    except CommandFailed as e:
        bench.fail(e)
        bench.add_row(EXEC_ROW, "s", bench.empty(), e.runtime)
    else:
        bench.measure("exec /bin/true",
                      lambda rt, _, s: op_exec(bench, rt, target[rt.label], s),
                      None, [EXEC_ROW])
    finally:
        for rt in (bench.a, bench.b):
            if rt.label in target:
                bench.force_delete(rt, target[rt.label])
                if not os.path.exists(os.path.join(rt.root, target[rt.label])):
                    rt.ids.discard(target[rt.label])


def render(sec, la, lb, out, chart):
    section_heading(TITLE, "exec", sec, out)
    pairs_table(sec["rows"], la, lb, "s", out, chart, "exec")
    out.append("")
    out.append("Each runtime runs one `sleep 1000` container (created and started untimed); "
               "the timed call is a foreground `exec ID /bin/true`, which returns when "
               "/bin/true has exited in the container.")
