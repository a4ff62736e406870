"""The state store: one private directory per container, <root>/<id>/.

Files in it:
  state.json   the runtime-spec state, as JSON whose text always begins
               {"pid": N, "status": "S"  (so the hot commands can print it
               with the derived pid and status spliced in, without
               importing the json module)
  init         facts the runtime needs later, one "key value" per line:
               pid, starttime, pidns (1 if the container has its own pid
               namespace), and "cgroup <hierarchy> <directory>" lines
  config.json  the config as it was at create (later edits have no effect)
  exec.sock    while the container is created: its init waits here for start

Every file is written to a temporary name and renamed. Status is never
trusted from disk: it is derived on every load from the init's pid *and*
start time (a reused pid reads as stopped), the exec socket, and the freezer.
"""
from ocirt import errors
from ocirt import posixos as os  # os without its import cost (see there)

DEFAULT_ROOT = "/run/ocirt"
STATE_FILE = "state.json"
INIT_FILE = "init"
CONFIG_COPY = "config.json"
EXEC_SOCKET = "exec.sock"
CGROUP_FILE = "cgroup"  # where create put the container, written before it makes anything

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-")


class Status:
    """The statuses of runtime-spec (plus runc's paused) and what each allows."""

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"

    @staticmethod
    def can_start(s):
        return s == Status.CREATED

    @staticmethod
    def can_kill(s):
        return s in (Status.CREATED, Status.RUNNING, Status.PAUSED)

    @staticmethod
    def can_delete(s):
        return s == Status.STOPPED

    @staticmethod
    def can_pause(s):
        return s == Status.RUNNING

    @staticmethod
    def can_resume(s):
        return s == Status.PAUSED


def check_id(cid):
    if (not cid or cid in (".", "..") or len(cid) > 1024
            or not _ID_CHARS.issuperset(cid)):
        raise errors.UsageError(f"invalid container id {cid!r}: use letters, digits and _+.- "
                                "(not '.' or '..')")
    return cid


def ensure_root(root):
    try:
        try:
            os.mkdir(root, 0o700)
        except FileExistsError:
            if not os.path.isdir(root):
                raise NotADirectoryError(20, "Not a directory")
        except FileNotFoundError:  # a parent is missing too: the first create on a host
            import os as full_os
            full_os.makedirs(root, 0o700, exist_ok=True)
    except OSError as e:
        raise errors.OcirtError(f"cannot create state root {root}: {e.strerror}")


