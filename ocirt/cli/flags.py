"""runc's command line as data: every command, its arguments and its flags.

One table, read by both parsers: ocirt.cli.app builds the click application
from it (options, help, defaults, choices), and ocirt.cli.fast parses the
forms engines use with it, without click. A flag is written here once; its
`dest` is the keyword the function in ocirt.cli.commands takes.

ocirt.cli.fast is on the path of every hot command (state, start, kill,
delete), so this module imports nothing and builds only plain objects.
"""

# What a flag takes (Opt.kind):
SWITCH = "switch"  # no value: True when given
TEXT = "text"      # one value, a string (or one of `choices`)
COUNT = "count"    # one value, a number of fds, given in digits
MANY = "many"      # one value, repeatable: a tuple of the values given


class Opt:
    """One flag. `names`: its spellings ("--bundle", "-b"); `dest`: the keyword
    of the command's function; `minimum`: of a COUNT, the least click accepts
    (None: any integer; the command checks it); `fast`: whether
    ocirt.cli.fast parses it (else a command line with it goes to click);
    `unsupported`: the error for a flag runc has and ocirt refuses;
    `resource`: of an update flag, its (section, key, kind) in linux.resources."""
    __slots__ = ("names", "dest", "kind", "default", "help", "choices", "metavar",
                 "show_default", "minimum", "fast", "unsupported", "resource")

    def __init__(self, names, dest, kind=TEXT, default=None, help="", choices=None,
                 metavar=None, show_default=False, minimum=None, fast=True, unsupported=None,
                 resource=None):
        self.names = names
        self.dest = dest
        self.kind = kind
        self.default = default
        if kind == SWITCH:
            self.default = False
        elif kind == MANY:
            self.default = ()
        self.help = help
        self.choices = choices
        self.metavar = metavar
        self.show_default = show_default
        self.minimum = minimum
        self.fast = fast and unsupported is None
        self.unsupported = unsupported
        self.resource = resource


class Arg:
    """A positional argument. `rest`: it takes every word left (exec's
    command, ps's arguments), passed by keyword; the others are passed by
    position, in order, and one with a default may be left out."""
    __slots__ = ("dest", "metavar", "default", "required", "rest")

    def __init__(self, dest, metavar, default=None, required=True, rest=False):
        self.dest = dest
        self.metavar = metavar
        self.default = () if rest else default
        self.required = required and not rest
        self.rest = rest


class Command:
    """`func`: the name of its function in ocirt.cli.commands; `fast`: whether
    ocirt.cli.fast parses it at all; `interspersed`: whether flags may follow
    the arguments (exec: no, the words after the id are the command's own);
    `unknown`: whether click passes an unknown flag on as an argument."""
    __slots__ = ("name", "func", "help", "args", "opts", "fast", "interspersed", "unknown")

    def __init__(self, name, func, help, args=(), opts=(), fast=True, interspersed=True,
                 unknown=False):
        self.name = name
        self.func = func
        self.help = help
        self.args = args
        self.opts = opts
        self.fast = fast
        self.interspersed = interspersed
        self.unknown = unknown


GLOBAL = (
    Opt(("--root",), "root",  # None: commands.default_root()
        help="root directory for storage of container state [default: /run/ocirt; "
             "$XDG_RUNTIME_DIR/ocirt for a user other than root]"),
    Opt(("--log",), "log", help="append errors and warnings to this file"),
    Opt(("--log-format",), "log_format", default="text", choices=("text", "json"),
        show_default=True, help="log format"),
    Opt(("--debug",), "debug", SWITCH, help="enable debug output"),
    Opt(("--trace",), "trace", metavar="FILE",  # None: $OCIRT_TRACE, else no trace
        help="append the phases of the command and of its container's setup, with their "
             "durations, to FILE as Chrome trace events (ui.perfetto.dev)"),
    Opt(("--systemd-cgroup",), "systemd_cgroup", SWITCH,
        help="use systemd for cgroups (cgroupsPath slice:prefix:name)"),
    Opt(("--version", "-v"), "show_version", SWITCH, help="print the version", fast=False),
)

