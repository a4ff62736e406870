"""Section podman: `podman run --rm` with each runtime, what a user of the engine sees.

podman gets a containers.conf and storage.conf of the benchmark's own per
runtime, identical but for the runtime: a wrapper (rootwrap.c) that execs it
with a private --root, named runc so that conmon passes it the same flags as
runc. A bridge network and a cgroup parent of the benchmark's own; all of it is
removed afterwards (podman system reset), also when the run is interrupted.
"""
import functools
import json
import os
import shutil
import subprocess
import sys
import time

from ..proc import CommandFailed, execute, mounts_under
from ..runner import BENCH_DIR
from ..table import not_measured, pairs_table, section_heading

TITLE = "The engine view: podman"
PODMAN_ROW = "podman run --rm busybox true"
PODMAN_IMAGE = "localhost/busybox:latest"
# root lacks CAP_SYS_RESOURCE on the machines this runs on; podman's default
# nofile=1048576 would fail with every runtime (see shared/ENGINES.md)
PODMAN_ULIMITS = ["nofile=20000:20000", "nproc=32768:32768"]
CONMON_PATHS = ("/usr/bin/conmon", "/usr/libexec/podman/conmon", "/usr/local/bin/conmon",
                "/usr/local/libexec/podman/conmon")


def run(bench):
    podman = shutil.which("podman")
    bench.cur["command"] = (f"podman run --rm --network NET --cgroup-parent CG "
                            f"{PODMAN_IMAGE} true")
    if not podman:
        bench.cur["status"] = "podman not installed"
        print("# podman not installed; skipping", file=sys.stderr)
        return
    if not any(os.access(p, os.X_OK) for p in CONMON_PATHS) and not shutil.which("conmon"):
        bench.cur["status"] = "conmon not installed"
        return
    conmon = shutil.which("conmon") or next(
        (p for p in CONMON_PATHS if os.access(p, os.X_OK)), None)
    bench.cur["versions"] = ", ".join(
        v for v in (tool_version([podman, "--version"]),
                    tool_version([conmon, "--version"]) if conmon else "") if v)
    pm = {}     # podman's state while the section runs; teardown empties it
    bench.at_cleanup.append(lambda bench: teardown(bench, pm))
    try:
        setup(bench, pm, podman)
    except CommandFailed as e:
        bench.fail(e)
        bench.cur["status"] = "podman setup failed (see Failures)"
        teardown(bench, pm)
        return
    bench.cur["status"] = "ok"
    bench.cur["wrapper"] = pm["wrapper"]
    try:
        bench.measure("podman run --rm busybox true", functools.partial(op_podman, bench, pm),
                      None, [PODMAN_ROW])
    finally:
        teardown(bench, pm)


def cmd(bench, pm, rt, *args, check=True):
    argv = [pm["bin"], *args]
    r = execute(argv, bench.tmp, max(bench.args.timeout, 60), env=pm["env"][rt.label])
    if check and (r.timed_out or r.rc != 0):
        raise CommandFailed(f"podman with {rt.label}", argv,
                            "timed out" if r.timed_out else "command failed", r.rc,
                            r.stdout, r.stderr)
    return r


