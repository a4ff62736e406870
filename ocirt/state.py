"""The state store: one private directory per container, <root>/<id>/.

Each fact is recorded once, in the file written when it becomes known:
  cgroup       where create puts the container, written before it makes
               anything: "path <hierarchy> <directory>" lines, "systemd
               <unit>", then "making D"/"made D"/"exists D" as it goes
               (Container.cgroup_record). The only record of the cgroup.
  init         facts about the init, one "key value" per line: pid,
               starttime, pidns (1 if the container has its own pid
               namespace), exe (the runtime executable the waiting init
               runs, as dev:ino), hooks (the hook points left for later)
  state.json   the runtime-spec state without its live members (pid,
               status), as the JSON writer emits runc's containerState
               (ocirt.jsonio.dumps_go), in two lines: the members before
               "pid" ({"ociVersion":..,"id":..,) and those after it
               ("bundle":..}). JSON text holds no raw newline, so the
               line break is where the writer put it; the file is a valid
               JSON document, and `state` prints it with the live pid and
               status put in between the two parts, neither parsed nor
               searched (nor the json module imported).
  config.json  the config as it was at create (later edits have no effect)
  mounts       without a mount namespace of the container's own: the mount
               create made in the runtime's (the rootfs bound onto itself,
               which holds all the others), "<id> <kind> <mountinfo id> <path as JSON>" written
               before it is attached; delete unmounts it (ocirt.container.delete)
  exec.sock    while the container is created: its init waits here for start

Every file is written to a new temporary name (O_EXCL|O_NOFOLLOW) and
renamed, or (cgroup, mounts) appended to with one write per line. Status is
never recorded: it is derived on every load from the init's pid *and* start
time (a reused pid reads as stopped), the exec socket, and the freezer, and
each operation asks a Status predicate whether it may act.

<root>/<id> must be a real directory owned by us: it is opened once with
O_NOFOLLOW|O_DIRECTORY, and every file in it is read, written and removed
relative to that fd with O_NOFOLLOW. A symbolic link planted in the state
root is refused, never followed (delete would otherwise empty whatever
directory it points to). Reads are bounded (MAX_STATE_FILE).

A directory without a complete record (init and state.json) is a create in
progress while that create holds the directory's lock (it does from mkdir to
the end), and "creating"; once no create holds it, the create died halfway:
the container reads as "stopped" (pid 0), and delete removes what it left
(the `cgroup` record says what that was). A record that cannot be parsed is
an error naming the file; `list` skips it with a warning, and `delete
--force` removes it.
"""
import _thread

from ocirt import SPEC_VERSION, errors
from ocirt import posixos  # os without its import cost (see there)

STATE_FILE = "state.json"
INIT_FILE = "init"
CONFIG_COPY = "config.json"
EXEC_SOCKET = "exec.sock"
CGROUP_FILE = "cgroup"  # where create put the container, written before it makes anything
MOUNTS_FILE = "mounts"  # mounts create made in the runtime's mount namespace (none has its own)

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-")
MAX_ID = 255  # NAME_MAX: the id names the state directory (runc sets no limit of its own)
# Our own files, in a directory only we can write: they are written from a
# config.json of at most ocirt.config.MAX_CONFIG (16 MiB), which JSON's
# escapes can make up to six times larger.
MAX_STATE_FILE = 128 << 20
_DIR_FLAGS = posixos.O_RDONLY | posixos.O_DIRECTORY | posixos.O_NOFOLLOW | posixos.O_CLOEXEC