ID = Arg("cid", "ID")

BUNDLE = Opt(("--bundle", "-b"), "bundle", default=".", show_default=True,
             help="path to the OCI bundle")
CREATE = (
    BUNDLE,
    Opt(("--pid-file",), "pid_file", help="file to write the init's host pid to"),
    Opt(("--console-socket",), "console_socket",
        help="AF_UNIX socket that receives the pty master"),
    Opt(("--no-pivot",), "no_pivot", SWITCH, help="use MS_MOVE + chroot, not pivot_root"),
    Opt(("--no-new-keyring",), "no_new_keyring", SWITCH, help="keep the caller's keyring"),
    Opt(("--preserve-fds",), "preserve_fds", COUNT, default=0, minimum=0,
        help="pass N extra fds (from 3) to the container"),
    Opt(("--init",), "init", SWITCH,
        help="run a tiny built-in init as pid 1: it reaps zombies and forwards signals "
             "to the process (also: annotation org.ocirt.init=true)"),
)
FORMAT = Opt(("--format", "-f"), "fmt", default="table", choices=("table", "json"))
# checkpoint's and restore's (runc's names). Both commands are parsed by
# ocirt.cli.fast, as podman and containerd call them: click's import is
# most of a checkpoint's own cost under qemu (3 s of 5)
CRIU_COMMON = (
    Opt(("--image-path",), "image_path", metavar="DIR",
        help="the CRIU image directory [default: ./checkpoint]"),
    Opt(("--work-path",), "work_path", metavar="DIR",
        help="CRIU's logs and work files [default: the image path]"),
    Opt(("--tcp-established",), "tcp_established", SWITCH, help="established TCP connections"),
    Opt(("--ext-unix-sk",), "ext_unix_sk", SWITCH, help="external unix sockets"),
    Opt(("--shell-job",), "shell_job", SWITCH, help="a shell job (a session of the caller's)"),
    Opt(("--file-locks",), "file_locks", SWITCH, help="file locks"),
    Opt(("--manage-cgroups-mode",), "manage_cgroups_mode",
        choices=("soft", "full", "strict", "ignore"),
        help="CRIU's cgroup mode [default: soft]"),
    Opt(("--empty-ns",), "empty_ns", MANY, metavar="NS",
        help="a namespace CRIU makes empty, not from the image (network)"),
    Opt(("--auto-dedup",), "auto_dedup", SWITCH,
        help="deduplicate the memory of parent images (dump), or punch what "
             "is restored out of the image (restore)"),
    Opt(("--lazy-pages",), "lazy_pages", SWITCH,
        help="leave the memory pages to a lazy-pages server (userfaultfd)"),
)


def _resource(name, section, key, kind, help):
    return Opt((name,), name[2:].replace("-", "_"), help=help, fast=False,
               resource=(section, key, kind))


_RDT = "Intel RDT is not supported by ocirt"

