"""ocirt's Python API: `ocirt.Runtime`, one object per state root.

    import ocirt
    rt = ocirt.Runtime()                     # /run/ocirt as root, as the CLI
    rt.create("web", "/srv/bundles/web")     # the init's host pid
    rt.start("web")
    print(rt.state("web").status)            # "running"
    rt.kill("web", "TERM")
    rt.delete("web", force=True)

Each method is one operation of the runtime-spec (create, start, state,
kill, delete) or of runc's CLI (run, exec, list, ps, pause, resume, update,
events, features), with the same rules and the same errors, raised as the
exceptions of ocirt.errors (re-exported by the package): ConfigError with
the JSON path and the runtime-spec section of the rule, ContainerNotFound
and ContainerExists with the id, InvalidState with the id and the status
that refused the operation.

The `ocirt` command stands on this class: each of its commands is parsing,
one call here and the output (ocirt.cli.commands). So the module stays on
the hot commands' path (tests/unit/test_imports.py): it imports what every
call needs at its top, and each method the modules of its operation; the
dataclass of `state()` (ocirt.api) is imported by that method only, since
the CLI prints runc's text (state_text) and never builds one.

Processes: create, run and exec fork the container's setup processes from
the calling process, as the CLI does; run and exec in the foreground wait
for the container's process and forward the caller's signals to it while
they wait (the previous handlers are put back after). Call them from the
main thread when signals should be forwarded (Python lets only the main
thread set handlers; from another thread nothing is forwarded).
"""
import posix

from ocirt import errors
from ocirt import posixos  # os without its import cost (see there)
from ocirt import state as store

TYPE_CHECKING = False  # mypy reads the block below; importing typing costs ~10 ms
if TYPE_CHECKING:
    import builtins
    from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

    from ocirt.api import State
    from ocirt.config import Finding

    Method = TypeVar("Method", bound=Callable[..., Any])


