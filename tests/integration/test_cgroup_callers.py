"""cgroup behaviours that callers other than ocirt's own tests depend on (issue 13,
items 14, 16, 19, 20, 25), each run through runc too where runc agrees.

- realtimeRuntime under the default parent (v1): the parent gets the budget;
- `exec --cgroup` in runc's syntax: PATH, /PATH, CTRL[,CTRL]:PATH, repeated;
- `update --memory -1` with a swap limit set lifts both;
- a v1 parent cgroup with an empty cpuset gets its ancestors' cpus and mems;
- controllers come from the mount table, not from directory names under
  /sys/fs/cgroup, in ocirt and in the conformance gate, which tells a skip
  from a failure.
"""
import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import Runtime, one_line_error

sys.path.insert(0, os.path.join(ROOT, "conformance"))
from cases.host import cgroup_mounts  # noqa: E402 - the conformance harness's host facts

RUNC = "/usr/sbin/runc"


MOUNTS = cgroup_mounts()
PURE_V2 = list(MOUNTS) == ["unified"]


def _read(path):
    with open(path) as f:
        return f.read().strip()


def cgroup_dir(pid, ctrl):
    """The host directory of pid's cgroup for ctrl ("unified": cgroup2)."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _hid, ctrls, path = line.rstrip("\n").split(":", 2)
            if (ctrl == "unified" and ctrls == "") or ctrl in ctrls.split(","):
                return MOUNTS[ctrl] + path
    raise AssertionError(f"no {ctrl} cgroup for {pid}")


@pytest.fixture
def runtimes(rt, tmp_path, rootfs):
    """[("ocirt", rt), ("runc", a Runtime running runc with its own --root)]."""
    if not os.path.exists(RUNC):
        pytest.skip(f"{RUNC} is not installed (scripts/setup.sh installs it): no reference")
    d = tmp_path / "runc"
    d.mkdir()
    r = Runtime(d, rootfs)
    r.bin = RUNC
    yield [("ocirt", rt), ("runc", r)]
    for cid in r.ids:
        r("delete", "--force", cid)


def _parents_removed(top):
    """rmdir a test's own parent cgroup in every hierarchy, deepest first."""
    for mp in set(MOUNTS.values()):
        base = os.path.join(mp, top)
        for d, _subs, _files in sorted(os.walk(base), key=lambda w: -len(w[0])):
            try:
                os.rmdir(d)
            except OSError:
                pass


# ---- item 14: realtime budget ------------------------------------------------------

RT = {"cpu": {"realtimeRuntime": 1000, "realtimePeriod": 100000}}


def _need_rt():
    if "cpu" not in MOUNTS:
        pytest.skip("no cgroup v1 cpu hierarchy (cgroup2 has no cpu.rt_*; "
                    "test_cgroups.py checks that refusal)")
    if not os.path.exists(os.path.join(MOUNTS["cpu"], "cpu.rt_runtime_us")):
        pytest.skip("this kernel has no realtime group scheduling (CONFIG_RT_GROUP_SCHED): "
                    f"no {MOUNTS['cpu']}/cpu.rt_runtime_us")


def test_realtime_runtime_under_the_default_parent(runtimes):
    # runc's default place is /<id>, under the root and its budget; ocirt's is
    # /ocirt/<id>, whose parent must get the budget first. Ask for more than
    # /ocirt holds now (an earlier container may have given it some).
    _need_rt()
    sub = os.path.basename(MOUNTS["cpu"])
    parent = os.path.join(MOUNTS["cpu"], "ocirt")
    held, before = 0, None
    if os.path.isdir(parent):
        before = _read(os.path.join(parent, "cpu.rt_runtime_us"))
        held = int(before) * 100000 // int(_read(os.path.join(parent, "cpu.rt_period_us")))
    res = {"cpu": {"realtimeRuntime": held + 1000, "realtimePeriod": 100000}}
    try:
        for name, r in runtimes:
            p = r.run(["cat", f"/sys/fs/cgroup/{sub}/cpu.rt_runtime_us",
                       f"/sys/fs/cgroup/{sub}/cpu.rt_period_us"],
                      edit=lambda cfg: cfg["linux"].__setitem__("resources", res))
            assert p.returncode == 0, (name, p.stderr)
            assert p.stdout.split() == [str(held + 1000), "100000"], (name, p.stdout)
    finally:  # give the host its budget back (ocirt never lowers a parent's)
        if before is not None and os.path.isdir(parent):
            try:
                with open(os.path.join(parent, "cpu.rt_runtime_us"), "w") as f:
                    f.write(before)
            except OSError:
                pass


