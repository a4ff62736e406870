"""Become the container's process: the child side shared by the container's
init (ocirt.init) and exec's process (tenant, below).

Its attributes (CPU affinity, LSM labels, oom_score_adj), its terminal, then
become(): cwd, rlimits, scheduling, seccomp, user, capabilities; execute():
the last steps and execve. These run in processes forked from ``ocirt create``
or ``ocirt exec`` (see ocirt.protocol), which print nothing: every failure
becomes an ERROR message on the channel followed by _exit (die).
"""
import _signal
import errno

import ocirt
from ocirt import protocol
from ocirt import posixos  # os without its import cost (see there)
from ocirt.errors import ConfigError, OcirtError, SetupError
from ocirt.linux import capabilities, devices, execstub, lsm, mempolicy, mounts, sched, shim
from ocirt.linux.proc import write_proc_file
from ocirt.linux.signals import FORWARDED, IGNORED

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def die(chan, err):
    """A child's end: its error to the parent (ocirt.protocol), exit 1."""
    try:
        chan.send_error(err)
    finally:
        ocirt.TRACE and ocirt.TRACE.flush(final=True, cut=True)
        posixos._exit(1)


def become_root():
    """uid and gid 0 of a user namespace just joined or made."""
    posixos.setresgid(0, 0, 0)
    posixos.setresuid(0, 0, 0)


def set_attributes(cfg, proc):
    """The process's attributes that the kernel keeps across execve, set
    before anything else: process.execCPUAffinity.initial, the LSM labels
    (they take effect at execve) and process.oomScoreAdj. Returns
    process.execCPUAffinity, whose final CPUs execute() sets."""
    affinity = proc.exec_cpu_affinity if proc is not None else None
    if affinity is not None and affinity.initial:
        sched.set_affinity(affinity.initial, "$.process.execCPUAffinity.initial")
    if proc is not None and (proc.apparmor_profile or proc.selinux_label):
        lsm.set_exec_labels(proc.apparmor_profile, proc.selinux_label)
    if proc is not None and proc.oom_score_adj is not None:
        try:
            write_proc_file("/proc/self/oom_score_adj", str(proc.oom_score_adj))
        except OSError as e:
            raise SetupError(f"write /proc/self/oom_score_adj ({proc.oom_score_adj}): "
                             f"{e.strerror}", "$.process.oomScoreAdj")
    return affinity


def tenant(plan):
    """exec's process (Plan kind TENANT), forked by stage-1 inside the
    container's namespaces: its attributes, then execve."""
    chan = plan.chan
    ocirt.TRACE and ocirt.TRACE.process("tenant")
    try:
        cfg = plan.cfg
        proc = cfg.process
        affinity = set_attributes(cfg, proc)
        # its own session and process group, as runc's exec'd process, with
        # a terminal or without (then a shell's job control is its own)
        posixos.setsid()
        if proc.terminal:
            setup_terminal(plan.console, proc.user, proc.console_size)
        # the sealed exec stub (ocirt.linux.execstub), made before become()
        # may load a seccomp filter that refuses memfd_create
        stub_fd = execstub.stub()
        ocirt.TRACE and ocirt.TRACE.begin("become")
        argv0, late = become(cfg, proc, plan.seccomp, chan, plan.preserve_fds, keep=(stub_fd,),
                             caps=plan.caps)
        ocirt.TRACE and ocirt.TRACE.end("become")
        if plan.late_join:
            # a paused container: the parent moves this process into the
            # frozen cgroup, where the kernel stops it until resume
            chan.send(protocol.TENANT_READY)
            chan.expect(protocol.TENANT_PLACED)
        execute(proc, argv0, late, plan.preserve_fds, affinity,
                report=(chan.fileno(), protocol.Channel.exec_failed_frame), stub_fd=stub_fd)
    except BaseException as e:  # noqa: B902
        die(chan, e if isinstance(e, OcirtError) else SetupError(shim.describe(e)))


