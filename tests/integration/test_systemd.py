"""--systemd-cgroup: the container's cgroup is a transient scope made by systemd.

These need systemd as PID 1, which this host lacks (there, the clear error is
tested in test_runtime_options.py); `KVMRUN_INIT=systemd tests/vm/lane.sh
tests/integration/test_systemd.py` runs them in the qemu guest.
"""
import os
import subprocess

import pytest

from tests.integration.conftest import Runtime

pytestmark = pytest.mark.skipif(not os.path.isdir("/run/systemd/system"),
                                reason="systemd is not PID 1 here (the vm lane runs these)")


@pytest.fixture
def srt(tmp_path, rootfs):
    r = Runtime(tmp_path, rootfs)
    yield r
    for cid in os.listdir(r.root) if os.path.isdir(r.root) else ():
        r("--systemd-cgroup", "delete", "--force", cid)
    problems = [cid for cid in r.ids if _unit_state(f"ocirt-{cid}.scope") == "active"]
    assert not problems, f"scopes left: {problems}"


def _show(unit, prop):
    return subprocess.run(["systemctl", "show", "-p", prop, "--value", unit],
                          capture_output=True, text=True, timeout=60).stdout.strip()


def _unit_state(unit):
    return _show(unit, "ActiveState")


def _scope_config(cid, res=None):
    def edit(cfg):
        cfg["linux"]["cgroupsPath"] = f"system.slice:ocirt:{cid}"
        if res:
            cfg["linux"]["resources"] = res
    return edit


def test_container_runs_in_a_transient_scope_with_its_limits(srt):
    r = srt
    cid = r.new_id()
    res = {"memory": {"limit": 64 << 20}, "pids": {"limit": 40},
           "cpu": {"shares": 512, "quota": 50000, "period": 100000}}
    r("--systemd-cgroup", "create", "--bundle",
      r.bundle(("sleep", "1000"), _scope_config(cid, res)), cid, check=True)
    unit = f"ocirt-{cid}.scope"
    pid = r.state(cid)["pid"]
    assert f"0::/system.slice/{unit}" in open(f"/proc/{pid}/cgroup").read().splitlines()
    assert _unit_state(unit) == "active"
    assert _show(unit, "MemoryMax") == str(64 << 20)
    assert _show(unit, "TasksMax") == "40"
    d = f"/sys/fs/cgroup/system.slice/{unit}"
    assert open(f"{d}/memory.max").read().strip() == str(64 << 20)
    assert open(f"{d}/pids.max").read().strip() == "40"
    assert open(f"{d}/cpu.max").read().strip() == "50000 100000"
    r("--systemd-cgroup", "start", cid, check=True)
    r("--systemd-cgroup", "pause", cid, check=True)
    assert r.state(cid)["status"] == "paused"
    r("--systemd-cgroup", "resume", cid, check=True)
    r("--systemd-cgroup", "delete", "--force", cid, check=True)
    assert _unit_state(unit) != "active"
    assert not os.path.exists(d)


def test_default_scope_name_and_run(srt):
    r = srt
    cid = r.new_id()
    p = r("--systemd-cgroup", "run", "--bundle",
          r.bundle(("cat", "/proc/self/cgroup")), cid)
    assert p.returncode == 0, p.stderr
    # the container has its own cgroup namespace: its scope is its root
    assert p.stdout.strip() == "0::/"


def test_systemd_path_errors(srt):
    r = srt
    for path, words in (("/not/a/systemd/path", "slice:prefix:name"),
                        ("system:ocirt:x", "slice unit"),
                        ("system.slice:ocirt:a.slice", "scope")):
        cid = r.new_id()
        p = r("--systemd-cgroup", "create", "--bundle",
              r.bundle(("true",), lambda cfg: cfg["linux"].__setitem__("cgroupsPath", path)),
              cid)
        assert p.returncode == 1 and words in p.stderr and "Traceback" not in p.stderr, p.stderr
        assert not os.path.exists(os.path.join(r.root, cid))
