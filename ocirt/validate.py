"""`ocirt validate`: what `create` would refuse in a bundle, without making anything.

A config is checked in two parts. What can be known of it on any host is
ocirt.config.findings (the schema, then every semantic check), the same
list whose first error `create` raises. What depends on this host is, first,
ocirt.container.create.host_problems: the very checks create runs before it
makes anything (LSMs, memory policy, a user's limits, the rootfs, bind
sources, filesystem types, sysctls, the terminal and --console-socket),
and then predictions, here, of what create would meet later, each asking
the function create calls where there is one: process.args[0] in the
rootfs (as the init looks it up), rlimits, the seccomp filter
(seccomp.build itself), linux.resources (resources.plan, and whether each
file it would write exists where the container's cgroup would be), and as
warnings the capabilities create would leave out. Each problem is a
config.Finding with its JSON path and the runtime-spec section it comes from.

Not a hot command: plain imports.
"""

import errno
import os
import resource
import stat

from ocirt import config, jsonio
from ocirt.become import DEFAULT_PATH, rlimit_refused
from ocirt.container.create import NOT_TOLD, _open_namespaces, host_problems
from ocirt.errors import OcirtError, SetupError
from ocirt.linux import capabilities, cgroups, resources, rootfs, seccomp, shim
from ocirt.linux.mounts import open_in_root

BUNDLE_SECTION = "bundle.md"
CAP_SYS_RESOURCE = 24


def validate(bundle, console_socket=NOT_TOLD, systemd=False):
    """[config.Finding] of the bundle at <bundle>: errors, then warnings.

    console_socket: create's --console-socket (None: create gets none);
    NOT_TOLD assumes one exactly when process.terminal is true, as engines
    call create; systemd: create --systemd-cgroup."""
    bundle = os.path.abspath(bundle)
    try:
        # read as create reads it: a regular file (not a fifo, which open(2)
        # would wait on), bounded in size
        path, doc, escapes = config.read_document(bundle)
    except config.ConfigError as e:
        return [_error("$", e.msg, BUNDLE_SECTION)]
    found = config.findings(doc, escapes=escapes)
    bad = any(f.severity == "error" for f in found)
    try:
        # the host checks read a converted config: one with errors converts
        # too where it can (each section as it is), so that one run lists
        # everything
        cfg = config._convert(doc, bundle) if isinstance(doc, dict) else None
    except (OcirtError, TypeError, ValueError, KeyError, AttributeError):
        cfg = None
    if cfg is not None:
        seen = {(f.path, f.message) for f in found}  # a host check may meet a config error again
        found += [f for f in host_findings(cfg, console_socket, skip_unreadable=bad,
                                           systemd=systemd) if (f.path, f.message) not in seen]
    return sorted(found, key=lambda f: f.severity != "error")


def _error(path, message, section):
    return config.Finding(path, message, "error", section)


def host_findings(cfg, console_socket=NOT_TOLD, skip_unreadable=False, systemd=False):
    """What this host makes of the converted config cfg, as create would meet it.

    skip_unreadable: cfg comes from a document with errors: a check that
    cannot read its section (of the wrong type there) is left out."""
    out = []
    checks = [lambda: [config.Finding(e.path or "$", e.msg, severity, section)
                       for section, severity, e in host_problems(cfg, console_socket)]]
    if cfg.process is not None:
        checks += [lambda: _program(cfg) if os.path.isdir(cfg.root_path) else [],
                   lambda: _paths(cfg) if os.path.isdir(cfg.root_path) else [],
                   lambda: _capabilities(cfg), lambda: _rlimits(cfg)]
    checks += [lambda: _namespaces(cfg), lambda: _seccomp(cfg), lambda: _resources(cfg, systemd),
               lambda: _console_socket(cfg, console_socket)]
    for check in checks:
        try:
            out += check()
        except (TypeError, ValueError, KeyError, AttributeError, IndexError):
            if not skip_unreadable:
                raise
    return out


