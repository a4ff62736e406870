"""What each command does, independent of how its arguments were parsed.

Both parsers (ocirt.cli.fast for the hot commands, ocirt.cli.app with
click for everything) call these. Each returns the process exit status.
A command is the call of ocirt's Python API that does it (ocirt.runtime:
every rule and error is there) and the output: what the command adds is
only runc's form of its arguments and of what it prints.
"""
import sys

from ocirt import posixos  # os without its import cost (see there)
from ocirt.cli.flags import COMMANDS, GLOBAL
from ocirt.errors import OcirtError, UsageError
from ocirt.runtime import Runtime, check_preserve_fds, default_root  # noqa: F401 (re-exported)


class Globals:
    """The global flags (ocirt.cli.flags.GLOBAL): their defaults, or the values given."""
    __slots__ = ("given_root", "log", "log_format", "debug", "systemd_cgroup", "trace")

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


def _out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def _runtime(g):
    return Runtime(g.given_root, systemd_cgroup=g.systemd_cgroup)  # (None: resolved when needed)


def state(g, cid):
    _out(_runtime(g).state_text(cid))  # runc's: indented, no final newline
    return 0


def start(g, cid):
    _runtime(g).start(cid)
    return 0


def kill(g, cid, sig="SIGTERM", all_processes=False):
    _runtime(g).kill(cid, sig, all=all_processes)
    return 0


def delete(g, cid, force=False):
    _runtime(g).delete(cid, force=force)
    return 0


def create(g, cid, bundle=".", pid_file=None, console_socket=None, no_pivot=False,
           no_new_keyring=False, preserve_fds=0, init=False):
    _runtime(g).create(cid, bundle, pid_file=pid_file, console_socket=console_socket,
                       no_pivot=no_pivot, no_new_keyring=no_new_keyring,
                       preserve_fds=preserve_fds, init=init)
    return 0


def run(g, cid, bundle=".", pid_file=None, console_socket=None, no_pivot=False,
        no_new_keyring=False, preserve_fds=0, detach=False, keep=False, init=False):
    return _runtime(g).run(cid, bundle, detach=detach, keep=keep, pid_file=pid_file,
                           console_socket=console_socket, no_pivot=no_pivot,
                           no_new_keyring=no_new_keyring, preserve_fds=preserve_fds,
                           init=init)


def pause(g, cid):
    _runtime(g).pause(cid)
    return 0


def resume(g, cid):
    _runtime(g).resume(cid)
    return 0


def update(g, cid, resources=None, **flags):
    """runc's update: resources from -r FILE (or - for stdin) and/or flags."""
    changes = {}
    if resources is not None:
        changes = _json_object_arg("--resources", resources, "a linux.resources object")
    resource = {o.dest: o.resource for o in COMMANDS["update"].opts}
    for flag, value in flags.items():
        if value is None:
            continue
        section, key, kind = resource[flag]
        changes.setdefault(section, {})[key] = _flag_value(flag, value, kind)
    _runtime(g).update(cid, changes)
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
        for event in _runtime(g).events(cid, interval=seconds, stats=stats):
            emit(event)
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
    rt = _runtime(g)
    check_preserve_fds(preserve_fds)  # (rt.exec checks too: first, as runc's flags are)
    if process is not None:
        proc = _json_object_arg("--process", process, "a process object")
    else:
        from ocirt.container import exec as tenant
        if not command:
            raise UsageError("exec needs a command to run (or --process FILE)")
        gids = [tenant.parse_id("--additional-gids", x) for x in additional_gids]
        base = rt.process_of(cid)
        proc = tenant.process_from_flags(base, command, cwd=cwd, env=env, user=user,
                                         additional_gids=gids, caps=cap,
                                         no_new_privs=no_new_privs, apparmor=apparmor,
                                         label=process_label, tty=tty)
    return rt.exec(cid, proc, detach=detach, pid_file=pid_file, preserve_fds=preserve_fds,
                   ignore_paused=ignore_paused, cgroup=cgroup, console_socket=console_socket)


