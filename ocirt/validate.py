"""`ocirt validate`: what `create` would refuse in a bundle, without making anything.

A config is checked in two parts. What can be known of it on any host is
ocirt.config.findings (the schema, then every semantic check), the same
list whose first error `create` raises. What depends on this host is
asked here of the same functions `create` calls before it forks (LSMs,
memory policy, a user's limits, the capabilities it can grant), and of
what the host offers for the rest (the rootfs and its program, rlimits,
seccomp architectures, cgroup controllers). Each problem is a
config.Finding with its JSON path and the runtime-spec section it comes from.

Not a hot command: plain imports.
"""

import os
import resource
import stat

from ocirt import config, jsonio
from ocirt.become import DEFAULT_PATH
from ocirt.container import rootless
from ocirt.errors import OcirtError
from ocirt.linux import capabilities, cgroups, lsm, mempolicy, resources, seccomp, shim
from ocirt.linux.mounts import open_in_root

BUNDLE_SECTION = "bundle.md"
CAP_SYS_RESOURCE = 24


def validate(bundle):
    """[config.Finding] of the bundle at <bundle>: errors, then warnings."""
    bundle = os.path.abspath(bundle)
    try:
        # read as create reads it: a regular file (not a fifo, which open(2)
        # would wait on), bounded in size
        path, doc, escapes = config.read_document(bundle)
    except config.ConfigError as e:
        return [_error("$", e.msg, BUNDLE_SECTION)]
    found = config.findings(doc, escapes=escapes)
    if any(f.severity == "error" for f in found):
        return found  # the host checks read a converted config
    cfg = config.parse(doc, bundle, source=path)
    found += host_findings(cfg)
    return sorted(found, key=lambda f: f.severity != "error")


def _error(path, message, section):
    return config.Finding(path, message, "error", section)


def host_findings(cfg):
    """What this host makes of the checked config cfg, as create would meet it."""
    out = []

    def told(fn, *args, section):
        try:
            fn(*args)
        except OcirtError as e:
            out.append(_error(e.path or "$", e.msg, section))

    if cfg.process is None:
        return [_error("$.process", "config.json has no process to run", "config.md#process")]
    if cfg.memory_policy is not None:
        told(mempolicy.check, cfg.memory_policy, section="config-linux.md#memory-policy")
    told(lsm.check, cfg, section="config.md#linux-process")
    if os.geteuid() != 0:
        told(rootless.check, cfg, section="config-linux.md#user-namespace-mappings")
    if not os.path.isdir(cfg.root_path):
        out.append(_error("$.root.path", f"rootfs {cfg.root_path} is not a directory",
                          "config.md#root"))
    else:
        out += _program(cfg)
    if cfg.process.capabilities is not None:
        warned = []
        told(capabilities.grantable, cfg.process.capabilities,
             cfg.namespace("user") is not None, warned.append,
             section="config.md#linux-process")
        for w in warned:  # "$.process.capabilities.<set>[i]: <why>"
            where, _, why = w.partition(": ")
            if not where.startswith("$."):
                where, why = "$.process.capabilities", w
            out.append(config.Finding(where, why, "warning", "config.md#linux-process"))
    out += _rlimits(cfg)
    out += _seccomp(cfg)
    out += _controllers(cfg)
    return out


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
    mounted = any(p == m.destination.rstrip("/") or p.startswith(m.destination.rstrip("/") + "/")
                  for p in where for m in cfg.mounts)
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
    """A hard limit above the host's needs CAP_SYS_RESOURCE in the host's
    user namespace (the init sets them before it drops capabilities, and in
    a new user namespace it has none there); RLIMIT_NOFILE never goes
    beyond fs.nr_open."""
    out = []
    privileged = cfg.namespace("user") is None and _cap_effective(CAP_SYS_RESOURCE)
    for i, rl in enumerate(cfg.process.rlimits):
        try:
            host_hard = resource.getrlimit(rl.resource)[1]
        except (ValueError, OSError):
            continue
        above = host_hard != resource.RLIM_INFINITY and \
            (rl.hard == resource.RLIM_INFINITY or rl.hard > host_hard)
        if rl.type == "RLIMIT_NOFILE":
            with open("/proc/sys/fs/nr_open") as f:
                nr_open = int(f.read())
            if rl.hard > nr_open:
                out.append(_error(f"$.process.rlimits[{i}].hard",
                                  f"{rl.type} hard={rl.hard} is above fs.nr_open ({nr_open})",
                                  "config.md#posix-process"))
                continue
        if above and not privileged:
            out.append(_error(
                f"$.process.rlimits[{i}].hard",
                f"cannot set {rl.type} to soft={rl.soft} hard={rl.hard}: the host's hard "
                f"limit is {host_hard} and raising it needs CAP_SYS_RESOURCE",
                "config.md#posix-process"))
    return out


def _seccomp(cfg):
    sec = cfg.seccomp
    if sec is None or not sec.architectures:
        return []
    known = set(seccomp.known_architectures(sec.architectures))
    return [_error(f"$.linux.seccomp.architectures[{i}]", f"architecture {a} is not supported",
                   "config-linux.md#seccomp")
            for i, a in enumerate(sec.architectures) if a not in known]


def _controllers(cfg):
    """The controllers the resources need that no hierarchy of this host has."""
    if cfg.resources is None:
        return []
    mounted = cgroups.hierarchies()
    have = set(mounted)
    if cgroups.UNIFIED in mounted:
        try:
            with open(os.path.join(mounted[cgroups.UNIFIED], "cgroup.controllers")) as f:
                offered = set(f.read().split())
        except OSError:
            offered = set()
        have |= {c for c in ("memory", "cpu", "cpuset", "pids", "blkio", "hugetlb", "rdma",
                             "net_cls", "net_prio", "misc")
                 if resources.V2_NAME.get(c, c) in offered}
    return [_error(resources._section_path(c),
                   f"the {c} controller is not mounted on this host (no cgroup v1 hierarchy "
                   "has it and cgroup2 does not offer it)", "config-linux.md#control-groups")
            for c in resources.controllers(cfg.resources) if c not in have]


def report(found, fmt="text"):
    """The findings as `ocirt validate` prints them."""
    if fmt == "json":
        return jsonio.dumps([{"severity": f.severity, "path": f.path, "message": f.message,
                              "section": f.section} for f in found]) + "\n"
    return "".join(f"{f.severity}: {f.path}: {f.message} ({f.section})\n" for f in found)
