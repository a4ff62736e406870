"""cgroup faults: what create, delete, kill, update and exec leave behind when
something goes wrong, checked on the host (processes through pidfds, cgroup
directories in every hierarchy, state directories) and from inside containers.

Each test runs on both layouts of tests/integration/test_cgroups.py (the host's
own, and "private-v2", a pure cgroup2 tree in a private mount namespace) where
it applies. A process of the host moved into a container's cgroup stands in
for a second container there.
"""
import json
import os
import select
import subprocess
import threading
import uuid

import pytest

from tests.integration.conftest import Runtime, read_fifo, shared_dir
from tests.integration.test_cgroups import (  # noqa: F401 - crt is a fixture
    UNIFIED_MOUNT, _waiting_container, ask, crt)

WHERE = "$.linux.cgroupsPath"


# ---- helpers ------------------------------------------------------------------------

def hierarchy_mounts():
    """Every cgroup hierarchy mounted on the host (v1 ones and cgroup2)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] in ("cgroup", "cgroup2"):
                mp = left.split()[4]
                if mp not in out:
                    out.append(mp)
    return out


def host_dirs(lay, rel):
    """Where the cgroup `rel` is on the host, in every hierarchy the layout uses."""
    mounts = [UNIFIED_MOUNT] if lay.name == "private-v2" else hierarchy_mounts()
    return [os.path.join(mp, rel.lstrip("/")) for mp in mounts]


def freezer_file(lay, rel, hierarchy=None):
    """(file, frozen value, thawed value) freezing the cgroup `rel` on the host."""
    if hierarchy == "unified" or (hierarchy is None and lay.v2_only):
        return os.path.join(UNIFIED_MOUNT, rel.lstrip("/"), "cgroup.freeze"), "1", "0"
    return os.path.join("/sys/fs/cgroup/freezer", rel.lstrip("/"), "freezer.state"), \
        "FROZEN", "THAWED"


def set_frozen(lay, rel, frozen, hierarchy=None):
    path, on, off = freezer_file(lay, rel, hierarchy)
    try:
        with open(path, "w") as f:
            f.write(on if frozen else off)
    except FileNotFoundError:
        if frozen:
            raise


def exited(fd, timeout=0):
    """True once the process of pidfd fd has exited."""
    return bool(select.select([fd], [], [], timeout)[0])


def one_line_error(p, *words, status=1):
    """p failed with status (exec's own errors: 255, as runc's) and one line."""
    assert p.returncode == status, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    for w in words:
        assert w in lines[0], (w, p.stderr)
    return lines[0]


def procs(d):
    with open(os.path.join(d, "cgroup.procs")) as f:
        return [int(x) for x in f.read().split()]


def move(pid, dirs):
    for d in dirs:
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(pid))


def root_dirs(lay):
    """The root cgroup of each hierarchy the layout uses (to move a stand-in out)."""
    return [UNIFIED_MOUNT] if lay.name == "private-v2" else hierarchy_mounts()


def mkcg(d):
    """mkdir a cgroup (and its parents); in a v1 cpuset hierarchy with the
    parent's cpus and mems, without which no process may join it."""
    parent = os.path.dirname(d)
    if not os.path.isdir(parent):
        mkcg(parent)
    if os.path.isdir(d):
        return
    os.mkdir(d)
    if os.path.exists(os.path.join(d, "cpuset.mems")) and \
            not os.path.exists(os.path.join(d, "cgroup.controllers")):
        for name in ("cpuset.cpus", "cpuset.mems"):
            with open(os.path.join(parent, name)) as f:
                value = f.read().strip()
            with open(os.path.join(d, name), "w") as f:
                f.write(value)


