"""SIGKILL of create, start, exec and delete at random moments.

An engine (or the OOM killer, or a timeout) may kill the runtime at any
point. Whatever was killed, `list` keeps working, the container is in a
state the other commands handle, and after `delete --force` the host is
exactly as before: no state directory, cgroup directory (in any
hierarchy), mount or process of the container.

Each test makes OCIRT_FAULT_TRIES tries (default 12; 200 with OCIRT_LONG=1),
each with a kill delay drawn from a seeded generator over the command's
measured duration.
"""
import glob
import json
import os
import random
import signal
import subprocess
import time

import pytest

from tests.reliability.conftest import wait_pids_gone

TRIES = int(os.environ.get("OCIRT_FAULT_TRIES") or (200 if os.environ.get("OCIRT_LONG") else 12))


def _procs_of(rt):
    """Processes that belong to rt's runtime calls or containers: their
    command line names rt's state root (the runtime and its forks) or they
    are in one of rt's cgroups."""
    out = set()
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/cmdline", "rb") as f:
                if rt.root.encode() in f.read():
                    out.add(int(d[6:]))
        except OSError:
            pass
    for cg in _cgroups_of(rt):
        try:
            with open(cg + "/cgroup.procs") as f:
                out.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return out


def _cgroups_of(rt):
    found = []
    for cid in rt.ids:
        found += glob.glob(f"/sys/fs/cgroup/*/ocirt/{cid}") + glob.glob(f"/sys/fs/cgroup/ocirt/{cid}")
    return found


def _mounts_of(rt):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(rt.tmp) in line]


def _assert_list_works(rt):
    p = rt("list", "--format", "json")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    json.loads(p.stdout or "null")


def _assert_clean(rt, cid):
    p = rt("delete", "--force", cid)
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    wait_pids_gone(_procs_of(rt), 10)  # those on their way out
    assert not os.path.exists(os.path.join(rt.root, cid)), (p.returncode, p.stderr)
    assert _cgroups_of(rt) == []
    assert _mounts_of(rt) == []
    left = _procs_of(rt)
    assert not left, [open(f"/proc/{p}/cmdline", "rb").read() for p in left
                      if os.path.exists(f"/proc/{p}")]


def _kill_after(cmd, delay):
    """Start cmd, SIGKILL it after <delay> seconds (unless it ended); its rc."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        proc.wait(delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    return proc.wait()


def _duration(cmd):
    t = time.monotonic()
    subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.monotonic() - t


def _base(rt):
    return [rt.bin, "--root", rt.root]


def test_sigkill_create(rt):
    rng = random.Random(1)
    bundle = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    span = _duration(_base(rt) + ["create", "--bundle", bundle, cid])
    _assert_clean(rt, cid)
    for _ in range(TRIES):
        cid = rt.new_id()
        _kill_after(_base(rt) + ["create", "--bundle", bundle, cid], rng.uniform(0, span))
        _assert_list_works(rt)
        st = rt("state", cid)
        assert "Traceback" not in st.stderr and "internal error" not in st.stderr, st.stderr
        _assert_clean(rt, cid)


def test_sigkill_start(rt):
    rng = random.Random(2)
    bundle = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    rt("create", "--bundle", bundle, cid, check=True)
    span = _duration(_base(rt) + ["start", cid])
    _assert_clean(rt, cid)
    for _ in range(TRIES):
        cid = rt.new_id()
        rt("create", "--bundle", bundle, cid, check=True)
        pid = rt.state(cid)["pid"]
        _kill_after(_base(rt) + ["start", cid], rng.uniform(0, span * 1.5))
        _assert_list_works(rt)
        st = rt.state(cid)["status"]
        exe = os.readlink(f"/proc/{pid}/exe")
        ran = "busybox" in exe
        # what state says is what happened: created means the init still
        # waits (and a second start runs it); running means it ran
        assert st == ("running" if ran else "created"), (st, exe)
        if st == "created":
            rt("start", cid, check=True)
            assert rt.state(cid)["status"] == "running"
            assert "busybox" in os.readlink(f"/proc/{pid}/exe")
        _assert_clean(rt, cid)


def test_sigkill_exec(rt):
    rng = random.Random(3)
    cid = rt.running()
    span = _duration(_base(rt) + ["exec", cid, "true"])
    for _ in range(TRIES):
        _kill_after(_base(rt) + ["exec", cid, "sleep", "1000"], rng.uniform(0, span * 1.5))
        _assert_list_works(rt)
        assert rt.state(cid)["status"] == "running"
        p = rt("exec", cid, "true")
        assert p.returncode == 0, p.stderr
    _assert_clean(rt, cid)


def test_sigkill_delete(rt):
    rng = random.Random(4)
    cid = rt.running()
    span = _duration(_base(rt) + ["delete", "--force", cid])
    _assert_clean(rt, cid)
    for _ in range(TRIES):
        cid = rt.running()
        _kill_after(_base(rt) + ["delete", "--force", cid], rng.uniform(0, span))
        _assert_list_works(rt)
        _assert_clean(rt, cid)
