"""Fixtures for integration tests: real containers, run through the ocirt CLI.

Every test gets its own state root and unique container ids; whatever a test
leaves behind (containers, cgroups) is force-deleted and then checked gone,
even when the test fails.
"""
import json
import os
import pathlib
import select
import shutil
import subprocess
import tempfile
import uuid

import pytest

from tests.conftest import ROOT, ocirt_binary

if os.geteuid() != 0:
    pytest.skip("integration tests run real containers and need root", allow_module_level=True)

# where a container's cgroup directory shows up (/sys/fs/cgroup/<x>/ocirt/<id>):
# the memory hierarchy on v1 and hybrid hosts, the cgroup2 root on pure v2 ones
CGROUP_PROBE = "/sys/fs/cgroup/memory" if os.path.isdir("/sys/fs/cgroup/memory") \
    else "/sys/fs/cgroup"


@pytest.fixture(scope="session")
def public_base():
    """A directory every uid can traverse (pytest's own tmp dirs are 0700, which a
    container in a user namespace, running as a mapped uid, cannot enter)."""
    d = tempfile.mkdtemp(prefix="ocirt-it-")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def public_tmp(public_base, request):
    d = pathlib.Path(tempfile.mkdtemp(dir=public_base))
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="session")
def rootfs(public_base):
    """A busybox rootfs shared by all tests (containers mount it read-only)."""
    d = public_base / "busybox"
    subprocess.run([os.path.join(ROOT, "demo", "make-bundle.sh"), str(d)], check=True,
                   env=dict(os.environ, OCIRT=ocirt_binary()), capture_output=True)
    os.unlink(d / "config.json")
    return str(d / "rootfs")


def base_config(rootfs, args):
    from tests.base_spec import base_spec
    cfg = base_spec()  # the old `spec --hardened`: the tests' premise (tests/base_spec.py)
    cfg["root"] = {"path": rootfs, "readonly": True}
    cfg["process"]["args"] = list(args)
    cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                          "options": ["nosuid", "nodev", "mode=1777"]})
    return cfg


class Runtime:
    def __init__(self, tmp_path, rootfs):
        self.tmp = tmp_path
        self.root = str(tmp_path / "state")
        self.rootfs = rootfs
        self.bin = ocirt_binary()
        self.ids = []
        self._n = 0

    def new_id(self):
        cid = f"it-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def bundle(self, args=("true",), edit=None, name=None):
        """A bundle dir with config.json; edit(cfg) may change the config."""
        self._n += 1
        d = self.tmp / (name or f"bundle{self._n}")
        d.mkdir()
        cfg = base_config(self.rootfs, args)
        if edit:
            edit(cfg)
        (d / "config.json").write_text(json.dumps(cfg))
        return str(d)

    def __call__(self, *args, check=False, timeout=60, root=True, stdin=subprocess.DEVNULL):
        """Run ocirt; stdout and stderr go through files, not pipes: a created or
        detached container inherits them and would keep a pipe open."""
        cmd = [self.bin] + (["--root", self.root] if root else []) + [str(a) for a in args]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            rc = subprocess.run(cmd, timeout=timeout, stdin=stdin, stdout=out,
                                stderr=err).returncode
            out.seek(0)
            err.seek(0)
            p = subprocess.CompletedProcess(cmd, rc, out.read().decode(), err.read().decode())
        if check and p.returncode != 0:
            raise AssertionError(f"{cmd} exited {p.returncode}: {p.stderr}")
        return p

    def state(self, cid):
        p = self("state", cid, check=True)
        return json.loads(p.stdout)

    def run(self, args, edit=None, **kw):
        """Run a container in the foreground; returns the CompletedProcess."""
        b = self.bundle(args, edit)
        return self("run", "--bundle", b, self.new_id(), **kw)

    def created(self, args=("sleep", "1000"), edit=None):
        cid = self.new_id()
        self("create", "--bundle", self.bundle(args, edit), cid, check=True)
        return cid

    def running(self, args=("sleep", "1000"), edit=None):
        cid = self.created(args, edit)
        self("start", cid, check=True)
        return cid

    def cleanup(self):
        problems = []
        if os.path.isdir(self.root):
            for cid in os.listdir(self.root):
                self("delete", "--force", cid)
            left = os.listdir(self.root)
            if left:
                problems.append(f"state dirs left: {left}")
        for cid in self.ids:
            if os.path.exists(os.path.join(CGROUP_PROBE, "ocirt", cid)):
                problems.append(f"cgroup left for {cid}")
                try:
                    os.rmdir(os.path.join(CGROUP_PROBE, "ocirt", cid))
                except OSError:
                    pass
        return problems

    def assert_nothing_left(self):
        assert not os.path.isdir(self.root) or os.listdir(self.root) == []
        for cid in self.ids:
            assert not os.path.exists(os.path.join(CGROUP_PROBE, "ocirt", cid))
        with open("/proc/self/mountinfo") as f:
            assert str(self.tmp) not in f.read()


@pytest.fixture
def rt(tmp_path, rootfs):
    r = Runtime(tmp_path, rootfs)
    yield r
    problems = r.cleanup()
    assert not problems, problems


def bind(cfg, host, dest, opts=("rbind", "rw")):
    cfg["mounts"].append({"destination": dest, "type": "bind", "source": str(host),
                          "options": list(opts)})


def shared_dir(tmp_path, dest, fifos=("fifo",)):
    """A host directory with fifos in it, and a config edit that binds it at <dest>.

    Tests synchronise with the container through the fifos (read_fifo)."""
    host = tmp_path / dest.strip("/").replace("/", "_")
    host.mkdir()
    for name in fifos:
        os.mkfifo(host / name)

    def edit(cfg):
        bind(cfg, host, dest)
    return host, edit


def one_line_error(p, *needles):
    """p (a CompletedProcess) failed with one line on stderr, no traceback and
    no internal error, containing each of needles; that line."""
    assert p.returncode != 0, (p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def wait_pids_gone(pids, timeout=20):
    """Wait (a pidfd each) until every one of pids has exited; the pids still
    alive after timeout seconds in all."""
    import time
    deadline = time.monotonic() + timeout
    alive = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                alive.append(pid)
        finally:
            os.close(fd)
    return alive


def read_fifo(path, timeout=20):
    """Open a fifo for reading and return everything written until EOF."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    out = b""
    try:
        while True:
            r, _, _ = select.select([fd], [], [], timeout)
            if not r:
                raise TimeoutError(f"nothing on {path} within {timeout}s")
            chunk = os.read(fd, 65536)
            if not chunk:  # the writer closed (poll reports HUP only after one came)
                return out.decode()
            out += chunk
    finally:
        os.close(fd)
