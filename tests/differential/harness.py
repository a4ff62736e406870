"""The differential harness: one config, two runtimes, what a user observes.

`observe(runtime, config)` runs a config through one runtime's CLI as an engine
does (create, state, start, wait for the process, state, kill, delete, state),
with the conformance checker (conformance/checker.c) as the process, and
returns what can be seen, normalised where two correct runtimes must differ
(ids, pids, paths, timestamps, cgroup parents). `diff(a, b)` lists where two
observations differ, as (key, ocirt's value, runc's value).

Nothing here knows about ocirt: both runtimes are driven the same way, each
with its own --root, its own bundle (a fresh copy of the rootfs: a runtime
that creates a mountpoint must not make it for the other) and its own id.
"""
import array
import copy
import json
import os
import re
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid

CHECKER = "/checker"
# what a config's bind sources of an engine's own (files/<name>) hold
FILE_CONTENT = {"hosts": "127.0.0.1 localhost\n", "hostname": "differential\n",
                "resolv.conf": "nameserver 127.0.0.1\n", "passwd": "root:x:0:0::/root:/bin/sh\n",
                "group": "root:x:0:\n"}


class Runtime:
    def __init__(self, name, binary, base):
        self.name, self.binary = name, binary
        self.root = os.path.join(base, f"state-{name}")
        self.ids = []

    def call(self, *args, timeout=None, stdout=None):
        """rc, stdout, stderr (through files: a container inherits them)."""
        if timeout is None:
            timeout = 60 if self.name == "ocirt" else 20
        cmd = [self.binary, "--root", self.root] + [str(a) for a in args]
        with tempfile.TemporaryFile() as o, tempfile.TemporaryFile() as e:
            try:
                rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=stdout or o, stderr=e,
                                    timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                if self.name == "ocirt":  # ocirt never hangs
                    raise
                # runc 1.1.5's create waits forever for an init a seccomp
                # profile killed (SCMP_ACT_KILL on a call it makes after
                # loading the filter): a failure, as far as a caller can tell
                rc = "timeout"
                e.write(f"{self.name} {args[0]}: timed out after {timeout}s".encode())
            o.seek(0)
            e.seek(0)
            return rc, o.read().decode(errors="replace"), e.read().decode(errors="replace")

    def new_id(self):
        cid = f"df-{uuid.uuid4().hex[:12]}"
        self.ids.append(cid)
        return cid

    def cleanup(self):
        """Force-delete every container this runtime made, even half-made ones."""
        for cid in self.ids:
            self.call("delete", "--force", cid)
        self.ids.clear()


def strip_capture_keys(value):
    """The corpus's own notes (x-capture-*) are not the engines' config."""
    if isinstance(value, dict):
        return {k: strip_capture_keys(v) for k, v in value.items()
                if not k.startswith("x-capture-")}
    if isinstance(value, list):
        return [strip_capture_keys(v) for v in value]
    return value


def make_bundle(cfg, rootfs, base, cid, extra_args=(), args=None):
    """A bundle of this config in a new directory: the rootfs copied, the
    checker as process.args (or `args`), files/<name> bind sources made, the cgroup leaf
    renamed after this container (two runs never share a cgroup)."""
    bundle = tempfile.mkdtemp(prefix="bundle-", dir=base)
    os.chmod(bundle, 0o755)
    subprocess.run(["cp", "-a", rootfs, os.path.join(bundle, "rootfs")], check=True)
    files = os.path.join(bundle, "files")
    os.mkdir(files)
    for m in cfg.get("mounts", []):
        src = m.get("source", "")
        if src.startswith("files/"):
            path = os.path.join(bundle, src)
            if m.get("x-capture-kind") == "dir":
                os.makedirs(path, exist_ok=True)
                with open(os.path.join(path, "data"), "w") as f:
                    f.write("data\n")
            else:
                name = os.path.basename(src).split(".")[0] if src.count(".") > 1 else \
                    os.path.basename(src)
                with open(path, "w") as f:
                    f.write(FILE_CONTENT.get(name, f"{name}\n"))
    cfg = strip_capture_keys(copy.deepcopy(cfg))
    cfg["root"] = dict(cfg.get("root", {}), path="rootfs")
    cfg.setdefault("process", {})["args"] = list(args) if args else [CHECKER] + list(extra_args)
    linux = cfg.get("linux", {})
    if linux.get("cgroupsPath"):
        linux["cgroupsPath"] = os.path.dirname(linux["cgroupsPath"].rstrip("/")) + "/" + cid
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    return bundle


