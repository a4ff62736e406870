"""linux.resources and `update`, observed from inside the container and from the host.

The tests adapt to the cgroup layout they find:
- "host": the machine's own layout (hybrid here: v1 controllers plus a cgroup2
  tree holding hugetlb; pure cgroup2 with every controller in the vm lane);
- "private-v2" (hybrid hosts only): ocirt runs in a private mount namespace
  where /sys/fs/cgroup is the cgroup2 tree, so the cgroup2 code paths run on
  this host for real, with the controllers this host's cgroup2 has.
A test that needs a controller the layout lacks is skipped with the reason;
tests/vm/lane.sh runs this file where cgroup2 has every controller.
"""
import json
import os
import stat
import subprocess

import pytest

from tests.integration.conftest import Runtime, read_fifo, shared_dir, wait_pids_gone

HOST_CGROUP = "/sys/fs/cgroup"


def _fstype(path):
    best, kind = "", None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            mp = left.split()[4]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                best, kind = mp, right.split()[0]
    return kind


def _v1_mounts():
    """{controller: mount point} of the cgroup v1 hierarchies, from the mount
    table (plain directories under /sys/fs/cgroup are no controllers)."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _src, sup = (right.split() + ["", "", ""])[:3]
            if fstype == "cgroup":
                for opt in sup.split(","):
                    out.setdefault(opt, left.split()[4])
    return out


V1_MOUNTS = _v1_mounts()
HOST_IS_V2 = _fstype(HOST_CGROUP) == "cgroup2"
UNIFIED_MOUNT = HOST_CGROUP if HOST_IS_V2 else (
    "/sys/fs/cgroup/unified" if _fstype("/sys/fs/cgroup/unified") == "cgroup2" else None)


def _words(path):
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


class Layout:
    """Where a controller's files are, seen from the host and from the container."""

    def __init__(self, name):
        self.name = name
        self.v2_only = HOST_IS_V2 or name == "private-v2"
        self.v2_controllers = _words(os.path.join(UNIFIED_MOUNT, "cgroup.controllers")) \
            if UNIFIED_MOUNT else []

    def has(self, ctrl):
        if not self.v2_only and ctrl in V1_MOUNTS:
            return True
        return {"blkio": "io"}.get(ctrl, ctrl) in self.v2_controllers

    def is_v2(self, ctrl):
        return self.v2_only or ctrl not in V1_MOUNTS

    def inside(self, ctrl, v1_file, v2_file):
        """The file's path inside the container (cgroup namespace, /sys/fs/cgroup)."""
        if not self.is_v2(ctrl):
            return f"/sys/fs/cgroup/{os.path.basename(V1_MOUNTS[ctrl])}/{v1_file}"
        return f"/sys/fs/cgroup/{v2_file}" if self.v2_only else f"/sys/fs/cgroup/unified/{v2_file}"

    def host_dir(self, ctrl, cid):
        """The container's cgroup directory for ctrl, on the host."""
        if self.is_v2(ctrl):
            return os.path.join(UNIFIED_MOUNT, "ocirt", cid)
        return os.path.join(V1_MOUNTS[ctrl], "ocirt", cid)

    def need(self, *ctrls):
        for c in ctrls:
            if not self.has(c):
                pytest.skip(f"no {c} controller in the {self.name} layout "
                            "(tests/vm/lane.sh runs this with every controller)")


PRIVATE_V2 = """#!/bin/sh
# ocirt in a private mount namespace whose /sys/fs/cgroup is the cgroup2 tree
exec unshare -m sh -c 'mount --make-rprivate / && umount -l /sys/fs/cgroup &&
  mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$0" "$@"' {ocirt} "$@"
"""

LAYOUTS = ["host"] + ([] if HOST_IS_V2 or UNIFIED_MOUNT is None else ["private-v2"])


