"""The conformance harness: drives any runtime binary through runc's CLI only.

A requirement is a function decorated with @requirement(id, spec file, level,
short words); it receives a Case bound to one runtime and fails by raising
AssertionError (or Fail), skips by raising Skip("why"). The harness knows
nothing about ocirt: it builds bundles, calls `create --bundle`, `start`,
`state`, `kill`, `delete`, and reads what the static checker binary
(checker.c) reports from inside the container.
"""
import json
import os
import select
import shutil
import subprocess
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CHECKER = "/checker"
APPLETS = ("sh", "cat", "sleep", "true", "false", "echo", "ls", "mkdir", "touch", "id",
           "kill", "test", "readlink", "stat", "wc", "uname", "chmod", "grep")

REQUIREMENTS = []


class Skip(Exception):
    """The requirement cannot be checked here (the reason says why)."""


class Fail(AssertionError):
    pass


def requirement(rid, spec, level, words):
    def wrap(fn):
        REQUIREMENTS.append(Requirement(rid, spec, level, words, fn))
        return fn
    return wrap


class Requirement:
    def __init__(self, rid, spec, level, words, fn):
        self.id, self.spec, self.level, self.words, self.fn = rid, spec, level, words, fn


# ---- the environment shared by every case ---------------------------------------

class World:
    """Built once per run: the rootfs (busybox + checker), the work directory."""

    def __init__(self, workdir=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="ocirt-conformance-")
        os.chmod(self.dir, 0o755)
        self.rootfs = os.path.join(self.dir, "rootfs")
        if not os.path.exists(os.path.join(self.rootfs, CHECKER.lstrip("/"))):
            self._build_rootfs()
        self.host_ns = {n: os.readlink(f"/proc/self/ns/{n}")
                        for n in ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")}

    def _build_rootfs(self):
        busybox = shutil.which("busybox") or "/bin/busybox"
        for d in ("bin", "dev", "proc", "sys", "tmp", "etc", "mnt", "root", "var"):
            os.makedirs(os.path.join(self.rootfs, d), exist_ok=True)
        os.chmod(os.path.join(self.rootfs, "tmp"), 0o1777)
        shutil.copy(busybox, os.path.join(self.rootfs, "bin", "busybox"))
        for applet in APPLETS:
            os.symlink("busybox", os.path.join(self.rootfs, "bin", applet))
        with open(os.path.join(self.rootfs, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")
        with open(os.path.join(self.rootfs, "etc", "group"), "w") as f:
            f.write("root:x:0:\n")
        out = os.path.join(self.rootfs, CHECKER.lstrip("/"))
        subprocess.run(["gcc", "-static", "-O2", "-o", out, os.path.join(HERE, "checker.c")],
                       check=True)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def base_config(rootfs, args):
    """A config like `runc spec` writes, with absolute root and our args."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False, "user": {"uid": 0, "gid": 0}, "args": list(args),
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


# ---- one requirement against one runtime ----------------------------------------

class Case:
    def __init__(self, world, runtime, name, rid):
        self.world = world
        self.runtime = runtime
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=rid.replace(".", "_")[:40] + "-", dir=world.dir)
        os.chmod(self.dir, 0o755)
        self.root = os.path.join(self.dir, "state")
        self.ids = []
        self._n = 0

    # -- the runtime's CLI --
    def call(self, *args, stdin=subprocess.DEVNULL, timeout=60, out=None, preexec_fn=None):
        """Run the runtime; stdout/stderr go through files (a container inherits
        them and would hold a pipe open). preexec_fn: run in the runtime's
        process before it starts (to restrict its environment)."""
        cmd = [self.runtime, "--root", self.root] + [str(a) for a in args]
        with tempfile.TemporaryFile() as o, tempfile.TemporaryFile() as e:
            rc = subprocess.run(cmd, stdin=stdin, stdout=out or o, stderr=e,
                                timeout=timeout, preexec_fn=preexec_fn).returncode
            o.seek(0)
            e.seek(0)
            return subprocess.CompletedProcess(cmd, rc, o.read().decode(errors="replace"),
                                               e.read().decode(errors="replace"))

    def ok(self, *args, **kw):
        p = self.call(*args, **kw)
        if p.returncode != 0:
            raise Fail(f"`{' '.join(map(str, args))}` exited {p.returncode}: "
                       f"{p.stderr.strip()[-300:]}")
        return p

    def fails(self, *args, **kw):
        p = self.call(*args, **kw)
        if p.returncode == 0:
            raise Fail(f"`{' '.join(map(str, args))}` succeeded but must fail")
        return p

    def new_id(self):
        cid = f"cf-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def bundle(self, args=(CHECKER,), edit=None, config=None):
        self._n += 1
        d = os.path.join(self.dir, f"bundle{self._n}")
        os.mkdir(d)
        cfg = config or base_config(self.world.rootfs, args)
        if edit:
            edit(cfg)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        return d

    def state(self, cid):
        p = self.ok("state", cid)
        return json.loads(p.stdout)

    def create(self, args=(CHECKER,), edit=None, out=None, bundle=None):
        cid = self.new_id()
        self.ok("create", "--bundle", bundle or self.bundle(args, edit), cid, out=out)
        return cid

    def wait_stopped(self, cid, timeout=30):
        """Until the container's process has exited (a pidfd on its pid)."""
        st = self.state(cid)
        if st["status"] == "stopped":
            return
        try:
            fd = os.pidfd_open(st["pid"])
        except ProcessLookupError:
            return
        try:
            r, _, _ = select.select([fd], [], [], timeout)
            if not r:
                raise Fail(f"the container's process did not exit within {timeout}s")
        finally:
            os.close(fd)

    def run(self, args=(CHECKER,), edit=None, bundle=None):
        """create, start, wait, delete: returns (stdout text of the process)."""
        with tempfile.TemporaryFile() as out:
            cid = self.create(args, edit, out=out, bundle=bundle)
            self.ok("start", cid)
            self.wait_stopped(cid)
            self.ok("delete", cid)
            out.seek(0)
            return out.read().decode(errors="replace")

    def check(self, edit=None, extra=()):
        """What the checker reports from inside a container of this config."""
        text = self.run((CHECKER,) + tuple(extra), edit)
        try:
            return json.loads(text)
        except ValueError:
            raise Fail(f"the checker did not report (output: {text[:200]!r})")

    def cleanup(self):
        for cid in self.ids:
            self.call("delete", "--force", cid)
            _remove_cgroups(cid)  # what a runtime left after a failed create
        shutil.rmtree(self.dir, ignore_errors=True)


def _remove_cgroups(cid):
    """Kill what is left in a container's default cgroups and remove them
    (runc's default is /<id>, ocirt's /ocirt/<id>, in every hierarchy)."""
    import glob
    import signal
    for d in glob.glob(f"/sys/fs/cgroup/*/{cid}") + glob.glob(f"/sys/fs/cgroup/*/ocirt/{cid}") \
            + glob.glob(f"/sys/fs/cgroup/{cid}") + glob.glob(f"/sys/fs/cgroup/ocirt/{cid}"):
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                for pid in f.read().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            os.rmdir(d)
        except OSError:
            pass


def run_one(world, req, runtime, name):
    case = Case(world, runtime, name, req.id)
    try:
        req.fn(case)
        return "pass", ""
    except Skip as e:
        return "skip", str(e)
    except AssertionError as e:
        return "fail", str(e).strip().splitlines()[0][:300] if str(e).strip() else "assertion"
    except subprocess.TimeoutExpired as e:
        return "fail", f"timeout: {e}"
    except Exception as e:  # a harness problem shows as a failure with its type
        return "fail", f"{type(e).__name__}: {e}"[:300]
    finally:
        case.cleanup()


def compare(passing_before, results, label="runtime"):
    """(regressions, untestable) against the requirements that passed before:
    each a sorted list of (id, reason). A failure is a regression; a skip is
    not (the requirement cannot be tested on this host, and says why), nor is
    a requirement this run left out (-k)."""
    lost, untestable = [], []
    for rid in sorted(passing_before):
        status, why = results.get(rid, {}).get(label, ("pass", ""))
        if status == "fail":
            lost.append((rid, why))
        elif status == "skip":
            untestable.append((rid, why))
    return lost, untestable


def eq(got, want, what=""):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}" if what else f"got {got!r}, want {want!r}")


def mounts(report):
    """The checker's mountinfo as {mount point: (options, optional fields, fstype, super)}."""
    out = {}
    for line in report["mountinfo"].splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        fstype, _src, sup = (right.split() + ["", "", ""])[:3]
        out[f[4]] = (f[5].split(","), f[6:], fstype, sup.split(","))
    return out