def test_realtime_runtime_under_a_parent_without_budget_is_a_clear_error(runtimes):
    # a cgroupsPath's parents are their owner's to budget: runc leaves them
    # alone, and so does ocirt, with an error that says why
    _need_rt()
    top = f"it-rt-{uuid.uuid4().hex[:8]}"
    try:
        for name, r in runtimes:
            cid = r.new_id()
            b = r.bundle(("true",), lambda cfg: (
                cfg["linux"].__setitem__("resources", RT),
                cfg["linux"].__setitem__("cgroupsPath", f"/{top}/{cid}")))
            p = r("run", "--bundle", b, cid)
            assert p.returncode != 0, (name, p.stdout)
            if name == "ocirt":
                one_line_error(p, "$.linux.resources.cpu.realtimeRuntime",
                               f"the parent cgroup {MOUNTS['cpu']}/{top} has a realtime "
                               "budget of 0 us")
    finally:
        _parents_removed(top)


# ---- item 16: exec --cgroup -----------------------------------------------------------

def _make_subgroups(pid):
    """foo and bar in each of the container's hierarchies (cpuset ones filled)."""
    for ctrl in MOUNTS:
        d = cgroup_dir(pid, ctrl)
        for n in ("foo", "bar"):
            os.makedirs(os.path.join(d, n), exist_ok=True)
            if ctrl == "cpuset" and not PURE_V2:
                for f in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(d, n, f), "w") as out:
                        out.write(_read(os.path.join(d, f)))


def _drop_subgroups(pid):
    for ctrl in MOUNTS:
        for n in ("foo", "bar"):
            try:
                os.rmdir(os.path.join(cgroup_dir(pid, ctrl), n))
            except OSError:
                pass


EXEC_CASES = [["foo"], ["/foo"], ["foo/"], ["/"], [""], ["memory:foo"], ["memory,pids:foo"],
              ["memory:/foo"], ["memory:foo", "pids:bar"], ["cpu:bar"], ["name=systemd:foo"],
              ["memory:../foo"], ["memory:foo/../bar"],
              # errors, for both
              ["../"], ["memory:foo:x"], ["bogus:foo"], ["unified:foo"], ["nosuch"],
              ["foo", "pids:bar"]]


def test_exec_cgroup_syntax_as_runc(runtimes):
    seen = {}
    for name, r in runtimes:
        cid = r.running()
        pid = r.state(cid)["pid"]
        _make_subgroups(pid)
        try:
            for case in EXEC_CASES:
                args = [a for c in case for a in ("--cgroup", c)]
                p = r("exec", *args, cid, "cat", "/proc/self/cgroup")
                seen.setdefault(tuple(case), {})[name] = (
                    p.returncode == 0, p.stdout if p.returncode == 0 else p.stderr)
                if name == "ocirt" and p.returncode != 0:
                    one_line_error(p)
        finally:
            _drop_subgroups(pid)
    for case, got in seen.items():
        assert got["ocirt"][0] == got["runc"][0], (case, got)
        if got["ocirt"][0]:
            assert got["ocirt"][1] == got["runc"][1], (case, got)
    # the cases that must work where the hierarchies exist did work
    assert seen[("foo",)]["ocirt"][0] and seen[("/",)]["ocirt"][0]
    if not PURE_V2:
        assert seen[("memory:foo", "pids:bar")]["ocirt"][0]
        assert "memory:/foo" in seen[("memory:foo", "pids:bar")]["ocirt"][1]


def test_exec_cgroup_stays_inside_the_container(rt):
    cid = rt.running()
    pid = rt.state(cid)["pid"]
    base = cgroup_dir(pid, "memory" if not PURE_V2 else "unified")
    sibling = base + "x"  # runc 1.1.5 checks a string prefix, which lets this by
    os.mkdir(sibling)
    try:
        ctrl = "memory:" if not PURE_V2 else ""
        p = rt("exec", "--cgroup", f"{ctrl}../{os.path.basename(sibling)}", cid, "true")
        one_line_error(p, "is not a sub cgroup path")
    finally:
        os.rmdir(sibling)


