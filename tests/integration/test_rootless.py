"""Rootless: ocirt run by an ordinary user, with runc (rootless) side by side.

Each test makes a user of its own (useradd; its /etc/subuid and /etc/subgid
ranges come from useradd, or usermod), copies the bundle to a directory that
user owns, and runs both runtimes as that user (setpriv: no capability on the
host), with XDG_RUNTIME_DIR set to a directory of its own. What the tests
check is seen from inside the container (its uid_map, id, capabilities,
mount table) and on the host afterwards: no state directory, no process of
the user, no mount, no host file with another owner or mode. The user, its
subordinate ids and its files go at teardown, also when a test fails.

Where runc 1.1 fails too, the test says so (RUNC_FAILS).
"""
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid

import pytest

from tests.integration.conftest import wait_pids_gone
from tests.integration.users import drop_subids, ensure_subids, pids_of

RUNC = "/usr/sbin/runc"
HAVE_RUNC = os.access(RUNC, os.X_OK)
if shutil.which("useradd") is None or shutil.which("setpriv") is None:
    pytest.skip("rootless tests need useradd and setpriv", allow_module_level=True)

# runc spec --rootless's capabilities: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE
ROOTLESS_CAPS = (1 << 29) | (1 << 5) | (1 << 10)


class User:
    """An ordinary user for one test, with a home for its bundles and state."""

    def __init__(self, rootfs):
        self.name = f"ocrl{uuid.uuid4().hex[:8]}"
        subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell",
                        "/usr/sbin/nologin", self.name], check=True, capture_output=True)
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.subuid, self.subgid = ensure_subids(self.name, self.uid)
        self.home = tempfile.mkdtemp(prefix="ocirt-rl-")
        os.chmod(self.home, 0o755)
        os.chown(self.home, self.uid, self.gid)
        self.xdg = os.path.join(self.home, "xdg")
        os.mkdir(self.xdg, 0o700)
        os.chown(self.xdg, self.uid, self.gid)
        self.rootfs = rootfs
        self.bin = None  # set by the fixture
        self._n = 0

    def remove(self):
        pids = pids_of({self.uid})
        for pid in pids:  # only this test's user's: its containers' leftovers
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        wait_pids_gone(pids, timeout=10)
        with open("/proc/self/mountinfo") as f:
            for line in reversed(f.read().splitlines()):
                point = line.split()[4]
                if point.startswith(self.home + "/"):
                    subprocess.run(["umount", "-l", point], capture_output=True)
        subprocess.run(["userdel", self.name], capture_output=True)
        drop_subids(self.name)
        shutil.rmtree(self.home, ignore_errors=True)

    def __call__(self, *argv, env=None, cwd=None, timeout=60):
        """argv run as this user (no capability), stdout and stderr through
        files (a created container keeps what it inherits open)."""
        e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": self.home,
             "XDG_RUNTIME_DIR": self.xdg}
        e.update(env or {})
        e = {k: v for k, v in e.items() if v is not None}
        cmd = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups",
               "--"] + [str(a) for a in argv]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            rc = subprocess.run(cmd, env=e, cwd=cwd or self.home, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, timeout=timeout).returncode
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(cmd, rc, out.read().decode(), err.read().decode())

    def bundle(self, args, edit=None):
        """A bundle of the user's own: the rootfs copied and chowned to it,
        config.json from `ocirt spec --rootless` run as the user."""
        self._n += 1
        d = os.path.join(self.home, f"bundle{self._n}")
        os.mkdir(d)
        subprocess.run(["cp", "-a", "--one-file-system", self.rootfs, d + "/rootfs"],
                       check=True)
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", d], check=True)
        p = self(self.bin, "spec", "--rootless", cwd=d)
        assert p.returncode == 0, p.stderr
        path = os.path.join(d, "config.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg["process"]["args"] = list(args)
        cfg["process"]["terminal"] = False
        if edit:
            edit(cfg)
        with open(path, "w") as f:
            json.dump(cfg, f)
        return d

    def state_dirs(self, runtime):
        d = os.path.join(self.xdg, runtime)
        return os.listdir(d) if os.path.isdir(d) else []

    def assert_nothing_left(self, pids=()):
        assert self.state_dirs("ocirt") == [], self.state_dirs("ocirt")
        assert wait_pids_gone(list(pids) + pids_of({self.uid})) == []
        with open("/proc/self/mountinfo") as f:
            assert self.home not in f.read()


@pytest.fixture
def user(rootfs):
    u = User(rootfs)
    from tests.conftest import ocirt_binary
    u.bin = ocirt_binary()
    try:
        yield u
    finally:
        u.remove()


def both(user):
    """The runtimes to compare: ocirt, and runc where it is installed."""
    return [user.bin] + ([RUNC] if HAVE_RUNC else [])


PROBE = ("cat /proc/self/uid_map /proc/self/gid_map; echo id=$(id -u):$(id -g); "
         "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status; cat /proc/self/mountinfo")


def _host_files(paths):
    out = {}
    for p in paths:
        try:
            st = os.lstat(p)
        except OSError:
            continue
        out[p] = (st.st_uid, st.st_gid, st.st_mode)
    return out


def test_run_as_user(user):
    """`spec --rootless` then `run`: root in a user namespace that maps the
    user's own id alone, the config's capabilities and nothing else, the
    spec's mounts; nothing left, no host file changed."""
    watched = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
               "/sys", "/sys/fs/cgroup", user.xdg]
    before = _host_files(watched)
    for rt in both(user):
        b = user.bundle(["sh", "-c", PROBE])
        rootfs_before = _host_files([os.path.join(b, "rootfs", n)
                                     for n in os.listdir(os.path.join(b, "rootfs"))])
        p = user(rt, "run", f"rl-{uuid.uuid4().hex[:8]}", cwd=b)
        assert p.returncode == 0, (rt, p.stderr)
        lines = p.stdout.splitlines()
        assert lines[0].split() == ["0", str(user.uid), "1"], (rt, p.stdout)
        assert lines[1].split() == ["0", str(user.gid), "1"], (rt, p.stdout)
        assert "id=0:0" in lines, (rt, p.stdout)
        caps = {ln.split(":")[0]: int(ln.split()[1], 16) for ln in lines if ln.startswith("Cap")}
        assert caps == {"CapPrm": ROOTLESS_CAPS, "CapEff": ROOTLESS_CAPS,
                        "CapBnd": ROOTLESS_CAPS}, (rt, caps)
        points = {ln.split()[4]: ln.split(" - ")[1].split()[0] for ln in lines if " - " in ln}
        assert points.get("/proc") == "proc" and points.get("/dev") == "tmpfs", (rt, points)
        assert points.get("/dev/null") == "devtmpfs", (rt, points)  # bound, not mknod
        assert points.get("/sys") == "sysfs", (rt, points)  # spec --rootless binds the host's
        if rt == user.bin:
            user.assert_nothing_left()
        assert _host_files(rootfs_before) == rootfs_before, rt
    assert _host_files(before) == before