class Status:
    """The statuses of runtime-spec (plus runc's paused), and what each allows.

    Statuses are plain strings (the spec's words, as `state` prints them),
    compared with == only; an operation asks its can_* predicate instead of
    naming statuses itself, before it does anything (youki's ContainerStatus
    does the same). What each allows is runc's behaviour:

        operation           creating created running paused stopped
        start                   -       x       -      -       -
        kill                    -       x       x      x       -
        kill --all              -       x       x      x       x   (processes left in its cgroup)
        delete                  -       x       -      -       x   (a created one's init is killed)
        delete --force          x       x       x      x       x
        exec                    -       x       x     (x)      -   (paused: with --ignore-paused)
        pause                   -       -       x      -       -
        resume                  -       -       -      x       -
        update, events          -       x       x      x       -
        ps                      -       x       x      x       x
    """

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    ALL = (CREATING, CREATED, RUNNING, PAUSED, STOPPED)

    _ALIVE = frozenset((CREATED, RUNNING, PAUSED))

    @staticmethod
    def has_init(s):
        """Recorded, and its init lives: `state` shows its pid (0 otherwise)."""
        return s in Status._ALIVE

    @staticmethod
    def can_start(s):
        return s == Status.CREATED

    @staticmethod
    def can_kill(s):
        """Its init can be signalled (and delete kills it first)."""
        return s in Status._ALIVE

    @staticmethod
    def can_kill_all(s):
        """kill --all: a stopped container's cgroup may still hold processes
        (one without its own pid namespace), and they get the signal, as with
        runc: containerd's shim sends KILL so when such an init exits."""
        return s in Status._ALIVE or s == Status.STOPPED

    @staticmethod
    def can_delete(s, force=False):
        return force or s == Status.STOPPED or s == Status.CREATED

    @staticmethod
    def can_exec(s, ignore_paused=False):
        return s == Status.CREATED or s == Status.RUNNING or \
            (ignore_paused and s == Status.PAUSED)

    @staticmethod
    def can_pause(s):
        return s == Status.RUNNING

    @staticmethod
    def can_resume(s):
        return s == Status.PAUSED

    @staticmethod
    def can_update(s):
        return s in Status._ALIVE

    @staticmethod
    def can_events(s):
        return s in Status._ALIVE

    @staticmethod
    def can_ps(s):
        return s != Status.CREATING


def check_id(cid):
    if len(cid) > MAX_ID:
        raise errors.UsageError(f"invalid container id {_shown(cid, 32)}: longer than {MAX_ID} "
                                "characters")
    if not cid or cid in (".", "..") or not _ID_CHARS.issuperset(cid):
        raise errors.UsageError(f"invalid container id {_shown(cid, 64)}: use letters, digits "
                                "and _+.- (not '.' or '..')")
    return cid


def _shown(cid, most):
    """cid as a Python literal of at most <most> characters and "...": an
    escape takes up to ten characters (\U0001f600), so the cut is made in
    the literal, not in the id."""
    text = repr(cid)
    return text if len(text) <= most else text[:most] + "..."


def ensure_root(root):
    try:
        try:
            posixos.mkdir(root, 0o700)
        except FileExistsError:
            if not posixos.path.isdir(root):
                raise NotADirectoryError(20, "Not a directory")
        except FileNotFoundError:  # a parent is missing too: the first create on a host
            import os
            os.makedirs(root, 0o700, exist_ok=True)
    except OSError as e:
        raise errors.OcirtError(f"cannot create state root {root}: {e.strerror}")


# The Containers each thread has opened since its last close_opened(): a CLI
# command ends its process and with it their fds and locks; ocirt.runtime's
# calls close them as they return, for a caller that goes on.
_OPENED = {}


def close_opened():
    """Close (and unlock) every Container this thread has opened."""
    for c in _OPENED.pop(_thread.get_ident(), ()):
        c.close()


