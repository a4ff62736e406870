"""Rootless podman: an ordinary user runs containers through the runtime.

The user is made here (useradd, with ranges in /etc/subuid and /etc/subgid)
and runs podman itself (setpriv: no capability on the host), with its own
containers.conf and storage.conf under its home ($HOME/.config/containers:
where podman looks for a user's), its storage under its home (overlay
through fuse-overlayfs), its XDG_RUNTIME_DIR a directory of its own, and
slirp4netns for the network. podman runs the runtime as root of the user's
namespace (uid 0 there is the user, 1.. its subordinate ids) with the
user's XDG_RUNTIME_DIR: the runtime's state goes under it, and the host's
cgroups and device nodes are not the runtime's. Every scenario runs with
ocirt and with runc, as the root tests do (tests/engines/conftest.py).

At teardown, also when a test fails: the user's containers are removed,
every process of its uid and of its subordinate ids is killed, what is
mounted under its home is unmounted, and the user, its ranges and its home
(with the storage) are removed.
"""
import json
import os
import pwd
import stat
import subprocess
import tempfile
import uuid

import pytest

from tests.engines.conftest import (IMAGE, SYSTEM_PATH, TRAPS, ULIMITS, Engine, interact,
                                    remove_tree, tool)
from tests.integration.conftest import wait_pids_gone
from tests.integration.users import drop_subids, ensure_subids, pids_of

# what rootless podman needs besides podman and conmon (scripts/engine-packages.txt)
HELPERS = ("newuidmap", "newgidmap", "slirp4netns", "fuse-overlayfs", "setpriv", "useradd")


@pytest.fixture(scope="module")
def user_devices():
    """/dev/net/tun (slirp4netns) and /dev/fuse (fuse-overlayfs) open to
    every user, as Debian's udev rules make them; a machine without udev
    (this one, a container) leaves them root's alone. Restored at the end."""
    modes = {}
    try:
        for dev in ("/dev/net/tun", "/dev/fuse"):
            if not os.path.exists(dev):
                pytest.skip(f"{dev} is missing (rootless podman needs it)")
            mode = stat.S_IMODE(os.stat(dev).st_mode)
            if mode & 0o666 != 0o666:
                modes[dev] = mode
                os.chmod(dev, mode | 0o666)
        yield
    finally:
        for dev, mode in modes.items():
            os.chmod(dev, mode)


class User:
    """A user of its own for this module, with subordinate ids and a home."""

    def __init__(self):
        self.name = f"ocpd{uuid.uuid4().hex[:8]}"
        subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell",
                        "/usr/sbin/nologin", self.name], check=True, capture_output=True)
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.home, self.subuid = None, None
        try:
            self._provide()
        except BaseException:
            self.remove()
            raise

    def _provide(self):
        """Subordinate ids (useradd gives them where login.defs says so), a home."""
        self.subuid, _ = ensure_subids(self.name, self.uid)
        self.home = tempfile.mkdtemp(prefix="ocirt-rlp-")
        self.xdg = os.path.join(self.home, "run")
        for d, mode in ((self.home, 0o755), (self.xdg, 0o700)):
            os.makedirs(d, mode, exist_ok=True)
            os.chmod(d, mode)
            os.chown(d, self.uid, self.gid)

    def uids(self):
        """The host uids of the user's processes and of its containers'."""
        start, count = self.subuid or (self.uid, 1)
        return {self.uid} | set(range(start, start + count))

    def write(self, relpath, text):
        """A file of the user's under its home (and the directories to it)."""
        path = os.path.join(self.home, relpath)
        d = self.home
        for part in os.path.dirname(relpath).split("/"):
            d = os.path.join(d, part)
            if not os.path.isdir(d):
                os.mkdir(d, 0o700)
                os.chown(d, self.uid, self.gid)
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, self.uid, self.gid)

    def remove(self):
        """Kill every process of the user's ids (podman's pause process,
        conmon, fuse-overlayfs, slirp4netns, the containers') and wait for
        their end; then the user, its ranges and its home. What may not
        go: AssertionError, after all the rest is done."""
        uids = self.uids()
        alive = []
        for _ in range(3):  # a process may fork while the others die
            pids = pids_of(uids, zombies=False)
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            alive = wait_pids_gone(pids)
        subprocess.run(["userdel", self.name], capture_output=True)
        drop_subids(self.name)
        if self.home:
            remove_tree(self.home)  # unmounts first: never delete through a mount
        assert alive == [], f"processes of {self.name} that do not die: {alive}"


