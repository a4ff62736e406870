"""End to end: podman, containerd (ctr) and docker run containers through ocirt.

Every engine is started here, with all its state in one temporary directory
per session (podman needs no daemon; containerd and dockerd run in the
background and are stopped at the end, even when tests fail), and runs a
busybox image built from Debian's busybox-static. Every scenario runs with
ocirt and, for comparison, with the host's runc (OCIRT_ENGINE_RUNTIMES=ocirt
runs ocirt alone): a scenario that fails only with ocirt is ocirt's bug.

Each test removes whatever its engine still holds (containers, pods, tasks),
then checks that the runtime left no state directory and no cgroup behind.
How the engines call the runtime here: ../../../shared/ENGINES.md (beside the
repository) and the comments below.
"""
import json
import os
import pathlib
import pty
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from tests.conftest import ROOT, ocirt_binary

IMAGE = "localhost/busybox:latest"
# Debian's binaries by absolute path (a newer docker CLI may sit in /usr/local/bin)
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
RUNC = shutil.which("runc", path=SYSTEM_PATH)
# the host's hard limits (root lacks CAP_SYS_RESOURCE here): podman's default
# nofile=1048576 cannot be set
ULIMITS = ["nofile=20000:20000", "nproc=32768:32768"]

if os.geteuid() != 0:
    pytest.skip("the engines run real containers and need root", allow_module_level=True)


def tool(name):
    path = shutil.which(name, path=SYSTEM_PATH)
    if path is None:
        pytest.skip(f"{name} is not installed: apt-get install $(cat scripts/engine-packages.txt)")
    return path


def runtime_names():
    names = os.environ.get("OCIRT_ENGINE_RUNTIMES", "ocirt,runc").split(",")
    return [n for n in names if n]


def run(argv, env=None, input=None, timeout=90, check=False, redirects=None):
    """Run a command to its end. Output goes through files, not pipes: a
    detached container (or conmon, or a shim) may inherit them. `redirects`
    (shell syntax, e.g. "3<file") opens more fds for the command."""
    if redirects:
        argv = ["/bin/sh", "-c", f'exec "$@" {redirects}', "sh"] + list(argv)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run([str(a) for a in argv], env=env, timeout=timeout,
                           input=input.encode() if isinstance(input, str) else input,
                           stdin=None if input is not None else subprocess.DEVNULL,
                           stdout=out, stderr=err)
        out.seek(0)
        err.seek(0)
        res = subprocess.CompletedProcess(p.args, p.returncode,
                                          out.read().decode(errors="replace"),
                                          err.read().decode(errors="replace"))
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(res.args)} exited {res.returncode}:\n"
                             f"{res.stdout}{res.stderr}")
    return res


def wait_until(what, predicate, timeout=30, interval=0.05):
    """Poll, with a deadline: only where an engine offers no event to wait on."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class Terminal:
    """A command on a pty of ours, as a user at a terminal runs it."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve(argv[0], [str(a) for a in argv], env)
            finally:
                os._exit(127)
        self.out = ""
        self._seen = 0

    def send(self, text):
        os.write(self.fd, text.encode())

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return None
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the other side is closed
            return b""
        return chunk

    def expect(self, pattern, timeout=30):
        """Wait for `pattern` (a regex) in the output after the last match."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.compile(pattern).search(self.out, self._seen)
            if m:
                self._seen = m.end()
                return m
            chunk = self._read(max(0.0, deadline - time.monotonic()))
            if not chunk:
                raise AssertionError(f"no {pattern!r} in the terminal: {self.out!r}")
            self.out += chunk.decode(errors="replace").replace("\r", "")

    def wait(self, timeout=30):
        """Read to the end; the command's exit status."""
        deadline = time.monotonic() + timeout
        while True:
            chunk = self._read(max(0.0, deadline - time.monotonic()))
            if chunk is None:
                self.close()
                raise AssertionError(f"the terminal did not close: {self.out!r}")
            if not chunk:
                break
            self.out += chunk.decode(errors="replace").replace("\r", "")
        os.close(self.fd)
        self.fd = None
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)

    def close(self):
        if self.fd is not None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            os.close(self.fd)
            self.fd = None