def _closing(method: "Method") -> "Method":
    """A call that closes what it opened: every container record an
    operation loads holds an fd (and, while it acts, the container's lock),
    which the CLI's process gives back by exiting; an API caller goes on
    (ocirt.state.close_opened)."""
    def call(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return method(*args, **kwargs)
        finally:
            store.close_opened()
    call.__name__, call.__qualname__, call.__doc__ = \
        method.__name__, method.__qualname__, method.__doc__
    call.__wrapped__ = method  # type: ignore[attr-defined]
    return call  # type: ignore[return-value]


class Runtime:
    """The containers of one state root.

    root: the state directory, as `ocirt --root`; None is the CLI's default
    (/run/ocirt for root, $XDG_RUNTIME_DIR/ocirt for a user; UsageError
    when neither applies). systemd_cgroup: place new containers through
    systemd, as `--systemd-cgroup` (cgroupsPath "slice:prefix:name")."""

    __slots__ = ("_root", "systemd_cgroup")

    def __init__(self, root: "str | None" = None, *, systemd_cgroup: bool = False) -> None:
        self._root = root
        self.systemd_cgroup = systemd_cgroup

    @property
    def root(self) -> str:
        """The state root: as given, else default_root(), asked when a call
        needs it (validate and features need none)."""
        if self._root is None:
            self._root = default_root()
        return self._root

    def __repr__(self) -> str:
        return f"Runtime(root={self._root!r}, systemd_cgroup={self.systemd_cgroup})"

    # --- the runtime-spec's operations ---
    @_closing
    def create(self, id: str, bundle: str = ".", *, pid_file: "str | None" = None,
               console_socket: "str | None" = None, no_pivot: bool = False,
               no_new_keyring: bool = False, preserve_fds: int = 0,
               init: bool = False) -> int:
        """Build container <id> from <bundle> and leave its process waiting
        for start; returns the host pid of its init. preserve_fds passes the
        caller's fds 3..3+N-1 (after those of LISTEN_FDS) to the process;
        init: the built-in init is PID 1, the process its child (`--init`)."""
        from ocirt.container.create import create, listen_fds
        check_preserve_fds(preserve_fds, listen_fds())
        self._check_systemd()
        pid: int = create(self.root, id, bundle, pid_file=pid_file,
                          console_socket=console_socket, no_pivot=no_pivot,
                          preserve_fds=preserve_fds, no_new_keyring=no_new_keyring,
                          systemd=self.systemd_cgroup, init=init)
        return pid

    @_closing
    def start(self, id: str) -> None:
        """Run the user's process of a created container (and the poststart hooks)."""
        from ocirt.container.start import start
        start(self.root, id)

    @_closing
    def state(self, id: str) -> "State":
        """The runtime-spec state of container <id>, as an ocirt.State."""
        from ocirt.api import State
        return State.from_json(self.state_json(id))

    @_closing
    def state_json(self, id: str) -> str:
        """The state as compact JSON, byte for byte runc's (its key order)."""
        return store.load(self.root, id).state_json()

    @_closing
    def state_text(self, id: str) -> str:
        """What `runc state` prints: the state indented by two spaces, no final newline."""
        return store.load(self.root, id).state_text()

    @_closing
    def kill(self, id: str, signal: "int | str" = "SIGTERM", *, all: bool = False) -> None:
        """Send <signal> (a number, or a name: "KILL", "SIGKILL", "RTMIN+2";
        0 checks that the init lives) to the container's init; all: to every
        process in its cgroup."""
        from ocirt.container.kill import kill
        kill(self.root, id, parse_signal(signal), all)

    @_closing
    def delete(self, id: str, *, force: bool = False) -> None:
        """Remove a stopped (or created) container; force: kill it first,
        whatever its status."""
        from ocirt.container.delete import delete
        delete(self.root, id, force)

    # --- runc's other operations ---
    @_closing
    def run(self, id: str, bundle: str = ".", *, detach: bool = False, keep: bool = False,
            pid_file: "str | None" = None, console_socket: "str | None" = None,
            no_pivot: bool = False, no_new_keyring: bool = False,
            preserve_fds: int = 0, init: bool = False) -> int:
        """create and start; in the foreground (not detach), wait for the
        process and return its exit status (128+N for signal N), then delete
        the container unless keep."""
        from ocirt.container.create import listen_fds
        check_preserve_fds(preserve_fds, listen_fds())
        from ocirt.container.run import run
        self._check_systemd()
        return run(self.root, id, bundle, pid_file=pid_file, detach=detach, keep=keep,
                   no_pivot=no_pivot, preserve_fds=preserve_fds,
                   console_socket=console_socket, no_new_keyring=no_new_keyring,
                   systemd=self.systemd_cgroup, init=init)

    @_closing
    def exec(self, id: str, process: "Mapping[str, Any] | Sequence[str]", *,
             detach: bool = False, pid_file: "str | None" = None, preserve_fds: int = 0,
             ignore_paused: bool = False, cgroup: "Sequence[str]" = (),
             console_socket: "str | None" = None) -> int:
        """A new process in a running container; its exit status (0 once it
        runs, with detach). <process> is a runtime-spec process object (a
        dict), or a command (a list of strings) that runs as the container's
        own process does, with its user, environment and capabilities, as
        `runc exec ID COMMAND...` runs it. cgroup: runc's --cgroup forms
        ("sub" or "controller:sub")."""
        from ocirt.container import exec as tenant
        check_preserve_fds(preserve_fds)
        if isinstance(process, (list, tuple)):
            if not process or not all(isinstance(a, str) for a in process):
                raise errors.UsageError("exec: a command is a non-empty list of strings")
            proc = tenant.process_from_flags(self.process_of(id), tuple(process))
        elif isinstance(process, dict):
            proc = process
        else:
            raise errors.UsageError("exec: the process is a process object (dict) or a "
                                    "command (list of strings)")
        return tenant.run(self.root, id, proc, detach=detach, pid_file=pid_file,
                          preserve_fds=preserve_fds, ignore_paused=ignore_paused,
                          sub_cgroup=tuple(cgroup), console_socket=console_socket)

    @_closing
    def list(self, *, warn: "Callable[[str], None] | None" = None) -> "builtins.list[State]":
        """Every container of the root that can be read, by id, with its
        owner's name (runc's list); one that cannot is left out, and told
        to warn(message) when given."""
        from ocirt.api import State
        out = []
        for c in store.list_all(self.root, warn=warn):
            try:
                out.append(State.from_json(c.state_json(), owner=_owner_name(self.root, c.id)))
            except ValueError as e:
                if warn is not None:
                    warn(f"container {c.id}: {store.STATE_FILE}: invalid JSON: {e} "
                         "(delete --force removes it)")
        return out

    @_closing
    def process_of(self, id: str) -> "dict[str, Any]":
        """The process object of the container's config (as created): what
        a command given to exec inherits."""
        return store.load(self.root, id).load_config().get("process") or {}

    @_closing
    def ps(self, id: str) -> "builtins.list[int]":
        """The host pids of the container's processes."""
        from ocirt.container.ps import pids
        return pids(self.root, id)

    @_closing
    def pause(self, id: str) -> None:
        """Freeze every process of a running container (the cgroup freezer)."""
        from ocirt.container.pause import pause
        pause(self.root, id)

    @_closing
    def resume(self, id: str) -> None:
        """Thaw a paused container."""
        from ocirt.container.pause import resume
        resume(self.root, id)

    @_closing
    def update(self, id: str, resources: "Mapping[str, Any]") -> None:
        """Merge <resources> (a linux.resources object of runtime-spec:
        {"memory": {"limit": ...}, "pids": {"limit": ...}, ...}) into the
        container's and apply the sections it names, as `runc update -r`."""
        from ocirt.container.update import update
        if not isinstance(resources, dict):
            raise errors.UsageError("update: resources is a linux.resources object (dict)")
        update(self.root, id, resources)

    @_closing
    def events(self, id: str, *, interval: float = 5.0,
               stats: bool = False) -> "Iterator[dict[str, Any]]":
        """runc's events, as dicts: {"type": "stats", "id", "data"} every
        <interval> seconds and {"type": "oom", "id"} when the OOM killer acts,
        until the container stops; stats: one stats event, then the end.
        "data" is ocirt's stats (ocirt.linux.stats), not runc's JSON layout."""
        from ocirt.container.events import watch
        if interval <= 0:
            raise errors.UsageError("events: the interval must be greater than 0")
        return watch(self.root, id, interval, stats)

    def validate(self, bundle: str = ".", *,
                 console_socket: "str | None" = None) -> "builtins.list[Finding]":
        """What create would refuse in <bundle> (or do other than written),
        without making anything: ocirt.config.Finding records (path,
        message, severity "error" or "warning", the spec section), errors
        first. console_socket: the one create will be given, if any."""
        from ocirt import validate as v
        from ocirt.config import Finding
        from ocirt.container.create import NOT_TOLD
        found: builtins.list[Finding] = v.validate(
            bundle, NOT_TOLD if console_socket is None else console_socket,
            systemd=self.systemd_cgroup)
        try:
            self._check_systemd()  # as create checks it
        except errors.OcirtError as e:
            found.insert(0, Finding("$", e.msg, "error", "runtime.md#create"))
        return found

    @_closing
    def checkpoint(self, id: str, *, image_path: "str | None" = None,
                   work_path: "str | None" = None, leave_running: bool = False,
                   pre_dump: bool = False, parent_path: "str | None" = None,
                   empty_ns: "Sequence[str]" = (), auto_dedup: bool = False,
                   lazy_pages: bool = False, tcp_established: bool = False,
                   ext_unix_sk: bool = False, shell_job: bool = False,
                   file_locks: bool = False, manage_cgroups_mode: "str | None" = None,
                   page_server: "str | None" = None, status_fd: "int | None" = None) -> None:
        """Dump a running container's processes with CRIU into image_path
        (default ./checkpoint), as `runc checkpoint`; without leave_running
        (or pre_dump) the container is deleted once dumped."""
        from ocirt.container.checkpoint import Options, checkpoint
        opts = Options(image_path, work_path, tcp_established, ext_unix_sk, shell_job,
                       file_locks, manage_cgroups_mode, tuple(empty_ns), auto_dedup, lazy_pages)
        checkpoint(self.root, id, opts, leave_running=leave_running, pre_dump=pre_dump,
                   parent_path=parent_path, page_server=page_server, status_fd=status_fd)

    @_closing
    def restore(self, id: str, bundle: str = ".", *, image_path: "str | None" = None,
                work_path: "str | None" = None, detach: bool = False,
                pid_file: "str | None" = None, console_socket: "str | None" = None,
                no_pivot: bool = False, tcp_established: bool = False,
                ext_unix_sk: bool = False, shell_job: bool = False, file_locks: bool = False,
                manage_cgroups_mode: "str | None" = None, empty_ns: "Sequence[str]" = (),
                auto_dedup: bool = False, lazy_pages: bool = False) -> int:
        """Container <id> from a CRIU image of checkpoint, with <bundle>'s
        config, as `runc restore`; detach: return 0 once it runs, else wait
        for it, delete it, and return its exit status (128+N for signal N)."""
        from ocirt.container.checkpoint import Options
        from ocirt.container.restore import restore
        self._check_systemd()
        opts = Options(image_path, work_path, tcp_established, ext_unix_sk, shell_job,
                       file_locks, manage_cgroups_mode, tuple(empty_ns), auto_dedup, lazy_pages)
        status: int = restore(self.root, id, bundle, opts, detach=detach, pid_file=pid_file,
                              console_socket=console_socket, no_pivot=no_pivot)
        return status

    @staticmethod
    def features() -> "dict[str, Any]":
        """The runtime-spec features document of this build on this host."""
        from ocirt.features import document
        return document()

    def _check_systemd(self) -> None:
        if self.systemd_cgroup and not posixos.path.isdir("/run/systemd/system"):
            raise errors.OcirtError("systemd not running on this host, cannot use systemd "
                                    "cgroups manager")


def default_root() -> str:
    """The state root without --root, as runc's: /run/ocirt for root, else
    $XDG_RUNTIME_DIR/ocirt (the user's own runtime directory). Root of a
    user namespace other than the host's is a user there too (rootless
    podman calls the runtime so, with the user's XDG_RUNTIME_DIR: /run is
    not its), unless USER says root (root's shell in a namespace of its own)."""
    env = posix.environ  # os.environ would import os
    xdg = env.get(b"XDG_RUNTIME_DIR", b"").decode("utf-8", "surrogateescape")
    if posix.geteuid() == 0:
        from ocirt.linux import proc
        if not xdg.startswith("/") or env.get(b"USER") == b"root" or proc.host_root():
            return "/run/ocirt"
    elif not xdg.startswith("/"):
        raise errors.UsageError("--root: not given, and XDG_RUNTIME_DIR is not set (to an "
                                "absolute path): a user other than root needs one of them "
                                "for the state")
    return xdg.rstrip("/") + "/ocirt"


def _owner_name(root: str, cid: str) -> str:
    """The user owning <root>/<id>, by name; "#uid" without one (runc's list)."""
    try:
        uid = posix.stat(posixos.path.join(root, cid), follow_symlinks=False).st_uid
    except OSError:
        return ""
    import pwd
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def parse_signal(signal: "int | str") -> int:
    """A signal as kill takes it: a number (0 included), or a name."""
    from ocirt.linux.signals import parse
    if isinstance(signal, bool) or not isinstance(signal, (int, str)):
        raise errors.UsageError(f"invalid signal: {signal!r}")
    return parse(str(signal), zero=True)


def check_preserve_fds(n: int, listen: int = 0) -> int:
    """preserve_fds N passes fds 3..N+2 (after <listen> LISTEN_FDS ones):
    N beyond the open-file limit (RLIMIT_NOFILE's soft value) names fds that
    cannot exist."""
    if n < 0:
        raise errors.UsageError(f"--preserve-fds {n}: must not be negative")
    if n:
        import resource  # only with the flag: create and run do without it otherwise
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if n > soft - 3:
            raise errors.UsageError(f"--preserve-fds {n}: more than the {max(soft - 3, 0)} "
                                    f"fds the open-file limit ({soft}) allows after stdio")
        # Each must be an fd the caller passed (open, and inheritable: ocirt's
        # own are close-on-exec); a gap would hand one of ocirt's fds (the
        # state directory, a namespace) to the container.
        for fd in range(3 + listen, 3 + listen + n):
            try:
                passed = posix.get_inheritable(fd)
            except OSError:
                passed = False
            if not passed:
                raise errors.UsageError(f"--preserve-fds {n}: fd {fd} was not passed by "
                                        "the caller")
    return n