@pytest.fixture(params=LAYOUTS)
def crt(request, tmp_path, rootfs):
    """(Runtime, Layout) for each cgroup layout this host can show."""
    r = Runtime(tmp_path, rootfs)
    lay = Layout(request.param)
    if request.param == "private-v2":
        wrapper = tmp_path / "ocirt-v2"
        wrapper.write_text(PRIVATE_V2.replace("{ocirt}", r.bin))
        wrapper.chmod(0o755)
        r.bin = str(wrapper)
    yield r, lay
    problems = r.cleanup()
    for cid in r.ids:
        for ctrl in ("memory", "pids", "cpu", "hugetlb"):
            if lay.has(ctrl) and os.path.exists(lay.host_dir(ctrl, cid)):
                problems.append(f"{ctrl} cgroup left for {cid}")
    assert not problems, problems


def resources(res):
    def edit(cfg):
        cfg["linux"]["resources"] = res
    return edit


def cat_inside(r, lay, res, files):
    """Run a container that prints each (ctrl, v1 file, v2 file); returns the values."""
    paths = [lay.inside(*f) for f in files]
    p = r.run(["sh", "-c", "for f in " + " ".join(paths) + "; do echo $(cat $f); done"],
              edit=resources(res))
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def assert_refused(r, p, where, words):
    assert p.returncode == 1, p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and where in lines[0] and words in lines[0], p.stderr
    assert "Traceback" not in p.stderr
    assert not os.listdir(r.root) if os.path.isdir(r.root) else True


# ---- each resource, read back from inside ------------------------------------

def test_memory_limits_are_set(crt):
    r, lay = crt
    lay.need("memory")
    mib = 1 << 20
    res = {"memory": {"limit": 64 * mib, "swap": 96 * mib, "reservation": 32 * mib}}
    got = cat_inside(r, lay, res, [("memory", "memory.limit_in_bytes", "memory.max"),
                                   ("memory", "memory.memsw.limit_in_bytes", "memory.swap.max"),
                                   ("memory", "memory.soft_limit_in_bytes", "memory.low")])
    # the spec's swap is memory+swap; cgroup2's swap.max counts swap alone
    swap = 32 * mib if lay.is_v2("memory") else 96 * mib
    assert got == [str(64 * mib), str(swap), str(32 * mib)]


def test_memory_limit_is_enforced(crt):
    r, lay = crt
    lay.need("memory")
    res = {"memory": {"limit": 16 << 20, "swap": 16 << 20}}
    p = r.run(["awk", 'BEGIN { s = "x"; while (1) s = s s }'], edit=resources(res))
    assert p.returncode == 128 + 9, (p.returncode, p.stderr)


def test_memory_v1_only_knobs(crt):
    r, lay = crt
    lay.need("memory")
    res = {"memory": {"swappiness": 10, "disableOOMKiller": True}}
    if lay.is_v2("memory"):
        p = r.run(["true"], edit=resources(res))
        assert p.returncode == 0
        assert "swappiness" in p.stderr and "disableOOMKiller" in p.stderr  # warned, ignored
        return
    got = cat_inside(r, lay, res, [("memory", "memory.swappiness", "-"),
                                   ("memory", "memory.oom_control", "-")])
    assert got[0] == "10" and "oom_kill_disable 1" in got[1]


def test_pids_limit_is_enforced(crt):
    r, lay = crt
    lay.need("pids")
    pids_max = lay.inside("pids", "pids.max", "pids.max")
    script = (f"cat {pids_max}; i=0; while [ $i -lt 12 ]; do sleep 100 & i=$((i+1)); done; "
              "echo started")
    p = r.run(["sh", "-c", script], edit=resources({"pids": {"limit": 6}}))
    assert p.stdout.splitlines()[0] == "6"
    assert "can't fork" in p.stderr or "Resource temporarily unavailable" in p.stderr, p.stderr


def test_pids_limit_zero_is_a_limit(crt):
    # runtime-spec 1.3.0: 0 is a real limit (no new task), not "unset"
    r, lay = crt
    lay.need("pids")
    # (`read` is a shell builtin: even cat would need a fork)
    p = r.run(["sh", "-c", f"read v < {lay.inside('pids', 'pids.max', 'pids.max')}; echo $v; "
               "true & wait"],
              edit=resources({"pids": {"limit": 0}}))
    assert p.stdout.splitlines()[0] == "0"
    assert "can't fork" in p.stderr or "Resource temporarily unavailable" in p.stderr, p.stderr