def _errors(p):
    """p's stderr without the warnings of `spec --rootless`'s config (its
    ambient capabilities are outside the inheritable set: ocirt says so)."""
    return [ln for ln in p.stderr.splitlines() if not ln.startswith("warning: ")]


def _pid_of(user, rt, cid):
    p = user(rt, "state", cid)
    assert p.returncode == 0, (rt, p.stderr)
    s = json.loads(p.stdout)
    return s["pid"], s["status"]


def test_lifecycle_as_user(user):
    """create, state, start, exec, ps, list, kill, delete by the user;
    runc 1.1 rootless has no `ps` without a cgroup (RUNC_FAILS: "unable to
    get all container pids")."""
    for rt in both(user):
        b = user.bundle(["sleep", "1000"])
        cid = f"rl-{uuid.uuid4().hex[:8]}"
        assert user(rt, "create", cid, cwd=b).returncode == 0
        pid, status = _pid_of(user, rt, cid)
        assert status == "created", rt
        p = user(rt, "start", cid)
        assert p.returncode == 0, (rt, p.stderr)
        assert _pid_of(user, rt, cid) == (pid, "running")
        p = user(rt, "exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map; echo $$")
        assert p.returncode == 0, (rt, p.stderr)
        out = p.stdout.split()
        assert out[:4] == ["0", "0", str(user.uid), "1"], (rt, p.stdout)
        p = user(rt, "list", "--format", "json")
        assert p.returncode == 0 and [c["id"] for c in json.loads(p.stdout)] == [cid], (rt, p)
        p = user(rt, "ps", "--format", "json", cid)
        if rt == user.bin:
            assert p.returncode == 0 and json.loads(p.stdout) == [pid], p
        else:
            assert p.returncode != 0  # RUNC_FAILS
        assert user(rt, "kill", cid, "KILL").returncode == 0
        assert wait_pids_gone([pid]) == []
        assert _pid_of(user, rt, cid)[1] == "stopped"
        p = user(rt, "delete", cid)
        assert p.returncode == 0, (rt, p.stderr)
        assert user(rt, "state", cid).returncode != 0
    user.assert_nothing_left()