# runc's exec exits 255 for its own errors, so that a caller can tell them
# from the process's statuses (ocirt.cli.run_command)
exec_.error_status = 255


def ps(g, cid, fmt="table", ps_args=()):
    """runc's ps: the container's host pids as JSON, or ps(1)'s table for them."""
    pids = _runtime(g).ps(cid)
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
    states = _runtime(g).list(warn=log.warning)
    if quiet:
        _out("".join(s.id + "\n" for s in states))
        return 0
    if fmt == "json":
        # runc's: compact, its key order, the owner's name, `null` for none
        from ocirt import jsonio
        _out(jsonio.dumps_go([s.to_dict() for s in states] or None) + "\n")
        return 0
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    # a container still being created has no "created" nor "owner" yet
    rows += [(s.id, str(s.pid), s.status, s.bundle, s.created, s.owner) for s in states]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    _out("".join("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n"
                 for r in rows))
    return 0


def spec(g, bundle=".", rootless=False, hardened=False):
    """runc's spec: config.json in the bundle, as runc writes it (tab-indented,
    no final newline), never over an existing file."""
    import json
    from ocirt.config import Config
    path = posixos.path.join(bundle, "config.json")
    try:
        f = open(path, "x")  # O_EXCL: neither an existing file nor a symlink is written through
    except FileExistsError:
        raise OcirtError(f"File {path} exists. Remove it first")
    except OSError as e:
        raise OcirtError(f"cannot create {path}: {e.strerror}")
    with f:
        json.dump(Config.template(rootless=rootless, hardened=hardened), f, indent="\t")
    return 0


def validate(g, bundle=".", fmt="text", console_socket=None):
    """Every finding of the bundle, errors first; 1 when there is an error."""
    from ocirt import validate as v
    found = _runtime(g).validate(bundle, console_socket=console_socket)
    _out(v.report(found, fmt))
    return 1 if any(f.severity == "error" for f in found) else 0


def checkpoint(g, cid, image_path=None, work_path=None, tcp_established=False,
               ext_unix_sk=False, shell_job=False, file_locks=False, manage_cgroups_mode=None,
               leave_running=False, pre_dump=False, parent_path=None, empty_ns=(),
               auto_dedup=False, lazy_pages=False, page_server=None, status_fd=None):
    _runtime(g).checkpoint(
        cid, image_path=image_path, work_path=work_path, leave_running=leave_running,
        pre_dump=pre_dump, parent_path=parent_path, empty_ns=empty_ns, auto_dedup=auto_dedup,
        lazy_pages=lazy_pages, tcp_established=tcp_established, ext_unix_sk=ext_unix_sk,
        shell_job=shell_job, file_locks=file_locks, manage_cgroups_mode=manage_cgroups_mode,
        page_server=page_server, status_fd=status_fd)
    return 0


def restore(g, cid, image_path=None, work_path=None, tcp_established=False, ext_unix_sk=False,
            shell_job=False, file_locks=False, manage_cgroups_mode=None, empty_ns=(),
            auto_dedup=False, lazy_pages=False, bundle=".", detach=False, pid_file=None,
            console_socket=None, no_pivot=False):
    return _runtime(g).restore(
        cid, bundle, image_path=image_path, work_path=work_path, detach=detach,
        pid_file=pid_file, console_socket=console_socket, no_pivot=no_pivot,
        tcp_established=tcp_established, ext_unix_sk=ext_unix_sk, shell_job=shell_job,
        file_locks=file_locks, manage_cgroups_mode=manage_cgroups_mode, empty_ns=empty_ns,
        auto_dedup=auto_dedup, lazy_pages=lazy_pages)


def features(g):
    import json
    _out(json.dumps(Runtime.features(), indent=2) + "\n")
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
