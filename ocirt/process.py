"""The container side of creation: stage-1 (namespaces) and stage-2 (init).

Both run in processes forked from ``ocirt create``; see ocirt.protocol for
the conversation with the parent. Neither prints anything: every failure
becomes an ERROR message on the channel followed by _exit.
"""
import _signal
import _socket
import errno

from ocirt import hooks, protocol
from ocirt import posixos as os  # os without its import cost (see there)
from ocirt.errors import ConfigError, OcirtError, SetupError
from ocirt.linux import (capabilities, cgroupfs, devices, execstub, lsm, mempolicy, mounts,
                         rootfs, sched, shim)
from ocirt.linux.cgroups import Cgroup
from ocirt.linux.proc import write_proc_file

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# (_signal rather than signal: that module imports enum, ~5 ms of every create)
_FORWARDED = (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGQUIT,
              _signal.SIGUSR1, _signal.SIGUSR2)
# the runtime ignores these, as the python command does (csrc/launcher.c);
# a program it executes gets them back at their defaults
IGNORED = (_signal.SIGPIPE, _signal.SIGXFSZ)


def _die(chan, err):
    try:
        chan.send_error(err)
    finally:
        os._exit(1)


def stage1(plan):
    """Join/unshare namespaces, fork the init, report its pid, exit."""
    chan = plan.chan
    try:
        _join(plan)
        cfg = plan.cfg
        flags = 0
        for ns in cfg.namespaces:
            if ns.path is None and ns.type not in ("user", "cgroup"):
                flags |= ns.flag
        if flags:
            shim.unshare(flags)
        offsets = cfg.time_offsets
        if offsets:
            _write_time_offsets(offsets)
        hand_over(chan, stage2, plan)
    except BaseException as e:  # noqa: B902 - everything must reach the parent
        _die(chan, e if isinstance(e, OcirtError) else SetupError(_describe(e)))


def cloned_init(plan):
    """The init when clone3 made its new namespaces itself (see
    ocirt.container.create): stage-1's joins, then stage-2 in this process."""
    try:
        _join(plan)
    except BaseException as e:  # noqa: B902 - everything must reach the parent
        _die(plan.chan, e if isinstance(e, OcirtError) else SetupError(_describe(e)))
    stage2(plan)


def _join(plan):
    """Non-dumpable, GO, then the cgroups and the namespaces given by path
    (a user namespace first, joined or new)."""
    chan = plan.chan
    shim.prctl(shim.PR_SET_DUMPABLE, 0)
    chan.expect(protocol.GO)
    cfg = plan.cfg
    try:
        # As host root, before any user namespace: stage-2 inherits it.
        Cgroup(plan.cgroup_paths).join_self(plan.in_unified)
    except OSError as e:
        raise SetupError(f"cannot join cgroup: {e.strerror} ({e.filename})")
    joined = dict((ns.type, fd) for ns, fd in plan.ns_fds)
    if "user" in joined:
        shim.setns(joined.pop("user"), shim.CLONE_NEWUSER)
        _become_root()
    elif cfg.namespace("user"):
        shim.unshare(shim.CLONE_NEWUSER)
        chan.send(protocol.USERNS)
        chan.expect(protocol.MAPPED)
        _become_root()
    for ns, fd in plan.ns_fds:
        if ns.type in joined:
            try:
                shim.setns(fd, ns.flag)
            except OSError as e:
                raise SetupError(f"cannot join {ns.type} namespace {ns.path}: {e.strerror}",
                                 f"$.linux.namespaces[{cfg.namespaces.index(ns)}].path")


def hand_over(chan, next_stage, plan):
    """stage-1's last step (create's and exec's): fork next_stage(plan), which
    never returns, report its pid to the parent, exit."""
    pid = os.fork()
    if pid == 0:
        try:
            next_stage(plan)
        finally:
            os._exit(1)
    chan.send(protocol.PID, pid=pid)
    os._exit(0)


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


def _become_root():
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def _describe(e):
    return shim.describe(e)


def _exit_on_signal(signum, frame):
    os._exit(128 + signum)


