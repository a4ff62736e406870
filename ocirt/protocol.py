"""The conversations between ``ocirt create`` or ``ocirt exec`` and the
processes they fork.

Both run one spawn engine: a Plan (below; its kind is INIT or TENANT) made
before the fork, stage-1 (ocirt.stage1: cgroups, namespaces, the fork into
the pid namespace) and a last stage, the container's init (ocirt.init) or
exec's process (ocirt.become.tenant), both made the container's process by
ocirt.become.

Creation forks once or twice, without re-executing the interpreter. Usually
once: clone3 makes the container's init in its new namespaces and its cgroup2
directory (CLONE_NEW* and CLONE_INTO_CGROUP), and that child is stage-2 at
once: it does stage-1's joins itself (GO, its v1 cgroups, the namespaces given
by path), and there is no PID message (the parent has the pid from clone3).
A user namespace (its maps come between its making and the rest), a pid
namespace given by path (setns only moves the children) or a time namespace
(its offsets are written before any process enters it) need stage-1 between
them. The whole conversation, with stage-1:

    parent (ocirt create)       stage-1 (ns setup)            stage-2 (container init, pid 1)
    ---------------------       ------------------            -------------------------------
    fork (clone3 with CLONE_INTO_CGROUP: the child is born in the container's
    cgroup2 directory) ------> imports the container side
                                (ocirt.stage1, ocirt.init),
                                waits for GO
    sets the device rules
    GO -----------------------> joins its v1 cgroups ("0" into each `tasks`)
                                joins namespaces by path
                                (user namespace first)
                                unshare(CLONE_NEWUSER) if asked
                    <---------- USERNS
    writes uid_map/gid_map
    MAPPED -------------------> unshares the other namespaces
                                (all but cgroup)
                                fork ------------------------> (is pid 1 of the new pid ns,
                    <---------- PID {pid: host pid of stage-2}  born in the cgroups)
                                exits 0                       unshare(CLONE_NEWCGROUP)
    with a user namespace and bind mounts: joins the init's
    mount namespace (as host root), clones each bind source
    (flags, idmapping) and returns to its own
    MOUNT_SOURCE {i} + fd, one per bind mount i --------------> builds the rootfs (attaches them)
                    <------------------------------------------ HOOKS (only if the config has
                                                              prestart, createRuntime or
                                                              createContainer hooks)
    runs prestart and createRuntime
    hooks (runtime namespaces)
    HOOKS_DONE {state} ---------------------------------------> runs createContainer hooks
                                                              (container namespaces)
                                                              pivot_root, hostname, user,
                                                              rlimits, ...
                    <------------------------------------------ SECCOMP_FD + fd (only for
                                                              SCMP_ACT_NOTIFY filters, which
                                                              are loaded here, before READY)
    sends fd and state to the
    listenerPath
                    <------------------------------------------ READY
    writes state, exits                                       blocks in accept() on exec.sock

    ocirt start: connects to exec.sock, unlinks it, sends b"S"
                                                              runs startContainer hooks, resets
                                                              signals, closes stray fds, then
                                                              sends b"X" (executing), loads the
                                                              late seccomp filter and execs
                                                              process.args (with --init: the
                                                              built-in init from its sealed
                                                              memfd, which runs process.args
                                                              as its child and reports a
                                                              failed execve the same way)
    returns at b"X", as runc's start returns once its init is released; with poststart hooks
    (which must run after the process is executed) it reads on to EOF instead: the accepted
    socket is close-on-exec, so EOF means the exec happened. On failure stage-2 sends
    b"E" + message (after b"X" only the filter's load or execve can fail) and exits 127.
    Waiting for the exec would cost start the exec itself: the kernel frees the init's
    memory (a copy of the create process) inside execve, about 1 ms here.

`ocirt exec` (ocirt.container.exec) has a shorter conversation on its own
channel, with the same stage-1 (kind TENANT: no GO, no user namespace of
its own):

    parent (ocirt exec)         stage-1                       the process
    -------------------         -------                       -----------
    subreaper (unless -d)
    fork (born in the cgroup2
    directory) --------------> joins the v1 cgroups,
                                setns() into the init's
                                namespaces, user first
                                fork ------------------------> (inside the pid namespace)
                    <---------- PID {pid}                      its attributes: rlimits,
                                exits 0                        user, caps, seccomp, ...
                    <------------------------------------------ SECCOMP_FD + fd (listener)
                    <------------------------------------------ TENANT_READY (paused
    moves it into the frozen                                  container only: the parent
    cgroup, TENANT_PLACED -----------------------------------> places it, it freezes
                                                              until resume)
    EOF: it has exec'd (the channel is close-on-exec)          execve
    waits for it (it became the parent's child when stage-1 exited)

Any stage may send ERROR {cls, msg} instead and exit; the parent re-raises
it as the ocirt.errors class of that name. EOF on the channel before READY
means a stage died. Messages are JSON objects, framed over SOCK_SEQPACKET
datagrams (MORE and LAST below), so that no size truncates one; the children
never print by themselves.
"""

import _socket