def test_exec_into_a_cgroup_it_cannot_join_names_the_file(rt):
    """A v1 cpuset cgroup with no cpus takes no task (ENOSPC on write(2),
    which names no file): the error says which file refused."""
    if PURE_V2 or "cpuset" not in MOUNTS:
        pytest.skip("needs a cgroup v1 cpuset hierarchy")
    cid = rt.running()
    base = cgroup_dir(rt.state(cid)["pid"], "cpuset")
    sub = os.path.join(base, "empty")
    os.mkdir(sub)  # a new v1 cpuset cgroup starts with empty cpus and mems
    try:
        p = rt("exec", "--cgroup", "cpuset:empty", cid, "true")
        line = one_line_error(p, "cannot join cgroup")
        assert os.path.join(sub, "tasks") in line and "None" not in line, line
    finally:
        os.rmdir(sub)


# ---- item 19: update --memory -1 -----------------------------------------------------

def test_update_memory_unlimited_lifts_swap(runtimes):
    ctrl = "unified" if PURE_V2 else "memory"
    if ctrl not in MOUNTS:
        pytest.skip("no memory controller here")
    files = ("memory.max", "memory.swap.max") if PURE_V2 else \
        ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
    res = {"memory": {"limit": 64 << 20, "swap": 128 << 20}}
    for name, r in runtimes:
        cid = r.running(edit=lambda cfg: cfg["linux"].__setitem__("resources", res))
        d = cgroup_dir(r.state(cid)["pid"], ctrl)
        if not all(os.path.exists(os.path.join(d, f)) for f in files):
            pytest.skip(f"no swap accounting here: no {files[1]}")
        before = [_read(os.path.join(d, f)) for f in files]
        assert before[0] == str(64 << 20), (name, before)
        p = r("update", "--memory", "-1", cid)
        assert p.returncode == 0, (name, p.stderr)
        after = [_read(os.path.join(d, f)) for f in files]
        unlimited = ["max", "max"] if PURE_V2 else [str((1 << 63) - 4096)] * 2
        assert after == unlimited, (name, after)
        if name == "ocirt":  # what update records: both lifted
            cfg = json.loads(open(os.path.join(r.root, cid, "config.json")).read())
            assert cfg["linux"]["resources"]["memory"] == {"limit": -1, "swap": -1}
            # and limits can be set again afterwards, memory+swap first
            r("update", "--memory", "32m", "--memory-swap", "64m", cid, check=True)
            assert _read(os.path.join(d, files[0])) == str(32 << 20)


# ---- item 20: an empty v1 cpuset parent ---------------------------------------------

def test_empty_cpuset_parent_is_filled_from_its_ancestors(runtimes):
    if "cpuset" not in MOUNTS or PURE_V2:
        pytest.skip("no cgroup v1 cpuset hierarchy (cgroup2's cpuset inherits its "
                    "parent's effective cpus)")
    mp = MOUNTS["cpuset"]
    top = f"it-cs-{uuid.uuid4().hex[:8]}"
    want = [_read(os.path.join(mp, "cpuset.cpus")), _read(os.path.join(mp, "cpuset.mems"))]
    try:
        for name, r in runtimes:
            parent = os.path.join(mp, top, name)
            os.makedirs(parent)  # a parent made by hand: empty cpus and mems
            assert _read(os.path.join(parent, "cpuset.cpus")) == ""
            cid = r.new_id()
            b = r.bundle(("sh", "-c", "grep -E 'Cpus_allowed_list|Mems_allowed_list' "
                          "/proc/self/status"), lambda cfg: cfg["linux"].__setitem__(
                              "cgroupsPath", f"/{top}/{name}/{cid}"))
            p = r("run", "--bundle", b, cid)
            assert p.returncode == 0, (name, p.stderr)
            assert [line.split()[1] for line in p.stdout.splitlines()] == want, p.stdout
            for d in (os.path.join(mp, top), parent):
                assert [_read(os.path.join(d, "cpuset.cpus")),
                        _read(os.path.join(d, "cpuset.mems"))] == want, (name, d)
    finally:
        _parents_removed(top)


# ---- item 25: controllers from the mount table ----------------------------------------

