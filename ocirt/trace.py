"""--trace FILE (or OCIRT_TRACE=FILE): where a command's time goes, as Chrome
trace events, for ui.perfetto.dev and chrome://tracing.

Off, it costs one test per trace point: the points read ``ocirt.TRACE``,
None unless ocirt.cli.run_command set it to a Trace (this module is imported
only then), and call it only when it is set:

    ocirt.TRACE and ocirt.TRACE.begin("mounts")
    ...
    ocirt.TRACE and ocirt.TRACE.end("mounts")

Events: one "X" (complete) event per span, ts and dur in microseconds of
CLOCK_MONOTONIC (the same clock in every process of the machine; a process
in a time namespace subtracts its monotonic offset), pid and tid the host
pid; one "M" process_name event per process. The command's process and the
processes it forks (stage-1, the container's init, exec's process) each
write their own events: a child keeps them in memory and writes them
before it execs or exits (and the init once more before it waits for
start, so that a container deleted before start still shows its setup).

The file: several commands (create, start, delete...) and the processes
they fork append to one FILE, opened O_APPEND|O_NOFOLLOW|O_CLOEXEC (created
0600 with O_EXCL by the first, which writes "[" and its process_name
event); each later write is one write(2) of ",\\n{event}" per event, which
O_APPEND keeps whole and unmixed. So the file is Chrome's "JSON Array
Format" without its closing bracket, and without a trailing comma: its
text plus "]" is always a valid JSON document (load() reads it so). What
this relies on: the Trace Event Format says the final "]" is optional
(Chrome's trace viewer adds it), and Perfetto's JSON tokenizer accepts a
file that ends inside the top-level array (JsonTraceTokenizer: end of
file inside the traceEvents array of the array format is complete).

The container's side: the file's fd is close-on-exec, and is the one fd
become() keeps besides the container's own (ocirt.become: keep()), so the
container's process never has it; the host's /proc, held as an O_PATH fd
until then, tells each forked process its host pid (its own pid namespace's
/proc would give 1). Under a seccomp filter that may refuse write(2), a
process writes what it has before loading the filter and nothing after
(filtering()).
"""
import posix
import time

from ocirt import jsonio
from ocirt import posixos  # os without its import cost (see there)


