"""Rootless with a delegated cgroup2 tree: limits, pause and resume, delete.

A user whose systemd runs (`loginctl enable-linger`, then user@UID.service,
whose cgroup systemd delegates to the user: on Debian 12 the cpu, memory and
pids controllers) gets a cgroup of its own for each container:

* the cgroupfs driver, for a command run in a scope of the user's systemd
  (`systemd-run --user --scope`): the container's cgroup goes under the
  parent of the caller's cgroup (user@UID.service/app.slice/<id>), as runc's;
* `--systemd-cgroup`: a transient scope of the user's systemd, found on its
  session bus, in its user.slice, with Delegate=yes.

Each test runs ocirt and runc 1.1 rootless side by side (runc where it is
installed) and looks from inside the container (a cgroup namespace: its own
cgroup at /sys/fs/cgroup) and at the host's cgroup tree.

These need a pure cgroup2 host with systemd as PID 1 and logind: this host is
hybrid (the skip path of an ordinary user there is test_rootless.py's);
`KVMRUN_INIT=systemd tests/vm/lane.sh tests/integration/test_rootless_cgroups.py`
runs them in the qemu guest.
"""
import json
import os
import shutil
import subprocess
import uuid

import pytest

from tests.integration.conftest import wait_pids_gone
from tests.integration.test_rootless import HAVE_RUNC, RUNC, User, _errors

CG = "/sys/fs/cgroup"
pytestmark = [
    pytest.mark.skipif(not os.path.isdir("/run/systemd/system"),
                       reason="systemd is not PID 1 here (KVMRUN_INIT=systemd tests/vm/lane.sh "
                              "runs these)"),
    pytest.mark.skipif(not os.path.exists(f"{CG}/cgroup.controllers"),
                       reason="not a pure cgroup2 host (nothing is delegated to users here)"),
    pytest.mark.skipif(shutil.which("loginctl") is None or shutil.which("systemd-run") is None,
                       reason="needs loginctl and systemd-run"),
]

MEM = 64 << 20
PIDS = 8
# inside: the container's own cgroup (a cgroup namespace); fork past pids.max
# in a subshell (busybox sh gives up there), then what the kernel counted
PROBE = ("cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max; "
         "(i=0; while [ $i -lt 12 ]; do sleep 30 & i=$((i+1)); done) 2>/dev/null; "
         "while read k v; do echo \"$k=$v\"; done < /sys/fs/cgroup/pids.events")


@pytest.fixture(scope="module")
def user(rootfs):
    """A user whose systemd runs (lingering), for the whole module: starting
    user@UID.service costs seconds in the guest. `systemctl start` returns
    once that manager has said READY, its bus socket listening by then."""
    from tests.conftest import ocirt_binary
    u = User(rootfs)
    u.bin = ocirt_binary()
    try:
        subprocess.run(["loginctl", "enable-linger", u.name], check=True, capture_output=True,
                       timeout=60)
        subprocess.run(["systemctl", "start", f"user@{u.uid}.service"], check=True,
                       capture_output=True, timeout=120)
        u.manager = f"/user.slice/user-{u.uid}.slice/user@{u.uid}.service"
        u.env = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path=/run/user/{u.uid}/bus"}
        yield u
    finally:
        subprocess.run(["loginctl", "disable-linger", u.name], capture_output=True, timeout=60)
        subprocess.run(["systemctl", "stop", f"user@{u.uid}.service"], capture_output=True,
                       timeout=120)
        u.remove()


def both(user):
    return [user.bin] + ([RUNC] if HAVE_RUNC else [])


def _limits(cfg):
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    cfg["linux"]["resources"] = {"memory": {"limit": MEM}, "pids": {"limit": PIDS}}


def _in_user_scope(user, *argv, cwd=None):
    """argv run by the user in a scope of its own systemd (as a shell of a
    desktop session is): the caller's cgroup is then the user's."""
    return user("systemd-run", "--user", "--scope", "--quiet", "--", *argv, env=user.env,
                cwd=cwd)


def _state(user, rt, cid, *flags):
    p = user(rt, *flags, "state", cid, env=user.env)
    assert p.returncode == 0, (rt, p.stderr)
    return json.loads(p.stdout)