def test_cpu_bandwidth_and_shares(crt):
    r, lay = crt
    lay.need("cpu")
    res = {"cpu": {"shares": 512, "quota": 50000, "period": 100000}}
    if lay.is_v2("cpu"):
        got = cat_inside(r, lay, res, [("cpu", "-", "cpu.weight"), ("cpu", "-", "cpu.max")])
        assert got == ["20", "50000 100000"]  # runc's shares -> weight mapping
    else:
        got = cat_inside(r, lay, res, [("cpu", "cpu.shares", "-"),
                                       ("cpu", "cpu.cfs_quota_us", "-"),
                                       ("cpu", "cpu.cfs_period_us", "-")])
        assert got == ["512", "50000", "100000"]


def test_cpuset_pins_the_container(crt):
    r, lay = crt
    lay.need("cpuset")
    res = {"cpu": {"cpus": "0", "mems": "0"}}
    p = r.run(["sh", "-c", "grep -E '^(Cpus|Mems)_allowed_list' /proc/self/status"],
              edit=resources(res))
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["Cpus_allowed_list:", "0", "Mems_allowed_list:", "0"]


def _block_device():
    for name in sorted(os.listdir("/sys/block")):
        if name.startswith(("loop", "ram", "zram")):
            continue
        major, minor = open(f"/sys/block/{name}/dev").read().split(":")
        return int(major), int(minor)
    pytest.skip("no block device on this machine")


def test_blkio_throttle(crt):
    r, lay = crt
    lay.need("blkio")
    major, minor = _block_device()
    res = {"blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor,
                                                  "rate": 1048576}],
                       "throttleWriteIOPSDevice": [{"major": major, "minor": minor,
                                                    "rate": 100}]}}
    if lay.is_v2("blkio"):
        got = cat_inside(r, lay, res, [("blkio", "-", "io.max")])
        assert f"{major}:{minor} rbps=1048576 wbps=max riops=max wiops=100" in got
    else:
        got = cat_inside(r, lay, res, [("blkio", "blkio.throttle.read_bps_device", "-"),
                                       ("blkio", "blkio.throttle.write_iops_device", "-")])
        assert got == [f"{major}:{minor} 1048576", f"{major}:{minor} 100"]


def test_blkio_weight_is_set_or_clearly_refused(crt):
    # cgroup2 always has io.weight; on v1 blkio.weight exists only with an
    # I/O scheduler that weighs (CFQ, BFQ): without it, a clear error
    r, lay = crt
    lay.need("blkio")
    res = {"blockIO": {"weight": 500}}
    if lay.is_v2("blkio"):
        assert cat_inside(r, lay, res, [("blkio", "-", "io.weight")]) == ["default 4950"]
    elif os.path.exists("/sys/fs/cgroup/blkio/blkio.weight"):
        assert cat_inside(r, lay, res, [("blkio", "blkio.weight", "-")]) == ["500"]
    else:
        p = r("create", "--bundle", r.bundle(("true",), resources(res)), r.new_id())
        assert_refused(r, p, "$.linux.resources.blockIO.weight", "weight")


def test_hugetlb_limit_for_each_host_page_size(crt):
    r, lay = crt
    lay.need("hugetlb")
    sizes = [_size_name(n) for n in sorted(os.listdir("/sys/kernel/mm/hugepages"))]
    res = {"hugepageLimits": [{"pageSize": s, "limit": (i + 1) << 30}
                              for i, s in enumerate(sizes)]}
    files = [("hugetlb", f"hugetlb.{s}.limit_in_bytes", f"hugetlb.{s}.max") for s in sizes]
    assert cat_inside(r, lay, res, files) == [str((i + 1) << 30) for i in range(len(sizes))]


def _size_name(n):
    kb = int(n[len("hugepages-"):-2])
    for unit in ("KB", "MB", "GB"):
        if kb < 1024:
            return f"{kb}{unit}"
        kb //= 1024
    return f"{kb}TB"


def test_invalid_hugepage_size_is_an_error(crt):
    r, lay = crt
    lay.need("hugetlb")
    res = {"hugepageLimits": [{"pageSize": "3MB", "limit": 1 << 20}]}
    p = r("create", "--bundle", r.bundle(("true",), resources(res)), r.new_id())
    assert_refused(r, p, "$.linux.resources.hugepageLimits[0].pageSize", "3MB")


