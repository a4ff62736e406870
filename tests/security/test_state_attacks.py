"""Attacks on the runtime's own files and on what it trusts from its caller:
the pid file in a shared directory, the state root, uids that mean
"unchanged", and exec --cap (CVE-2022-29162).

Each test performs the attack for real, against real containers, and looks
at what a user would see: the victim file, the files in a directory the
state root points at, `id` and /proc/self/status inside the container."""
import json
import os

import pytest

from tests.integration.conftest import CGROUP_PROBE

CAP_NET_RAW = 13


from tests.security.conftest import one_line_error  # noqa: E402


# ------------------------------------------------------------------ --pid-file

def plant_tmp_symlinks(pid_file, victim, count=4000):
    """A symlink to <victim> at every name the old code used for the pid
    file's temporary (<pidfile>.<its pid>.tmp), for the next <count> pids:
    the pid of the coming ocirt call is not known in advance, but it is one
    of the next few handed out (ns_last_pid is the last one)."""
    with open("/proc/sys/kernel/ns_last_pid") as f:
        last = int(f.read())
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    for i in range(1, count + 1):
        pid = (last + i) % pid_max
        try:
            os.symlink(victim, f"{pid_file}.{pid}.tmp")
        except FileExistsError:
            pass


@pytest.fixture
def shared(public_tmp):
    """A directory everyone may write (as /tmp), and a victim file elsewhere."""
    d = public_tmp / "shared"
    d.mkdir()
    os.chmod(d, 0o1777)
    victim = public_tmp / "victim"
    victim.write_text("precious\n")
    return d, victim


def check_pid_file(pid_file, victim, pid):
    assert victim.read_text() == "precious\n", "the runtime wrote through a planted symlink"
    assert not os.path.islink(pid_file)
    assert pid_file.read_text() == str(pid)


def test_create_pid_file_does_not_follow_planted_symlinks(rt, shared):
    d, victim = shared
    pid_file = d / "init.pid"
    cid = rt.new_id()
    b = rt.bundle(("sleep", "1000"))
    plant_tmp_symlinks(pid_file, victim)
    rt("create", "--bundle", b, "--pid-file", pid_file, cid, check=True)
    check_pid_file(pid_file, victim, rt.state(cid)["pid"])


def test_run_pid_file_does_not_follow_planted_symlinks(rt, shared):
    d, victim = shared
    pid_file = d / "run.pid"
    cid = rt.new_id()
    b = rt.bundle(("sleep", "1000"))
    plant_tmp_symlinks(pid_file, victim)
    rt("run", "--detach", "--bundle", b, "--pid-file", pid_file, cid, check=True)
    check_pid_file(pid_file, victim, rt.state(cid)["pid"])


def test_exec_pid_file_does_not_follow_planted_symlinks(rt, shared):
    d, victim = shared
    cid = rt.running()
    pid_file = d / "exec.pid"
    plant_tmp_symlinks(pid_file, victim)
    rt("exec", "--detach", "--pid-file", pid_file, cid, "sleep", "1000", check=True)
    assert victim.read_text() == "precious\n", "the runtime wrote through a planted symlink"
    assert not os.path.islink(pid_file)
    pid = int(pid_file.read_text())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"1000"]


def test_pid_file_through_a_planted_final_symlink_is_replaced_not_followed(rt, shared):
    d, victim = shared
    pid_file = d / "final.pid"
    os.symlink(victim, pid_file)
    cid = rt.new_id()
    rt("create", "--bundle", rt.bundle(("sleep", "1000")), "--pid-file", pid_file, cid,
       check=True)
    check_pid_file(pid_file, victim, rt.state(cid)["pid"])


# ------------------------------------------------------- the state root

@pytest.fixture
def planted(rt, public_tmp):
    """<root>/victim -> a directory full of files someone cares about."""
    target = public_tmp / "precious"
    target.mkdir()
    for name in ("a", "b", "state.json", "init", "cgroup"):
        (target / name).write_text(f"{name}\n")
    os.makedirs(rt.root, exist_ok=True)
    link = os.path.join(rt.root, "victim")
    os.symlink(target, link)
    yield target
    os.unlink(link)  # else the fixture's own cleanup finds it left over


@pytest.mark.parametrize("args", [
    ["delete", "--force", "victim"], ["delete", "victim"], ["state", "victim"],
    ["kill", "victim", "KILL"], ["kill", "--all", "victim", "KILL"], ["start", "victim"],
    ["pause", "victim"], ["ps", "victim"], ["exec", "victim", "true"],
])
def test_a_symlink_in_the_state_root_is_refused_not_followed(rt, planted, args):
    p = rt(*args)
    one_line_error(p, "victim", "symbolic link")
    assert sorted(os.listdir(planted)) == ["a", "b", "cgroup", "init", "state.json"]


def test_list_does_not_follow_a_symlink_in_the_state_root(rt, planted):
    cid = rt.created()
    for fmt in ("table", "json"):
        p = rt("list", "--format", fmt)
        assert p.returncode == 0, p.stderr
        assert cid in p.stdout and "victim" not in p.stdout
        assert p.stderr.count("\n") == 1 and "victim" in p.stderr and \
            "symbolic link" in p.stderr, p.stderr
    assert sorted(os.listdir(planted)) == ["a", "b", "cgroup", "init", "state.json"]