def interact(term):
    """The interactive check of run -it / exec -it: a shell on a terminal runs
    what is typed, sees a tty, and its exit status is the command's."""
    term.send("echo $((6 * 7)); tty\n")
    term.expect(r"\n42\n")
    term.expect(r"/dev/pts/\d+\n")
    term.send("exit 3\n")
    assert term.wait() == 3, term.out
    assert "not a tty" not in term.out


class Follow:
    """`logs -f` of a container, read until a line shows up: how a test knows
    that the container got somewhere (e.g. installed its signal traps)."""

    def __init__(self, argv, env=None):
        self.p = subprocess.Popen([str(a) for a in argv], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.out = b""

    def until(self, line, timeout=30):
        deadline = time.monotonic() + timeout
        try:
            while (line + "\n").encode() not in self.out:
                r, _, _ = select.select([self.p.stdout], [], [],
                                        max(0.0, deadline - time.monotonic()))
                chunk = os.read(self.p.stdout.fileno(), 4096) if r else b""
                if not chunk:
                    raise AssertionError(f"no {line!r} in the logs: {self.out!r}")
                self.out += chunk
        finally:
            self.p.kill()
            self.p.wait()
            self.p.stdout.close()


# --- shell snippets the scenarios share ------------------------------------

# a shell that reports a signal it traps (`wait` returns as soon as one comes)
TRAPS = 'trap "echo got {sig}; exit {code}" {sig}; echo ready; sleep 1000 & wait'

# the limits a container sees in its own cgroups, on cgroup v1 or v2
LIMITS = """
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    echo memory $(cat /sys/fs/cgroup/memory.max)
    echo cpu $(cat /sys/fs/cgroup/cpu.max)
    echo pids $(cat /sys/fs/cgroup/pids.max)
else
    echo memory $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
    echo cpu $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us)
    echo pids $(cat /sys/fs/cgroup/pids/pids.max)
fi
"""


def retry(command, seconds=30):
    """Shell: run `command` until it succeeds, for at most `seconds` (a
    server in the container gives no sign that it listens)."""
    return (f"end=$(($(date +%s) + {seconds})); "
            f"until {command}; do [ $(date +%s) -lt $end ] || break; done")


def limits(text):
    return dict(line.split(" ", 1) for line in text.splitlines() if line)


# --- what a runtime may leave behind -------------------------------------

def _cgroup_dirs(parents):
    found = set()
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        for parent in parents:
            top = os.path.join("/sys/fs/cgroup", hierarchy, parent)
            for d, subdirs, _ in os.walk(top):
                found.update(os.path.join(d, s) for s in subdirs)
    # podman's own cgroup for conmon, created once and kept
    return {d for d in found if not d.endswith("/conmon")}


def _entries(dirs):
    found = set()
    for d in dirs:
        if os.path.isdir(d):
            found.update(os.path.join(d, e) for e in os.listdir(d))
    return found


class Leftovers:
    """Runtime state dirs and cgroups that appeared during a test, named after
    one of the containers (or pods) the test's engine made: other users of
    the machine (a benchmark, say) may run containers meanwhile."""

    def __init__(self, state_dirs, cgroup_parents):
        self.state_dirs = state_dirs
        self.cgroup_parents = cgroup_parents
        self.since = int(time.time()) - 1
        self.before = self._now()

    def _now(self):
        return _entries(self.state_dirs) | _cgroup_dirs(self.cgroup_parents)

    def new(self, ids):
        """ids: the full ids of what the engine made (cgroups are named
        <id> or, by podman, libpod-<id>)."""
        ids = set(ids)
        return sorted(e for e in self._now() - self.before
                      if os.path.basename(e) in ids
                      or os.path.basename(e).split("-", 1)[-1] in ids)


def _mountpoints_under(path):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def remove_tree(path):
    """rm -rf, after detaching whatever an engine left mounted in it (never
    delete through a mount)."""
    for mp in sorted(_mountpoints_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    if _mountpoints_under(path):
        raise AssertionError(f"cannot unmount {_mountpoints_under(path)}")
    shutil.rmtree(path, ignore_errors=True)


# --- the engines ------------------------------------------------------------

class Engine:
    """An engine's command line (`prefix`), the runtime it uses, and where
    that runtime keeps its state."""
    runtime = None

    def __init__(self, prefix, env=None):
        self.prefix = prefix
        self.env = env

    def __call__(self, *args, **kw):
        return run(self.prefix + list(args), env=self.env, **kw)

    def ok(self, *args, **kw):
        """Run; it must succeed; its stdout without the last newline."""
        return self(*args, check=True, **kw).stdout.rstrip("\n")

    def terminal(self, *args):
        return Terminal(self.prefix + list(args), self.env or dict(os.environ))

    def follow(self, *args):
        return Follow(self.prefix + list(args), self.env)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="package")
def engines_dir():
    # SIGTERM (a timeout, say) becomes an interrupt: pytest then still runs
    # the teardowns that stop the daemons and remove their state
    previous = signal.signal(signal.SIGTERM, _interrupt)
    d = tempfile.mkdtemp(prefix="ocirt-e2e-")
    os.chmod(d, 0o755)
    try:
        yield pathlib.Path(d)
    finally:
        remove_tree(d)
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="package")
def busybox_rootfs(engines_dir):
    d = engines_dir / "busybox"
    run([os.path.join(ROOT, "demo", "make-bundle.sh"), d], check=True,
        env=dict(os.environ, OCIRT=ocirt_binary()))
    return d / "rootfs"


