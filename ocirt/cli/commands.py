"""What each command does, independent of how its arguments were parsed.

Both parsers (ocirt.cli.fast for the hot commands, ocirt.cli.app with
click for everything) call these. Each returns the process exit status.
"""
import posix
import sys

from ocirt import posixos  # os without its import cost (see there)
from ocirt import state as store  # not ocirt.container: state is the hottest command
from ocirt.cli.flags import COMMANDS, GLOBAL
from ocirt.errors import OcirtError, UsageError


class Globals:
    """The global flags (ocirt.cli.flags.GLOBAL): their defaults, or the values given."""
    __slots__ = ("given_root", "log", "log_format", "debug", "systemd_cgroup")

    def __init__(self, **given):
        for opt in GLOBAL:
            if opt.dest in self.__slots__ or opt.dest == "root":  # not --version
                setattr(self, opt.dest, given.pop(opt.dest, opt.default))
        if given:
            raise TypeError(f"not global flags: {sorted(given)}")

    @property
    def root(self):
        """--root, else default_root(): asked when a command needs it (UsageError)."""
        return default_root() if self.given_root is None else self.given_root

    @root.setter
    def root(self, value):
        self.given_root = value


def default_root():
    """The state root without --root, as runc's: /run/ocirt for root, else
    $XDG_RUNTIME_DIR/ocirt (the user's own runtime directory). Root of a
    user namespace other than the host's is a user there too (rootless
    podman calls the runtime so, with the user's XDG_RUNTIME_DIR: /run is
    not its), unless USER says root (root's shell in a namespace of its own)."""
    import posix  # its environ: os.environ would import os
    env = posix.environ
    xdg = env.get(b"XDG_RUNTIME_DIR", b"").decode("utf-8", "surrogateescape")
    if posixos.geteuid() == 0:
        from ocirt.linux import proc
        if not xdg.startswith("/") or env.get(b"USER") == b"root" or proc.host_root():
            return "/run/ocirt"
    elif not xdg.startswith("/"):
        from ocirt.errors import UsageError
        raise UsageError("--root: not given, and XDG_RUNTIME_DIR is not set (to an absolute "
                         "path): a user other than root needs one of them for the state")
    return xdg.rstrip("/") + "/ocirt"


def _out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def _systemd_check(g):
    if g.systemd_cgroup and not posixos.path.isdir("/run/systemd/system"):
        raise OcirtError("systemd not running on this host, cannot use systemd cgroups manager")


def state(g, cid):
    _out(store.load(g.root, cid).state_text())  # runc's: indented, no final newline
    return 0


def start(g, cid):
    from ocirt.container.start import start
    start(g.root, cid)
    return 0


def kill(g, cid, sig="SIGTERM", all_processes=False):
    from ocirt.container.kill import kill
    from ocirt.linux.signals import parse
    kill(g.root, cid, parse(sig, zero=True), all_processes)
    return 0


def delete(g, cid, force=False):
    from ocirt.container.delete import delete
    delete(g.root, cid, force)
    return 0


def check_preserve_fds(n, listen=0):
    """--preserve-fds N passes fds 3..N+2 (after <listen> LISTEN_FDS ones):
    N beyond the open-file limit (RLIMIT_NOFILE's soft value) names fds that
    cannot exist."""
    if n < 0:
        raise UsageError(f"--preserve-fds {n}: must not be negative")
    if n:
        import resource  # only with the flag: create and run do without it otherwise
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if n > soft - 3:
            raise UsageError(f"--preserve-fds {n}: more than the {max(soft - 3, 0)} fds "
                             f"the open-file limit ({soft}) allows after stdio")
        # Each must be an fd the caller passed (open, and inheritable: ocirt's
        # own are close-on-exec); a gap would hand one of ocirt's fds (the
        # state directory, a namespace) to the container.
        for fd in range(3 + listen, 3 + listen + n):
            try:
                passed = posix.get_inheritable(fd)
            except OSError:
                passed = False
            if not passed:
                raise UsageError(f"--preserve-fds {n}: fd {fd} was not passed by the caller")
    return n


def create(g, cid, bundle=".", pid_file=None, console_socket=None, no_pivot=False,
           no_new_keyring=False, preserve_fds=0):
    from ocirt.container.create import listen_fds
    check_preserve_fds(preserve_fds, listen_fds())
    from ocirt.container.create import create
    _systemd_check(g)
    create(g.root, cid, bundle, pid_file=pid_file, console_socket=console_socket,
           no_pivot=no_pivot, preserve_fds=preserve_fds, no_new_keyring=no_new_keyring,
           systemd=g.systemd_cgroup)
    return 0


def run(g, cid, bundle=".", pid_file=None, console_socket=None, no_pivot=False,
        no_new_keyring=False, preserve_fds=0, detach=False, keep=False):
    from ocirt.container.create import listen_fds
    check_preserve_fds(preserve_fds, listen_fds())
    from ocirt.container.run import run
    _systemd_check(g)
    return run(g.root, cid, bundle, pid_file=pid_file, detach=detach, keep=keep,
               no_pivot=no_pivot, preserve_fds=preserve_fds, console_socket=console_socket,
               no_new_keyring=no_new_keyring, systemd=g.systemd_cgroup)