def runtime_wrapper(bench, pm, rt, root):
    """The runtime podman calls: rt with --root <root> (see bench/rootwrap.c)."""
    out = os.path.join(pm["base"], f"runtime-{rt.label}")
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc:
        r = subprocess.run([gcc, "-O2", f'-DREAL_RUNTIME="{rt.path}"', f'-DROOT="{root}"',
                            "-o", out, os.path.join(BENCH_DIR, "rootwrap.c")],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return out, "C"
    with open(out, "w") as f:
        f.write(f"#!/bin/sh\nexec '{rt.path}' --root '{root}' \"$@\"\n")
    os.chmod(out, 0o755)
    return out, "sh"


def setup(bench, pm, podman):
    """Fill pm: the configuration of podman per runtime, the image, the network."""
    base = os.path.join(bench.tmp, "podman")
    pm.update({"bin": podman, "base": base, "env": {}, "roots": {},
               "net": f"ocirt-bench-{bench.token}",
               "cgroup": f"/ocirt-bench-{bench.token}-podman", "net_made": False})
    for sub in ("tmp", "volumes", "networks", "run", "graph"):
        os.makedirs(os.path.join(base, sub))
    storage = os.path.join(base, "storage.conf")
    with open(storage, "w") as f:
        f.write(f'[storage]\ndriver = "overlay"\nrunroot = "{base}/run"\n'
                f'graphroot = "{base}/graph"\n')
    kinds = set()
    for rt in (bench.a, bench.b):
        root = os.path.join(base, f"root-{rt.label}")
        os.mkdir(root, 0o700)
        pm["roots"][rt.label] = root
        wrapper, kind = runtime_wrapper(bench, pm, rt, root)
        kinds.add(kind)
        conf = os.path.join(base, f"containers-{rt.label}.conf")
        # Same storage, network config and tmp dir for both; only the runtime
        # differs. The runtime is named runc: conmon passes --log-format=json
        # --log FILE only to runtimes it knows by name. No static_dir: conmon's
        # exit command would not find the containers (run --rm then waits 20 s).
        with open(conf, "w") as f:
            f.write(f"""[containers]
default_ulimits = {json.dumps(PODMAN_ULIMITS)}

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{base}/events.log"
runtime = "runc"
tmp_dir = "{base}/tmp"
volume_path = "{base}/volumes"

[engine.runtimes]
runc = ["{wrapper}"]

[network]
network_backend = "netavark"
network_config_dir = "{base}/networks"
""")
        pm["env"][rt.label] = dict(os.environ, CONTAINERS_CONF=conf,
                                   CONTAINERS_STORAGE_CONF=storage)
    pm["wrapper"] = "/".join(sorted(kinds))
    # the image: the same busybox rootfs as the bundles
    rootfs = os.path.join(bench.b_true(), "rootfs")
    tar_path = os.path.join(bench.tmp, "busybox.tar")
    subprocess.run(["tar", "-C", rootfs, "-cf", tar_path, "."], check=True)
    cmd(bench, pm, bench.a, "import", "--quiet", tar_path, PODMAN_IMAGE)
    os.unlink(tar_path)
    # a bridge network of our own, on a subnet nobody routes here
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    third = int(bench.token[:2], 16)
    for k in range(256):
        subnet = f"10.{231 + (k // 256)}.{(third + k) % 256}"
        if subnet + "." not in routes:
            break
    cmd(bench, pm, bench.a, "network", "create", "--subnet", f"{subnet}.0/24", pm["net"])
    pm["net_made"] = True
    with open(os.path.join(base, "networks", pm["net"] + ".json")) as f:
        pm["bridge"] = json.load(f).get("network_interface")


def op_podman(bench, pm, rt, _, samples):
    r = cmd(bench, pm, rt, "run", "--rm", "--network", pm["net"],
            "--cgroup-parent", pm["cgroup"], PODMAN_IMAGE, "true")
    left = os.listdir(pm["roots"][rt.label])
    if left:
        raise CommandFailed(rt.label, r.argv, f"podman run --rm left runtime state "
                            f"behind: {left}", r.rc, r.stdout, r.stderr)
    if samples is not None:
        samples[PODMAN_ROW][rt.label].append(r.wall)


def teardown(bench, pm):
    """Remove what setup made (once: pm is empty after)."""
    if not pm:
        return
    try:
        if pm["env"]:
            for rt in (bench.a, bench.b):
                if rt.label in pm["env"]:
                    cmd(bench, pm, rt, "rm", "--all", "--force", "--time", "0", check=False)
            first = bench.a if bench.a.label in pm["env"] else bench.b
            if pm["net_made"]:
                cmd(bench, pm, first, "network", "rm", "--force", pm["net"], check=False)
            cmd(bench, pm, first, "system", "reset", "--force", check=False)
        for rt in (bench.a, bench.b):
            root = pm["roots"].get(rt.label)
            for cid in (os.listdir(root) if root and os.path.isdir(root) else []):
                bench.leftovers.append(f"podman with {rt.label}: runtime state {cid}; "
                                       "deleting it")
                execute([rt.path, "--root", root, "delete", "--force", cid], bench.tmp,
                        bench.args.timeout)
        for d in remove_cgroup(pm["cgroup"]):
            bench.leftovers.append(f"podman: cannot remove cgroup {d}")
        bridge = pm.get("bridge")
        if bridge and os.path.exists(f"/sys/class/net/{bridge}"):
            # only ours if no other podman uses a bridge of that name right now
            busy = os.listdir(f"/sys/class/net/{bridge}/brif") if os.path.isdir(
                f"/sys/class/net/{bridge}/brif") else []
            if not busy:
                bench.leftovers.append(f"podman: bridge {bridge} left behind; deleting it")
                subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        for mp in sorted(mounts_under(pm["base"]), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(pm["base"], ignore_errors=True)
    finally:
        pm.clear()


def tool_version(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return " ".join(r.stdout.split("\n")[0].split())
    except (OSError, subprocess.SubprocessError):
        return "?"


def remove_cgroup(rel):
    """rmdir <rel> (and what is under it) in every hierarchy; waits up to 10 s for
    processes to leave (conmon exits just after the container). Returns what is left."""
    tops = []
    for h in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", h, rel.lstrip("/"))
        if os.path.isdir(d):
            tops.append(d)
    deadline = time.monotonic() + 10
    while True:
        left = []
        for top in tops:
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(dirpath)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def render(sec, la, lb, out, chart):
    section_heading(TITLE, "podman", sec, out)
    status = sec.get("status", "?")
    if status != "ok":
        not_measured("engine", PODMAN_ROW, la, lb, status, out)
        return
    if sec.get("versions"):
        out.append(f"{sec['versions']}.")
        out.append("")
    pairs_table(sec["rows"], la, lb, "s", out, chart, "podman", first_col="engine")
    out.append("")
    out.append("The timed command is `" + sec.get("command", "") + "`: podman with a "
               "containers.conf and storage.conf of the benchmark's own (overlay storage, "
               "cgroupfs, the busybox rootfs imported with `podman import`), one per runtime "
               "and otherwise identical. In each, the runtime is named `runc` (so that "
               "conmon passes it `--log-format=json --log FILE`, as for runc) and points at "
               f"a small {sec.get('wrapper', 'C')} wrapper (`bench/rootwrap.c`) that execs "
               "the runtime with a private `--root`, the same wrapper for both runtimes. "
               "NET is a bridge network of the benchmark's own (podman's default networking, "
               "netavark, on a subnet of its own); CG a cgroup parent of its own. Both "
               "are removed afterwards, with `podman system reset`. "
               "Most of the time is podman, conmon and netavark: the ratio shows what "
               "the runtime changes for a user of the engine.")