from ocirt import errors, posixos
from ocirt.state import EXEC_SOCKET  # noqa: F401 - part of the protocol

GO = "GO"
USERNS = "USERNS"
MAPPED = "MAPPED"
PID = "PID"
HOOKS = "HOOKS"
HOOKS_DONE = "HOOKS_DONE"
SECCOMP_FD = "SECCOMP_FD"
MOUNT_SOURCE = "MOUNT_SOURCE"
READY = "READY"
TENANT_READY = "TENANT_READY"
TENANT_PLACED = "TENANT_PLACED"
ERROR = "ERROR"

# Framing: each datagram is a flag byte and up to FRAGMENT bytes of the
# message's JSON text; MORE on all but the last. A message (the state with
# its annotations goes to the hooks) may be as large as MAX_MESSAGE; an
# error's text is cut to MAX_ERROR characters.
MORE = b"+"
LAST = b"."
FRAGMENT = 32768
MAX_MESSAGE = 64 << 20
MAX_ERROR = 4096
_MSG_TRUNC = 0x20

START = b"S"
EXECUTING = b"X"
EXEC_FAILED = b"E"


def exec_failed_frame(head):
    """How the exec stub reports a failed execve on start's stream:
    EXEC_FAILED, head, the error's text (ocirt.linux.execstub)."""
    return EXEC_FAILED.decode() + head, ""


