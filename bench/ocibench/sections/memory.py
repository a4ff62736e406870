"""Section memory: the runtime's peak RSS for create and state, and the init's RSS.

ru_maxrss survives exec, so a command forked straight from this Python process
would report at least this process's RSS: GNU time (a ~1 MiB process) runs the
runtime command instead and reports the ru_maxrss of its wait4. Without GNU time
only the init's VmRSS between create and start is measured.
"""
import functools
import os
import shutil
import subprocess

from ..proc import CommandFailed, execute, vmrss_kb
from ..table import pairs_table, section_heading

TITLE = "Memory"
MEM_NAMES = {
    "mem:create": "create: runtime peak RSS",
    "mem:state": "state: runtime peak RSS",
    "mem:init": "container init RSS while created (VmRSS)",
}


def gnu_time():
    """Path of GNU time (/usr/bin/time), or None if there is none."""
    time_bin = shutil.which("time", path="/usr/bin:/bin")
    if time_bin and subprocess.run([time_bin, "-q", "-f", "%M", "-o", os.devnull,
                                    "true"], capture_output=True).returncode != 0:
        time_bin = None    # not GNU time
    return time_bin


def peak_rss(bench, time_bin, rt, *args):
    """Peak RSS (KiB) of one runtime command, under GNU time (see above); None
    without it."""
    if not time_bin:
        r = bench.call(rt, *args)
        return r, None
    out = os.path.join(bench.tmp, "rusage")
    argv = [time_bin, "-q", "-f", "%M", "-o", out, *rt.argv(*args)]
    r = execute(argv, bench.tmp, bench.args.timeout)
    if r.timed_out or r.rc != 0:
        raise CommandFailed(rt.label, argv, "timed out" if r.timed_out else
                            "command failed", r.rc, r.stdout, r.stderr)
    with open(out) as f:
        return r, int(f.read().split()[-1])


def op_memory(bench, time_bin, rt, bundle, samples):
    cid = bench.new_id(rt, "mem")
    _, create_kb = peak_rss(bench, time_bin, rt, "create", "--bundle", bundle, cid)
    r, state_kb = peak_rss(bench, time_bin, rt, "state", cid)
    st = bench.state(rt, cid, r)
    bench.expect_status(rt, cid, st, "created", r)
    pid = st.get("pid")
    bench.note_init(rt, pid)
    init_kb = vmrss_kb(pid) if pid else None
    if init_kb is None:
        raise CommandFailed(rt.label, r.argv, f"cannot read VmRSS of the created init "
                            f"(pid {pid})", stdout=r.stdout)
    rd = bench.call(rt, "delete", "--force", cid)
    if os.path.exists(os.path.join(rt.root, cid)):
        raise CommandFailed(rt.label, rd.argv, "delete --force left the state directory "
                            "behind")
    rt.ids.discard(cid)
    if samples is not None:
        if create_kb is not None:
            samples["mem:create"][rt.label].append(create_kb)
            samples["mem:state"][rt.label].append(state_kb)
        samples["mem:init"][rt.label].append(init_kb)


def run(bench):
    time_bin = gnu_time()
    bench.cur["gnu_time"] = bool(time_bin)
    bench.measure("memory (sleep 1000)", functools.partial(op_memory, bench, time_bin),
                  bench.b_sleep(), [], ["mem:create", "mem:state", "mem:init"])


def render(sec, la, lb, out, chart):
    section_heading(TITLE, "memory", sec, out)
    rows = sec["rows"]
    if not sec.get("gnu_time", True):
        rows = [r for r in rows if r["name"] == "mem:init"]
    pairs_table(rows, la, lb, "KiB", out, chart, "memory", first_col="memory",
                names=MEM_NAMES)
    if not sec.get("gnu_time", True):
        out.append("| create / state: runtime peak RSS | n/a: needs GNU time (/usr/bin/time) "
                   "| | | | | |")
    out.append("")
    out.append("Runtime peak RSS is the `ru_maxrss` that `wait4` reports for the runtime "
               "command (it includes helpers the command reaped itself), measured in separate "
               "untimed runs under GNU time: ru_maxrss survives exec, so a command forked "
               "straight from the Python benchmark would report at least the benchmark's own "
               "RSS (the floor under GNU time is ~1 MiB). Init RSS is VmRSS of the pid that "
               "`state` reports, between create and start.")
