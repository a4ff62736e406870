"""The container's init: stage-2 of create (Plan kind INIT).

Forked by stage-1 (ocirt.stage1) in the container's namespaces, or cloned
into them by create at once (stage1.cloned_init). It builds the rootfs, runs
the createContainer hooks, pivots, becomes the container's process
(ocirt.become) and waits for `start` on exec.sock; see ocirt.protocol for
the conversation. Every module it needs is imported here, at the top: after
pivot_root the host's files (ocirt's modules among them) are out of reach.
"""
import _signal
import _socket
import errno

import ocirt
from ocirt import hooks, protocol
from ocirt import posixos  # os without its import cost (see there)
from ocirt.become import (become, die, execute, process_env, set_attributes,
                          setup_terminal)
from ocirt.linux.signals import FORWARDED
from ocirt.errors import OcirtError, SetupError
from ocirt.linux import cgroupfs, execstub, mounts, rootfs, shim
from ocirt.linux.proc import host_root, write_proc_file


def _exit_on_signal(signum, frame):
    posixos._exit(128 + signum)


def run(plan):
    """The container's init: build the environment, wait for start, exec."""
    chan = plan.chan
    ocirt.TRACE and ocirt.TRACE.process("init")
    try:
        for s in FORWARDED:
            _signal.signal(s, _exit_on_signal)
        posixos.setsid()
        # every program this process runs in the container goes through the
        # sealed stub (ocirt.linux.execstub): the hooks and the process
        plan.stub_fd = execstub.stub()
        cfg = plan.cfg
        proc = cfg.process
        # (rootless podman runs the runtime in a user namespace of its own,
        # and the config has none: mknod is refused there too)
        in_userns = cfg.namespace("user") is not None or not host_root()
        if cfg.hostname is not None:
            try:
                _socket.sethostname(cfg.hostname)
            except OSError as e:
                raise SetupError(f"sethostname({cfg.hostname}): {e.strerror}", "$.hostname")
        if cfg.domainname is not None:
            try:
                shim.setdomainname(cfg.domainname)
            except OSError as e:
                raise SetupError(shim.describe(e), "$.domainname")
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
        # written while the host's /proc is still here
        affinity = set_attributes(cfg, proc)
        if plan.init is not None:
            # execute()'s, before pivot_root (create, which made plan.init, has it loaded)
            from ocirt.linux import pid1  # noqa: F401
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
        ocirt.TRACE and ocirt.TRACE.begin("mounts")
        prepared = rootfs.prepare(cfg, cgroupfs.mounter(plan.cgroup_paths, cgroupns), in_userns,
                                  plan.idmap_fds, _mount_sources(chan, plan.mount_sources))
        ocirt.TRACE and ocirt.TRACE.end("mounts")
        hook_state = None
        if any(p in cfg.hooks for p in ("prestart", "createRuntime", "createContainer",
                                        "startContainer")):
            ocirt.TRACE and ocirt.TRACE.begin("hooks", points="createContainer")
            chan.send(protocol.HOOKS)
            hook_state = chan.expect(protocol.HOOKS_DONE)["state"]
            # as runc's init: a hook without env gets the process's (no HOME yet)
            hooks.run("createContainer", cfg.hooks.get("createContainer", ()), hook_state,
                      stub_fd=plan.stub_fd, cwd=cfg.root_path,
                      env=dict(e.split("=", 1) for e in proc.env) if proc else {})
            ocirt.TRACE and ocirt.TRACE.end("hooks")
        if proc is not None:
            _make_cwd(cfg.root_path, proc.cwd)
        ocirt.TRACE and ocirt.TRACE.begin("pivot")
        rootfs.pivot(cfg.root_path, plan.no_pivot, cfg.namespace("mount") is not None)
        ocirt.TRACE and ocirt.TRACE.next("finish")
        _apply_sysctl(cfg)  # before readonlyPaths: engines list /proc/sys there
        rootfs.finish(cfg, prepared)
        if proc is not None and proc.terminal:
            setup_terminal(plan.console, proc.user, proc.console_size,
                           console_path="/dev/console")
        rootfs.seal(cfg, prepared)
        ocirt.TRACE and ocirt.TRACE.next("become")
        argv0, late_seccomp = become(cfg, proc, plan.seccomp, chan, plan.preserve_fds,
                                     keep=(plan.exec_sock.fileno(), plan.stub_fd)
                                     + ((plan.init[0],) if plan.init else ()),
                                     caps=plan.caps)
        ocirt.TRACE and ocirt.TRACE.end("become")
        ocirt.TRACE and ocirt.TRACE.flush()  # what the init did so far, should it never start
        chan.send(protocol.READY)
        ocirt.TRACE and ocirt.TRACE.begin("exec.sock")
        _wait_for_start(plan)
        ocirt.TRACE and ocirt.TRACE.end("exec.sock")
        if "startContainer" in cfg.hooks:
            ocirt.TRACE and ocirt.TRACE.begin("hooks", points="startContainer")
            hooks.run("startContainer", cfg.hooks["startContainer"], hook_state,
                      stub_fd=plan.stub_fd, env=process_env(proc) if proc else {})
            ocirt.TRACE and ocirt.TRACE.end("hooks")
        execute(proc, argv0, late_seccomp, plan.preserve_fds, affinity, plan.extra_env,
                executing=lambda: _tell_start(plan.start_conn),
                report=(plan.start_conn.fileno(), protocol.exec_failed_frame),
                stub_fd=plan.stub_fd, init=plan.init)
    except BaseException as e:  # noqa: B902
        err = e if isinstance(e, OcirtError) else SetupError(shim.describe(e))
        conn = plan.start_conn
        if conn is not None:
            try:
                conn.send(protocol.EXEC_FAILED + str(err).encode())
            except OSError:
                pass
            posixos._exit(127)
        die(chan, err)


def _mount_sources(chan, expected):
    """{mount index: fd} of the bind sources create cloned for this init
    (ocirt.container.create: with a user namespace)."""
    trees = {}
    try:
        for _ in expected:
            msg, fds = chan.recv_with_fds()
            for fd in fds[1:]:
                posixos.close(fd)
            if fds and msg is not None and msg["t"] == protocol.MOUNT_SOURCE:
                trees[msg["i"]] = fds[0]
            elif fds:
                posixos.close(fds[0])
            protocol.check_message(msg, protocol.MOUNT_SOURCE)
            if not fds:
                raise SetupError("protocol: MOUNT_SOURCE came without its fd")
    except BaseException:
        for fd in trees.values():
            posixos.close(fd)
        raise
    return trees


def _make_cwd(root, cwd):
    root_fd = posixos.open(root, posixos.O_PATH | posixos.O_DIRECTORY | posixos.O_CLOEXEC)
    try:
        posixos.close(mounts.make_in_root(root_fd, cwd))
    except OSError as e:
        raise SetupError(f"cannot create process.cwd {cwd}: {e.strerror}", "$.process.cwd")
    finally:
        posixos.close(root_fd)


def _apply_sysctl(cfg):
    for key, value in cfg.sysctl:
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            write_proc_file(path, value)  # procfs's own file, nothing mounted over it
        except OSError as e:
            raise SetupError(f"cannot set {key}: {e.strerror}", f"$.linux.sysctl[{key!r}]")


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