def test_missing_controller_is_a_clear_error(crt):
    r, lay = crt
    for ctrl, res, where in (("net_cls", {"network": {"classID": 1048577}},
                              "$.linux.resources.network"),
                             ("rdma", {"rdma": {"mlx4_0": {"hcaHandles": 2}}},
                              "$.linux.resources.rdma"),
                             ("memory", {"memory": {"limit": 1 << 30}},
                              "$.linux.resources.memory")):
        if lay.has(ctrl):
            continue
        p = r("create", "--bundle", r.bundle(("true",), resources(res)), r.new_id())
        assert_refused(r, p, where, f"the {ctrl} controller is not mounted")


def test_unified_keys(crt):
    r, lay = crt
    lay.need("hugetlb")
    size = _size_name(sorted(os.listdir("/sys/kernel/mm/hugepages"))[0])
    if not lay.is_v2("hugetlb"):
        pytest.skip("hugetlb is a v1 controller here")
    res = {"unified": {f"hugetlb.{size}.max": str(3 << 30)}}
    assert cat_inside(r, lay, res, [("hugetlb", "-", f"hugetlb.{size}.max")]) == [str(3 << 30)]


def test_unified_key_of_a_v1_controller_is_an_error(crt):
    r, lay = crt
    if lay.v2_only or not lay.has("memory"):
        pytest.skip("memory is not a v1 controller in this layout")
    res = {"unified": {"memory.high": "1000000"}}
    p = r("create", "--bundle", r.bundle(("true",), resources(res)), r.new_id())
    assert_refused(r, p, "$.linux.resources.unified.memory.high", "")