def podman_env(base, runtime_path):
    """A private podman: its own containers.conf and storage.conf."""
    base.mkdir()
    for sub in ("tmp", "volumes", "networks", "run", "graph"):
        (base / sub).mkdir()
    conf = base / "containers.conf"
    conf.write_text(f"""\
[containers]
default_ulimits = {json.dumps(ULIMITS)}

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
# named runc: conmon passes --log-format=json --log FILE only to runtimes
# it knows by name
runtime = "runc"
tmp_dir = "{base}/tmp"
volume_path = "{base}/volumes"
# no static_dir: conmon's exit command (podman container cleanup) gets
# --root but not static_dir, and would look for its containers in
# <graphroot>/libpod (then `podman wait` and `run --rm` wait 20 s for it)

[engine.runtimes]
runc = ["{runtime_path}"]

[network]
network_backend = "netavark"
network_config_dir = "{base}/networks"
""")
    storage = base / "storage.conf"
    storage.write_text(f"""\
[storage]
driver = "overlay"
runroot = "{base}/run"
graphroot = "{base}/graph"
""")
    env = {"PATH": SYSTEM_PATH, "HOME": "/root", "CONTAINERS_CONF": str(conf),
           "CONTAINERS_STORAGE_CONF": str(storage)}
    return env


@pytest.fixture(scope="package")
def image_archives(engines_dir, busybox_rootfs):
    """The busybox image as an OCI archive (ctr) and a docker archive (docker
    load), saved from a podman store of its own."""
    tool("podman")
    env = podman_env(engines_dir / "image-builder", RUNC)
    tar = subprocess.Popen(["tar", "-C", busybox_rootfs, "-c", "."], stdout=subprocess.PIPE)
    try:
        run(["podman", "import", "-", IMAGE], env=env, input=tar.stdout.read(), check=True)
    finally:
        tar.stdout.close()
        assert tar.wait() == 0
    archives = {}
    for fmt in ("oci-archive", "docker-archive"):
        archives[fmt] = engines_dir / f"busybox.{fmt}.tar"
        run(["podman", "save", "--format", fmt, "-o", archives[fmt], IMAGE], env=env,
            check=True)
    run(["podman", "system", "reset", "--force"], env=env)
    remove_tree(str(engines_dir / "image-builder"))
    return archives