def pause(g, cid):
    from ocirt.container.pause import pause
    pause(g.root, cid)
    return 0


def resume(g, cid):
    from ocirt.container.pause import resume
    resume(g.root, cid)
    return 0


def update(g, cid, resources=None, **flags):
    """runc's update: resources from -r FILE (or - for stdin) and/or flags."""
    from ocirt.container import update as op
    changes = {}
    if resources is not None:
        changes = _json_object_arg("--resources", resources, "a linux.resources object")
    resource = {o.dest: o.resource for o in COMMANDS["update"].opts}
    for flag, value in flags.items():
        if value is None:
            continue
        section, key, kind = resource[flag]
        changes.setdefault(section, {})[key] = _flag_value(flag, value, kind)
    op.update(g.root, cid, changes)
    return 0


def _json_object_arg(flag, path, what):
    """The JSON object in file `path` ("-": stdin), or a UsageError naming the flag.

    A file must be a regular one, and no input may be larger than
    config.MAX_CONFIG (a process or resources object is part of a config)."""
    from ocirt import jsonio
    from ocirt.config import MAX_CONFIG
    try:
        if path == "-":
            data = _read_stdin(MAX_CONFIG)
        else:
            data = posixos.read_regular(path, MAX_CONFIG)
        doc = jsonio.loads(data)
    except OSError as e:
        raise UsageError(f"{flag} {path}: {e.strerror}")
    except (ValueError, RecursionError) as e:
        raise UsageError(f"{flag} {path}: invalid JSON: {e}")
    if not isinstance(doc, dict):
        raise UsageError(f"{flag} {path}: expected {what}")
    return doc


def _read_stdin(limit):
    data = b""
    while True:
        chunk = posixos.read(0, 65536)
        if not chunk:
            return data
        data += chunk
        if len(data) > limit:
            raise OSError(27, f"larger than {limit} bytes")  # EFBIG


def _flag_value(flag, value, kind):
    name = "--" + flag.replace("_", "-")
    if kind == "str":
        return value
    try:
        if kind == "bytes":
            return parse_bytes(value)
        return int(value, 10)
    except ValueError:
        raise UsageError(f"{name}: invalid value {value!r}")


def parse_bytes(text):
    """A size as runc's update takes it: "-1", "1024", "512k", "64m", "1g" (binary units,
    optional b / ib suffix, any case)."""
    s = text.strip().lower()
    if s == "-1":
        return -1
    if s.endswith("ib"):
        s = s[:-2]
    elif s.endswith("b"):
        s = s[:-1]
    mult = 1
    if s and s[-1] in "kmgtp":
        mult = 1024 ** ("kmgtp".index(s[-1]) + 1)
        s = s[:-1]
    if not s or not s.replace(".", "", 1).isdigit():
        raise ValueError(text)
    return int(float(s) * mult)


def events(g, cid, interval="5s", stats=False):
    """runc's events: JSON lines of stats (and oom) events."""
    from ocirt import jsonio
    from ocirt.container import events as op
    try:
        seconds = parse_duration(interval)
    except ValueError:
        raise UsageError(f"--interval: invalid duration {interval!r}")
    if seconds <= 0:
        raise UsageError("--interval: the duration must be greater than 0")

    def emit(event):
        if event.get("type") == "stats":
            from ocirt.linux.stats import runc_layout
            event = dict(event, data=runc_layout(event["data"]))
        sys.stdout.write(jsonio.dumps_go(event) + "\n")
        sys.stdout.flush()
    try:
        op.events(g.root, cid, seconds, stats, emit)
    except BrokenPipeError:
        pass
    return 0


def parse_duration(text):
    """A Go duration as runc's flags take it: "5s", "100ms", "1m30s", "2h"."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    s = text.strip()
    total, num, i = 0.0, "", 0
    if not s:
        raise ValueError(text)
    while i < len(s):
        if s[i].isdigit() or s[i] == ".":
            num += s[i]
            i += 1
            continue
        for unit in ("ns", "us", "µs", "ms", "s", "m", "h"):
            if s.startswith(unit, i) and num:
                total += float(num) * units[unit]
                num, i = "", i + len(unit)
                break
        else:
            raise ValueError(text)
    if num:
        if total or num != "0":
            raise ValueError(text)  # a number needs a unit (only "0" stands alone)
    return total


def exec_(g, cid, command=(), process=None, detach=False, pid_file=None, preserve_fds=0,
          ignore_paused=False, cgroup=(), console_socket=None, tty=False, cwd=None, env=(),
          user=None, additional_gids=(), cap=(), no_new_privs=False, apparmor=None,
          process_label=None):
    """runc's exec: a new process in the container; exits with its status."""
    from ocirt.container import exec as tenant
    check_preserve_fds(preserve_fds)
    if process is not None:
        proc = _json_object_arg("--process", process, "a process object")
    else:
        if not command:
            raise UsageError("exec needs a command to run (or --process FILE)")
        gids = [tenant.parse_id("--additional-gids", x) for x in additional_gids]
        base = store.load(g.root, cid).load_config().get("process")
        proc = tenant.process_from_flags(base, command, cwd=cwd, env=env, user=user,
                                         additional_gids=gids, caps=cap,
                                         no_new_privs=no_new_privs, apparmor=apparmor,
                                         label=process_label, tty=tty)
    return tenant.run(g.root, cid, proc, detach=detach, pid_file=pid_file,
                      preserve_fds=preserve_fds, ignore_paused=ignore_paused,
                      sub_cgroup=cgroup, console_socket=console_socket)