def test_unified_memory_high_on_v2(crt):
    r, lay = crt
    if not (lay.is_v2("memory") and lay.has("memory")):
        pytest.skip("needs the memory controller on cgroup2")
    res = {"unified": {"memory.high": "50000000"}}
    got = cat_inside(r, lay, res, [("memory", "-", "memory.high")])
    assert got == [str(50000000 // 4096 * 4096)]


def test_bad_values_are_clear_errors(crt):
    r, lay = crt
    lay.need("memory")
    cases = [({"memory": {"limit": 64 << 20, "swap": 32 << 20}},
              "$.linux.resources.memory.swap", "at least the memory limit")]
    if not lay.is_v2("memory"):
        cases.append(({"memory": {"swappiness": 101}}, "$.linux.resources.memory.swappiness",
                      "0-100"))
    if lay.has("cpu") and not lay.is_v2("cpu"):
        cases.append(({"cpu": {"shares": 1}}, "$.linux.resources.cpu.shares", "out of range"))
    if lay.has("cpu") and lay.is_v2("cpu"):
        cases.append(({"cpu": {"realtimeRuntime": 1000}}, "$.linux.resources.cpu",
                      "realtime"))
    for res, where, words in cases:
        p = r("create", "--bundle", r.bundle(("true",), resources(res)), r.new_id())
        assert_refused(r, p, where, words)


# ---- update ---------------------------------------------------------------------

def _waiting_container(r, lay, tmp_path, files):
    """A running container that prints the given files each time a line comes on
    its `ask` fifo, into its `out` fifo."""
    host, edit = shared_dir(tmp_path, "/sync", fifos=("ask", "out"))
    paths = " ".join(lay.inside(*f) for f in files)
    script = ("while read x < /sync/ask; do for f in " + paths +
              "; do echo $(cat $f); done > /sync/out; done")
    cid = r.running(("sh", "-c", script), edit=lambda cfg: (
        edit(cfg), cfg["linux"].__setitem__("resources", {"pids": {"limit": 50}}
                                             if lay.has("pids") else {})))
    return cid, host


def ask(host):
    fd = os.open(host / "ask", os.O_WRONLY)
    os.write(fd, b"?\n")
    os.close(fd)
    return read_fifo(host / "out").split()


def test_update_flags_and_resources_file(crt, tmp_path):
    r, lay = crt
    lay.need("memory", "pids", "cpu")
    files = [("memory", "memory.limit_in_bytes", "memory.max"), ("pids", "pids.max", "pids.max"),
             ("cpu", "cpu.cfs_quota_us", "cpu.max")]
    cid, host = _waiting_container(r, lay, tmp_path, files)
    r("update", "--memory", "256m", "--pids-limit", "40", "--cpu-quota", "30000",
      "--cpu-period", "100000", cid, check=True)
    got = ask(host)
    assert got[0] == str(256 << 20) and got[1] == "40" and "30000" in got[2:]
    p = subprocess.run([r.bin, "--root", r.root, "update", "-r", "-", cid],
                       input=json.dumps({"memory": {"limit": 128 << 20}, "pids": {"limit": 30}}),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    got = ask(host)
    assert got[0] == str(128 << 20) and got[1] == "30"
    # the recorded resources are merged, not replaced
    cfg = json.loads(open(os.path.join(r.root, cid, "config.json")).read())
    assert cfg["linux"]["resources"]["cpu"]["quota"] == 30000
    assert cfg["linux"]["resources"]["pids"]["limit"] == 30


def test_update_zero_means_unchanged(crt, tmp_path):
    # docker sends every field, with 0 for what the user did not change
    r, lay = crt
    lay.need("memory", "pids")
    files = [("memory", "memory.limit_in_bytes", "memory.max"), ("pids", "pids.max", "pids.max")]
    cid, host = _waiting_container(r, lay, tmp_path, files)
    r("update", "--memory", "200m", cid, check=True)
    before = ask(host)
    zeros = {"memory": {"limit": 0, "reservation": 0, "swap": 0, "kernel": 0},
             "cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": "", "mems": ""},
             "blockIO": {"weight": 0}, "pids": {"limit": 0}}
    p = subprocess.run([r.bin, "--root", r.root, "update", "--resources", "-", cid],
                       input=json.dumps(zeros), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert ask(host) == before == [str(200 << 20), "50"]


def test_update_memory_and_swap_in_either_direction(crt, tmp_path):
    r, lay = crt
    lay.need("memory")
    cid, host = _waiting_container(r, lay, tmp_path,
                                   [("memory", "memory.limit_in_bytes", "memory.max")])
    r("update", "--memory", "64m", "--memory-swap", "128m", cid, check=True)
    r("update", "--memory", "512m", "--memory-swap", "1g", cid, check=True)  # memsw first
    assert ask(host) == [str(512 << 20)]
    r("update", "--memory", "32m", "--memory-swap", "64m", cid, check=True)  # limit first
    assert ask(host) == [str(32 << 20)]


def test_update_check_before_update(crt, tmp_path):
    r, lay = crt
    lay.need("memory")
    cid, host = _waiting_container(r, lay, tmp_path,
                                   [("memory", "memory.limit_in_bytes", "memory.max")])
    before = ask(host)
    p = subprocess.run([r.bin, "--root", r.root, "update", "-r", "-", cid],
                       input=json.dumps({"memory": {"limit": 4096, "checkBeforeUpdate": True}}),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "below the current usage" in p.stderr, p.stderr
    assert ask(host) == before


def test_update_refusals(crt, tmp_path):
    r, lay = crt
    p = r("update", "--memory", "64m", "nosuch")
    assert p.returncode == 1 and "does not exist" in p.stderr
    cid = r.new_id()
    r("run", "--keep", "--bundle", r.bundle(("true",)), cid)
    p = r("update", "--pids-limit", "10", cid)
    assert p.returncode == 1 and "stopped" in p.stderr
    r("delete", cid, check=True)
    cid = r.running()
    for args, words in ((["--memory", "lots"], "--memory"),
                        (["-r", str(tmp_path / "missing.json")], "--resources"),
                        (["--l3-cache-schema", "L3:0=f"], "Intel RDT")):
        p = r("update", *args, cid)
        assert p.returncode != 0 and words in p.stderr and "Traceback" not in p.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"memory": {"limit": "a lot"}}')
    p = r("update", "-r", bad, cid)
    assert p.returncode == 1 and "$.linux.resources.memory.limit" in p.stderr


# ---- placement on the private cgroup2 layout ---------------------------------------

def test_private_v2_placement_freeze_and_cleanup(crt):
    r, lay = crt
    if lay.name != "private-v2":
        pytest.skip("only for the private cgroup2 layout")
    cid = r.running()
    pid = r.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    assert f"0::/ocirt/{cid}" in lines
    # v1 hierarchies are not used in this layout
    assert all(line.endswith(":/") or line.startswith("0::") or "/ocirt/" not in line
               for line in lines)
    r("pause", cid, check=True)
    assert "frozen 1" in open(os.path.join(UNIFIED_MOUNT, "ocirt", cid, "cgroup.events")).read()
    assert r.state(cid)["status"] == "paused"
    r("resume", cid, check=True)
    assert r.state(cid)["status"] == "running"
    r("delete", "--force", cid, check=True)
    assert not os.path.exists(os.path.join(UNIFIED_MOUNT, "ocirt", cid))


def test_resources_leave_nothing_behind_on_failure(crt):
    r, lay = crt
    lay.need("pids")
    cid = r.new_id()
    res = {"pids": {"limit": 10}, "hugepageLimits": [{"pageSize": "5MB", "limit": 1}]}
    p = r("create", "--bundle", r.bundle(("true",), resources(res)), cid)
    assert p.returncode == 1
    assert not os.path.exists(lay.host_dir("pids", cid))
    assert not stat.S_ISDIR(os.stat(r.root).st_mode) or os.listdir(r.root) == []


# ---- events -----------------------------------------------------------------------

def test_events_stats_report_usage_and_limits(crt):
    r, lay = crt
    lay.need("memory", "pids")
    cid = r.running(edit=resources({"memory": {"limit": 48 << 20}, "pids": {"limit": 33}}))
    p = r("events", "--stats", cid, check=True)
    lines = p.stdout.splitlines()
    assert len(lines) == 1 and p.stderr == ""
    ev = json.loads(lines[0])
    assert ev["type"] == "stats" and ev["id"] == cid
    data = ev["data"]
    assert data["memory"]["usage"]["limit"] == 48 << 20
    assert 0 < data["memory"]["usage"]["usage"] < 48 << 20
    assert data["pids"] == {"current": 1, "limit": 33}
    assert data["cpu"]["usage"]["total"] > 0


def _readline(proc, timeout=30):
    import select
    r, _, _ = select.select([proc.stdout], [], [], timeout)
    if not r:
        raise TimeoutError("no event within %ss" % timeout)
    return proc.stdout.readline()


def test_events_report_oom_kills_and_end_with_the_container(crt, tmp_path):
    r, lay = crt
    lay.need("memory")
    host, edit = shared_dir(tmp_path, "/sync", fifos=("ask",))
    script = "read x < /sync/ask; awk 'BEGIN { s = \"x\"; while (1) s = s s }'; sleep 1000"
    cid = r.running(("sh", "-c", script), edit=lambda cfg: (
        edit(cfg), resources({"memory": {"limit": 16 << 20, "swap": 16 << 20}})(cfg)))
    proc = subprocess.Popen([r.bin, "--root", r.root, "events", "--interval", "200ms", cid],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(_readline(proc))  # the watch is in place once stats flow
        assert first["type"] == "stats"
        fd = os.open(host / "ask", os.O_WRONLY)
        os.write(fd, b"go\n")
        os.close(fd)
        seen = []
        while not seen or seen[-1]["type"] != "oom":
            seen.append(json.loads(_readline(proc)))
        assert seen[-1] == {"type": "oom", "id": cid}
        r("kill", cid, "KILL", check=True)
        assert proc.wait(timeout=30) == 0  # the stream ends when the container stops
        assert proc.stderr.read() == ""
    finally:
        proc.kill()
        proc.wait()


def test_events_refusals(crt):
    r, lay = crt
    p = r("events", "--stats", "nosuch")
    assert p.returncode == 1 and "does not exist" in p.stderr
    cid = r.running()
    for bad in ("5", "fast", "0s"):
        p = r("events", "--interval", bad, cid)
        assert p.returncode != 0 and "--interval" in p.stderr and "Traceback" not in p.stderr
    stopped = r.new_id()
    r("run", "--keep", "--bundle", r.bundle(("true",)), stopped, check=True)
    p = r("events", "--stats", stopped)
    assert p.returncode == 1 and "not running" in p.stderr


# ---- device rules (v1 devices controller, or an eBPF program on cgroup2) --------------

FUSE = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600}
OPEN = ("for d in /dev/fuse /dev/null /dev/zero; do "
        "if (exec 3<$d) 2>/dev/null; then echo $d ok; else echo $d refused; fi; done")


def _devices(rules):
    def edit(cfg):
        cfg["linux"]["devices"] = [FUSE]
        if rules is not None:
            cfg["linux"].setdefault("resources", {})["devices"] = rules
    return edit


@pytest.mark.parametrize("rules,fuse", [
    (None, "refused"),                       # no rules: only the standard devices
    ([{"allow": False, "access": "rwm"}], "refused"),
    ([{"allow": False, "access": "rwm"},
      {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "r"}], "ok"),
    ([{"allow": True, "access": "rwm"}], "ok"),
])
def test_device_rules_decide_what_opens(crt, rules, fuse):
    r, lay = crt
    p = r.run(["sh", "-c", OPEN], edit=_devices(rules))
    assert p.returncode == 0, p.stderr
    # the standard devices stay usable whatever the rules say (runc appends them)
    assert p.stdout.split("\n")[:3] == [f"/dev/fuse {fuse}", "/dev/null ok", "/dev/zero ok"]


def test_device_rule_errors(crt):
    r, lay = crt
    for rule, where in (({"allow": True, "type": "x"}, "devices[0].type"),
                        ({"allow": True, "access": "rwx"}, "devices[0].access")):
        p = r("create", "--bundle", r.bundle(("true",), _devices([rule])), r.new_id())
        assert p.returncode == 1 and where in p.stderr and "Traceback" not in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1


# ---- kill --all, delete after a killed create -----------------------------------------

def _wait_pids_gone(pids, timeout=20):
    alive = wait_pids_gone(pids, timeout)
    assert not alive, f"still alive: {alive}"


def test_kill_all_without_a_pid_namespace(crt):
    r, lay = crt

    def edit(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "pid"]
    cid = r.running(("sh", "-c", "sleep 1000 & sleep 1000 & wait"), edit=edit)
    pids = json.loads(r("ps", "--format", "json", cid, check=True).stdout)
    assert len(pids) >= 3
    r("kill", "--all", cid, "KILL", check=True)
    _wait_pids_gone(pids)
    r("delete", cid, check=True)


def test_update_cpu_idle(crt, tmp_path):
    r, lay = crt
    lay.need("cpu")
    d = os.path.dirname(lay.host_dir("cpu", "x"))
    if not os.path.exists(os.path.join(d, "cpu.idle")):
        pytest.skip("this kernel has no cpu.idle")
    cid, host = _waiting_container(r, lay, tmp_path, [("cpu", "cpu.idle", "cpu.idle")])
    r("update", "--cpu-idle", "1", cid, check=True)
    assert ask(host) == ["1"]


def test_delete_cleans_up_after_a_create_killed_halfway(crt, tmp_path):
    # a createRuntime hook holds create; create is SIGKILLed there; delete
    # --force must still remove the cgroups create made (parents included)
    # and the state, and leave no process
    import signal
    r, lay = crt
    lay.need("pids")
    started, release = tmp_path / "started", tmp_path / "release"
    os.mkfifo(started)
    os.mkfifo(release)
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\necho up > {started}\ncat {release} > /dev/null\n")
    hook.chmod(0o755)
    parent = f"/ocirt-it-made-{os.getpid()}-{lay.name}"
    cid = r.new_id()

    def edit(cfg):
        cfg["linux"]["cgroupsPath"] = f"{parent}/{cid}"
        cfg["hooks"] = {"createRuntime": [{"path": str(hook)}]}
    bundle = r.bundle(("sleep", "1000"), edit)
    proc = subprocess.Popen([r.bin, "--root", r.root, "create", "--bundle", bundle, cid],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert read_fifo(started) == "up\n"
        leaf = lay.host_dir("pids", cid).replace("/ocirt/", parent + "/")
        assert os.path.isdir(leaf)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        try:  # the hook may be gone with create's process group: do not wait for it
            os.close(os.open(release, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    p = r("delete", "--force", cid)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(r.root, cid))
    assert not os.path.exists(leaf)
    assert not os.path.exists(os.path.dirname(leaf)), "the parent create made is left"