COMMANDS = {c.name: c for c in (
    Command("create", "create", "Create a container; its process waits for `start`.",
            (ID,), CREATE),
    Command("run", "run", "Create and start a container; wait for it unless --detach.",
            (ID,), CREATE + (
                Opt(("--detach", "-d"), "detach", SWITCH, help="do not wait for the container"),
                Opt(("--keep",), "keep", SWITCH,
                    help="do not delete the container after it exits"))),
    Command("start", "start", "Run the user process of a created container.", (ID,)),
    Command("state", "state", "Print the state of a container as JSON.", (ID,)),
    Command("kill", "kill", "Send a signal (default SIGTERM) to the container's init.",
            (ID, Arg("sig", "[SIGNAL]", default="SIGTERM", required=False)),
            (Opt(("--all", "-a"), "all_processes", SWITCH,
                 help="signal every process in the container's cgroup"),)),
    Command("delete", "delete", "Delete a stopped container and everything create made.",
            (ID,), (Opt(("--force", "-f"), "force", SWITCH,
                        help="kill the container first if it runs"),)),
    Command("pause", "pause", "Freeze every process of a running container.", (ID,)),
    Command("resume", "resume", "Thaw a paused container.", (ID,)),
    Command("update", "update", "Change the resource limits of a running container.",
            (ID,), (
                Opt(("--resources", "-r"), "resources", metavar="FILE",
                    help="a JSON linux.resources object to apply ('-' reads stdin)"),
                _resource("--blkio-weight", "blockIO", "weight", "int",
                          "block IO weight (10-1000)"),
                _resource("--cpu-period", "cpu", "period", "int",
                          "CFS period in microseconds"),
                _resource("--cpu-quota", "cpu", "quota", "int", "CFS quota in microseconds"),
                _resource("--cpu-burst", "cpu", "burst", "int", "CFS burst in microseconds"),
                _resource("--cpu-share", "cpu", "shares", "int",
                          "CPU shares (relative weight)"),
                _resource("--cpu-rt-period", "cpu", "realtimePeriod", "int",
                          "realtime period in microseconds"),
                _resource("--cpu-rt-runtime", "cpu", "realtimeRuntime", "int",
                          "realtime runtime in microseconds"),
                _resource("--cpu-idle", "cpu", "idle", "int",
                          "1: the cgroup gets only idle CPU time"),
                _resource("--cpuset-cpus", "cpu", "cpus", "str",
                          "CPUs to run on (0-3, 0,1)"),
                _resource("--cpuset-mems", "cpu", "mems", "str",
                          "memory nodes to use (0-3, 0,1)"),
                _resource("--kernel-memory", "memory", "kernel", "bytes",
                          "kernel memory limit (ignored)"),
                _resource("--kernel-memory-tcp", "memory", "kernelTCP", "bytes",
                          "kernel TCP buffer limit"),
                _resource("--memory", "memory", "limit", "bytes",
                          "memory limit (e.g. 64m; -1: none)"),
                _resource("--memory-reservation", "memory", "reservation", "bytes",
                          "memory soft limit"),
                _resource("--memory-swap", "memory", "swap", "bytes",
                          "memory+swap limit (-1: none)"),
                _resource("--pids-limit", "pids", "limit", "int",
                          "maximum number of tasks (-1: none)"),
                Opt(("--l3-cache-schema",), "l3_cache_schema", unsupported=_RDT,
                    help="Intel RDT L3 schema (not supported)"),
                Opt(("--mem-bw-schema",), "mem_bw_schema", unsupported=_RDT,
                    help="Intel RDT memory bandwidth (not supported)"))),
    Command("exec", "exec_", "Run a new process in a running container.",
            (ID, Arg("command", "[COMMAND]...", rest=True)), (
                Opt(("--process", "-p"), "process", metavar="FILE",
                    help="a JSON process object to run ('-' reads stdin)"),
                Opt(("--detach", "-d"), "detach", SWITCH, help="do not wait for the process"),
                Opt(("--pid-file",), "pid_file", help="write the process's host pid here"),
                Opt(("--console-socket",), "console_socket",
                    help="send the terminal's master here"),
                Opt(("--tty", "-t"), "tty", SWITCH, help="give the process a terminal"),
                Opt(("--cwd",), "cwd", help="working directory in the container"),
                Opt(("--env", "-e"), "env", MANY, help="KEY=VALUE to add to the environment"),
                Opt(("--user", "-u"), "user", help="uid[:gid] to run as"),
                Opt(("--additional-gids", "-g"), "additional_gids", MANY,
                    help="a supplementary gid"),
                Opt(("--cap", "-c"), "cap", MANY, help="a capability to add"),
                Opt(("--no-new-privs",), "no_new_privs", SWITCH, help="set no_new_privs"),
                Opt(("--apparmor",), "apparmor", help="AppArmor profile"),
                Opt(("--process-label",), "process_label", help="SELinux label"),
                Opt(("--preserve-fds",), "preserve_fds", COUNT, default=0,
                    help="pass N more fds (from 3)"),
                Opt(("--cgroup",), "cgroup", MANY,
                    help="run in a sub-cgroup of the container: [CTRL[,CTRL]:]PATH "
                         "(repeatable)"),
                Opt(("--ignore-paused",), "ignore_paused", SWITCH,
                    help="exec even into a paused container")),
            interspersed=False, unknown=True),
    Command("events", "events",
            "Print the container's resource usage and OOM events as JSON lines.", (ID,), (
                Opt(("--interval",), "interval", default="5s", show_default=True,
                    help="time between stats events"),
                Opt(("--stats",), "stats", SWITCH, help="print one stats event and exit")),
            fast=False),
    Command("ps", "ps", "List the processes of a container (json: their host pids).",
            (ID, Arg("ps_args", "[PS_ARGS]...", rest=True)), (FORMAT,), unknown=True),
    Command("validate", "validate",
            "Check a bundle as create would, without creating anything (exit 1 on errors).",
            (), (BUNDLE, Opt(("--format", "-f"), "fmt", default="text", choices=("text", "json"),
                             show_default=True, help="output format"),
                 Opt(("--console-socket",), "console_socket", metavar="PATH",
                     help="check as for create --console-socket PATH (default: assume "
                          "one exactly when process.terminal is true, as engines pass it)")),
            fast=False),
    Command("checkpoint", "checkpoint", "Checkpoint a running container with CRIU.",
            (ID,), CRIU_COMMON + (
                Opt(("--leave-running",), "leave_running", SWITCH,
                    help="leave the processes running after the checkpoint"),
                Opt(("--pre-dump",), "pre_dump", SWITCH,
                    help="dump the memory only, leaving the container running (for a "
                         "later dump with --parent-path)"),
                Opt(("--parent-path",), "parent_path", metavar="DIR",
                    help="the previous (pre-dump) image, relative to --image-path"),
                Opt(("--page-server",), "page_server", metavar="ADDRESS:PORT",
                    help="a page server's address (with --lazy-pages: where this "
                         "dump serves the pages)"),
                Opt(("--status-fd",), "status_fd", COUNT, default=None, minimum=0,
                    help="an fd CRIU writes \\0 to once it serves the lazy pages"))),
    Command("restore", "restore", "Restore a container from a CRIU image.",
            (ID,), CRIU_COMMON + (
                BUNDLE,
                Opt(("--detach", "-d"), "detach", SWITCH,
                    help="do not wait for the restored container"),
                Opt(("--pid-file",), "pid_file", help="file to write the init's host pid to"),
                Opt(("--console-socket",), "console_socket",
                    help="AF_UNIX socket that receives the pty master"),
                Opt(("--no-pivot",), "no_pivot", SWITCH,
                    help="accepted, as runc's: CRIU always pivots into the restored "
                         "root (it has no such option)"))),
    Command("features", "features", "Print the runtime-spec features document of this runtime.",
            fast=False),
    Command("list", "list_", "List the containers in --root.", (), (
        FORMAT, Opt(("--quiet", "-q"), "quiet", SWITCH, help="print only the ids"))),
    Command("spec", "spec", "Write a default config.json into the bundle (runc's template).",
            (), (BUNDLE,
                 Opt(("--rootless",), "rootless", SWITCH,
                     help="a config for an unprivileged user"),
                 Opt(("--hardened",), "hardened", SWITCH,
                     help="a hardened template: no capabilities, no_new_privs, a read-only "
                          "root, a seccomp allow-list, a cgroup namespace (docs/hardened.md; "
                          "default: what runc spec writes)")),
            fast=False),
)}