def _paths(cfg):
    """readonlyPaths and maskedPaths, looked at as the init looks at them
    after the mounts (rootfs._existing: a link there is refused), for those
    that no mount of the config covers (what a mount brings is seen only
    once it is mounted)."""
    out = []
    root_fd = os.open(cfg.root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for what, paths in (("readonlyPaths", cfg.readonly_paths),
                            ("maskedPaths", cfg.masked_paths)):
            for i, p in enumerate(paths):
                if _under_a_mount(cfg, os.path.normpath(p)):
                    continue
                try:
                    for _ in rootfs._existing(root_fd, [p], what):
                        pass
                except SetupError as e:
                    out.append(_error(f"$.linux.{what}[{i}]", e.msg,
                                      config.section_of(f"$.linux.{what}")))
    finally:
        os.close(root_fd)
    return out


def _under_a_mount(cfg, path):
    return any(path == d or path.startswith(d + "/") or d == "/"
               for d in (os.path.normpath(m.destination) for m in cfg.mounts))


def _namespaces(cfg):
    """Each namespace given by path, opened and checked by create's own
    function (then closed)."""
    try:
        for _, fd in _open_namespaces(cfg):
            os.close(fd)
    except OcirtError as e:
        return [_error(e.path, e.msg, "config-linux.md#namespaces")]
    return []


def _console_socket(cfg, path):
    """What create's connect to --console-socket would meet, told without
    connecting (a listener would take the connection for a container's):
    no such path, or not a socket."""
    if path in (None, NOT_TOLD) or cfg.process is None or not cfg.process.terminal:
        return []
    try:
        why = None if stat.S_ISSOCK(os.stat(path).st_mode) else os.strerror(111)  # ECONNREFUSED
    except OSError as e:
        why = e.strerror
    if why is None:
        return []
    # create's error names the flag, not a JSON path
    return [_error("$", f"--console-socket {path}: cannot connect: {why}", "config.md#process")]


def _capabilities(cfg):
    """The capabilities create would leave out (capabilities.grantable,
    which create calls), as warnings."""
    if cfg.process.capabilities is None:
        return []
    warned = []
    try:
        capabilities.grantable(cfg.process.capabilities,
                               cfg.namespace("user") is not None, warned.append)
    except OcirtError as e:
        return [_error(e.path or "$", e.msg, "config.md#linux-process")]
    # each "$.process.capabilities.<set>[i]: <why>"
    return [config.Finding(*_split(w, "$.process.capabilities"), "warning",
                           "config.md#linux-process") for w in warned]


def _program(cfg):
    """process.args[0] in the rootfs, looked up as the init does before it
    execs (ocirt.become): a name with a slash as it is, from process.cwd;
    a bare name in $PATH. Every path is resolved inside the rootfs by fd
    (RESOLVE_IN_ROOT), so that no link of the image leads out of it. A
    program a mount of the config may bring is a warning, not an error."""
    proc = cfg.process
    if not proc.args:
        return []
    name = proc.args[0]
    env_path = DEFAULT_PATH
    for e in proc.env:
        if e.startswith("PATH="):
            env_path = e[5:]
    cwd = proc.cwd or "/"
    candidates = [name] if "/" in name else [os.path.join(d or ".", name)
                                             for d in env_path.split(":")]
    root_fd = os.open(cfg.root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        exists = False
        for c in candidates:
            try:
                fd = open_in_root(root_fd, os.path.join(cwd, c), shim.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
            exists = True
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
                return []
    finally:
        os.close(root_fd)
    if "/" not in name:
        message = f"exec: {name!r}: executable file not found in $PATH"
    elif not exists:
        message = f"exec: {name!r}: stat {name}: no such file or directory"
    else:
        message = f"exec: {name!r}: permission denied"
    where = [os.path.normpath(os.path.join(cwd, c)) for c in candidates]
    mounted = any(_under_a_mount(cfg, p) for p in where)
    if mounted:
        return [config.Finding("$.process.args[0]", message + " (unless a mount brings it)",
                               "warning", "config.md#process")]
    return [_error("$.process.args[0]", message, "config.md#process")]


def _cap_effective(cap):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


def _rlimits(cfg):
    """The init sets process.rlimits before it drops capabilities: a hard
    limit above the host's needs CAP_SYS_RESOURCE in the host's user
    namespace (in a new one it has none there), and RLIMIT_NOFILE never
    goes beyond fs.nr_open; the kernel says EPERM to both, and the init
    stops at the first (become.rlimit_refused)."""
    privileged = cfg.namespace("user") is None and _cap_effective(CAP_SYS_RESOURCE)
    for rl in cfg.process.rlimits:
        try:
            host_hard = resource.getrlimit(rl.resource)[1]
        except (ValueError, OSError):
            continue
        above = host_hard != resource.RLIM_INFINITY and \
            (rl.hard == resource.RLIM_INFINITY or rl.hard > host_hard)
        refused = above and not privileged
        if rl.type == "RLIMIT_NOFILE":
            with open("/proc/sys/fs/nr_open") as f:
                refused = refused or rl.hard > int(f.read())
        if refused:
            e = rlimit_refused(rl, host_hard & ((1 << 64) - 1), os.strerror(1))  # EPERM
            return [_error(e.path, e.msg, "config.md#posix-process")]
    return []


def _seccomp(cfg):
    """The filter create builds before its fork (seccomp.build), built
    here: its errors, and as warnings the names it skips."""
    sec = cfg.seccomp
    if sec is None:
        return []
    warned = []
    try:
        seccomp.build(sec, cfg.process.no_new_privileges, warned.append)
    except OcirtError as e:
        return [_error(e.path or "$.linux.seccomp", e.msg, "config-linux.md#seccomp")]
    return [config.Finding(*_split(w, "$.linux.seccomp"), "warning", "config-linux.md#seccomp")
            for w in warned]


def _split(warning, default):
    where, _, why = warning.partition(": ")
    return (where, why) if where.startswith("$.") else (default, warning)


def _resources(cfg, systemd=False):
    """linux.resources as create's resources.apply would take them here:
    resources.plan with a locate() that enables nothing (its ConfigErrors:
    a controller no hierarchy has, a hugepage size the host lacks, ...),
    then each file of the plan looked for where the container's cgroup
    would be (a swap limit without swap accounting, cpu.rt_* without RT
    group scheduling, a file of `unified` the kernel lacks)."""
    res = cfg.resources
    section = "config-linux.md#control-groups"
    if res is None or os.geteuid() != 0:
        return []  # a user's cgroups are delegated ones: see rootless.check
    if systemd:
        return []  # systemd makes the scope, and sets the resources as properties
    try:
        cg = cgroups.Cgroup.for_container(cfg.cgroups_path, "validate")
    except OcirtError as e:  # a systemd path (slice:prefix:name) without --systemd-cgroup
        where, why = (e.path, e.msg) if e.path else _split(e.msg, "$.linux.cgroupsPath")
        return [_error(where, why, "config-linux.md#cgroups-path")]
    mounts = cgroups.hierarchies()

    probes = []  # cgroups _sample made, removed here

    def locate(cg, ctrl, where):
        d, v2 = resources.controller_dir(cg, ctrl, where, enable=_offered)
        return _sample(d, mounts, resources.V2_NAME.get(ctrl, ctrl) if v2 else None,
                       probes), v2

    try:
        return _planned(cg, res, locate, section)
    finally:
        for d in probes:
            try:
                os.rmdir(d)
            except OSError:
                pass


def _planned(cg, res, locate, section):
    try:
        dirs, todo = resources.plan(cg, res, lambda w: None, locate=locate)
    except OcirtError as e:
        return [_error(e.path or resources.BASE, e.msg, section)]
    out = []
    for w in todo:
        d = dirs[w.controller][0]
        if d is not None and not os.path.exists(os.path.join(d, w.file)):
            e = resources.no_file(w)
            out.append(_error(e.path, e.msg, section))
        elif d is not None and w.file == "rdma.max":
            devices = resources.rdma_devices(d)
            if devices is not None and w.value.split()[0] not in devices:
                e = resources.write_error(w, os.strerror(errno.ENODEV))
                out.append(_error(e.path, e.msg, section))
    return out


def _offered(unified, ctrl, where):
    """cgroups.enable_controller's answer, without enabling anything."""
    mount = cgroups.hierarchies().get(cgroups.UNIFIED)
    try:
        with open(os.path.join(mount, "cgroup.controllers")) as f:
            return ctrl in f.read().split()
    except (OSError, TypeError):
        return False


def _sample(leaf, mounts, v2name, probes):
    """A cgroup that has the files the container's cgroup <leaf> would
    have: its nearest existing ancestor below the hierarchy's root (the
    root itself lacks some, such as pids.max), else a child of the root;
    in cgroup2, one whose cgroup.controllers has v2name. None when there
    is none to look at."""
    mount = max((m for m in mounts.values() if leaf == m or leaf.startswith(m + "/")),
                key=len, default=None)
    if mount is None:
        return None

    def has(d):
        if v2name is None:
            return os.path.isdir(d)
        try:
            with open(os.path.join(d, "cgroup.controllers")) as f:
                return v2name in f.read().split()
        except OSError:
            return False

    d = os.path.dirname(leaf)
    while d.startswith(mount + "/"):
        if has(d):
            return d
        d = os.path.dirname(d)
    try:
        children = sorted(os.scandir(mount), key=lambda e: e.name)
    except OSError:
        return None
    for e in children:
        if e.is_dir(follow_symlinks=False) and has(e.path):
            return e.path
    # No cgroup here has the files to look at (a cgroup2 root without any
    # child, as under a plain init): an empty probe cgroup, removed before
    # validate ends (_resources), shows the files a new one gets.
    probe = os.path.join(mount, f"ocirt-validate-{os.getpid()}")
    try:
        os.mkdir(probe)
    except OSError:
        return None
    probes.append(probe)
    return probe if has(probe) else None


def report(found, fmt="text"):
    """The findings as `ocirt validate` prints them."""
    if fmt == "json":
        return jsonio.dumps([{"severity": f.severity, "path": f.path, "message": f.message,
                              "section": f.section} for f in found]) + "\n"
    return "".join(f"{f.severity}: {f.path}: {f.message} ({f.section})\n" for f in found)