def _user_podman(user, runtime_path):
    """podman run by the user (setpriv: its uid, gid and groups, no
    capability), configured by the files of its home."""
    user.write(".config/containers/containers.conf", f"""\
[containers]
default_ulimits = {json.dumps(ULIMITS)}

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
# named runc: conmon passes --log-format=json --log FILE only to runtimes
# it knows by name (as tests/engines/conftest.py's podman_env)
runtime = "runc"

[engine.runtimes]
runc = ["{runtime_path}"]
""")
    user.write(".config/containers/storage.conf", f"""\
[storage]
driver = "overlay"
runroot = "{user.xdg}/containers"
graphroot = "{user.home}/.local/share/containers/storage"

[storage.options.overlay]
mount_program = "{tool("fuse-overlayfs")}"
""")
    env = {"PATH": SYSTEM_PATH, "HOME": user.home, "XDG_RUNTIME_DIR": user.xdg,
           "USER": user.name, "LOGNAME": user.name}
    prefix = [tool("setpriv"), f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups",
              "--", tool("podman")]
    return Engine(prefix, env)


@pytest.fixture(scope="module")
def rootless_engine(runtime, busybox_rootfs, user_devices):
    """A user's podman with the runtime under test, the busybox image
    imported into the user's storage."""
    name, path = runtime
    for helper in HELPERS:
        tool(helper)
    tool("conmon")
    user = User()
    try:
        podman = _user_podman(user, path)
        podman.user, podman.runtime = user, name
        # the runtime's state root: $XDG_RUNTIME_DIR/<runtime> (podman gives
        # no --root)
        podman.state_dir = os.path.join(user.xdg, "ocirt" if name == "ocirt" else "runc")
        tar = subprocess.run(["tar", "-C", busybox_rootfs, "-c", "."], check=True,
                             stdout=subprocess.PIPE).stdout
        podman.ok("import", "--quiet", "-", IMAGE, input=tar)
        info = podman.ok("info", "--format",
                         "{{.Host.Security.Rootless}} {{.Store.GraphDriverName}}")
        assert info == "true overlay", info
        yield podman
        podman("rm", "--all", "--force", "--time", "0")
    finally:
        user.remove()


@pytest.fixture
def podman(rootless_engine):
    """The user's podman; after the test, its containers removed and the
    runtime's state gone, and the inits the test saw (`podman.inits`) dead."""
    rootless_engine.inits = []
    yield rootless_engine
    rootless_engine("rm", "--all", "--force", "--time", "0")
    assert rootless_engine.ok("ps", "--all", "--quiet") == ""
    d = rootless_engine.state_dir
    assert not os.path.isdir(d) or os.listdir(d) == [], os.listdir(d)
    alive = set(rootless_engine.inits) & set(pids_of(rootless_engine.user.uids(),
                                                      zombies=False))
    assert alive == set(), alive


def _maps(user):
    """The uid_map a container of the user's shows: root is the user, the
    other ids its range of /etc/subuid."""
    start, count = user.subuid
    return [["0", str(user.uid), "1"], ["1", str(start), str(count)]]


def _host_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("Uid:"))


def test_run_rm(podman):
    p = podman("run", "--rm", IMAGE, "sh", "-c",
               "echo hi; id -u; id -g; cat /proc/self/uid_map; exit 3")
    assert p.returncode == 3, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:3] == ["hi", "0", "0"], p.stdout + p.stderr
    assert [ln.split() for ln in lines[3:]] == _maps(podman.user), p.stdout
    assert podman.ok("ps", "--all", "--quiet") == ""


def test_run_interactive_terminal(podman):
    interact(podman.terminal("run", "-it", "--rm", IMAGE, "sh"))


def test_detached_exec_stop_rm(podman):
    user = podman.user
    podman.ok("run", "-d", "--name", "c1", IMAGE, "sh", "-c", TRAPS.format(sig="TERM", code=7))
    podman.follow("logs", "-f", "c1").until("ready")
    pid = int(podman.ok("inspect", "--format", "{{.State.Pid}}", "c1"))
    podman.inits.append(pid)
    assert _host_uid(pid) == user.uid  # the container's root is the user on the host
    p = podman("exec", "c1", "sh", "-c", "id -u; cat /proc/self/uid_map; exit 4")
    assert p.returncode == 4, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "0" and [ln.split() for ln in lines[1:]] == _maps(user), p.stdout
    # another user of the container: an id of the user's range on the host
    podman.ok("exec", "--detach", "--user", "1000", "c1", "sleep", "999")
    start = user.subuid[0]
    (sleeper,) = pids_of({start + 999}, zombies=False)  # exec --detach returns once it runs
    podman.inits.append(sleeper)
    with open(f"/proc/{sleeper}/cmdline") as f:
        assert f.read() == "sleep\0999\0"
    interact(podman.terminal("exec", "-it", "c1", "sh"))
    podman.ok("stop", "--time", "60", "c1")  # TERM: the trap answers, no KILL
    assert podman.ok("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                     "c1") == "exited 7"
    assert "got TERM" in podman.ok("logs", "c1")
    podman.ok("rm", "c1")
    assert podman.ok("ps", "--all", "--quiet") == ""