class Console:
    """A console socket, as conmon or containerd's shim has one: takes the pty
    master and reads it to the end (a thread: the pty's buffer is small)."""

    def __init__(self, base):
        self.path = tempfile.mktemp(prefix="console-", suffix=".sock", dir=base)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(1)
        self.srv.settimeout(60)
        self.out = b""
        self.master = None
        self.error = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.srv.accept()
        except OSError as e:  # closed: create failed before sending
            self.error = e
            return
        with conn:
            fds = array.array("i")
            _, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(4))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data)
        self.master = fds[0]
        while True:
            r, _, _ = select.select([self.master], [], [], 60)
            if not r:
                return
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the container's side is closed
                return
            if not chunk:
                return
            self.out += chunk

    def text(self):
        self.thread.join(60)
        return self.out.decode(errors="replace").replace("\r\n", "\n")

    def close(self):
        self.srv.close()
        self.thread.join(5)
        if self.master is not None:
            os.close(self.master)
            self.master = None


def _host_cgroups(pid):
    """The init's cgroup directories on the host, one per hierarchy."""
    dirs = []
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return dirs
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype = right.split()[0]
            if fstype in ("cgroup", "cgroup2"):
                opts = set(right.split()[2].split(","))
                mounts[left.split()[4]] = (fstype, opts)
    for line in lines:
        hid, ctrls, path = line.split(":", 2)
        for mp, (fstype, opts) in mounts.items():
            if (hid == "0" and fstype == "cgroup2") or \
                    (fstype == "cgroup" and ctrls and
                     set(c.replace("name=", "name=") for c in ctrls.split(",")) <= opts):
                dirs.append(os.path.join(mp, path.lstrip("/")))
                break
    return [d for d in dirs if d.rstrip("/") not in mounts]


def _mountpoints_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f
                if line.split()[4] == path or line.split()[4].startswith(path + "/")]