def stage2(plan):
    """The container's init: build the environment, wait for start, exec."""
    chan = plan.chan
    try:
        for s in _FORWARDED:
            _signal.signal(s, _exit_on_signal)
        os.setsid()
        # every program this process runs in the container goes through the
        # sealed stub (ocirt.linux.execstub): the hooks and the process
        plan.stub_fd = execstub.stub()
        cfg = plan.cfg
        proc = cfg.process
        in_userns = cfg.namespace("user") is not None
        if cfg.hostname is not None:
            try:
                _socket.sethostname(cfg.hostname)
            except OSError as e:
                raise SetupError(f"sethostname({cfg.hostname}): {e.strerror}", "$.hostname")
        if cfg.domainname is not None:
            try:
                shim.setdomainname(cfg.domainname)
            except OSError as e:
                raise SetupError(_describe(e), "$.domainname")
        netns = cfg.namespace("network")
        if netns is not None and netns.path is None:
            # a new network namespace has only lo, and it starts down: bring
            # it up, as runc does (engines count on it with --network none)
            try:
                shim.link_up("lo")
            except OSError as e:
                raise SetupError(f"cannot bring up the loopback interface: {e.strerror}")
        if plan.keyring is not None:
            try:
                shim.join_session_keyring(plan.keyring)
            except OSError as e:
                if e.errno != errno.ENOSYS:  # a kernel without keys: nothing to isolate
                    raise SetupError(f"cannot create a session keyring: {e.strerror}")
        affinity = proc.exec_cpu_affinity if proc is not None else None
        if affinity is not None and affinity.initial:
            sched.set_affinity(affinity.initial, "$.process.execCPUAffinity.initial")
        if proc is not None and (proc.apparmor_profile or proc.selinux_label):
            # take effect at execve; written while the host's /proc is still here
            lsm.set_exec_labels(proc.apparmor_profile, proc.selinux_label)
        if proc is not None and proc.oom_score_adj is not None:
            try:
                write_proc_file("/proc/self/oom_score_adj", str(proc.oom_score_adj))
            except OSError as e:
                raise SetupError(f"write /proc/self/oom_score_adj ({proc.oom_score_adj}): "
                                 f"{e.strerror}", "$.process.oomScoreAdj")
        if proc is not None and proc.terminal:
            # what the terminal setup needs, loaded while the host's files are
            # still reachable (after pivot_root they are not)
            from ocirt import console  # noqa: F401
            from ocirt.linux import pty  # noqa: F401
        cgroupns = cfg.namespace("cgroup")
        if cgroupns is not None and cgroupns.path is None:
            # born in the container's cgroups (stage-1 joined them), so this
            # namespace is rooted there
            shim.unshare(shim.CLONE_NEWCGROUP)
        prepared = rootfs.prepare(cfg, cgroupfs.mounter(plan.cgroup_paths, cgroupns), in_userns,
                                  plan.idmap_fds, _mount_sources(chan, plan.mount_sources))
        hook_state = None
        if any(p in cfg.hooks for p in ("prestart", "createRuntime", "createContainer",
                                        "startContainer")):
            chan.send(protocol.HOOKS)
            hook_state = chan.expect(protocol.HOOKS_DONE)["state"]
            # as runc's init: a hook without env gets the process's (no HOME yet)
            hooks.run("createContainer", cfg.hooks.get("createContainer", ()), hook_state,
                      stub_fd=plan.stub_fd, cwd=cfg.root_path,
                      env=dict(e.split("=", 1) for e in proc.env) if proc else {})
        if proc is not None:
            _make_cwd(cfg.root_path, proc.cwd)
        rootfs.pivot(cfg.root_path, plan.no_pivot, cfg.namespace("mount") is not None)
        _apply_sysctl(cfg)  # before readonlyPaths: engines list /proc/sys there
        rootfs.finish(cfg, prepared)
        if proc is not None and proc.terminal:
            setup_terminal(plan.console, proc.user, proc.console_size,
                           console_path="/dev/console")
        rootfs.seal(cfg, prepared)
        argv0, late_seccomp = become(cfg, proc, plan.seccomp, chan, plan.preserve_fds,
                                     keep=(plan.exec_sock.fileno(), plan.stub_fd),
                                     caps=plan.caps)
        chan.send(protocol.READY)
        _wait_for_start(plan)
        if "startContainer" in cfg.hooks:
            hooks.run("startContainer", cfg.hooks["startContainer"], hook_state,
                      stub_fd=plan.stub_fd, env=process_env(proc) if proc else {})
        execute(proc, argv0, late_seccomp, plan.preserve_fds, affinity, plan.extra_env,
                executing=lambda: _tell_start(plan.start_conn),
                report=(plan.start_conn.fileno(), protocol.exec_failed_frame),
                stub_fd=plan.stub_fd)
    except BaseException as e:  # noqa: B902
        err = e if isinstance(e, OcirtError) else SetupError(_describe(e))
        conn = getattr(plan, "start_conn", None)
        if conn is not None:
            try:
                conn.send(protocol.EXEC_FAILED + str(err).encode())
            except OSError:
                pass
            os._exit(127)
        _die(chan, err)