# runc's exec exits 255 for its own errors, so that a caller can tell them
# from the process's statuses (ocirt.cli.run_command)
exec_.error_status = 255


def ps(g, cid, fmt="table", ps_args=()):
    """runc's ps: the container's host pids as JSON, or ps(1)'s table for them."""
    from ocirt.container.ps import pids as container_pids
    pids = container_pids(g.root, cid)
    if fmt == "json":
        _out("[" + ",".join(str(p) for p in pids) + "]\n")
        return 0
    import subprocess
    args = list(ps_args) or ["-ef"]
    try:
        out = subprocess.run(["ps"] + args, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise OcirtError(f"ps {' '.join(args)} failed: {e}")
    lines = out.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise OcirtError("ps output has no PID column")
    col = header.index("PID")
    wanted = set(pids)
    keep = [lines[0]] + [line for line in lines[1:]
                         if len(line.split()) > col and line.split()[col].isdigit()
                         and int(line.split()[col]) in wanted]
    _out("\n".join(keep) + "\n")
    return 0


def list_(g, fmt="table", quiet=False):
    """runc's list: what can be read; a container that cannot is a warning line."""
    from ocirt import log
    items = store.list_all(g.root, warn=log.warning)
    if quiet:
        _out("".join(c.id + "\n" for c in items))
        return 0
    states = []
    for c in items:
        try:
            states.append(c.oci_state())
        except ValueError as e:
            log.warning(f"container {c.id}: {store.STATE_FILE}: invalid JSON: {e} "
                        "(delete --force removes it)")
    if fmt == "json":
        # runc's: compact, its key order, the owner's name, `null` for none
        from ocirt import jsonio
        for s in states:
            s["owner"] = _owner_name(g.root, s["id"])
        _out(jsonio.dumps_go(states or None) + "\n")
        return 0
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    # a container still being created has no "created" nor "owner" yet
    rows += [(s["id"], str(s["pid"]), s["status"], s.get("bundle", ""), s.get("created", ""),
              _owner_name(g.root, s["id"])) for s in states]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    _out("".join("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n"
                 for r in rows))
    return 0


def _owner_name(root, cid):
    """The user owning <root>/<id>, by name; "#uid" without one (runc's list)."""
    try:
        uid = posixos.stat(posixos.path.join(root, cid), follow_symlinks=False).st_uid
    except OSError:
        return ""
    import pwd
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def spec(g, bundle=".", rootless=False, hardened=False):
    """runc's spec: config.json in the bundle, as runc writes it (tab-indented,
    no final newline), never over an existing file."""
    import json
    from ocirt import defaults
    path = posixos.path.join(bundle, "config.json")
    try:
        f = open(path, "x")  # O_EXCL: neither an existing file nor a symlink is written through
    except FileExistsError:
        raise OcirtError(f"File {path} exists. Remove it first")
    except OSError as e:
        raise OcirtError(f"cannot create {path}: {e.strerror}")
    with f:
        json.dump(defaults.spec(rootless, hardened), f, indent="\t")
    return 0


def validate(g, bundle=".", fmt="text", console_socket=None):
    """Every finding of the bundle, errors first; 1 when there is an error."""
    from ocirt import validate as v
    found = v.validate(bundle, v.NOT_TOLD if console_socket is None else console_socket,
                       systemd=g.systemd_cgroup)
    try:
        _systemd_check(g)  # as create checks --systemd-cgroup
    except OcirtError as e:
        found.insert(0, v.config.Finding("$", e.msg, "error", "runtime.md#create"))
    _out(v.report(found, fmt))
    return 1 if any(f.severity == "error" for f in found) else 0


def features(g):
    import json
    from ocirt import features as feat
    _out(json.dumps(feat.document(), indent=2) + "\n")
    return 0


def version():
    from ocirt import LAUNCHER, SPEC_VERSION, __version__
    lines = [f"ocirt version {__version__}", f"spec: {SPEC_VERSION}",
             f"python: {sys.version.split()[0]}", f"launcher: {LAUNCHER}"]
    try:
        from ocirt.linux.shim import seccomp_version
        lines.append(f"libseccomp: {seccomp_version()}")
    except (ImportError, OSError):
        pass
    _out("\n".join(lines) + "\n")
    return 0