class Container:
    """A container as recorded in the state store."""

    def __init__(self, root, cid, facts=None, oci_text=None):
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self.facts = facts or {}
        self.cgroup_paths = self.facts.pop("cgroups", {})
        self.oci_text = oci_text
        self._status = None

    @property
    def pid(self):
        return int(self.facts.get("pid", 0))

    @property
    def starttime(self):
        return int(self.facts.get("starttime", -1))

    @property
    def hook_points(self):
        """Hook points the runtime must run after create (poststart, poststop)."""
        return self.facts.get("hooks", "").split(",")

    @property
    def has_pidns(self):
        return self.facts.get("pidns") == "1"

    def cgroup(self):
        from ocirt.linux.cgroups import Cgroup
        return Cgroup(self.cgroup_paths)

    # --- derived status ---
    @property
    def status(self):
        if self._status is None:
            self._status = self._derive()
        return self._status

    @property
    def recorded(self):
        """False while create has not yet written the state (status creating)."""
        return bool(self.facts) and self.oci_text is not None

    def refresh(self):
        self._status = None
        return self.status

    def _derive(self):
        if not self.recorded:
            return Status.CREATING
        from ocirt.linux.proc import is_alive
        if not self.pid or not is_alive(self.pid, self.starttime):
            return Status.STOPPED
        if os.path.exists(os.path.join(self.dir, EXEC_SOCKET)):
            return Status.CREATED
        if self.cgroup_paths:
            from ocirt.linux import freezer
            if freezer.is_frozen(self.cgroup_paths):
                return Status.PAUSED
        return Status.RUNNING

    def state_json(self):
        """The runtime-spec state as JSON text, with the live pid and status."""
        st = self.status
        pid = self.pid if st not in (Status.STOPPED, Status.CREATING) else 0
        if self.oci_text is None:
            return (f'{{"pid": 0, "status": "{st}", "id": "{self.id}", '
                    f'"ociVersion": "1.3.0", "bundle": ""}}')
        text = self.oci_text
        i = text.index('"status": "') + len('"status": "')
        j = text.index('"', i)
        return f'{{"pid": {pid}, "status": "{st}"' + text[j + 1:]

    def oci_state(self):
        from ocirt import jsonio
        return jsonio.loads(self.state_json())

    # --- writing ---
    def lock(self):
        """Take the container's exclusive lock; returns the fd that holds it."""
        import fcntl  # here: `state` never locks
        try:
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise errors.ContainerNotFound(self.id)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink == 0:  # deleted by the holder we waited for
            os.close(fd)
            raise errors.ContainerNotFound(self.id)
        return fd

    def save(self, oci):
        """Record the facts and the OCI state (a dict without pid and status)."""
        lines = [f"{k} {v}" for k, v in self.facts.items()]
        lines += [f"cgroup {k} {v}" for k, v in self.cgroup_paths.items()]
        write_atomic(os.path.join(self.dir, INIT_FILE), ("\n".join(lines) + "\n").encode())
        from ocirt import jsonio
        rest = jsonio.dumps(oci)
        head = f'{{"pid": {self.pid}, "status": "{Status.CREATED}"'
        self.oci_text = head + (", " + rest[1:] if len(rest) > 2 else "}")
        write_atomic(os.path.join(self.dir, STATE_FILE), self.oci_text.encode())

    def record_cgroup(self, paths, made, unit=None):
        """Record the cgroup directories (and those create makes for them, and
        a systemd unit) before they exist: a create killed halfway still leaves
        delete the means to remove them."""
        lines = [f"path {k} {v}" for k, v in paths.items()]
        lines += [f"made {d}" for d in made]
        if unit:
            lines.append(f"systemd {unit}")
        write_atomic(os.path.join(self.dir, CGROUP_FILE), ("\n".join(lines) + "\n").encode())

    def cgroup_made(self):
        """A list of the cgroup directories create makes whose append() also
        adds each to the record at once (one O_APPEND write), so that a create
        killed at any point leaves delete all it made, and only that."""
        return _MadeDirs(os.open(os.path.join(self.dir, CGROUP_FILE),
                                 os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC))

    def cgroup_record(self):
        """(paths, directories create made, systemd unit or None)."""
        paths, made, unit = {}, [], None
        try:
            text = _read(os.path.join(self.dir, CGROUP_FILE))
        except FileNotFoundError:
            return dict(self.cgroup_paths), [], self.facts.get("systemd")
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "path":
                name, _, path = value.partition(" ")
                paths[name] = path
            elif key == "made":
                made.append(value)
            elif key == "systemd":
                unit = value
        return paths, made, unit

    def load_config(self):
        from ocirt import jsonio
        with open(os.path.join(self.dir, CONFIG_COPY), "rb") as f:
            return jsonio.loads(f.read())

    def remove(self):
        """Remove the state directory (it holds only plain files)."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass


class _MadeDirs(list):
    def __init__(self, fd):
        super().__init__()
        self.fd = fd

    def append(self, d):
        super().append(d)
        os.write(self.fd, f"made {d}\n".encode())

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def write_atomic(path, data, mode=0o600):
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _read(path):
    with open(path, "rb") as f:
        return f.read().decode()


def parse_facts(text):
    facts = {}
    cgroups = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "cgroup":
            name, _, path = value.partition(" ")
            cgroups[name] = path
        elif key:
            facts[key] = value
    facts["cgroups"] = cgroups
    return facts


def load(root, cid):
    """The container <cid>, or ContainerNotFound."""
    check_id(cid)
    d = os.path.join(root, cid)
    try:
        facts = parse_facts(_read(os.path.join(d, INIT_FILE)))
        oci_text = _read(os.path.join(d, STATE_FILE))
    except FileNotFoundError:
        if os.path.isdir(d):
            return Container(root, cid)  # still being created
        raise errors.ContainerNotFound(cid)
    return Container(root, cid, facts, oci_text)


def new(root, cid):
    """Reserve <cid>: mkdir fails if another create got there first."""
    check_id(cid)
    ensure_root(root)
    d = os.path.join(root, cid)
    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        raise errors.ContainerExists(cid)
    return Container(root, cid)


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