def _mount_sources(chan, expected):
    """{mount index: fd} of the bind sources create cloned for this init
    (ocirt.container.create: with a user namespace)."""
    trees = {}
    try:
        for _ in expected:
            msg, fds = chan.recv_with_fds()
            for fd in fds[1:]:
                os.close(fd)
            if fds and msg is not None and msg["t"] == protocol.MOUNT_SOURCE:
                trees[msg["i"]] = fds[0]
            elif fds:
                os.close(fds[0])
            protocol.check_message(msg, protocol.MOUNT_SOURCE)
            if not fds:
                raise SetupError("protocol: MOUNT_SOURCE came without its fd")
    except BaseException:
        for fd in trees.values():
            os.close(fd)
        raise
    return trees


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
        os.fchown(slave, user.uid, -1)
        if console_path:
            root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fd = devices.console_target(root_fd, console_path)
            finally:
                os.close(root_fd)
            try:  # by fds: this /proc is the rootfs's name (see rootfs.finish)
                tree = shim.open_tree(slave, "", shim.OPEN_TREE_CLONE | shim.AT_EMPTY_PATH)
                try:
                    mounts.attach(tree, fd)
                finally:
                    os.close(tree)
            finally:
                os.close(fd)
        pty.become_stdio(slave)
        console.send_master(sock, master)
    finally:
        os.close(master)
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
        _load_seccomp(seccomp)
        if seccomp.notify:
            fd = seccomp.notify_fd()
            chan.send_fd(protocol.SECCOMP_FD, fd)
            os.close(fd)
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
        os.umask(proc.user.umask)
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
        os.chdir(cwd)
    except OSError as e:
        if first_try and e.errno in (errno.EACCES, errno.EPERM):
            return False
        raise SetupError(f"chdir({cwd}): {e.strerror}", "$.process.cwd")
    try:
        inside = os.getcwd().startswith("/")
    except OSError:
        inside = False
    if not inside:
        raise SetupError(f"chdir({cwd}): the directory is outside the container's root",
                         "$.process.cwd")
    return True


def execute(proc, argv0, late_seccomp, preserve_fds, affinity=None, extra_env=None,
            executing=None, report=None, stub_fd=-1):
    """The last steps: default signals, final CPU affinity, no stray fds, the
    late seccomp filter, execve through the sealed stub stub_fd (made by the
    caller before any filter: ocirt.linux.execstub). Never returns.

    executing() is called once nothing is left that can fail but loading
    the filter (built and checked at create) and execve itself; before the
    filter, which may forbid the syscalls it makes. report: (fd, frame) to
    tell of a failed execve of the program on fd, framed by
    frame("exec PATH: ") -> (prefix, suffix) (see ocirt.protocol)."""
    for s in _FORWARDED + IGNORED:
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
    if os.geteuid() == 0:  # see execstub.execve: read before the late filter
        try:
            permitted = shim.capget()[1]
        except OSError:  # an early filter refusing capget: the stub skips it
            pass
    if late_seccomp is not None:
        _load_seccomp(late_seccomp)  # as late as possible: only execve follows
    try:
        execstub.execve(stub_fd, argv0, args, env, report_fd, prefix, suffix, permitted)
    except OSError as e:  # the stub itself: E2BIG (argv and environment are its too)
        raise SetupError(_describe(e), "$.process.args")


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


