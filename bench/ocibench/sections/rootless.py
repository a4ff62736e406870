"""Section rootless: a foreground `run` of a `spec --rootless` bundle by an ordinary user.

The user is nobody (uid and gid 65534): a single mapping of its own ids is
all `spec --rootless` writes, so no /etc/subuid entry and no useradd are
needed. Each runtime gets a state root of nobody's own; the bundle is
runtime-a's `spec --rootless` (run as nobody) over the shared busybox rootfs
(read-only). Both runtimes are started through the same `setpriv --reuid
--regid --clear-groups`, so its exec is in both times alike. Neither can make a
cgroup here (none is delegated to nobody): both run without one, as the
config sets no limit.
"""
import json
import os
import subprocess

from ..proc import CommandFailed, execute
from ..runner import TRUE_ARGS
from ..table import pairs_table, section_heading

TITLE = "rootless run (an ordinary user)"
ROW = "run /bin/true as nobody (spec --rootless)"
NOBODY = 65534


def _as_nobody(argv):
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]


def _setup(bench):
    """(bundle, {label: state root}), all nobody's."""
    d = os.path.join(bench.tmp, "rootless")
    os.mkdir(d, 0o755)
    os.chown(d, NOBODY, NOBODY)
    rootfs = os.path.join(bench.b_true(), "rootfs")
    p = subprocess.run(_as_nobody([bench.a.path, "spec", "--rootless"]), cwd=d,
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise CommandFailed(bench.a.label, p.args, "spec --rootless failed", p.returncode,
                            p.stdout, p.stderr)
    path = os.path.join(d, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["root"]["path"] = rootfs
    cfg["process"]["args"] = TRUE_ARGS
    cfg["process"]["terminal"] = False
    cfg["process"]["capabilities"]["ambient"] = []  # outside the inheritable set: a warning
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    roots = {}
    for rt in (bench.a, bench.b):
        roots[rt.label] = os.path.join(d, f"root-{rt.label}")
        os.mkdir(roots[rt.label], 0o700)
        os.chown(roots[rt.label], NOBODY, NOBODY)
    return d, roots


def run(bench):
    try:
        bundle, roots = _setup(bench)
    except CommandFailed as e:
        bench.fail(e)
        bench.add_row(ROW, "s", bench.empty(), e.runtime)
        return

    def op(rt, _bundle, samples):
        cid = bench.new_id(rt, "rootless")
        argv = _as_nobody([rt.path, "--root", roots[rt.label], "run", "--bundle", bundle, cid])
        r = execute(argv, bench.tmp, bench.args.timeout)
        if r.timed_out or r.rc != 0:
            raise CommandFailed(rt.label, argv, "timed out" if r.timed_out else
                                "command failed", r.rc, r.stdout, r.stderr)
        rt.ids.discard(cid)  # run deleted it (in nobody's root, not rt.root)
        if samples is not None:
            samples[ROW][rt.label].append(r.wall)

    try:
        bench.measure("rootless run", op, bundle, [ROW])
    finally:
        for rt in (bench.a, bench.b):
            for cid in os.listdir(roots[rt.label]):
                execute(_as_nobody([rt.path, "--root", roots[rt.label], "delete", "--force",
                                    cid]), bench.tmp, bench.args.timeout)
            left = os.listdir(roots[rt.label])
            if left:
                bench.leftovers.append(f"{rt.label}: rootless state left: {left[:10]}")


def render(sec, la, lb, out, chart):
    section_heading(TITLE, "rootless", sec, out)
    pairs_table(sec["rows"], la, lb, "s", out, chart, "rootless")
    out.append("")
    out.append("Both runtimes run as nobody (uid 65534, through the same `setpriv`), with a "
               "`spec --rootless` config (a single mapping of nobody's own ids, no ambient "
               "capabilities), without a cgroup (none is delegated to nobody); the timed "
               "call is a foreground `run` of /bin/true, create to delete.")