def _remove_cgroups(dirs):
    """Kill what is left in a container's cgroups and remove them (bottom up)."""
    for d in sorted(dirs, key=len, reverse=True):
        for sub, _, _ in sorted(os.walk(d), key=lambda w: len(w[0]), reverse=True):
            try:
                with open(os.path.join(sub, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        try:
                            os.kill(int(pid), 9)
                        except ProcessLookupError:
                            pass
            except OSError:
                pass
            try:
                os.rmdir(sub)
            except OSError:
                pass


def _wait_pid(pidfd, timeout=30):
    r, _, _ = select.select([pidfd], [], [], timeout)
    return bool(r)


def normalise_state(st, cid, bundle, pid):
    """state JSON with the fields that must differ between two runs replaced."""
    out = dict(st)
    for k, v in (("id", cid), ("bundle", bundle)):
        if out.get(k) == v:
            out[k] = f"<{k}>"
    if "pid" in out:
        out["pid"] = "<pid>" if out["pid"] == pid and pid else \
            ("0" if out["pid"] == 0 else "<other pid>")
    if "created" in out:
        out["created"] = "<time>" if re.match(r"\d{4}-\d\d-\d\dT", str(out["created"])) \
            else out["created"]
    if "rootfs" in out:  # runc's extra: the absolute rootfs
        out["rootfs"] = "<bundle>/rootfs" if out["rootfs"] == os.path.join(bundle, "rootfs") \
            else out["rootfs"]
    return out


HOST_NS = {}


def host_namespaces():
    if not HOST_NS:
        for n in ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"):
            HOST_NS[n] = os.readlink(f"/proc/self/ns/{n}")
    return HOST_NS


def normalise_report(rep, cid, bundle, default_cgroup):
    """The checker's report with what must differ between two runs replaced:
    namespace inodes become host/new, pipe inodes and the ids/paths of this
    run are named, mountinfo becomes {mount point: "options tags type source
    super-options"} (without mount ids, devices and peer group numbers; the
    order of the runtimes' own mounts is theirs, the spec's order of
    config.mounts is checked by the conformance suite)."""
    out = dict(rep)
    out["namespaces"] = {n: ("host" if v == host_namespaces().get(n) else "new")
                         for n, v in rep.get("namespaces", {}).items()}
    out["fdlinks"] = {fd: re.sub(r"^(pipe|socket|anon_inode):.*", r"\1",
                                 re.sub(r"/#\d+ \(deleted\)$", "/<unlinked file>", t))
                      .replace(bundle, "<bundle>")
                      for fd, t in rep.get("fdlinks", {}).items()}
    # the process's cgroup, named after this container (the runtime's default
    # parent when the config has no cgroupsPath: runc's is /, ocirt's /ocirt)
    cg = rep.get("cgroup") or ""
    if default_cgroup:  # runc's is relative to its caller's own cgroup
        cg = re.sub(r":/\S*?" + re.escape(cid), ":/<id>", cg)
    out["cgroup"] = cg.replace(cid, "<id>")
    mounts = {}
    for line in (rep.get("mountinfo") or "").splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        fstype, source, sup = (right.split() + ["", "", ""])[:3]
        tags = sorted(re.sub(r":\d+", "", t) for t in f[6:])
        if source.startswith("/"):
            source = "<path>"
        key, n = f[4], 1
        while key in mounts:  # stacked mounts: /x, /x#2, ...
            n += 1
            key = f"{f[4]}#{n}"
        mounts[key] = " ".join([f[5], ",".join(tags) or "-", fstype, source, sup])
    out["mountinfo"] = mounts
    for k in ("pid", "ppid", "sid", "pgid"):
        if out.get("namespaces", {}).get("pid") == "host" and k in out:
            out[k] = "<host pid>"
    out["dev"] = {k: v for k, v in (rep.get("dev") or {}).items()}
    return out


def observe(rt, cfg, rootfs, base, extra_args=()):
    """Run cfg through one runtime as an engine does; what it shows."""
    cid = rt.new_id()
    bundle = make_bundle(cfg, rootfs, base, cid, extra_args)
    terminal = bool(cfg.get("process", {}).get("terminal"))
    obs = {}
    console = Console(base) if terminal else None
    out = tempfile.TemporaryFile()
    cgroups, pidfd = [], None
    try:
        args = ["create", "--bundle", bundle]
        if console:
            args += ["--console-socket", console.path]
        rc, _, err = rt.call(*args, cid, stdout=out)
        obs["create.rc"] = rc
        obs["create.stderr"] = err.strip()
        if rc != 0:
            rc, _, _ = rt.call("state", cid)
            obs["after-failed-create.state.rc"] = rc
            return obs
        rc, text, _ = rt.call("state", cid)
        st = json.loads(text) if rc == 0 else {}
        pid = st.get("pid", 0)
        obs["state.created"] = normalise_state(st, cid, bundle, pid)
        if pid:
            pidfd = os.pidfd_open(pid)
            cgroups = _host_cgroups(pid)
        rc, _, err = rt.call("start", cid)
        obs["start.rc"] = rc
        obs["start.stderr"] = err.strip()
        if pidfd is not None:
            obs["process.exited"] = _wait_pid(pidfd)
        rc, text, _ = rt.call("state", cid)
        obs["state.stopped"] = normalise_state(json.loads(text) if rc == 0 else {},
                                               cid, bundle, pid)
        rc, _, _ = rt.call("kill", cid, "KILL")
        obs["kill.stopped.rc"] = rc
        rc, _, err = rt.call("delete", cid)
        obs["delete.rc"] = rc
        obs["delete.stderr"] = err.strip()
        rc, _, _ = rt.call("state", cid)
        obs["state.deleted.rc"] = rc
        # what is left on the host
        obs["left.processes"] = pidfd is not None and not _wait_pid(pidfd, 0)
        obs["left.cgroups"] = sorted(d.replace(cid, "<id>") for d in cgroups
                                     if os.path.isdir(d))
        obs["left.mounts"] = [m.replace(bundle, "<bundle>") for m in _mountpoints_under(bundle)]
        if console:
            text = console.text()
        else:
            out.seek(0)
            text = out.read().decode(errors="replace")
        try:
            obs["report"] = normalise_report(json.loads(text), cid, bundle,
                                             not cfg.get("linux", {}).get("cgroupsPath"))
        except ValueError:
            obs["report"] = {"unparsed output": text[-500:]}
        return obs
    finally:
        out.close()
        if pidfd is not None:
            os.close(pidfd)
        if console:
            console.close()
        rt.call("delete", "--force", cid)
        _remove_cgroups([d for d in cgroups if os.path.isdir(d)])
        for mp in sorted(_mountpoints_under(bundle), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
        if not _mountpoints_under(bundle):
            shutil.rmtree(bundle, ignore_errors=True)


def flatten(value, prefix=""):
    """{"a": {"b": 1}} -> {"a.b": 1}; lists of scalars stay whole."""
    out = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    else:
        out[prefix] = value
    return out


# stderr is reported, never compared (each runtime words its errors its own way)
NOT_COMPARED = re.compile(r"^(create|start|delete)\.stderr$")


def diff(a, b):
    """[(key, a's value, b's value)] where two observations differ."""
    fa, fb = flatten(a), flatten(b)
    return [(k, fa.get(k, "<absent>"), fb.get(k, "<absent>"))
            for k in sorted(set(fa) | set(fb))
            if not NOT_COMPARED.match(k) and fa.get(k, "<absent>") != fb.get(k, "<absent>")]