class Trace:
    """The events of this process and the file they go to."""

    def __init__(self, path, process):
        self.path = path
        self.fd, created = _open(path)
        self.proc_fd = -1
        try:
            self.proc_fd = posixos.open("/proc", posixos.O_PATH | posixos.O_DIRECTORY
                                        | posixos.O_CLOEXEC)
        except OSError:  # no /proc: a forked process names itself by getpid()
            pass
        self.pid = posixos.getpid()
        self.offset = 0  # CLOCK_MONOTONIC's offset in this process's time namespace
        self.name = process
        self.named = False
        self.stack = []  # open spans: [name, start ns, args]
        self.events = []
        self.write_ok = True
        posix.register_at_fork(after_in_child=self._forked)
        if created or posixos.fstat(self.fd).st_size == 0:
            # the array's head and the first event, after which every event
            # follows a comma (O_EXCL: the command that made the file writes
            # it; an empty file given, mktemp's, gets it too)
            posixos.write_all(self.fd, ("[" + self._name_event()).encode())
            self.named = True

    # ---------------------------------------------------------- trace points

    def begin(self, name, **args):
        self.stack.append([name, time.monotonic_ns(), args])
        return True

    def end(self, name=None, **args):
        """End span `name` (the innermost one when None), and any still open
        inside it (they say "unfinished": an error left them)."""
        now = time.monotonic_ns()
        names = [s[0] for s in self.stack]
        if name is not None and name not in names:
            return
        while self.stack:
            span = self.stack.pop()
            if span[0] == name or name is None:
                span[2].update(args)
                self._complete(span, now)
                return
            span[2]["unfinished"] = True
            self._complete(span, now)

    def next(self, name, **args):
        """End the innermost span and begin `name` at the same instant."""
        now = time.monotonic_ns()
        if self.stack:
            self._complete(self.stack.pop(), now)
        self.stack.append([name, now, args])

    def process(self, name):
        """Name this (forked) process: "stage-1", "init", "tenant"; its
        outermost span, begun at the fork, takes the name too."""
        self.name = name
        if self.stack:
            self.stack[0][0] = name

    def profile(self, seccomp):
        """The config's linux.seccomp (a config.Seccomp or None), which
        filtering() will ask whether write(2) stays allowed."""
        self.write_ok = allows_write(seccomp)

    def filtering(self):
        """A seccomp filter is about to be loaded: begin its span; if the
        profile may refuse (or kill on) write(2), write everything now and
        nothing more from this process."""
        if not self.write_ok:
            self.begin("seccomp", loaded_after_last_event=True)
            self.flush(final=True, cut=True)
            self.fd = -1
            return
        self.begin("seccomp")

    def keep(self):
        """The fds become() must keep open: the file's (close-on-exec). The
        host's /proc is not kept: become closes it."""
        self.proc_fd = -1
        return (self.fd,) if self.fd >= 0 else ()

    def flush(self, final=False, cut=False):
        """Write the events ended so far; final (an exec or an exit is next):
        end the spans still open first; cut: an error ends them, and the
        inner ones say "unfinished"."""
        if final:
            now = time.monotonic_ns()
            while self.stack:
                span = self.stack.pop()
                if cut and self.stack:
                    span[2]["unfinished"] = True
                self._complete(span, now)
        if self.fd < 0 or not (self.events or not self.named):
            return
        if not self.named:
            self.events.insert(0, self._name_event())
            self.named = True
        data = "".join(",\n" + e for e in self.events).encode()
        self.events = []
        try:
            posixos.write(self.fd, data)  # one write: O_APPEND keeps it whole
        except OSError:
            pass  # a full disk, a filter: the trace is lost, the command goes on

    def close(self):
        """The command ends: its spans and events out (one still open but
        the command's own was cut short by an error)."""
        self.flush(final=True, cut=True)

    # ------------------------------------------------------------ internals

    def _complete(self, span, now):
        name, start, args = span
        ev = {"name": name, "ph": "X", "ts": (start - self.offset) / 1000,
              "dur": (now - start) / 1000, "pid": self.pid, "tid": self.pid}
        if args:
            ev["args"] = args
        self.events.append(jsonio.dumps(ev))

    def _name_event(self):
        return jsonio.dumps({"name": "process_name", "ph": "M", "pid": self.pid,
                             "tid": self.pid, "args": {"name": self.name}})

    def _forked(self):
        """In a forked child: none of the parent's events nor spans, its own
        host pid and clock offset, and a span for its whole life."""
        now = time.monotonic_ns()
        self.events = []
        self.stack = []
        self.named = False
        self.name = f"{self.name} (child)"
        try:
            self.pid = int(posixos.readlink("self", dir_fd=self.proc_fd))
        except (OSError, ValueError):
            self.pid = posixos.getpid()
        self.offset = _monotonic_offset(self.proc_fd)
        self.stack.append([self.name, now, {}])


def _open(path):
    """The trace file for appending: made 0600 by the first command (O_EXCL:
    only it writes the head), never through a symlink: (fd, created)."""
    flags = posixos.O_WRONLY | posixos.O_APPEND | posixos.O_NOFOLLOW | posixos.O_CLOEXEC
    try:
        return posixos.open(path, flags | posixos.O_CREAT | posixos.O_EXCL, 0o600), True
    except FileExistsError:
        return posixos.open(path, flags), False


def _monotonic_offset(proc_fd):
    """ns to subtract from this process's CLOCK_MONOTONIC to get the host's:
    0 outside a time namespace (linux.timeOffsets puts the init in one)."""
    if proc_fd < 0:
        return 0
    try:
        data = posixos.read_regular("self/timens_offsets", 4096, dir_fd=proc_fd)
    except OSError:
        return 0
    for line in data.decode().splitlines():
        f = line.split()
        if len(f) == 3 and f[0] in ("monotonic", "1"):
            return int(f[1]) * 1_000_000_000 + int(f[2])
    return 0


_PASS = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG")


def allows_write(seccomp):
    """Whether a profile surely lets write(2) through: every rule naming it
    allows it (one without conditions), or none names it and the default
    allows. A filter that returns an error is harmless, but one that kills
    is not: tracing must not change what the container does."""
    if seccomp is None:
        return True
    rules = [r for r in seccomp.syscalls if "write" in r.names]
    if rules:
        return all(r.action in _PASS for r in rules) and any(not r.args for r in rules)
    return seccomp.default_action in _PASS


def load(path):
    """The events of a trace file (a list of dicts), read as the importers
    do: its text plus the closing "]"."""
    with open(path, "rb") as f:
        text = f.read().decode()
    return jsonio.loads(text if text.rstrip().endswith("]") else text + "]")
