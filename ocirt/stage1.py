"""stage-1: the one process between the parent (create or exec) and the
container's process, for both kinds of Plan (ocirt.protocol).

It joins the container's cgroups and namespaces (the user namespace first,
joined or new), makes create's new ones, then forks the last stage inside
them (pid 1 of a new pid namespace for create), reports its pid and exits:
the last stage is the container's init (ocirt.init) or exec's process
(ocirt.become.tenant). The modules each needs are imported before any setns:
once in the container's mount namespace, the host's files are out of reach.
"""
import ocirt
from ocirt import become, protocol
from ocirt import posixos  # os without its import cost (see there)
from ocirt.become import become_root, die
from ocirt.errors import OcirtError, SetupError
from ocirt.linux import shim
from ocirt.linux.cgroups import Cgroup
from ocirt.linux.proc import write_proc_file


def stage1(plan):
    """Join the cgroups and namespaces, make create's new ones, fork the
    last stage, report its pid, exit."""
    chan = plan.chan
    ocirt.TRACE and ocirt.TRACE.process("stage-1")
    try:
        next_stage = _next_stage(plan)
        _join(plan)
        if plan.kind == protocol.INIT:
            cfg = plan.cfg
            flags = 0
            for ns in cfg.namespaces:
                if ns.path is None and ns.type not in ("user", "cgroup"):
                    flags |= ns.flag
            if flags:
                ocirt.TRACE and ocirt.TRACE.begin("namespaces")
                shim.unshare(flags)
                ocirt.TRACE and ocirt.TRACE.end("namespaces")
            offsets = cfg.time_offsets
            if offsets:
                _write_time_offsets(offsets)
        hand_over(chan, next_stage, plan)
    except BaseException as e:  # noqa: B902 - everything must reach the parent
        die(chan, e if isinstance(e, OcirtError) else SetupError(shim.describe(e)))


def cloned_init(plan):
    """The init when clone3 made its new namespaces itself (see
    ocirt.container.create): stage-1's joins, then the init in this process."""
    ocirt.TRACE and ocirt.TRACE.process("init")
    try:
        next_stage = _next_stage(plan)
        _join(plan)
    except BaseException as e:  # noqa: B902 - everything must reach the parent
        die(plan.chan, e if isinstance(e, OcirtError) else SetupError(shim.describe(e)))
    next_stage(plan)


def _next_stage(plan):
    """The last stage of plan's kind, with every module it needs imported
    now (see the module's docstring)."""
    if plan.kind == protocol.INIT:
        ocirt.TRACE and ocirt.TRACE.begin("import", module="ocirt.init")
        from ocirt import init  # its own imports load what it needs before pivot_root
        ocirt.TRACE and ocirt.TRACE.end("import")
        return init.run
    if plan.cfg.process.terminal:
        from ocirt import console  # noqa: F401
        from ocirt.linux import pty  # noqa: F401
    return become.tenant


def _join(plan):
    """Non-dumpable, GO (create's), then the cgroups (now, unless a paused
    container's process joins its frozen cgroup last) and the namespaces
    given by fd (a user namespace first, joined or new; exec's last may be
    ("root", fd): the init's root, for a container without a mount
    namespace)."""
    chan = plan.chan
    shim.prctl(shim.PR_SET_DUMPABLE, 0)
    init = plan.kind == protocol.INIT
    if init:
        ocirt.TRACE and ocirt.TRACE.begin("GO")
        chan.expect(protocol.GO)
        ocirt.TRACE and ocirt.TRACE.end("GO")
    cfg = plan.cfg
    if not plan.late_join:
        try:
            # As host root, before any user namespace: the next stage inherits it.
            ocirt.TRACE and ocirt.TRACE.begin("cgroups")
            Cgroup(plan.cgroup_paths).join_self(plan.in_unified)
            ocirt.TRACE and ocirt.TRACE.end("cgroups")
        except OSError as e:
            raise SetupError(f"cannot join cgroup: {e.strerror} ({e.filename})")
    joined = dict(plan.ns_fds)
    ocirt.TRACE and ocirt.TRACE.begin("namespaces")
    if "user" in joined:
        if init:
            shim.setns(joined["user"], shim.CLONE_NEWUSER)
        else:
            _setns(plan, "user", joined["user"])
        become_root()
    elif init and cfg.namespace("user"):
        # a parent other than root writes the maps as the file's owner:
        # dumpable meanwhile, or /proc/<pid>/uid_map is root's (ptrace(2))
        unprivileged = posixos.geteuid() != 0
        shim.unshare(shim.CLONE_NEWUSER)
        if unprivileged:
            shim.prctl(shim.PR_SET_DUMPABLE, 1)
        chan.send(protocol.USERNS)
        chan.expect(protocol.MAPPED)
        if unprivileged:
            shim.prctl(shim.PR_SET_DUMPABLE, 0)
        become_root()
    for ns_type, fd in plan.ns_fds:
        if ns_type == "user":
            continue
        if ns_type == "root":  # the init's root (no mount namespace): the last one
            try:
                posixos.fchdir(fd)
                posixos.chroot(".")
            except OSError as e:
                raise SetupError(f"cannot enter the container's root: {e.strerror}")
            continue
        _setns(plan, ns_type, fd)
    ocirt.TRACE and ocirt.TRACE.end("namespaces")


def _setns(plan, ns_type, fd):
    """setns(2) into the namespace of <ns_type> held by <fd>; its error
    names the config's path (create) or the container (exec)."""
    ns = plan.cfg.namespace(ns_type)
    try:
        shim.setns(fd, ns.flag)
    except OSError as e:
        if plan.kind == protocol.INIT:
            raise SetupError(f"cannot join {ns_type} namespace {ns.path}: {e.strerror}",
                             f"$.linux.namespaces[{plan.cfg.namespaces.index(ns)}].path")
        raise SetupError(f"cannot join the container's {ns_type} namespace: {e.strerror}")


def hand_over(chan, next_stage, plan):
    """stage-1's last step: fork next_stage(plan), which never returns,
    report its pid to the parent, exit."""
    pid = posixos.fork()
    if pid == 0:
        try:
            next_stage(plan)
        finally:
            posixos._exit(1)
    chan.send(protocol.PID, pid=pid)
    ocirt.TRACE and ocirt.TRACE.flush(final=True)
    posixos._exit(0)


def _write_time_offsets(offsets):
    """Clock offsets (config.TimeOffset) of the new time namespace: before
    any process enters it."""
    lines = []
    for off in offsets:
        lines.append(f"{off.clock} {off.secs} {off.nanosecs}\n")
    try:
        write_proc_file("/proc/self/timens_offsets", "".join(lines))
    except OSError as e:
        raise SetupError(f"cannot set time offsets: {e.strerror}", "$.linux.timeOffsets")