def _make_cwd(root, cwd):
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(mounts.make_in_root(root_fd, cwd))
    except OSError as e:
        raise SetupError(f"cannot create process.cwd {cwd}: {e.strerror}", "$.process.cwd")
    finally:
        os.close(root_fd)


def _apply_sysctl(cfg):
    for key, value in cfg.sysctl:
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            write_proc_file(path, value)  # procfs's own file, nothing mounted over it
        except OSError as e:
            raise SetupError(f"cannot set {key}: {e.strerror}", f"$.linux.sysctl[{key!r}]")


def _apply_rlimits(proc):
    for rl in proc.rlimits:
        try:
            shim.setrlimit(rl.resource, rl.soft, rl.hard)
        except (OverflowError, OSError) as e:
            cur = shim.getrlimit(rl.resource)
            raise ConfigError(
                f"cannot set {rl.type} to soft={rl.soft} hard={rl.hard}: the host's hard "
                f"limit is {_limit(cur[1])} and raising it needs CAP_SYS_RESOURCE "
                f"({e.strerror if isinstance(e, OSError) else e})", "process.rlimits")


def _limit(value):
    return "unlimited" if value == (1 << 64) - 1 else value


def _give_stdio_pipes(uid):
    """The engine's pipes on fds 0-2 become the process user's (the uid only,
    as runc), so that it can also reopen them: /dev/stdout, /dev/stdin,
    /proc/self/fd/N. Only anonymous pipes: a host file, a terminal or
    /dev/null never changes owner."""
    if uid == 0:
        return
    r, w = os.pipe()
    pipefs = os.fstat(r).st_dev  # every anonymous pipe lives on the one pipefs
    os.close(r)
    os.close(w)
    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
            if st.st_dev == pipefs and st.st_uid != uid:
                os.fchown(fd, uid, -1)
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
            raise SetupError(_describe(e), "$.process.capabilities.bounding")
        shim.prctl(shim.PR_SET_KEEPCAPS, 1)
    try:
        shim.setgroups(list(user.additional_gids))
    except OSError as e:
        if not (e.errno == 1 and not user.additional_gids):
            raise SetupError(f"setgroups({len(user.additional_gids)} groups): {e.strerror}",
                             "$.process.user.additionalGids")
    try:
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
    except OSError as e:
        raise SetupError(f"cannot switch to uid {user.uid} gid {user.gid}: {e.strerror}",
                         "$.process.user")
    if caps is not None:
        try:
            capabilities.apply_sets(caps["effective"], caps["permitted"], caps["inheritable"],
                                    caps["ambient"])
        except OSError as e:
            raise SetupError(_describe(e), "$.process.capabilities")


def _find_program(proc):
    name = proc.args[0]
    env_path = DEFAULT_PATH
    for e in proc.env:
        if e.startswith("PATH="):
            env_path = e[5:]
    candidates = [name] if "/" in name else [os.path.join(d or ".", name)
                                             for d in env_path.split(":")]
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    # runc's words: engines map them to exit codes (podman and docker: 127
    # for "no such file or directory" and "not found", 126 for "permission denied")
    if "/" not in name:
        raise SetupError(f"exec: {name!r}: executable file not found in $PATH",
                         "process.args[0]")
    if not os.path.exists(name):
        raise SetupError(f"exec: {name!r}: stat {name}: no such file or directory",
                         "process.args[0]")
    raise SetupError(f"exec: {name!r}: permission denied", "process.args[0]")


def _wait_for_start(plan):
    sock = plan.exec_sock
    while True:
        fd, _ = sock._accept()  # close-on-exec, like socket.accept()
        # family, type and protocol given: else Python asks getsockname and
        # getsockopt, under the seccomp filter already (loaded early)
        conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fileno=fd)
        data = conn.recv(1)
        if data == protocol.START:
            plan.start_conn = conn
            sock.close()
            return
        conn.close()


def _tell_start(conn):
    """`start` may return now (see ocirt.protocol): EXECUTING. Should the
    exec still fail, start hears of it only if it waits for the exec (it does
    when there are poststart hooks); the container stops either way."""
    try:
        conn.send(protocol.EXECUTING)
    except OSError:
        pass  # start is gone: the container runs all the same


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
    for name in os.listdir("/proc/self/fd"):  # its own fd is gone once it returns
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
