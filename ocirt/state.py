"""The state store: <root>/<id>/ holding state.json, a copy of config.json,
and, while the container is ``created``, the exec socket.

Status is never stored: it is derived on every load from the init's pid
and start time (so a reused pid reads as stopped), the exec socket, and
the freezer.
"""
import enum
import fcntl
import json
import os
import re

from ocirt import errors
from ocirt.protocol import EXEC_SOCKET

DEFAULT_ROOT = "/run/ocirt"
STATE_FILE = "state.json"
CONFIG_COPY = "config.json"

_ID_RE = re.compile(r"^[A-Za-z0-9_+.-]+$")


class Status(str, enum.Enum):
    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"

    def can_start(self):
        return self is Status.CREATED

    def can_kill(self):
        return self in (Status.CREATED, Status.RUNNING, Status.PAUSED)

    def can_delete(self):
        return self is Status.STOPPED

    def can_pause(self):
        return self is Status.RUNNING

    def can_resume(self):
        return self is Status.PAUSED


def check_id(cid):
    if not cid or cid in (".", "..") or not _ID_RE.match(cid) or len(cid) > 1024:
        raise errors.UsageError(f"invalid container id {cid!r}: use letters, digits and _+.- "
                                "(not '.' or '..')")
    return cid


def ensure_root(root):
    try:
        os.makedirs(root, 0o700, exist_ok=True)
    except OSError as e:
        raise errors.OcirtError(f"cannot create state root {root}: {e.strerror}")


class Container:
    """A container as recorded in the state store."""

    def __init__(self, root, cid, data):
        self.root = root
        self.id = cid
        self.data = data
        self.dir = os.path.join(root, cid)
        self._status = None

    # --- recorded facts ---
    @property
    def pid(self):
        return self.data.get("pid", 0)

    @property
    def bundle(self):
        return self.data.get("bundle", "")

    @property
    def cgroup_paths(self):
        return self.data.get("cgroupPaths") or {}

    def cgroup(self):
        from ocirt.linux.cgroups import Cgroup
        return Cgroup(self.cgroup_paths)

    # --- derived status ---
    @property
    def status(self):
        if self._status is None:
            self._status = self._derive()
        return self._status

    def refresh(self):
        self._status = None
        return self.status

    def _derive(self):
        if not self.data:
            return Status.CREATING
        from ocirt.linux.proc import is_alive
        if not self.pid or not is_alive(self.pid, self.data.get("starttime")):
            return Status.STOPPED
        if os.path.exists(os.path.join(self.dir, EXEC_SOCKET)):
            return Status.CREATED
        if self.cgroup_paths and self.cgroup().frozen():
            return Status.PAUSED
        return Status.RUNNING

    def oci_state(self):
        """The state as the runtime-spec's `state` operation returns it."""
        st = self.status
        out = {
            "ociVersion": self.data.get("ociVersion", "1.3.0"),
            "id": self.id,
            "pid": self.pid if st not in (Status.STOPPED, Status.CREATING) else 0,
            "status": st.value,
            "bundle": self.bundle,
            "rootfs": self.data.get("rootfs", ""),
            "created": self.data.get("created", ""),
            "owner": self.data.get("owner", ""),
        }
        if self.data.get("annotations"):
            out["annotations"] = self.data["annotations"]
        return out

    # --- locking ---
    def lock(self):
        """Take the container's exclusive lock (released when the process exits)."""
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def save(self):
        write_atomic(os.path.join(self.dir, STATE_FILE), json.dumps(self.data).encode())

    def load_config(self):
        with open(os.path.join(self.dir, CONFIG_COPY)) as f:
            return json.load(f)

    def remove(self):
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)


def write_atomic(path, data, mode=0o600):
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def load(root, cid):
    """The container <cid>, or ContainerNotFound."""
    check_id(cid)
    d = os.path.join(root, cid)
    try:
        with open(os.path.join(d, STATE_FILE), "rb") as f:
            return Container(root, cid, json.loads(f.read()))
    except FileNotFoundError:
        if os.path.isdir(d):
            return Container(root, cid, {})
        raise errors.ContainerNotFound(cid)
    except ValueError:
        raise errors.OcirtError(f"corrupt state file for container {cid}")


def new(root, cid):
    """Reserve <cid>: mkdir fails if another create got there first."""
    check_id(cid)
    ensure_root(root)
    d = os.path.join(root, cid)
    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        raise errors.ContainerExists(cid)
    return Container(root, cid, {})


def list_all(root):
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        try:
            out.append(load(root, name))
        except errors.OcirtError:
            continue
    return out