class Container:
    """A container as recorded in the state store.

    fd is <root>/<id> opened with O_NOFOLLOW|O_DIRECTORY (close-on-exec):
    every file of the record is reached through it. `problem` says why a
    record that exists could not be parsed (load(broken=True) only)."""

    def __init__(self, root, cid, fd):
        self.root = root
        self.id = cid
        self.dir = posixos.path.join(root, cid)
        self.fd = fd
        self.facts = {}  # the init record (INIT_FILE)
        self.oci_parts = None  # state.json's two lines, around the live pid and status
        self.problem = None
        self._status = None
        self._lock_fd = None
        self._cgroup = None  # the cgroup record, parsed when first asked for
        _OPENED.setdefault(_thread.get_ident(), []).append(self)

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

    @property
    def cgroup_paths(self):
        """{hierarchy: directory} of the cgroup record; {} without one."""
        return self._cgroup_record()[0]

    def cgroup(self):
        from ocirt.linux.cgroups import Cgroup
        return Cgroup(self.cgroup_paths)

    def close(self):
        """Release the lock and close the directory fd (list holds no more
        than one at a time; an API caller's process outlives its calls:
        close_opened)."""
        self.unlock()
        if self.fd >= 0:
            posixos.close(self.fd)
            self.fd = -1

    def unlock(self):
        if self._lock_fd is not None:
            posixos.close(self._lock_fd)
            self._lock_fd = None

    # --- derived status ---
    @property
    def status(self):
        if self._status is None:
            self._status = self._derive()
        return self._status

    @property
    def recorded(self):
        """False while create has not yet written the state (status creating)."""
        return bool(self.facts) and self.oci_parts is not None

    def refresh(self):
        self._status = None
        return self.status

    def _derive(self):
        if not self.recorded:
            if self.problem:
                return Status.STOPPED  # nothing to trust: delete --force removes it
            if self._lock_fd is None and self._create_holds_lock():
                return Status.CREATING
            # no create holds the directory: it finished since we read it, or died
            self._read_record()
            if not self.recorded:
                return Status.STOPPED
        from ocirt.linux.proc import is_alive
        if not self.pid or not is_alive(self.pid, self.starttime):
            return Status.STOPPED
        try:
            posixos.stat(EXEC_SOCKET, dir_fd=self.fd, follow_symlinks=False)
            if self._init_waits():
                return Status.CREATED
        except FileNotFoundError:
            pass
        paths = self.cgroup_paths
        if paths:
            from ocirt.linux import freezer
            if freezer.is_frozen(paths):
                return Status.PAUSED
        return Status.RUNNING

    def _init_waits(self):
        """The init has not executed the container's process: it still runs
        the runtime's own executable (recorded at create as "exe dev:ino").
        The exec socket alone would say created after a start that was
        killed once the init had gone on (start unlinks the socket last)."""
        exe = self.facts.get("exe")
        if not exe:
            return True
        try:
            st = posixos.stat(f"/proc/{self.pid}/exe")
        except PermissionError:
            # a caller other than root, whose container's user namespace
            # lets it read what any process made there has: so the init's
            # memory is still the runtime's, from the host (and not dumpable)
            return True
        except OSError:
            return False
        return exe == f"{st.st_dev}:{st.st_ino}"

    def _create_holds_lock(self):
        """True while another process holds the directory's lock: for a
        directory without a record, that is its create."""
        import fcntl  # only for a container without a record
        fd = posixos.open(".", _DIR_FLAGS, dir_fd=self.fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            posixos.close(fd)
        return False

    def _read_record(self):
        """Read init and state.json (both, or the container has no record yet)."""
        try:
            facts = parse_facts(self.read(INIT_FILE))
            text = self.read(STATE_FILE)
        except FileNotFoundError:
            return
        head, _, tail = text.partition("\n")
        self.problem = _record_problem(facts, head, tail)
        if self.problem is None:
            self.facts, self.oci_parts = facts, (head, tail)

    def state_json(self):
        """The runtime-spec state as compact JSON text, byte for byte what
        runc's json.Marshal writes (its key order: ociVersion, id, pid,
        status, bundle, rootfs, created, annotations, owner): the recorded
        parts with the live pid and status between them."""
        st = self.status
        pid = self.pid if Status.has_init(st) else 0
        if self.oci_parts is None:  # no record (yet): what is known
            # an id is letters, digits and _+.- (check_id): nothing to escape
            head, tail = f'{{"ociVersion":"{SPEC_VERSION}","id":"{self.id}",', '"bundle":""}'
        else:
            head, tail = self.oci_parts
        # the status is one of Status's words: nothing to escape either
        return f'{head}"pid":{pid},"status":"{st}",{tail}'

    def oci_state(self):
        from ocirt import jsonio
        return jsonio.loads(self.state_json())

    def state_text(self):
        """What runc's `state` prints: Go's json.MarshalIndent with two
        spaces, and no final newline."""
        return indent(self.state_json())

    # --- files of the record ---
    def read(self, name):
        """The text of <name> in the state directory (FileNotFoundError if absent)."""
        try:
            return posixos.read_regular(name, MAX_STATE_FILE, dir_fd=self.fd,
                                        follow=False).decode()
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError) as e:
            raise errors.OcirtError(f"container {self.id}: {name}: "
                                    f"{getattr(e, 'strerror', None) or e}")

    def write(self, name, data, mode=0o600):
        write_atomic(self.fd, name, data, mode)

    # --- writing ---
    def lock(self):
        """Take the container's exclusive lock; returns the fd that holds it.

        The lock lives on an open file description of its own (not self.fd,
        which forked children inherit until they exec)."""
        if self._lock_fd is not None:
            return self._lock_fd
        import fcntl  # here: `state` never locks
        try:
            fd = posixos.open(".", _DIR_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            raise errors.ContainerNotFound(self.id)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if posixos.fstat(fd).st_nlink == 0:  # deleted by the holder we waited for
            posixos.close(fd)
            raise errors.ContainerNotFound(self.id)
        self._lock_fd = fd
        return fd

    def save(self, oci):
        """Record the facts about the init (self.facts) and the OCI state (a
        dict without pid and status: those are derived, never recorded):
        init first, then state.json, each renamed into place, so that a
        create killed at any point leaves both or no complete record."""
        self.facts = {k: str(v) for k, v in self.facts.items()}
        self.write(INIT_FILE, "".join(f"{k} {v}\n" for k, v in self.facts.items()).encode())
        head, tail = _oci_parts(oci)
        self.write(STATE_FILE, f"{head}\n{tail}".encode())
        self.oci_parts = head, tail

    def record_cgroup(self, paths, made, unit=None):
        """Record the cgroup directories (and those create makes for them, and
        a systemd unit) before they exist: a create killed halfway still leaves
        delete the means to remove them. The only record of the cgroup."""
        lines = [f"path {k} {v}" for k, v in paths.items()]
        lines += [f"made {d}" for d in made]
        if unit:
            lines.append(f"systemd {unit}")
        self.write(CGROUP_FILE, ("\n".join(lines) + "\n").encode())
        self._cgroup = None

    def record_mount(self, mount_id, unique, info_id, path):
        """Record a mount create is about to attach in the runtime's mount
        namespace: its id (unique: the never reused one of statx), its id
        in /proc/self/mountinfo, and where."""
        from ocirt import jsonio
        fd = posixos.open(MOUNTS_FILE, posixos.O_WRONLY | posixos.O_APPEND | posixos.O_CREAT
                          | posixos.O_NOFOLLOW | posixos.O_CLOEXEC, 0o600, dir_fd=self.fd)
        try:  # one write: a create killed at any point leaves a whole line or none
            # the path as a JSON string: a root.path may hold a newline
            posixos.write(fd, f"{mount_id} {'unique' if unique else 'mountinfo'} {info_id} "
                          f"{jsonio.dumps(path)}\n".encode())
        finally:
            posixos.close(fd)

    def mounts_record(self):
        """[(id, unique, mountinfo id, path)] of record_mount, [] if none."""
        try:
            text = self.read(MOUNTS_FILE)
        except FileNotFoundError:
            return []
        from ocirt import jsonio
        out = []
        for line in text.split("\n"):
            if line:
                mid, kind, info_id, path = line.split(" ", 3)
                out.append((int(mid), kind == "unique", int(info_id), jsonio.loads(path)))
        return out

    def cgroup_made(self):
        """A list of the cgroup directories create makes whose append() also
        adds each to the record at once (one O_APPEND write), so that a create
        killed at any point leaves delete all it made, and only that."""
        self._cgroup = None
        return _MadeDirs(posixos.open(CGROUP_FILE, posixos.O_WRONLY | posixos.O_APPEND
                                      | posixos.O_NOFOLLOW | posixos.O_CLOEXEC, dir_fd=self.fd))

    def cgroup_record(self):
        """(paths, directories create made, systemd unit or None). A directory
        whose mkdir create began but did not record is counted as made when
        it is an empty cgroup that no other create holds: create was killed
        between the two (else it is another's)."""
        paths, made, making, unit = self._cgroup_record()
        if making:
            from ocirt.linux.cgroups import unclaimed_and_empty
            made = made + [d for d in making if d not in made and unclaimed_and_empty(d)]
        return dict(paths), list(made), unit

    def _cgroup_record(self):
        """The cgroup record as written: (paths, made, making and not known
        to exist, unit); read once. No record: no cgroup."""
        if self._cgroup is None:
            paths, made, making, unit = {}, [], [], None
            try:
                text = self.read(CGROUP_FILE)
            except FileNotFoundError:
                text = ""
            for line in text.split("\n"):  # the writer's separator only (not \x85, \u2028...)
                key, _, value = line.partition(" ")
                if key == "path":
                    name, _, path = value.partition(" ")
                    paths[name] = path
                elif key == "made":
                    made.append(value)
                elif key == "making":
                    making.append(value)
                elif key == "exists" and value in making:
                    making.remove(value)
                elif key == "systemd":
                    unit = value
            self._cgroup = paths, made, making, unit
        return self._cgroup

    def load_config(self):
        from ocirt import jsonio
        try:
            return jsonio.loads(self.read(CONFIG_COPY))
        except FileNotFoundError:
            raise errors.OcirtError(f"container {self.id}: {CONFIG_COPY}: missing")
        except ValueError as e:
            raise errors.OcirtError(f"container {self.id}: {CONFIG_COPY}: invalid JSON: {e}")

    def remove(self):
        """Remove the state directory (it holds only plain files): its entries
        relative to its fd, then the directory itself if it is still the one
        we opened (rmdir never follows a symbolic link, nor removes anything
        but an empty directory)."""
        try:
            names = posixos.listdir(self.fd)
        except FileNotFoundError:
            names = []
        for name in names:
            try:
                posixos.unlink(name, dir_fd=self.fd)
            except FileNotFoundError:
                pass
        mine = posixos.fstat(self.fd)
        self.close()
        try:
            st = posixos.lstat(self.dir)
            if (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev):
                posixos.rmdir(self.dir)
        except FileNotFoundError:
            pass


class _MadeDirs(list):
    """The record's lines: "making D" before the mkdir, then "made D" (or
    "exists D": another made it). A create killed between the mkdir and
    its "made" leaves a "making" that cgroup_record resolves."""

    def __init__(self, fd):
        super().__init__()
        self.fd = fd

    def intend(self, d):
        posixos.write(self.fd, f"making {d}\n".encode())

    def exists(self, d):
        posixos.write(self.fd, f"exists {d}\n".encode())

    def append(self, d):
        super().append(d)
        posixos.write(self.fd, f"made {d}\n".encode())

    def close(self):
        if self.fd >= 0:
            posixos.close(self.fd)
            self.fd = -1


def write_atomic(dir_fd, name, data, mode=0o600):
    """Write the file <name> in the directory dir_fd at once: a temporary file
    of a new random name, made with O_EXCL|O_NOFOLLOW (nothing planted at that
    name is followed or reused, in a directory others may write too), then
    renamed over <name> (rename replaces a symbolic link, never follows it)."""
    for _ in range(8):
        tmp = f".{name[:200]}.{posixos.urandom(6).hex()}.tmp"
        try:
            fd = posixos.open(tmp, posixos.O_WRONLY | posixos.O_CREAT | posixos.O_EXCL
                              | posixos.O_NOFOLLOW | posixos.O_CLOEXEC, mode, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(17, "File exists", tmp)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[posixos.write(fd, view):]
        finally:
            posixos.close(fd)
        posixos.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            posixos.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def parse_facts(text):
    """The init record's "key value" lines as a dict of strings."""
    facts = {}
    for line in text.split("\n"):
        key, _, value = line.partition(" ")
        if key:
            facts[key] = value
    return facts


def indent(text):
    """Compact JSON text indented as Go's json.MarshalIndent(v, "", "  ")
    does, without parsing it (`state` imports no json): only what lies
    between strings is rewritten."""
    out, depth, inside = [], 0, False
    for k, part in enumerate(text.split('"')):
        if k:
            out.append('"')
        if inside:
            out.append(part)
            # an odd run of backslashes escapes the next quote: still inside
            inside = (len(part) - len(part.rstrip("\\"))) % 2 == 1
            continue
        i = 0
        while i < len(part):
            ch = part[i]
            if ch in "{[":
                if part[i + 1:i + 2] in ("}", "]"):  # empty: stays {} or []
                    out.append(part[i:i + 2])
                    i += 2
                    continue
                depth += 1
                out.append(ch + "\n" + "  " * depth)
            elif ch in "}]":
                depth -= 1
                out.append("\n" + "  " * depth + ch)
            elif ch == ",":
                out.append(",\n" + "  " * depth)
            elif ch == ":":
                out.append(": ")
            else:
                out.append(ch)
            i += 1
        inside = True
    return "".join(out)


def _oci_parts(oci):
    """state.json's two parts: runc's containerState as the JSON writer emits
    it (Go's encoding: compact, its field order, annotations sorted and left
    out when empty), split where the live pid and status go. Each part is an
    object the writer emitted, its members cut at the brace: the first ends
    with a comma, the second begins with the next member."""
    from ocirt import jsonio
    head = jsonio.dumps_go({"ociVersion": oci.get("ociVersion", ""), "id": oci.get("id", "")})
    rest = {"bundle": oci.get("bundle", ""), "rootfs": oci.get("rootfs", ""),
            "created": oci.get("created", "")}
    if oci.get("annotations"):
        rest["annotations"] = dict(sorted(oci["annotations"].items()))
    rest["owner"] = oci.get("owner", "")
    tail = jsonio.dumps_go(rest)
    return head[:-1] + ",", tail[1:]


def _record_problem(facts, head, tail):
    """Why a record cannot be used, or None. Cheap: `state` prints the
    parts of state.json as they are, without parsing them; that they are
    framed as _oci_parts writes them (two lines: an object's opening
    members, its closing ones) is checked here, whatever the separators."""
    for key in ("pid", "starttime"):
        if not facts.get(key, "").isdigit():
            return f"{INIT_FILE}: no valid {key}"
    if not (head.startswith("{") and head.endswith(",") and tail.endswith("}")
            and "\n" not in tail):
        return f"{STATE_FILE}: not a state written by ocirt"
    return None


def _open_dir(root, cid):
    """<root>/<id> opened with O_NOFOLLOW|O_DIRECTORY, if it is a directory we own."""
    d = posixos.path.join(root, cid)
    try:
        fd = posixos.open(d, _DIR_FLAGS)
    except FileNotFoundError:
        raise errors.ContainerNotFound(cid)
    except NotADirectoryError:
        what = "a symbolic link" if posixos.path.islink(d) else "not a directory"
        raise errors.OcirtError(f"refusing state directory {d}: {what}")
    except OSError as e:
        raise errors.OcirtError(f"cannot open state directory {d}: {e.strerror}")
    st = posixos.fstat(fd)
    if st.st_uid != posixos.geteuid():
        posixos.close(fd)
        raise errors.OcirtError(f"refusing state directory {d}: owned by uid {st.st_uid}")
    return fd


def load(root, cid, broken=False):
    """The container <cid>, or ContainerNotFound. A record that cannot be
    parsed is an error, unless `broken` (delete --force removes such a
    container): then it comes with its `problem` and no facts."""
    check_id(cid)
    c = Container(root, cid, _open_dir(root, cid))
    try:
        c._read_record()
    except errors.OcirtError as e:
        c.problem = str(e)
    if c.problem and not broken:
        c.close()
        problem = c.problem if c.problem.startswith("container ") else \
            f"container {cid}: {c.problem}"
        raise errors.OcirtError(f"{problem} (delete --force removes it)")
    return c


def new(root, cid, lock=False):
    """Reserve <cid>: mkdir fails if another create got there first. With
    lock, the container's lock is taken at once (create holds it until it is
    done: until then the directory reads as "creating")."""
    check_id(cid)
    ensure_root(root)
    d = posixos.path.join(root, cid)
    try:
        posixos.mkdir(d, 0o700)
    except FileExistsError:
        raise errors.ContainerExists(cid)
    except OSError as e:
        raise errors.OcirtError(f"cannot create state directory {d}: {e.strerror}")
    c = Container(root, cid, _open_dir(root, cid))
    if lock:
        c.lock()
    return c


def list_all(root, warn=None):
    """The containers in root, each with its status derived (and its
    directory closed). One that cannot be read is left out, and told to
    warn(message) (runc too lists what it can)."""
    try:
        names = sorted(posixos.listdir(root))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise errors.OcirtError(f"cannot list the state root {root}: {e.strerror}")
    out = []
    for name in names:
        try:
            c = load(root, name)
        except (errors.ContainerNotFound, errors.UsageError):
            continue  # deleted since listdir, or not a container's name
        except errors.OcirtError as e:
            if warn is not None:
                warn(str(e))
            continue
        try:
            c.status  # derived now: it may read the record again (a create that ended)
        except errors.OcirtError as e:
            if warn is not None:
                warn(str(e))
            continue
        finally:
            c.close()
        out.append(c)
    return out