def setup_terminal(sock, user, size=None, console_path=None):
    """A pty from the container's devpts becomes this process's controlling
    terminal and stdio; its master goes out through the console socket.
    The init also gets it at /dev/console, as runc does."""
    from ocirt import console
    from ocirt.linux import pty
    try:
        master, slave, name = pty.open_pty()
    except OSError as e:
        raise SetupError(f"cannot allocate a terminal in the container: {e.strerror}",
                         "process.terminal")
    try:
        if size:
            pty.set_size(slave, size.height, size.width)
        # the container's own devpts node: let its user own its terminal; the
        # group stays devpts' (gid=5, tty), as runc
        posixos.fchown(slave, user.uid, -1)
        if console_path:
            root_fd = posixos.open("/", posixos.O_PATH | posixos.O_DIRECTORY | posixos.O_CLOEXEC)
            try:
                fd = devices.console_target(root_fd, console_path)
            finally:
                posixos.close(root_fd)
            try:  # by fds: this /proc is the rootfs's name (see rootfs.finish)
                tree = shim.open_tree(slave, "", shim.OPEN_TREE_CLONE | shim.AT_EMPTY_PATH)
                try:
                    mounts.attach(tree, fd)
                finally:
                    posixos.close(tree)
            finally:
                posixos.close(fd)
        pty.become_stdio(slave)
        console.send_master(sock, master)
    finally:
        posixos.close(master)
        sock.close()


def become(cfg, proc, seccomp, chan, preserve_fds, keep=(), caps=None):
    """Give this process the attributes of `proc` (a config.Process), up to the
    exec: cwd, rlimits, scheduling, personality, seccomp (when it must load
    before the capabilities go), user, capabilities <caps> (the masks the
    parent computed: ocirt.linux.capabilities.grantable), no_new_privs, umask.

    Every fd but stdio, the <preserve_fds> after them, the channel and <keep>
    is closed first: before the chdir (see _close_stray_fds), and before the
    seccomp filter, which may refuse close_range (older engines' profiles
    do). Whatever can, happens before the filter.

    Returns (program path, the seccomp filter still to load just before
    execve, or None). Shared by the container's init and by `exec`."""
    if proc is None:
        return None, seccomp
    if ocirt.TRACE:  # its file stays open (close-on-exec: never the container's)
        keep += ocirt.TRACE.keep()
        ocirt.TRACE.profile(cfg.seccomp)
    _close_stray_fds(preserve_fds, keep + (chan.fileno(),))
    # as root first, as runc: a cwd only root may enter (0700) still works
    # for another user; refused (root squashed by NFS), again as the user
    entered = _enter_cwd(proc.cwd, first_try=True)
    _give_stdio_pipes(proc.user.uid)
    _apply_rlimits(proc)
    if proc.scheduler is not None:
        sched.apply_scheduler(proc.scheduler)
    if proc.io_priority is not None:
        sched.apply_io_priority(proc.io_priority)
    if cfg.personality is not None:
        sched.apply_personality(cfg.personality)
    if cfg.memory_policy is not None:
        # late (the runtime's own setup allocates as the host does), but
        # before a seccomp filter that may refuse set_mempolicy
        mempolicy.apply(cfg.memory_policy)
    late = seccomp
    if seccomp is not None and (not proc.no_new_privileges or seccomp.notify):
        # Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: now,
        # before the capabilities go. A filter with a listener is loaded
        # now too: its fd must reach the listener before the process runs.
        # From here on, nothing may need a system call that a profile can
        # refuse (tests/integration/test_seccomp_refusals.py).
        if proc.no_new_privileges:
            shim.prctl(shim.PR_SET_NO_NEW_PRIVS, 1)
        ocirt.TRACE and ocirt.TRACE.filtering()
        _load_seccomp(seccomp)
        ocirt.TRACE and ocirt.TRACE.end("seccomp")
        if seccomp.notify:
            fd = seccomp.notify_fd()
            chan.send_fd(protocol.SECCOMP_FD, fd)
            posixos.close(fd)
        late = None
    _apply_user(proc, caps)
    # a change of uid resets dumpability to fs.suid_dumpable, which a host
    # may set to 1: until it executes the stub, this process is the host's
    # ocirt and no container process may reach it through /proc/<pid>/exe
    shim.prctl(shim.PR_SET_DUMPABLE, 0)
    if proc.no_new_privileges:
        shim.prctl(shim.PR_SET_NO_NEW_PRIVS, 1)
    if not entered:
        _enter_cwd(proc.cwd)
    if proc.user.umask is not None:
        posixos.umask(proc.user.umask)
    return _find_program(proc), late


def _close_stray_fds(preserve_fds, keep):
    """Close every fd other than stdio, the preserved ones (the caller's
    choice) and <keep>. A directory fd that reached this process (an
    engine's fd that was not close-on-exec, a cgroup directory of ours)
    would make a cwd such as /proc/self/fd/N a host directory
    (CVE-2024-21626); any other would reach the container's process."""
    first = 3 + preserve_fds
    for fd in sorted(f for f in keep if f >= first):
        if fd > first:
            shim.close_range(first, fd - 1)
        first = fd + 1
    shim.close_range(first, 0xFFFFFFFF)