@pytest.fixture(scope="package", params=runtime_names())
def runtime(request):
    """(name, path) of the runtime the engines call."""
    name = request.param
    if name == "ocirt":
        return name, ocirt_binary()
    if name == "runc":
        if RUNC is None:
            pytest.skip("runc is not installed")
        return name, RUNC
    raise pytest.UsageError(f"OCIRT_ENGINE_RUNTIMES: unknown runtime {name!r}")


class Podman(Engine):
    def cleanup(self):
        self("pod", "rm", "--all", "--force", "--time", "0")
        self("rm", "--all", "--force", "--time", "0")

    def made(self, since):
        """Ids of the containers and pods made since then (its event log)."""
        return self.ok("events", "--stream=false", "--since", str(since),
                       "--format", "{{.ID}}").split()


@pytest.fixture(scope="package")
def podman_engine(engines_dir, busybox_rootfs, runtime):
    name, path = runtime
    p = Podman([tool("podman")], podman_env(engines_dir / f"podman-{name}", path))
    p.runtime = name
    tool("conmon")
    tar = subprocess.Popen(["tar", "-C", busybox_rootfs, "-c", "."], stdout=subprocess.PIPE)
    try:
        p.ok("import", "--quiet", "-", IMAGE, input=tar.stdout.read())
    finally:
        tar.stdout.close()
        assert tar.wait() == 0
    # podman calls the runtime without --root: its default root
    p.state_dirs = ["/run/ocirt" if name == "ocirt" else "/run/runc"]
    yield p
    p.cleanup()
    p("system", "reset", "--force")


@pytest.fixture
def podman(podman_engine):
    """The podman of this session, cleaned up and checked after each test."""
    seen = Leftovers(podman_engine.state_dirs, ["libpod_parent"])
    yield podman_engine
    podman_engine.cleanup()
    left = seen.new(podman_engine.made(seen.since))
    assert not left, f"left behind: {left}"


class Daemon:
    """A daemon in the background, its output in a log file."""

    def __init__(self, argv, log, ready, what):
        self.log = log
        self.what = what
        with open(log, "wb") as f:
            self.p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                      stdout=f, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        try:
            # a daemon's readiness: its socket answers (no other event to wait on)
            wait_until(f"{what} to answer", lambda: self.p.poll() is not None or ready(),
                       timeout=60, interval=0.1)
            if self.p.poll() is not None:
                raise AssertionError(f"{what} exited {self.p.returncode}: {self.tail()}")
        except BaseException:
            self.stop()
            raise

    def tail(self):
        with open(self.log, errors="replace") as f:
            return "".join(f.readlines()[-30:])

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@pytest.fixture(scope="package")
def containerd(engines_dir, image_archives):
    """containerd with its root, state and sockets in engines_dir, the image
    imported into its `default` namespace (ctr's)."""
    base = engines_dir / "containerd"
    base.mkdir()
    sock = base / "containerd.sock"
    conf = base / "config.toml"
    conf.write_text(f"""\
version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"
""")
    ctr = [tool("ctr"), "-a", sock]
    daemon = Daemon([tool("containerd"), "--config", conf], base / "containerd.log",
                    lambda: run(ctr + ["version"]).returncode == 0, "containerd")
    try:
        run(ctr + ["image", "import", image_archives["oci-archive"]], check=True)
        daemon.sock = sock
        daemon.base = base
        yield daemon
    finally:
        daemon.stop()


class Ctr(Engine):
    def __call__(self, *args, **kw):
        if args and args[0] == "run":  # ctr run [flags] IMAGE ID ...
            self.ids.add(args[list(args).index(IMAGE) + 1])
        return super().__call__(*args, **kw)

    def run_flags(self):
        """What `ctr run` needs to call the runtime under test, with its
        state in our directory."""
        return ["--runc-binary", self.runtime_path, "--runc-root", self.state_root,
                "--fifo-dir", self.fifo_dir]

    def tasks(self):
        out = self.ok("task", "ls")
        return {f[0]: f[2] for f in (line.split() for line in out.splitlines()[1:])}

    def wait_stopped(self, cid):
        # ctr has no `task wait`: its `task ls` is polled
        wait_until(f"task {cid} to stop", lambda: self.tasks().get(cid) == "STOPPED")

    def cleanup(self):
        for cid in self.tasks():
            self("task", "rm", "--force", cid)
        for cid in self.ok("container", "ls", "--quiet").split():
            self("container", "rm", cid)