def test_a_symlinked_file_in_a_state_directory_is_not_followed(rt, public_tmp):
    """state.json replaced by a link to a file elsewhere: not read, and
    delete --force still removes the container (and not the link's target)."""
    cid = rt.created()
    target = public_tmp / "elsewhere.json"
    path = os.path.join(rt.root, cid, "state.json")
    os.rename(path, target)
    os.symlink(target, path)
    one_line_error(rt("state", cid), cid, "state.json")
    one_line_error(rt("delete", cid), cid, "delete --force")
    p = rt("delete", "--force", cid)
    assert p.returncode == 0, p.stderr
    assert target.exists()
    rt.assert_nothing_left()


def test_a_state_directory_owned_by_someone_else_is_refused(rt):
    cid = rt.created()
    d = os.path.join(rt.root, cid)
    os.chown(d, 65534, 65534)
    try:
        for args in (["state", cid], ["delete", "--force", cid], ["kill", cid, "KILL"]):
            one_line_error(rt(*args), "owned by uid 65534")
        assert os.path.isdir(d) and os.path.isdir(os.path.join(CGROUP_PROBE, "ocirt", cid))
    finally:
        os.chown(d, 0, 0)


# --------------------------------------------------- (uid_t)-1 is root

MINUS_ONE = 4294967295  # (uid_t)-1: setresuid(-1, -1, -1) changes nothing


def _userns(cfg):
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


@pytest.mark.parametrize("edit,where", [
    (lambda c: c["process"]["user"].update(uid=MINUS_ONE), "$.process.user.uid"),
    (lambda c: c["process"]["user"].update(uid=2**31), "$.process.user.uid"),
    (lambda c: c["process"]["user"].update(uid=1000, gid=MINUS_ONE), "$.process.user.gid"),
    (lambda c: c["process"]["user"].update(uid=1000, additionalGids=[5, MINUS_ONE]),
     "$.process.user.additionalGids[1]"),
    (lambda c: (_userns(c), c["linux"]["uidMappings"][0].update(containerID=MINUS_ONE)),
     "$.linux.uidMappings[0].containerID"),
    (lambda c: (_userns(c), c["linux"]["gidMappings"][0].update(hostID=MINUS_ONE)),
     "$.linux.gidMappings[0].hostID"),
    (lambda c: (_userns(c), c["linux"]["uidMappings"][0].update(size=MINUS_ONE)),
     "$.linux.uidMappings[0].size"),
])
def test_ids_that_mean_unchanged_are_refused(rt, edit, where):
    """`id` in the container would print uid=0 (or gid=0): the process kept
    the runtime's root ids. The config is refused, naming the JSON path."""
    p = rt.run(["id"], edit=edit)
    assert "uid=0" not in p.stdout and "gid=0" not in p.stdout, p.stdout
    one_line_error(p, where, "out of range")
    rt.assert_nothing_left()


@pytest.mark.parametrize("flags,needle", [
    (["--user", str(MINUS_ONE)], "--user"),
    (["--user", f"1000:{MINUS_ONE}"], "--user"),
    (["--user", "-1"], "--user"),
    (["--user", "1000", "--additional-gids", str(MINUS_ONE)], "--additional-gids"),
])
def test_exec_user_flags_that_mean_unchanged_are_refused(rt, flags, needle):
    cid = rt.running()
    p = rt("exec", *flags, cid, "id")
    assert "uid=0" not in p.stdout and "gid=0" not in p.stdout, p.stdout
    one_line_error(p, needle)


@pytest.mark.parametrize("user,where", [
    ({"uid": MINUS_ONE, "gid": 0}, "$.process.user.uid"),
    ({"uid": 1000, "gid": MINUS_ONE}, "$.process.user.gid"),
    ({"uid": 1000, "gid": 1000, "additionalGids": [MINUS_ONE]},
     "$.process.user.additionalGids[0]"),
])
def test_exec_process_file_with_an_unchanged_id_is_refused(rt, tmp_path, user, where):
    cid = rt.running()
    f = tmp_path / "process.json"
    f.write_text(json.dumps({"args": ["id"], "cwd": "/", "user": user}))
    p = rt("exec", "--process", f, cid)
    assert "uid=0" not in p.stdout and "gid=0" not in p.stdout, p.stdout
    one_line_error(p, where)


# ------------------------------------------------ exec --cap (CVE-2022-29162)

def _caps(status, field):
    line = next(x for x in status.splitlines() if x.startswith(field + ":"))
    return int(line.split()[1], 16)


def test_exec_cap_stays_out_of_the_inheritable_and_ambient_sets(rt):
    """A capability given with exec --cap must not survive into programs the
    process runs in turn: it goes to bounding, effective and permitted only."""
    cid = rt.running()
    p = rt("exec", "--cap", "CAP_NET_RAW", cid, "cat", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert _caps(p.stdout, field) & (1 << CAP_NET_RAW), field
    for field in ("CapInh", "CapAmb"):
        assert not _caps(p.stdout, field) & (1 << CAP_NET_RAW), field