def _enter_cwd(cwd, first_try=False):
    """chdir to process.cwd, from which no host directory can be reached
    (stray fds are closed by then: _close_stray_fds). The cwd must be
    reachable from the root: a preserved directory fd could still lead out,
    and getcwd(3) fails for a cwd outside the root ("(unreachable)").

    first_try: a refusal (EACCES, EPERM) returns False instead of failing,
    for a second try as the process's user."""
    try:
        posixos.chdir(cwd)
    except OSError as e:
        if first_try and e.errno in (errno.EACCES, errno.EPERM):
            return False
        raise SetupError(f"chdir({cwd}): {e.strerror}", "$.process.cwd")
    try:
        inside = posixos.getcwd().startswith("/")
    except OSError:
        inside = False
    if not inside:
        raise SetupError(f"chdir({cwd}): the directory is outside the container's root",
                         "$.process.cwd")
    return True


def execute(proc, argv0, late_seccomp, preserve_fds, affinity=None, extra_env=None,
            executing=None, report=None, stub_fd=-1, init=None):
    """The last steps: default signals, final CPU affinity, no stray fds, the
    late seccomp filter, execve through the sealed stub stub_fd (made by the
    caller before any filter: ocirt.linux.execstub). Never returns.

    executing() is called once nothing is left that can fail but loading
    the filter (built and checked at create) and execve itself; before the
    filter, which may forbid the syscalls it makes. report: (fd, frame) to
    tell of a failed execve of the program on fd, framed by
    frame("exec PATH: ") -> (prefix, suffix) (see ocirt.protocol).
    init: (fd, group) of create --init: execute the built-in init from that
    sealed memfd instead, which runs the program as its child (ocirt.linux.pid1)."""
    ocirt.TRACE and ocirt.TRACE.begin("exec")
    for s in FORWARDED + IGNORED:
        _signal.signal(s, _signal.SIG_DFL)
    if affinity is not None and affinity.final:
        sched.set_affinity(affinity.final, "$.process.execCPUAffinity.final")
    _close_fds(preserve_fds)
    if argv0 is None:
        raise SetupError("config.json has no process to start")
    env = process_env(proc)
    env.update(extra_env or {})
    args = list(proc.args)
    if executing is not None:
        executing()
    report_fd, prefix, suffix = -1, "", ""
    if report is not None:
        report_fd = report[0]
        shown = argv0 if len(argv0) <= 1024 else argv0[:1024] + "[...]"  # the stub's buffer
        prefix, suffix = report[1](f"$.process.args: exec {shown}: ")
    permitted = None
    if posixos.geteuid() == 0:  # see execstub.execve: read before the late filter
        try:
            permitted = shim.capget()[1]
        except OSError:  # an early filter refusing capget: the stub skips it
            pass
    if late_seccomp is not None:
        ocirt.TRACE and ocirt.TRACE.filtering()
        _load_seccomp(late_seccomp)  # as late as possible: only execve follows
        ocirt.TRACE and ocirt.TRACE.end("seccomp")
    ocirt.TRACE and ocirt.TRACE.flush(final=True)  # execve closes the file (close-on-exec)
    try:
        if init is not None:
            from ocirt.linux import pid1  # imported by the init before pivot_root
            pid1.execve(init[0], init[1], argv0, args, env, report_fd, prefix, suffix, permitted)
        execstub.execve(stub_fd, argv0, args, env, report_fd, prefix, suffix, permitted)
    except OSError as e:  # the stub itself: E2BIG (argv and environment are its too)
        raise SetupError(shim.describe(e), "$.process.args")


def process_env(proc):
    """process.env as a dict, with HOME where it is unset or empty (podman
    exec gives a uid without a passwd entry "HOME="): the user's home, as
    runc; programs expect one. Reads the container's /etc/passwd."""
    env = dict(e.split("=", 1) for e in proc.env)
    if not env.get("HOME"):
        env["HOME"] = _home_of(proc.user.uid)
    return env


def _home_of(uid):
    """uid's home directory in the container's /etc/passwd, else "/"."""
    try:
        with open("/etc/passwd", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid) and fields[5]:
                    return fields[5]
    except OSError:
        pass
    return "/"


def _load_seccomp(f):
    try:
        f.load()
    except OSError as e:
        raise SetupError(str(e.strerror or e), "linux.seccomp")


def _apply_rlimits(proc):
    for rl in proc.rlimits:
        try:
            shim.setrlimit(rl.resource, rl.soft, rl.hard)
        except (OverflowError, OSError) as e:
            cur = shim.getrlimit(rl.resource)
            raise rlimit_refused(rl, cur[1], e.strerror if isinstance(e, OSError) else e)