def test_exec_into_created_is_refused_clearly(user):
    """ocirt's waiting init is not dumpable (a process of the container must
    not ptrace it), so its user cannot open its namespaces: a clear error.
    (runc 1.1 rootless execs there.)"""
    b = user.bundle(["sleep", "1000"])
    cid = f"rl-{uuid.uuid4().hex[:8]}"
    assert user(user.bin, "create", cid, cwd=b).returncode == 0
    p = user(user.bin, "exec", cid, "true")
    assert p.returncode == 255
    assert _errors(p) == [f"container {cid} is created, not started: a user other than "
                                "root can exec only into a started container"], p.stderr
    assert user(user.bin, "delete", "--force", cid).returncode == 0
    user.assert_nothing_left()


def test_pause_without_a_cgroup(user):
    """No cgroup could be made (nothing delegated here): pause is a clear
    error; runc 1.1 fails too ("cgroups not configured for container")."""
    for rt in both(user):
        b = user.bundle(["sleep", "1000"])
        cid = f"rl-{uuid.uuid4().hex[:8]}"
        assert user(rt, "run", "--detach", cid, cwd=b).returncode == 0
        p = user(rt, "pause", cid)
        assert p.returncode != 0, rt
        if rt == user.bin:
            lines = _errors(p)
            assert len(lines) == 1 and lines[0].startswith(f"cannot pause {cid}: it has no cgroup")
        assert user(rt, "delete", "--force", cid).returncode == 0
    user.assert_nothing_left()


def test_ranges_through_newuidmap(user):
    """Ranges of /etc/subuid and /etc/subgid go through newuidmap/newgidmap:
    both lines in the maps, setgroups allowed, additionalGids set. runc 1.1
    maps the ranges too, but refuses additionalGids (RUNC_FAILS: "cannot set
    any additional groups in a rootless container"): it runs without them."""
    su, sg = user.subuid, user.subgid

    def edit(cfg, gids=True):
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": user.uid, "size": 1},
                                       {"containerID": 1, "hostID": su[0], "size": su[1]}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": user.gid, "size": 1},
                                       {"containerID": 1, "hostID": sg[0], "size": sg[1]}]
        if gids:
            cfg["process"]["user"]["additionalGids"] = [5]
    probe = "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -G"
    for rt in both(user):
        b = user.bundle(["sh", "-c", probe], lambda c: edit(c, rt == user.bin))
        p = user(rt, "run", f"rl-{uuid.uuid4().hex[:8]}", cwd=b)
        assert p.returncode == 0, (rt, p.stderr)
        lines = [ln.split() for ln in p.stdout.splitlines()]
        assert lines[:4] == [["0", str(user.uid), "1"], ["1", str(su[0]), str(su[1])],
                             ["0", str(user.gid), "1"], ["1", str(sg[0]), str(sg[1])]], (rt, lines)
        assert lines[4] == ["allow"], (rt, lines)
        assert lines[5] == (["0", "5"] if rt == user.bin else ["0"]), (rt, lines)
    if HAVE_RUNC:
        b = user.bundle(["true"], edit)
        p = user(RUNC, "run", f"rl-{uuid.uuid4().hex[:8]}", cwd=b)
        assert p.returncode != 0 and "additional groups" in p.stderr  # RUNC_FAILS
    user.assert_nothing_left()


def _no_userns(cfg):
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "user"]
    del cfg["linux"]["uidMappings"], cfg["linux"]["gidMappings"]


def _no_pidns(cfg):
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]


def _sysfs(cfg):
    i = [m["destination"] for m in cfg["mounts"]].index("/sys")
    cfg["mounts"][i] = {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                        "options": ["nosuid", "noexec", "nodev", "ro"]}