class Channel:
    """One end of the parent/child socketpair."""

    def __init__(self, sock):
        self.sock = sock
        self.pending = []  # (message, fds) received early (see wait_for)

    # The C modules _socket and _json (through ocirt.jsonio) are used instead
    # of socket and json: those import enum and re, too heavy for create.

    @classmethod
    def pair(cls):
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        return cls(a), cls(b)

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()

    def send(self, kind, **fields):
        from ocirt import jsonio
        fields["t"] = kind
        try:
            self._send_framed(jsonio.dumps(fields).encode())
        except OSError:
            # The other side is gone; if it said why before leaving, say that.
            try:
                msg = self.recv()
            except (OSError, errors.OcirtError):
                msg = None
            check_message(msg, ERROR)
            raise

    def _send_framed(self, data, ancillary=()):
        """<data> as datagrams of at most FRAGMENT bytes after their flag byte:
        MORE on every one but the last, LAST on the last; ancillary data
        (an fd) goes with the first."""
        if len(data) > MAX_MESSAGE:
            raise errors.SetupError(f"protocol: a message of {len(data)} bytes is over "
                                    f"the limit of {MAX_MESSAGE}")
        view = memoryview(data)
        while True:
            chunk, view = view[:FRAGMENT], view[FRAGMENT:]
            flag = MORE if len(view) else LAST
            if ancillary:
                self.sock.sendmsg([flag, chunk], ancillary)
                ancillary = ()
            else:
                self.sock.sendmsg([flag, chunk])
            if flag is LAST:
                return

    def send_fd(self, kind, fd, **fields):
        from ocirt import jsonio
        fields["t"] = kind
        self._send_framed(jsonio.dumps(fields).encode(),
                          [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                            fd.to_bytes(4, "little", signed=True))])

    def wait_for(self, kind):
        """The next message of <kind>; messages of other kinds that come first
        are kept for the following receives. (stage-2 may report before
        stage-1 has sent PID: they are separate processes.)"""
        held = []
        try:
            while True:
                msg, fds = self.recv_with_fds()
                if msg is None or msg["t"] in (kind, ERROR):
                    return check_message(msg, kind)
                held.append((msg, fds))
        finally:
            self.pending = held + self.pending

    def recv_with_fds(self):
        """(message, [fds]) or (None, []) at EOF."""
        if self.pending:
            return self.pending.pop(0)
        from ocirt import jsonio
        parts = []
        size = 0
        fds = []
        while True:
            try:
                data, anc, flags, _addr = self.sock.recvmsg(FRAGMENT + 1,
                                                            _socket.CMSG_SPACE(4 * 4))
            except ConnectionResetError:
                # the other side died with a message of ours unread: as EOF
                data, anc, flags = b"", [], 0
            for level, typ, raw in anc:
                if level == _socket.SOL_SOCKET and typ == _socket.SCM_RIGHTS:
                    fds += [int.from_bytes(raw[i:i + 4], "little", signed=True)
                            for i in range(0, len(raw) - len(raw) % 4, 4)]
            if not data:
                if parts:
                    raise errors.SetupError("protocol: the other side left in the middle "
                                            "of a message")
                return None, fds
            if flags & _MSG_TRUNC or data[:1] not in (MORE, LAST):
                raise errors.SetupError("protocol: a malformed message")
            size += len(data) - 1
            if size > MAX_MESSAGE:
                raise errors.SetupError(f"protocol: a message over the limit of "
                                        f"{MAX_MESSAGE} bytes")
            parts.append(data[1:])
            if data[:1] == LAST:
                break
        return jsonio.loads(b"".join(parts)), fds

    @staticmethod
    def exec_failed_frame(head):
        """How the exec stub reports a failed execve on this channel: an
        ERROR message whose msg is head and the error's text, which the
        stub writes between the two halves (ocirt.linux.execstub)."""
        from ocirt import jsonio
        text = jsonio.dumps({"t": ERROR, "cls": "SetupError", "msg": head + "\0"})
        prefix, suffix = text.split("\\u0000")
        return LAST.decode() + prefix, suffix

    def send_error(self, err):
        """An ERROR message: the error's class, its text, and its JSON path
        and spec section apart (the parent raises the same error, which an
        API caller reads as attributes: check_message)."""
        extra = {}
        if isinstance(err, errors.OcirtError):
            cls = type(err).__name__
            if err.source:  # a file's error: one text, the path after the file's name
                msg = str(err)
            else:
                msg = err.msg
                if err.path:
                    extra["path"] = err.path[:MAX_ERROR]
            if err.section:
                extra["section"] = err.section[:200]
        else:
            cls, msg = "SetupError", str(err)
        if len(msg) > MAX_ERROR:  # a 1 MB path in a message helps nobody
            msg = msg[:MAX_ERROR // 2] + " [...] " + msg[-MAX_ERROR // 2:]
        try:
            self.send(ERROR, cls=cls, msg=msg, **extra)
        except OSError:
            pass

    def recv(self):
        """The next message as a dict, or None at EOF."""
        return self.recv_with_fds()[0]

    def expect(self, kind):
        """Receive a message of <kind>; raise the child's error or a death notice."""
        return check_message(self.recv(), kind)


def connect_unix(directory, name):
    """A stream socket connected to the unix socket <directory>/<name>, named
    relative to its directory: a long path may not fit sun_path (108 bytes).
    OSError as connect(2) gives it; the socket is close-on-exec."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    cwd = posixos.open(".", posixos.O_PATH | posixos.O_CLOEXEC)
    try:
        posixos.chdir(directory)
        s.connect(name)
    except OSError:
        s.close()
        raise
    finally:
        posixos.fchdir(cwd)
        posixos.close(cwd)
    return s


class SetupProcessDied(errors.SetupError):
    """EOF on the channel where a message was due: the other side is gone
    (the caller can tell how it died: ocirt.container.create)."""


def check_message(msg, kind):
    """<msg> if it is of <kind>; else the error it carries, or a death notice (None)."""
    if msg is None:
        raise SetupProcessDied("container setup process exited unexpectedly")
    if msg["t"] == ERROR:
        cls = errors.BY_NAME.get(msg.get("cls"), errors.SetupError)
        raise cls(msg.get("msg", "?"), msg.get("path"), section=msg.get("section"))
    if msg["t"] != kind:
        raise errors.SetupError(f"protocol error: expected {kind}, got {msg['t']}")
    return msg


INIT = "init"      # Plan.kind: create's, whose last stage is the container's init
TENANT = "tenant"  # exec's, whose last stage is a new process in a running container


class Plan:
    """What create or exec prepared for its children before forking (they
    inherit it): one type for both, as their stages are one engine
    (ocirt.stage1, then ocirt.init or ocirt.become.tenant).

    Here rather than in the child side's modules so that the parent need not
    import them: its children do, after the fork, while create's parent sets
    the device rules."""

    def __init__(self, kind, cfg, chan, ns_fds=(), cgroup_paths=None, caps=None,
                 seccomp=None, preserve_fds=0, console=None, exec_sock=None,
                 no_pivot=False, keyring=None, idmap_fds=None, mount_sources=(),
                 extra_env=None, late_join=False):
        self.kind = kind            # INIT or TENANT
        self.cfg = cfg
        self.chan = chan            # child end of the protocol.Channel
        self.ns_fds = ns_fds        # [(namespace type, fd)] to join, in order; exec's
                                    # last may be ("root", fd): the init's root to chroot to
        self.cgroup_paths = cgroup_paths or {}
        self.in_unified = False     # set by the parent at the fork: born in the cgroup2 directory
        self.caps = caps            # {set: mask} to grant (capabilities.grantable), or None
        self.seccomp = seccomp      # a built ocirt.linux.seccomp.Filter, or None
        self.preserve_fds = preserve_fds
        self.console = console      # the console socket (process.terminal), or None
        # create's init only
        self.exec_sock = exec_sock  # listening socket for `start`
        self.no_pivot = no_pivot
        self.keyring = keyring      # name of a new session keyring, or None
        self.idmap_fds = idmap_fds or {}  # mount index -> user namespace fd
        self.mount_sources = mount_sources  # indices of the mounts whose source create
                                            # sends (MOUNT_SOURCE)
        self.extra_env = extra_env or {}  # added to process.env (LISTEN_FDS)
        self.init = None            # create --init: (sealed memfd of the built-in init,
                                    # signal its child's process group?) (ocirt.linux.pid1)
        self.stub_fd = -1           # set by the init: its sealed exec stub (ocirt.linux.execstub)
        self.start_conn = None      # set by the init: start's connection, once it came
        # exec's process only
        self.late_join = late_join  # join the (frozen) cgroup as the last step
