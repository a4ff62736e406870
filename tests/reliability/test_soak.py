"""Soak: many lifecycles (create, start, exec, kill, delete) in a row, and
what they could leave on the host stays flat.

Each ocirt command is a fresh process, so its own fds and memory are not
what could leak; the host's are: mounts (/proc/self/mountinfo), cgroup
directories of the containers, zombies (this process's children, as an
engine's shim it is their subreaper; and the system's), processes of the
state root, this process's own fds (it
spawns every command), entries in the state root, the kernel's free memory
(MemAvailable) and its allocated file handles (/proc/sys/fs/file-nr). The
discrete counts must come back to exactly what they were; memory and file
handles may drift by noise only (other work shares the machine).

OCIRT_SOAK lifecycles (default 30; 1,000 with OCIRT_LONG=1). With
OCIRT_SOAK_REPORT=FILE the samples (every tenth of the run) go there as JSON.
"""
import ctypes
import glob
import json
import os
import select
import time

import pytest

from tests.reliability.test_sigkill import _procs_of

LONG = bool(os.environ.get("OCIRT_LONG"))
N = int(os.environ.get("OCIRT_SOAK") or (1000 if LONG else 30))
MEM_DRIFT_KB = 100 * 1024     # MemAvailable may fall by less than 100 MB
FILE_NR_DRIFT = 2000          # allocated file handles, machine-wide
PR_SET_CHILD_SUBREAPER = 36


def _meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _zombies():
    """(all zombies of the system, those that are this process's children)."""
    every = mine = 0
    me = os.getpid()
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/stat") as f:
                stat = f.read()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state == "Z":
            every += 1
            mine += int(ppid) == me
    return every, mine


def sample(rt):
    with open("/proc/self/mountinfo") as f:
        mounts = sum(1 for _ in f)
    with open("/proc/sys/fs/file-nr") as f:
        file_nr = int(f.read().split()[0])
    zombies, my_zombies = _zombies()
    return {
        "mounts": mounts,
        "cgroup_dirs": sum(len(glob.glob(f"/sys/fs/cgroup/*/ocirt/{cid}"))
                           + len(glob.glob(f"/sys/fs/cgroup/ocirt/{cid}")) for cid in rt.ids),
        "zombies_mine": my_zombies,
        "zombies_all": zombies,
        "procs_of_root": len(_procs_of(rt)),
        "fds": len(os.listdir("/proc/self/fd")),
        "state_entries": len(os.listdir(rt.root)) if os.path.isdir(rt.root) else 0,
        "mem_available_kb": _meminfo("MemAvailable"),
        "file_nr": file_nr,
    }


def _wait_exit(pidfd, timeout=20):
    r, _, _ = select.select([pidfd], [], [], timeout)
    assert r, "the init did not die after kill KILL"


def _reap():
    """Reap every child that has ended (the container processes orphaned to
    this subreaper); how many."""
    n = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return n
        if pid == 0:
            return n
        n += 1


@pytest.fixture
def subreaper():
    """This process stands in for an engine (containerd's shim and conmon
    are child subreapers): the containers' processes come back to it, not
    to pid 1, and it reaps them; so it sees every one that ends (and a
    zombie left unreaped would be its own)."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        _reap()


def lifecycle(rt, bundle):
    """create, start, exec, kill, delete; how many processes ended here."""
    cid = rt.new_id()
    rt("create", "--bundle", bundle, cid, check=True)
    pid = rt.state(cid)["pid"]
    pidfd = os.pidfd_open(pid)
    try:
        rt("start", cid, check=True)
        p = rt("exec", cid, "sh", "-c", "echo in-$(hostname)")
        assert p.returncode == 0 and p.stdout.startswith("in-"), (p.stdout, p.stderr)
        rt("kill", cid, "KILL", check=True)
        _wait_exit(pidfd)
    finally:
        os.close(pidfd)
    reaped = _reap()  # the init is a zombie of ours until then, and "running"
    rt("delete", cid, check=True)
    assert not os.path.exists(os.path.join(rt.root, cid))
    return reaped


def test_soak_lifecycles(rt, subreaper):
    bundle = rt.bundle(("sleep", "1000"))
    per_lifecycle = lifecycle(rt, bundle)  # the first one warms the caches: not counted
    assert per_lifecycle >= 1  # the init at least
    before = sample(rt)
    samples = [dict(before, done=0, t=0.0)]
    t0 = time.monotonic()
    step = max(N // 10, 1)
    reaped = 0
    for i in range(1, N + 1):
        reaped += lifecycle(rt, bundle)
        if i % step == 0 or i == N:
            samples.append(dict(sample(rt), done=i, t=round(time.monotonic() - t0, 1)))
            # discrete things are back to zero (or to where they were) after
            # every lifecycle, so they can be checked as we go
            s = samples[-1]
            assert (s["cgroup_dirs"], s["zombies_mine"], s["procs_of_root"],
                    s["state_entries"]) == (0, 0, 0, 0), s
    elapsed = time.monotonic() - t0
    after = samples[-1]
    report = {"lifecycles": N, "seconds": round(elapsed, 1),
              "ms_per_lifecycle": round(elapsed / N * 1000, 1),
              "processes_reaped": reaped, "per_lifecycle": per_lifecycle, "before": before,
              "after": after, "samples": samples}
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}))
    if os.environ.get("OCIRT_SOAK_REPORT"):
        with open(os.environ["OCIRT_SOAK_REPORT"], "w") as f:
            json.dump(report, f, indent=1)
    for key in ("mounts", "fds", "zombies_mine", "procs_of_root", "cgroup_dirs",
                "state_entries"):
        assert after[key] == before[key], (key, before[key], after[key])
    # every lifecycle ends the same processes, and all come back here: none
    # lingers (it would be counted in procs_of_root or the cgroup) and none
    # goes astray
    assert reaped == N * per_lifecycle, (reaped, per_lifecycle)
    # zombies_all, the whole system's, is reported, not compared: other work
    # on this machine orphans processes to pid 1, which reaps them in batches
    assert before["mem_available_kb"] - after["mem_available_kb"] < MEM_DRIFT_KB, (before, after)
    assert after["file_nr"] - before["file_nr"] < FILE_NR_DRIFT, (before, after)