def rmdir_all(dirs):
    """Remove leftovers (deepest first) so that a failing test leaves the host clean."""
    for d in sorted(dirs, key=len, reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass


def nothing_left(r, cid, dirs):
    assert not os.path.exists(os.path.join(r.root, cid)), "the state dir is left"
    left = [d for d in dirs if os.path.exists(d)]
    assert not left, f"cgroup directories left: {left}"


def stand_in():
    """A host process standing in for a second container's process."""
    return subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---- delete --force of a frozen container -----------------------------------------------

@pytest.mark.parametrize("how", ["paused", "created-and-frozen"])
def test_delete_force_of_a_frozen_container_thaws_kills_and_removes_all(crt, how):
    r, lay = crt
    if how == "paused":
        cid = r.running(("sh", "-c", "sleep 1000 & sleep 1000 & wait"))
        r("pause", cid, check=True)
    else:  # frozen by someone else before start (ocirt pause refuses a created one)
        cid = r.created()
        set_frozen(lay, f"/ocirt/{cid}", True)
    dirs = host_dirs(lay, f"/ocirt/{cid}")
    members = procs(dirs[0])
    assert members
    fds = [os.pidfd_open(pid) for pid in members]
    try:
        p = r("delete", "--force", cid, timeout=60)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert all(exited(fd) for fd in fds), "a process of the container outlived delete"
        nothing_left(r, cid, dirs)
    finally:
        for fd in fds:
            os.close(fd)
        set_frozen(lay, f"/ocirt/{cid}", False)


def test_delete_force_under_a_frozen_parent_keeps_the_state_until_it_can_clean(crt):
    # cgroup v1: a frozen task dies only once thawed, and ocirt cannot thaw a
    # parent it does not own: delete must fail and keep everything, not drop the
    # state of a container that still runs. cgroup2 kills frozen tasks: it works.
    r, lay = crt
    parent = f"/ocirt-it-{uuid.uuid4().hex[:10]}"
    cid = r.new_id()

    def edit(cfg):
        cfg["linux"]["cgroupsPath"] = f"{parent}/{cid}"
    r("create", "--bundle", r.bundle(("sleep", "1000"), edit), cid, check=True)
    r("start", cid, check=True)
    pid = r.state(cid)["pid"]
    fd = os.pidfd_open(pid)
    dirs = host_dirs(lay, parent) + host_dirs(lay, f"{parent}/{cid}")
    try:
        set_frozen(lay, parent, True)
        p = r("delete", "--force", cid, timeout=60)
        if lay.v2_only:
            assert p.returncode == 0 and p.stderr == "", p.stderr
            assert exited(fd)
        else:
            one_line_error(p, cid, "frozen")
            assert not exited(fd), "delete left the init alone but said it failed"
            assert r.state(cid)["status"] == "paused", "the state was dropped"
            assert all(os.path.isdir(d) for d in dirs)
            set_frozen(lay, parent, False)
            p = r("delete", "--force", cid, timeout=60)
            assert p.returncode == 0 and p.stderr == "", p.stderr
            assert exited(fd, 20)
        nothing_left(r, cid, dirs)
    finally:
        os.close(fd)
        set_frozen(lay, parent, False)
        r("delete", "--force", cid)
        rmdir_all(dirs)


# ---- a cgroup shared with another container ---------------------------------------------

@pytest.mark.parametrize("how", ["same-id-other-root", "same-cgroupsPath"])
def test_create_into_a_cgroup_with_processes_is_refused_and_the_first_survives(crt, tmp_path,
                                                                              how):
    r, lay = crt
    first = r.running()
    pid = r.state(first)["pid"]
    fd = os.pidfd_open(pid)
    dirs = host_dirs(lay, f"/ocirt/{first}")
    (tmp_path / "second").mkdir()
    r2 = Runtime(tmp_path / "second", r.rootfs)
    r2.bin = r.bin
    try:
        if how == "same-id-other-root":
            # the default cgroupsPath is /ocirt/<id>: one id under two --roots
            cid, bundle = first, r2.bundle(("sleep", "1000"))
        else:
            cid = r2.new_id()
            bundle = r2.bundle(("sleep", "1000"), lambda cfg: cfg["linux"].__setitem__(
                "cgroupsPath", f"/ocirt/{first}"))
        p = r2("create", "--bundle", bundle, cid)
        one_line_error(p, WHERE, "not empty", "1 process(es)")
        assert not os.listdir(r2.root)
        # the second's clean-up and delete touch nothing of the first
        assert r2("delete", "--force", cid).returncode == 0
        assert not exited(fd), "the first container's init was killed"
        assert all(os.path.isdir(d) for d in dirs), "the first container's cgroup went"
        assert all(procs(d) == [pid] for d in dirs)
        assert r.state(first)["status"] == "running"
        r("delete", "--force", first, check=True)
        assert exited(fd, 20)
        nothing_left(r, first, dirs)
    finally:
        os.close(fd)
        r2.cleanup()


def test_concurrent_creates_into_one_cgroup_only_one_wins(crt, tmp_path):
    # two creates with one id under two roots, at once: the loser fails cleanly,
    # the winner's container is whole and alone in its cgroup
    r, lay = crt
    rounds = 40 if os.environ.get("OCIRT_LONG") else 4
    roots = []
    for i in range(2):
        (tmp_path / f"root{i}").mkdir()
        rr = Runtime(tmp_path / f"root{i}", r.rootfs)
        rr.bin = r.bin
        roots.append(rr)
    try:
        for _ in range(rounds):
            cid = r.new_id()
            bundles = [rr.bundle(("sleep", "1000")) for rr in roots]
            results = [None, None]
            barrier = threading.Barrier(2)

            def go(i):
                barrier.wait()
                results[i] = roots[i]("create", "--bundle", bundles[i], cid)
            threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            winners = [i for i in range(2) if results[i].returncode == 0]
            assert len(winners) == 1, [(x.returncode, x.stderr) for x in results]
            one_line_error(results[1 - winners[0]], WHERE, "not empty")
            win = roots[winners[0]]
            pid = win.state(cid)["pid"]
            dirs = host_dirs(lay, f"/ocirt/{cid}")
            assert all(procs(d) == [pid] for d in dirs), "the loser put a process there"
            win("delete", "--force", cid, check=True)
            nothing_left(win, cid, dirs)
    finally:
        for rr in roots:
            rr.cleanup()


@pytest.mark.parametrize("where", ["leaf", "sub-cgroup"])
def test_delete_force_never_kills_another_containers_process(crt, where):
    # a host process in the container's cgroup stands in for a second
    # container's: delete --force kills the container (its pid namespace) and
    # leaves that process alone; it cannot remove the cgroup then, so it fails
    # and keeps the state, until that process has gone
    r, lay = crt
    cid = r.running(("sh", "-c", "sleep 1000 & wait"))
    leaves = host_dirs(lay, f"/ocirt/{cid}")
    members = procs(leaves[0])
    dirs = leaves + [os.path.join(d, "sub") for d in leaves]
    other = stand_in()
    pfd = os.pidfd_open(other.pid)
    fds = [os.pidfd_open(pid) for pid in members]
    try:
        if where == "sub-cgroup":
            for d in leaves:
                mkcg(os.path.join(d, "sub"))
            move(other.pid, [os.path.join(d, "sub") for d in leaves])
        else:
            move(other.pid, leaves)
        p = r("delete", "--force", cid, timeout=60)
        line = one_line_error(p, cid, "1 process(es)")
        assert "/ocirt/" + cid in line
        assert not exited(pfd), "delete --force killed a process that is not the container's"
        assert all(exited(fd, 20) for fd in fds), "the container's processes outlived delete"
        assert r.state(cid)["status"] == "stopped", "the state was dropped"
        move(other.pid, root_dirs(lay))
        p = r("delete", "--force", cid, timeout=60)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert not exited(pfd)
        nothing_left(r, cid, dirs)
    finally:
        other.kill()
        other.wait()
        for fd in fds + [pfd]:
            os.close(fd)
        rmdir_all(dirs)


# ---- a frozen cgroup at create -----------------------------------------------------------

@pytest.mark.parametrize("what", ["leaf", "parent"])
@pytest.mark.parametrize("hierarchy", ["freezer", "unified"])
def test_create_into_a_frozen_cgroup_is_refused_at_once(crt, hierarchy, what):
    r, lay = crt
    if lay.v2_only and hierarchy == "freezer":
        pytest.skip("no v1 freezer in a pure cgroup2 layout")
    if hierarchy == "unified" and UNIFIED_MOUNT is None:
        pytest.skip("no cgroup2 tree on this host")
    if not lay.v2_only and hierarchy == "freezer" and \
            not os.path.isdir("/sys/fs/cgroup/freezer"):
        pytest.skip("no v1 freezer on this host")
    parent = f"/ocirt-it-{uuid.uuid4().hex[:10]}"
    cid = r.new_id()
    frozen = parent if what == "parent" else f"{parent}/{cid}"
    base = UNIFIED_MOUNT if hierarchy == "unified" else "/sys/fs/cgroup/freezer"
    made_by_test = [os.path.join(base, parent.lstrip("/")), os.path.join(base, frozen.lstrip("/"))]
    for d in made_by_test:
        mkcg(d)
    dirs = host_dirs(lay, parent) + host_dirs(lay, f"{parent}/{cid}")
    bundle = r.bundle(("true",), lambda cfg: cfg["linux"].__setitem__(
        "cgroupsPath", f"{parent}/{cid}"))
    try:
        set_frozen(lay, frozen, True, hierarchy)
        p = r("create", "--bundle", bundle, cid, timeout=15)
        one_line_error(p, WHERE, "frozen")
        assert not os.listdir(r.root)
        # what the test made stays; what create made is gone
        assert all(os.path.isdir(d) for d in made_by_test)
        left = [d for d in dirs if os.path.exists(d) and d not in made_by_test]
        assert not left, left
    finally:
        set_frozen(lay, frozen, False, hierarchy)
        r("delete", "--force", cid)
        rmdir_all(dirs + made_by_test)


# ---- cgroups the container made itself ------------------------------------------------

SUB_CGROUPS = r"""
set -e
if [ -e /sys/fs/cgroup/cgroup.procs ]; then H=/sys/fs/cgroup; else H=$(ls -d /sys/fs/cgroup/*/); fi
sleep 1000 &
for h in $H; do
    for d in sub sub/inner sub/other; do
        mkdir -p $h/$d
        if [ -e $h/cpuset.mems ] && [ ! -e $h/cgroup.controllers ]; then  # v1 cpuset
            cat $h/cpuset.cpus > $h/$d/cpuset.cpus
            cat $h/cpuset.mems > $h/$d/cpuset.mems
        fi
    done
    echo $! > $h/sub/inner/cgroup.procs
done
if [ -e /sys/fs/cgroup/freezer ]; then
    echo FROZEN > /sys/fs/cgroup/freezer/sub/inner/freezer.state
else
    echo 1 > /sys/fs/cgroup/sub/inner/cgroup.freeze
fi
echo ready > /sync/fifo
wait
"""


def test_delete_force_removes_the_cgroups_the_container_made(crt, tmp_path):
    # a container with its cgroup namespace and a writable /sys/fs/cgroup makes
    # sub-cgroups, moves a process into one and freezes it there
    r, lay = crt
    host, share = shared_dir(tmp_path, "/sync")

    def edit(cfg):
        share(cfg)
        for m in cfg["mounts"]:
            if m["type"] == "cgroup":
                m["options"] = [o for o in m["options"] if o != "ro"]
    cid = r.running(("sh", "-c", SUB_CGROUPS), edit)
    assert read_fifo(host / "fifo") == "ready\n"
    leaves = host_dirs(lay, f"/ocirt/{cid}")
    subs = [os.path.join(d, "sub", x) for d in leaves for x in ("inner", "other")]
    dirs = leaves + [os.path.join(d, "sub") for d in leaves] + subs
    assert all(os.path.isdir(d) for d in dirs)
    inner = procs(os.path.join(leaves[0], "sub", "inner"))
    assert len(inner) == 1
    fds = [os.pidfd_open(pid) for pid in procs(leaves[0]) + inner]
    try:
        p = r("delete", "--force", cid, timeout=60)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert all(exited(fd) for fd in fds), "a process of the container outlived delete"
        nothing_left(r, cid, dirs)
    finally:
        for fd in fds:
            os.close(fd)
        for d in leaves:
            for f, v in (("sub/inner/freezer.state", "THAWED"), ("sub/inner/cgroup.freeze", "0")):
                try:
                    with open(os.path.join(d, f), "w") as fh:
                        fh.write(v)
                except OSError:
                    pass
        r("delete", "--force", cid)
        rmdir_all(dirs)


# ---- a create that fails on its cgroupsPath ----------------------------------------------

@pytest.mark.parametrize("case", ["component-is-a-file", "v1-control-file", "dotdot",
                                  "relative-dotdot"])
def test_bad_cgroups_path_is_refused_and_leaves_nothing(crt, case):
    r, lay = crt
    parent = f"ocirt-it-{uuid.uuid4().hex[:10]}"
    cid = r.new_id()
    if case == "component-is-a-file":
        path = f"/{parent}/cgroup.procs/{cid}"  # create makes the parent, then meets a file
    elif case == "v1-control-file":
        if lay.v2_only or not os.path.isdir("/sys/fs/cgroup/memory"):
            pytest.skip("needs the v1 memory hierarchy")
        path = f"/memory.limit_in_bytes/{cid}"  # a file there, a free name elsewhere
    elif case == "dotdot":
        path = f"/{parent}/../{cid}"
    else:
        path = f"../{cid}"
    dirs = host_dirs(lay, parent) + host_dirs(lay, cid) + \
        host_dirs(lay, f"memory.limit_in_bytes/{cid}") + host_dirs(lay, "memory.limit_in_bytes")
    dirs = [d for d in dirs if not os.path.exists(d)]  # only what was not there before
    # the relative form would land beside this process's own cgroup, in any hierarchy
    with open("/proc/self/cgroup") as f:
        mine = {line.rstrip("\n").split(":", 2)[2] for line in f}
    dirs += [os.path.normpath(os.path.join(mp, p.lstrip("/"), "..", cid))
             for mp in hierarchy_mounts() for p in mine]
    bundle = r.bundle(("true",), lambda cfg: cfg["linux"].__setitem__("cgroupsPath", path))
    try:
        p = r("create", "--bundle", bundle, cid)
        one_line_error(p, WHERE)
        assert not os.listdir(r.root)
        left = [d for d in dirs if os.path.exists(d)]
        assert not left, f"a failed create left cgroup directories: {left}"
    finally:
        r("delete", "--force", cid)
        rmdir_all(dirs)


@pytest.mark.parametrize("existing", ["parent", "leaf", "leaf-in-one-hierarchy"])
def test_delete_removes_only_the_cgroups_create_made(crt, existing):
    r, lay = crt
    parent = f"/ocirt-it-{uuid.uuid4().hex[:10]}"
    cid = r.new_id()
    parents = host_dirs(lay, parent)
    leaves = host_dirs(lay, f"{parent}/{cid}")
    ours = parents if existing == "parent" else (
        parents + leaves if existing == "leaf" else parents + leaves[:1])
    for d in ours:
        mkcg(d)
    try:
        r("create", "--bundle", r.bundle(("sleep", "1000"), lambda cfg: cfg["linux"].__setitem__(
            "cgroupsPath", f"{parent}/{cid}")), cid, check=True)
        r("delete", "--force", cid, check=True)
        assert all(os.path.isdir(d) for d in ours), "delete removed what it did not make"
        left = [d for d in parents + leaves if os.path.exists(d) and d not in ours]
        assert not left, f"delete left what create made: {left}"
    finally:
        r("delete", "--force", cid)
        rmdir_all(parents + leaves)


# ---- update that fails halfway -----------------------------------------------------------

def test_update_that_fails_halfway_restores_what_it_changed(crt, tmp_path):
    r, lay = crt
    if lay.has("memory") and lay.has("cpuset"):
        files = [("memory", "memory.limit_in_bytes", "memory.max")]
        before = {"memory": {"limit": 64 << 20}}
        # a valid memory limit, then a cpuset this host cannot have
        bad = {"memory": {"limit": 128 << 20}, "cpu": {"cpus": "4095"}}
        where, word = "$.linux.resources.cpu.cpus", "cpuset.cpus"
    elif lay.has("hugetlb") and lay.is_v2("hugetlb"):
        files = [("hugetlb", "hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max")]
        before = {"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 30}]}
        bad = {"hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 30}],
               "unified": {"hugetlb.1GB.max": "lots"}}
        where, word = "$.linux.resources.unified.hugetlb.1GB.max", "hugetlb.1GB.max"
    else:
        pytest.skip("needs memory and cpuset, or hugetlb on cgroup2")
    cid, host = _waiting_container(r, lay, tmp_path, files)

    def update(res):
        return subprocess.run([r.bin, "--root", r.root, "update", "-r", "-", cid],
                              input=json.dumps(res), capture_output=True, text=True, timeout=60)
    p = update(before)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    old = ask(host)
    one_line_error(update(bad), where, word)
    assert ask(host) == old, "the first write of the failed update stayed"
    cfg = json.loads(open(os.path.join(r.root, cid, "config.json")).read())
    recorded = cfg["linux"]["resources"]
    assert (recorded.get("memory") or {}).get("limit") in (None, 64 << 20)
    assert "unified" not in recorded and (recorded.get("cpu") or {}).get("cpus") is None


# ---- exec --pid-file that cannot be written -----------------------------------------------

@pytest.mark.parametrize("detach", [True, False])
@pytest.mark.parametrize("bad", ["missing-dir", "dir-is-a-file"])
def test_exec_with_an_unwritable_pid_file_leaves_no_process(rt, tmp_path, detach, bad):
    cid = rt.running()
    init = rt.state(cid)["pid"]
    if bad == "missing-dir":
        pid_file = tmp_path / "nowhere" / "exec.pid"
    else:
        (tmp_path / "afile").write_text("")
        pid_file = tmp_path / "afile" / "exec.pid"
    args = ["exec"] + (["--detach"] if detach else []) + ["--pid-file", pid_file, cid,
                                                          "sleep", "1000"]
    p = rt(*args, timeout=60)
    left = json.loads(rt("ps", "--format", "json", cid, check=True).stdout)
    assert left == [init], f"the exec'd process was left running: {left}"
    one_line_error(p, str(pid_file), status=255)


# ---- kill, delete --force and start at once -------------------------------------------------

def test_kill_delete_and_start_racing_each_fail_cleanly_and_leave_nothing(crt):
    r, lay = crt
    rounds = 200 if os.environ.get("OCIRT_LONG") else 20
    for _ in range(rounds):
        cid = r.created()
        pid = r.state(cid)["pid"]
        fd = os.pidfd_open(pid)
        dirs = host_dirs(lay, f"/ocirt/{cid}")
        cmds = [("start", cid), ("kill", cid, "KILL"), ("delete", "--force", cid)]
        results = [None] * len(cmds)
        barrier = threading.Barrier(len(cmds))

        def go(i):
            barrier.wait()
            results[i] = r(*cmds[i], timeout=60)
        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(cmds))]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for cmd, p in zip(cmds, results):
                assert p.returncode in (0, 1), (cmd, p.returncode, p.stderr)
                if p.returncode:
                    one_line_error(p)
                else:
                    assert p.stderr == "", (cmd, p.stderr)
            assert results[2].returncode == 0, results[2].stderr
            assert exited(fd), "the init outlived delete --force"
            nothing_left(r, cid, dirs)
        finally:
            os.close(fd)