def rlimit_refused(rl, host_hard, why):
    """The error of an rlimit the kernel refused (`ocirt validate` predicts it)."""
    return ConfigError(
        f"cannot set {rl.type} to soft={rl.soft} hard={rl.hard}: the host's hard "
        f"limit is {_limit(host_hard)} and raising it needs CAP_SYS_RESOURCE ({why})",
        "process.rlimits")


def _limit(value):
    return "unlimited" if value == (1 << 64) - 1 else value


def _give_stdio_pipes(uid):
    """The engine's pipes on fds 0-2 become the process user's (the uid only,
    as runc), so that it can also reopen them: /dev/stdout, /dev/stdin,
    /proc/self/fd/N. Only anonymous pipes: a host file, a terminal or
    /dev/null never changes owner."""
    if uid == 0:
        return
    r, w = posixos.pipe()
    pipefs = posixos.fstat(r).st_dev  # every anonymous pipe lives on the one pipefs
    posixos.close(r)
    posixos.close(w)
    for fd in (0, 1, 2):
        try:
            st = posixos.fstat(fd)
            if st.st_dev == pipefs and st.st_uid != uid:
                posixos.fchown(fd, uid, -1)
        except OSError:  # not open, or the uid is not mapped (user namespace)
            pass


def _apply_user(proc, caps):
    """setgroups, setresgid, setresuid, and the capability sets <caps> (the
    masks ocirt.linux.capabilities.grantable computed in the parent before
    the fork: what cannot be granted was warned about there and is left out)."""
    user = proc.user
    if caps is not None:
        try:
            capabilities.apply_bounding(caps["bounding"])
        except OSError as e:
            raise SetupError(shim.describe(e), "$.process.capabilities.bounding")
        shim.prctl(shim.PR_SET_KEEPCAPS, 1)
    try:
        shim.setgroups(list(user.additional_gids))
    except OSError as e:
        if not (e.errno == 1 and not user.additional_gids):
            raise SetupError(f"setgroups({len(user.additional_gids)} groups): {e.strerror}",
                             "$.process.user.additionalGids")
    try:
        posixos.setresgid(user.gid, user.gid, user.gid)
        posixos.setresuid(user.uid, user.uid, user.uid)
    except OSError as e:
        raise SetupError(f"cannot switch to uid {user.uid} gid {user.gid}: {e.strerror}",
                         "$.process.user")
    if caps is not None:
        try:
            capabilities.apply_sets(caps["effective"], caps["permitted"], caps["inheritable"],
                                    caps["ambient"])
        except OSError as e:
            raise SetupError(shim.describe(e), "$.process.capabilities")


def _find_program(proc):
    name = proc.args[0]
    env_path = DEFAULT_PATH
    for e in proc.env:
        if e.startswith("PATH="):
            env_path = e[5:]
    candidates = [name] if "/" in name else [posixos.path.join(d or ".", name)
                                             for d in env_path.split(":")]
    for c in candidates:
        if posixos.path.isfile(c) and posixos.access(c, posixos.X_OK):
            return c
    # runc's words: engines map them to exit codes (podman and docker: 127
    # for "no such file or directory" and "not found", 126 for "permission denied")
    if "/" not in name:
        raise SetupError(f"exec: {name!r}: executable file not found in $PATH",
                         "process.args[0]")
    if not posixos.path.exists(name):
        raise SetupError(f"exec: {name!r}: stat {name}: no such file or directory",
                         "process.args[0]")
    raise SetupError(f"exec: {name!r}: permission denied", "process.args[0]")


def _close_fds(preserve):
    """Only stdio and the preserved fds may reach the container process.

    After the seccomp filter (the early one): close_range may be refused
    (EPERM, or ENOSYS as a profile says it), so the fds of /proc/self/fd
    are then marked one by one with fcntl."""
    first = 3 + preserve
    for fd in range(3, first):
        _set_cloexec(fd, False)
    try:
        shim.close_range(first, 0xFFFFFFFF, shim.CLOSE_RANGE_CLOEXEC)
        return
    except OSError:
        pass
    for name in posixos.listdir("/proc/self/fd"):  # its own fd is gone once it returns
        if int(name) >= first:
            _set_cloexec(int(name), True)


def _set_cloexec(fd, on):
    """fcntl(F_SETFD), not os.set_inheritable: that tries ioctl(FIOCLEX)
    first, and fails if a seccomp profile refuses it."""
    import fcntl  # built in: importable after pivot_root
    try:
        fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC if on else 0)
    except OSError:
        pass  # not open