def _pids_limit(cfg):
    cfg["linux"]["resources"] = {"pids": {"limit": 10}}


def _gids(cfg):
    cfg["process"]["user"]["additionalGids"] = [0]  # mapped: setgroups itself is denied


def _foreign_range(cfg):
    cfg["linux"]["uidMappings"].append({"containerID": 1, "hostID": 2000000000, "size": 10})


# (edit, the words of ocirt's one line, whether runc 1.1 fails too)
REFUSALS = {
    "no user namespace": (_no_userns, ["$.linux.namespaces:", "needs a user namespace"], True),
    "proc without a pid namespace": (_no_pidns, ["$.mounts[0]:", "mount(proc on /proc)",
                                                 "pid namespace"], True),
    "sysfs without a network namespace": (_sysfs, ["mount(sysfs on /sys)", "network namespace"],
                                          True),
    "a limit without a cgroup": (_pids_limit, ["$.linux.resources.pids:",
                                               "cannot create the cgroup /sys/fs/cgroup/",
                                               "Permission denied", "pids controller"], True),
    "additionalGids with setgroups denied": (_gids, ["$.process.user.additionalGids:",
                                                     "setgroups is denied"], True),
    "a range not in /etc/subuid": (_foreign_range, ["$.linux.uidMappings:", "newuidmap",
                                                    "not allowed"], True),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals(user, case):
    """What an ordinary user cannot have: one line naming the operation, its
    argument and the JSON path; nothing left. runc 1.1 refuses each too."""
    edit, words, runc_fails = REFUSALS[case]
    if case == "a limit without a cgroup" and not os.path.isdir("/sys/fs/cgroup/pids"):
        pytest.skip("a cgroup v1 pids hierarchy (this host's layout)")
    for rt in both(user):
        b = user.bundle(["true"], edit)
        p = user(rt, "run", f"rl-{uuid.uuid4().hex[:8]}", cwd=b)
        assert p.returncode != 0, (rt, p.stdout)
        if rt == user.bin:
            lines = _errors(p)
            assert len(lines) == 1, p.stderr
            assert "Traceback" not in p.stderr and "internal error" not in p.stderr
            for w in words:
                assert w in lines[0], lines[0]
        else:
            assert runc_fails
    user.assert_nothing_left()


def test_state_root_needs_xdg_or_root_flag(user):
    """Without XDG_RUNTIME_DIR and --root: one line, nothing made; with
    --root, that directory."""
    b = user.bundle(["true"])
    p = user(user.bin, "run", "rl-x", cwd=b, env={"XDG_RUNTIME_DIR": None})
    assert p.returncode == 1
    assert p.stderr == ("--root: not given, and XDG_RUNTIME_DIR is not set (to an absolute "
                        "path): a user other than root needs one of them for the state\n")
    root = os.path.join(user.home, "state")
    p = user(user.bin, "--root", root, "run", "rl-x", cwd=b, env={"XDG_RUNTIME_DIR": None})
    assert p.returncode == 0, p.stderr
    assert os.listdir(root) == []
    assert not os.path.exists(os.path.join(user.xdg, "ocirt"))
    user.assert_nothing_left()


def test_terminal_as_user(user):
    """process.terminal in the foreground (the user's own pty, from script):
    the process's stdio is a pty of the container's devpts, owned by its uid
    0 (the user); the same with runc."""
    for rt in both(user):
        b = user.bundle(["sh", "-c", "tty; id -u; stat -c %u $(tty); echo done"],
                        edit=lambda c: c["process"].update(terminal=True))
        cid = f"rl-{uuid.uuid4().hex[:8]}"
        p = user("script", "-qec", f"{rt} run {cid}", "/dev/null", cwd=b)
        assert p.returncode == 0, (rt, p.stdout, p.stderr)
        # script(1), its stdin at EOF (/dev/null), may leave an echoed "^@"
        # after the output (seen once in a loaded run): a line of the outer
        # pty's, not the container's
        lines = [ln.strip("\r\x00^@") for ln in p.stdout.splitlines()
                 if not ln.startswith("warning: ")]
        lines = [ln for ln in lines if ln]
        assert lines[-4:] == ["/dev/pts/0", "0", "0", "done"], (rt, p.stdout)
        if rt == user.bin:
            user.assert_nothing_left()