# ocirt (or anything) in a private mount namespace whose /sys/fs/cgroup is a new
# tmpfs holding the real hierarchies plus plain, unmounted directories, as conmon
# leaves them on hybrid hosts; FAKE_NO_UNIFIED=1 also leaves cgroup2 out
FAKE_DIRS = r"""#!/bin/sh
exec unshare -m sh -c '
set -e
mount --make-rprivate /
keep=$(mktemp -d)
mount --rbind /sys/fs/cgroup "$keep"
umount -l /sys/fs/cgroup
mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
for d in "$keep"/*; do
  n=${d##*/}
  [ "$n" = unified ] && [ -n "$FAKE_NO_UNIFIED" ] && continue
  mkdir /sys/fs/cgroup/$n && mount --move "$d" /sys/fs/cgroup/$n
done
mkdir -p /sys/fs/cgroup/hugetlb /sys/fs/cgroup/net_cls /sys/fs/cgroup/net_prio \
  /sys/fs/cgroup/perf_event
umount -l "$keep" && rmdir "$keep"
exec "$0" "$@"' "$@"
"""


def _fake_dirs_wrapper(tmp_path, target):
    if PURE_V2:
        pytest.skip("a pure cgroup2 host: /sys/fs/cgroup is the cgroup2 tree, where a "
                    "directory is a cgroup")
    w = tmp_path / f"fake-{os.path.basename(target)}"
    w.write_text(FAKE_DIRS.replace('"$0" "$@"\' "$@"', f'"{target}" "$@"\' sh "$@"'))
    w.chmod(0o755)
    return str(w)


def _need_2mb_pages():
    if not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        pytest.skip("no 2 MB huge pages on this host")


HUGE = {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]}


def test_plain_directories_are_no_controllers(rt, tmp_path):
    _need_2mb_pages()
    rt.bin = _fake_dirs_wrapper(tmp_path, rt.bin)
    v2_hugetlb = "hugetlb" in _read(os.path.join(MOUNTS["unified"], "cgroup.controllers")) \
        if "unified" in MOUNTS else False
    if "hugetlb" in MOUNTS or not v2_hugetlb:
        pytest.skip("hugetlb is a mounted v1 hierarchy here, or cgroup2 lacks it")
    p = rt.run(["sh", "-c", "ls /sys/fs/cgroup; cat /sys/fs/cgroup/unified/hugetlb.2MB.max"],
               edit=lambda cfg: cfg["linux"].__setitem__("resources", HUGE))
    # hybrid, hugetlb in cgroup2 only: the limit goes there, and the
    # container's /sys/fs/cgroup shows the mounted hierarchies only
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split()
    assert lines[-1] == str(4 << 20) and "hugetlb" not in lines and "net_cls" not in lines


def test_hugetlb_nowhere_mounted_is_a_clear_error(runtimes, tmp_path):
    _need_2mb_pages()
    if "hugetlb" in MOUNTS:
        pytest.skip("hugetlb is a mounted v1 hierarchy here")
    for name, r in runtimes:
        r.bin = _fake_dirs_wrapper(tmp_path, r.bin)
        p = subprocess.run([r.bin, "--root", r.root, "run", "--bundle", r.bundle(
            ("true",), lambda cfg: cfg["linux"].__setitem__("resources", HUGE)), r.new_id()],
            env=dict(os.environ, FAKE_NO_UNIFIED="1"), capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=60)
        assert p.returncode != 0, (name, p.stdout)  # runc: "cannot set hugetlb limit"
        if name == "ocirt":
            one_line_error(p, "$.linux.resources.hugepageLimits",
                           "the hugetlb controller is not mounted")


def test_conformance_gate_with_plain_cgroup_directories(tmp_path):
    """After podman ran on a hybrid host: the cgroup requirements still pass."""
    from tests.conftest import ocirt_binary
    _need_2mb_pages()
    wrapper = _fake_dirs_wrapper(tmp_path, sys.executable)
    expected = tmp_path / "expected.json"
    ids = ["config-linux.resources.hugepageLimits", "config-linux.resources.unavailable-errors",
           "config-linux.resources.memory"]
    expected.write_text(json.dumps({"passing": ids}))
    p = subprocess.run([wrapper, os.path.join(ROOT, "conformance", "run"), "--runtime",
                        ocirt_binary(), "--no-reference", "--expected", str(expected),
                        "-k", "config-linux.resources."],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    for rid in ids:  # this host has what each needs: none is skipped
        line = next(x for x in p.stdout.splitlines() if x.split()[1:2] == [rid])
        assert line.startswith("pass"), line