@pytest.fixture(scope="package")
def ctr_engine(containerd, runtime):
    name, path = runtime
    c = Ctr([tool("ctr"), "-a", containerd.sock])
    c.runtime, c.runtime_path = name, path
    c.ids = set()
    c.state_root = str(containerd.base / f"runtime-{name}")
    c.fifo_dir = str(containerd.base / "fifo")
    # the runc shim's runtime root: <runc-root>/<namespace>
    c.state_dirs = [os.path.join(c.state_root, "default")]
    yield c
    c.cleanup()


@pytest.fixture
def ctr(ctr_engine):
    seen = Leftovers(ctr_engine.state_dirs, ["default"])
    ctr_engine.ids.clear()
    yield ctr_engine
    ctr_engine.cleanup()
    left = seen.new(ctr_engine.ids)
    assert not left, f"left behind: {left}"


DOCKER_RUNTIMES = {"ocirt": "ocirt", "runc": "hostrunc"}


@pytest.fixture(scope="package")
def dockerd(engines_dir, containerd, image_archives):
    """dockerd on our containerd (namespace `moby`), both runtimes registered
    (daemon.json runtimes), its data and sockets in engines_dir."""
    base = engines_dir / "docker"
    base.mkdir()
    sock = base / "docker.sock"
    had_docker0 = os.path.exists("/sys/class/net/docker0")
    conf = base / "daemon.json"
    conf.write_text(json.dumps({
        "data-root": str(base / "data"),
        "exec-root": str(base / "exec"),
        "pidfile": str(base / "docker.pid"),
        "hosts": [f"unix://{sock}"],
        "containerd": str(containerd.sock),
        "runtimes": {DOCKER_RUNTIMES["ocirt"]: {"path": ocirt_binary()},
                     DOCKER_RUNTIMES["runc"]: {"path": RUNC or "/usr/sbin/runc"}},
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "storage-driver": "overlay2",
    }))
    docker = [tool("docker"), "-H", f"unix://{sock}"]
    env = {"PATH": SYSTEM_PATH, "HOME": str(base)}  # no ~/.docker of the host's
    daemon = Daemon([tool("dockerd"), "--config-file", conf], base / "dockerd.log",
                    lambda: run(docker + ["version"], env=env).returncode == 0, "dockerd")
    try:
        run(docker + ["load", "-i", image_archives["docker-archive"]], env=env, check=True)
        daemon.cli, daemon.env, daemon.base = docker, env, base
        yield daemon
    finally:
        daemon.stop()
        if not had_docker0:
            subprocess.run(["ip", "link", "delete", "docker0"], stderr=subprocess.DEVNULL)


class Docker(Engine):
    def cleanup(self):
        ids = self.ok("ps", "--all", "--quiet").split()
        if ids:
            self("rm", "--force", *ids)

    def made(self, since):
        """Ids of the containers made since then (dockerd's recent events)."""
        return self.ok("events", "--since", str(since), "--until", str(int(time.time()) + 1),
                       "--filter", "type=container", "--format", "{{.ID}}").split()


@pytest.fixture(scope="package")
def docker_engine(dockerd, runtime):
    name, path = runtime
    d = Docker(list(dockerd.cli), dockerd.env)
    d.runtime = name
    d.runtime_name = DOCKER_RUNTIMES[name]
    d.state_dirs = [str(dockerd.base / "exec" / f"runtime-{d.runtime_name}" / "moby")]
    yield d
    d.cleanup()


@pytest.fixture
def docker(docker_engine):
    seen = Leftovers(docker_engine.state_dirs, ["docker"])
    yield docker_engine
    docker_engine.cleanup()
    left = seen.new(docker_engine.made(seen.since))
    assert not left, f"left behind: {left}"
