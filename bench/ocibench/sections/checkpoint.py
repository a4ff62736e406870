"""Section checkpoint: `checkpoint` and `restore -d` of a running container through CRIU.

Each pair: a `sleep 1000` container is created (its stdio /dev/null) and
started (untimed), then
`checkpoint --image-path D ID` (timed: CRIU dumps it and the container is
deleted) and `restore -d --bundle B --image-path D ID` (timed: CRIU restores
it and the runtime records it), then it is deleted (untimed). Both runtimes
drive the same CRIU, so the difference is the runtime's own work around it.
Needs a kernel `criu check` accepts (the qemu guest of tests/vm/lane.sh):
elsewhere the section says why and measures nothing.
"""
import os
import shutil
import subprocess

from ..proc import CommandFailed
from ..table import pairs_table, section_heading

TITLE = "checkpoint and restore (CRIU)"
DUMP_ROW = "checkpoint ID (criu dump, container deleted)"
RESTORE_ROW = "restore -d ID (criu restore, container recorded)"
# runc always dumps the network namespace empty; ocirt dumps it whole unless
# told --empty-ns network: these rows have CRIU do the same work for both
DUMP_EMPTY_ROW = "checkpoint --empty-ns network ID (as runc always dumps)"
RESTORE_EMPTY_ROW = "restore -d ID of that image"


def _criu_problem():
    exe = shutil.which("criu", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if exe is None:
        return "criu is not installed"
    p = subprocess.run([exe, "check"], capture_output=True, text=True)
    if p.returncode != 0 or "Looks good" not in p.stdout + p.stderr:
        errs = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.startswith("Error")]
        return f"criu check fails on this kernel: {(errs or ['?'])[-1]}"
    return None


def op_cycle(bench, rt, bundle, samples, empty_net=False):
    dump_row, restore_row = (DUMP_EMPTY_ROW, RESTORE_EMPTY_ROW) if empty_net else \
        (DUMP_ROW, RESTORE_ROW)
    cid = bench.new_id(rt, "ckpt")
    img = os.path.join(bench.tmp, f"img-{cid}")
    try:
        # the container's stdio is /dev/null, not the benchmark's unlinked
        # temp files (bench.call's): CRIU 3.17 cannot give back an unlinked
        # file at restore, and runc cannot dump one at all
        argv = rt.argv("create", "--bundle", bundle, cid)
        rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=bench.args.timeout).returncode
        if rc != 0:
            raise CommandFailed(rt.label, argv, "command failed", rc)
        bench.call(rt, "start", cid)
        r = bench.call(rt, "checkpoint", *(["--empty-ns", "network"] if empty_net else []),
                       "--image-path", img, cid)
        if samples is not None:
            samples[dump_row][rt.label].append(r.wall)
        r = bench.call(rt, "restore", "-d", "--bundle", bundle, "--image-path", img, cid)
        if samples is not None:
            samples[restore_row][rt.label].append(r.wall)
        bench.expect_status(rt, cid, bench.state(rt, cid), "running")
    finally:
        bench.force_delete(rt, cid)
        shutil.rmtree(img, ignore_errors=True)


def run(bench):
    why = _criu_problem()
    if why is not None:
        bench.cur["skipped"] = why
        return
    bench.measure("checkpoint + restore", lambda rt, b, s: op_cycle(bench, rt, b, s),
                  bench.b_sleep(), [DUMP_ROW, RESTORE_ROW])
    bench.measure("checkpoint --empty-ns network + restore",
                  lambda rt, b, s: op_cycle(bench, rt, b, s, empty_net=True),
                  bench.b_sleep(), [DUMP_EMPTY_ROW, RESTORE_EMPTY_ROW])


def render(sec, la, lb, out, chart):
    section_heading(TITLE, "checkpoint", sec, out)
    if sec.get("skipped"):
        out.append(f"Not measured: {sec['skipped']} (run it in the qemu guest: "
                   "bench/README.md).")
        return
    pairs_table(sec["rows"], la, lb, "s", out, chart, "checkpoint")
    out.append("")
    out.append("Each pair: a `sleep 1000` container created and started untimed; timed "
               "`checkpoint --image-path D ID` (CRIU dumps it, the runtime deletes it) and "
               "`restore -d --bundle B --image-path D ID`; deleted untimed. Both runtimes "
               "drive the same CRIU, but runc always dumps the network namespace empty "
               "(its lo is down after restore) and ocirt dumps it whole (CRIU's ip and "
               "iptables-save runs, about a second under qemu): the `--empty-ns network` "
               "rows have CRIU do the same work for both.")