def _cgroup_of(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 and lines[0].startswith("0::"), lines
    return lines[0][3:]


def _events(d):
    with open(f"{d}/cgroup.events") as f:
        return dict(ln.split() for ln in f.read().splitlines())


def _check_limits_inside(rt, out):
    lines = out.split()
    assert lines[:2] == [str(PIDS), str(MEM)], (rt, out)
    events = dict(x.split("=") for x in lines[2:])
    assert int(events.get("max", 0)) > 0, (rt, out)  # forks past pids.max were refused


def _lifecycle(user, rt, cid, flags, want_cgroup):
    """A detached container: its cgroup where want_cgroup(path) says, the
    user's, with the limits; pause and resume freeze and thaw it (seen in
    cgroup.events and state); kill and delete remove the cgroup."""
    st = _state(user, rt, cid, *flags)
    pid = st["pid"]
    path = _cgroup_of(pid)
    assert want_cgroup(path), (rt, path)
    d = CG + path
    assert os.stat(d).st_uid == user.uid, (rt, d)
    with open(f"{d}/pids.max") as f:
        assert f.read().strip() == str(PIDS), rt
    for verb, status, frozen in (("pause", "paused", "1"), ("resume", "running", "0")):
        p = user(rt, *flags, verb, cid, env=user.env)
        assert p.returncode == 0, (rt, verb, p.stderr)
        assert _state(user, rt, cid, *flags)["status"] == status, (rt, verb)
        assert _events(d)["frozen"] == frozen, (rt, verb)
    p = user(rt, *flags, "kill", cid, "KILL", env=user.env)
    assert p.returncode == 0, (rt, p.stderr)
    assert wait_pids_gone([pid]) == []
    p = user(rt, *flags, "delete", cid, env=user.env)
    assert p.returncode == 0, (rt, p.stderr)
    assert not os.path.exists(d), (rt, d)
    return d


def test_cgroupfs_limits_in_the_delegated_tree(user):
    """The cgroupfs driver, run from a scope of the user's systemd: the
    container's cgroup is <the caller's parent>/<id>, in user@UID.service,
    with the config's pids and memory limits, which the container sees in
    its cgroup namespace and the kernel enforces (pids.events counts the
    forks it refused); `run` leaves no cgroup behind."""
    for rt in both(user):
        b = user.bundle(["sh", "-c", PROBE], _limits)
        cid = f"rl-{uuid.uuid4().hex[:8]}"
        p = _in_user_scope(user, rt, "run", cid, cwd=b)
        assert p.returncode == 0, (rt, p.stderr)
        _check_limits_inside(rt, p.stdout)
        assert not os.path.exists(f"{CG}{user.manager}/app.slice/{cid}"), rt
    assert user.state_dirs("ocirt") == []


def test_cgroupfs_pause_resume_delete(user):
    """Detached, in the delegated tree: pause and resume work through
    cgroup.freeze there; delete removes the cgroup."""
    for rt in both(user):
        b = user.bundle(["sleep", "1000"], _limits)
        cid = f"rl-{uuid.uuid4().hex[:8]}"
        p = _in_user_scope(user, rt, "run", "--detach", cid, cwd=b)
        assert p.returncode == 0, (rt, p.stderr)
        _lifecycle(user, rt, cid, (),
                   lambda path: path == f"{user.manager}/app.slice/{cid}")
    assert user.state_dirs("ocirt") == []


def test_systemd_cgroup_through_the_user_manager(user):
    """--systemd-cgroup by the user: a transient scope of its own systemd,
    found on its session bus, in that manager's user.slice (the default
    slice, as runc's), with the limits inside; pause, resume, delete."""
    for rt in both(user):
        b = user.bundle(["sh", "-c", PROBE], _limits)
        p = user(rt, "--systemd-cgroup", "run", f"rl-{uuid.uuid4().hex[:8]}", cwd=b,
                 env=user.env)
        assert p.returncode == 0, (rt, p.stderr)
        _check_limits_inside(rt, p.stdout)
        b = user.bundle(["sleep", "1000"], _limits)
        cid = f"rl-{uuid.uuid4().hex[:8]}"
        p = user(rt, "--systemd-cgroup", "run", "--detach", cid, cwd=b, env=user.env)
        assert p.returncode == 0, (rt, p.stderr)
        prefix = "ocirt" if rt == user.bin else "runc"
        _lifecycle(user, rt, cid, ("--systemd-cgroup",),
                   lambda path: path == f"{user.manager}/user.slice/{prefix}-{cid}.scope")
        q = user("systemctl", "--user", "is-active", f"{prefix}-{cid}.scope", env=user.env)
        assert q.stdout.strip() != "active", rt
    assert user.state_dirs("ocirt") == []


def test_controller_not_delegated(user):
    """A limit whose controller the delegation does not give (cpuset: not in
    user@UID.service's cgroup.controllers): one line naming the controller,
    the directory and the JSON path, before any process; nothing left."""
    def edit(cfg):
        cfg["linux"]["resources"] = {"cpu": {"cpus": "0"}}
    b = user.bundle(["true"], edit)
    cid = f"rl-{uuid.uuid4().hex[:8]}"
    p = _in_user_scope(user, user.bin, "run", cid, cwd=b)
    assert p.returncode == 1, p.stderr
    lines = _errors(p)
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("$.linux.resources.cpu: the cpuset controller is not delegated "
                               f"to this user at {CG}{user.manager}/app.slice "), lines
    assert not os.path.exists(f"{CG}{user.manager}/app.slice/{cid}")
    assert user.state_dirs("ocirt") == []


def test_systemd_cgroup_without_a_user_bus(user):
    """--systemd-cgroup by a user with no session bus to find (no
    DBUS_SESSION_BUS_ADDRESS, no $XDG_RUNTIME_DIR/bus): one line saying so."""
    b = user.bundle(["true"])
    p = user(user.bin, "--systemd-cgroup", "run", f"rl-{uuid.uuid4().hex[:8]}", cwd=b)
    assert p.returncode == 1, p.stderr
    lines = _errors(p)
    assert lines == [f"--systemd-cgroup: a user other than root needs its own systemd "
                     "(systemd --user) on its D-Bus session bus, and there is none: "
                     f"DBUS_SESSION_BUS_ADDRESS is not set and there is no {user.xdg}/bus "
                     "(loginctl enable-linger USER starts user@UID.service and its bus)"], p.stderr
    assert user.state_dirs("ocirt") == []
