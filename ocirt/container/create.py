"""create: build the container and leave its init waiting for start.

The parent's side of the conversation in ocirt.protocol; the children's side
is ocirt.stage1 and ocirt.init, with a Plan of kind INIT.
"""

import _signal
import posix  # its environ, with bytes: os.environ would import os
import time

import ocirt
from ocirt import SPEC_VERSION, config as config_mod, debug, errors, log, state
from ocirt import posixos  # os without its import cost (see there)
from ocirt.linux.proc import host_root
from ocirt.state import EXEC_SOCKET



def create(root, cid, bundle, pid_file=None, console_socket=None, no_pivot=False,
           preserve_fds=0, no_new_keyring=False, systemd=False,
           console=None, cfg=None, init=False):
    """Build the container and leave its init waiting for start. Returns the init pid.

    console: an already connected console socket (run's own), instead of a path;
    cfg: the bundle's config, when the caller has loaded it already (run);
    init: --init, the built-in init as pid 1 (also the annotation org.ocirt.init)."""
    state.check_id(cid)
    bundle = posixos.path.abspath(bundle)
    if cfg is None:
        cfg = config_mod.load(bundle)
    debug(f"create {cid}: {bundle}/config.json checked (ociVersion {cfg.oci_version}, "
          f"rootfs {cfg.root_path})")
    for _, severity, err in host_problems(cfg, console_socket if console is None else console):
        if severity == "error":
            raise err  # the first; `ocirt validate` lists them all
    host = host_root()  # else a user, or root of a user's namespace (rootless podman)
    if cfg.process.terminal and console is None:
        from ocirt import console as console_mod
        console = console_mod.connect(console_socket)
    init = _built_in_init(cfg, init)
    ns_fds = _open_namespaces(cfg)
    c = state.new(root, cid, lock=True)
    debug(f"create {cid}: state directory {c.dir}")
    cleanup = _Cleanup(c)
    try:
        c.lock()  # (new() took it: the same fd)
        c.write(state.CONFIG_COPY, cfg.to_json())  # as checked, not the file read again
        ocirt.TRACE and ocirt.TRACE.begin("cgroups")
        from ocirt.linux.cgroups import UNIFIED, Cgroup
        if systemd:
            from ocirt.linux import systemd as sd
            slice_, unit = sd.parse_path(cfg.cgroups_path, cid)
            cg = Cgroup({UNIFIED: sd.scope_dir(slice_, unit)})
            cg.systemd = (slice_, unit)
            c.record_cgroup(cg.paths, [], unit)
        else:
            cg = Cgroup.for_container(cfg.cgroups_path, cid)
            if not host:
                from ocirt.container import rootless
                rootless.place(cg, cfg.cgroups_path, cid)
                rootless.drop_cgroups(cg, cfg.resources)
            c.record_cgroup(cg.paths, [])
            made = cleanup.cgroup_dirs = c.cgroup_made()  # recorded as they are made
            try:
                cg.create(made)
            finally:
                made.close()
            cg.claim(made)  # held until create ends: see Cgroup.claim
        cleanup.cgroup = cg  # from here on, what is in it is this create's
        ocirt.TRACE and ocirt.TRACE.next("plan")  # the Plan for the init: capabilities, seccomp...
        debug(f"create {cid}: cgroup {' '.join(f'{k}={v}' for k, v in cg.paths.items())}")
        if cfg.namespace("mount") is None:
            # the container inherits the runtime's mount namespace: what
            # is mounted there is recorded, for delete to unmount it
            from ocirt.linux import rootfs
            cleanup.rootfs_mount = rootfs.bind_in_place(
                cfg.root_path,
                lambda mid, unique, info_id: c.record_mount(mid, unique, info_id, cfg.root_path))
        keyring = None if no_new_keyring else f"_ses.{cid}"
        # the state's version is the spec it complies with (runtime.md): ocirt's,
        # whatever the config's (runc writes its own too)
        oci = {"ociVersion": SPEC_VERSION, "id": cid, "bundle": bundle,
               "rootfs": cfg.root_path, "created": _rfc3339(time.time()), "owner": ""}
        if cfg.annotations:
            oci["annotations"] = dict(cfg.annotations)
        caps = grantable_caps(cfg)  # once the caller may create containers here
        pid = _spawn(c, cfg, cg, ns_fds, preserve_fds, no_pivot, cleanup, keyring, oci,
                     console, caps, init)
        ocirt.TRACE and ocirt.TRACE.begin("save")
        from ocirt.linux.proc import start_time
        pidns = cfg.namespace("pid")
        exe = posixos.stat("/proc/self/exe")  # what the init runs until start (state._init_waits)
        c.facts = {"pid": pid, "starttime": start_time(pid),
                   "pidns": int(bool(pidns and pidns.path is None)),
                   "exe": f"{exe.st_dev}:{exe.st_ino}"}
        later = [p for p in ("poststart", "poststop") if p in cfg.hooks]
        if later:
            c.facts["hooks"] = ",".join(later)
        c.save(oci)  # the cgroup is in its own record (record_cgroup above)
        if pid_file:
            write_pid_file(pid_file, pid)
        cleanup.done()
        ocirt.TRACE and ocirt.TRACE.end("save")
        debug(f"create {cid}: created; the init (pid {pid}) waits for start")
        return pid
    except BaseException:
        cleanup.run()
        raise
    finally:
        if cleanup.cgroup is not None:
            cleanup.cgroup.release()
        for _, fd in ns_fds:
            posixos.close(fd)
        c.unlock()
        if init is not None:
            posixos.close(init[0])
        if console is not None:
            console.close()


def _rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int((t % 1) * 1e9)


def write_pid_file(path, pid):
    """--pid-file: its directory may be writable by others (/tmp): the file
    is written to a new random name there with O_EXCL|O_NOFOLLOW and renamed
    into place (state.write_atomic), relative to the directory's fd."""
    path = posixos.path.abspath(path)
    parent, name = posixos.path.split(path)
    try:
        if not name:
            raise IsADirectoryError(21, "Is a directory")
        dfd = posixos.open(parent, posixos.O_RDONLY | posixos.O_DIRECTORY | posixos.O_CLOEXEC)
        try:
            state.write_atomic(dfd, name, str(pid).encode(), mode=0o644)
        finally:
            posixos.close(dfd)
    except OSError as e:
        raise errors.OcirtError(f"--pid-file {path}: {e.strerror}")


# host_problems(console_socket=NOT_TOLD): validate was not told whether
# create will get --console-socket; engines pass one exactly when
# process.terminal is true, and that is what is assumed
NOT_TOLD = object()


def host_problems(cfg, console_socket=NOT_TOLD):
    """(spec section, "error"|"warning", OcirtError) for each problem this
    host finds with the checked config cfg before anything is made: create
    raises the first error, `ocirt validate` (ocirt.validate) lists them
    all, so that the two cannot drift. Each check is one that create would
    otherwise meet after its fork, or never before making the state
    directory; their order is create's."""
    if cfg.process is None:
        yield "config.md#process", "error", errors.ConfigError(
            "config.json has no process to run", "$.process")
        return
    if cfg.memory_policy is not None:
        from ocirt.linux import mempolicy
        yield from _raised("config-linux.md#memory-policy", mempolicy.check, cfg.memory_policy)
    yield from _console_problems(cfg, console_socket)
    from ocirt.linux import lsm
    yield from _raised("config.md#linux-process", lsm.check, cfg)
    if posixos.geteuid() != 0:
        from ocirt.container import rootless
        yield from _raised("config-linux.md#user-namespace-mappings", rootless.check, cfg)
    if not posixos.path.isdir(cfg.root_path):
        yield "config.md#root", "error", errors.ConfigError(
            f"rootfs {cfg.root_path} is not a directory", "$.root.path")
    yield from _mount_problems(cfg)
    yield from _sysctl_problems(cfg)


def _raised(section, fn, *args):
    try:
        fn(*args)
    except errors.OcirtError as e:
        yield section, "error", e


def _console_problems(cfg, console_socket):
    """process.terminal and --console-socket go together (as runc has it);
    a path not told is assumed to come with a terminal (see NOT_TOLD)."""
    where, section = "$.process.terminal", "config.md#process"
    if console_socket is NOT_TOLD:
        if cfg.process.terminal:
            yield section, "warning", errors.UsageError(
                "true: create needs --console-socket (validate --console-socket PATH "
                "checks it)", where)
        return
    if cfg.process.terminal and console_socket is None:
        yield section, "error", errors.UsageError(
            "true, and no --console-socket was given: a terminal needs one", where)
    if console_socket is not None and not cfg.process.terminal:
        yield section, "error", errors.UsageError(
            "--console-socket given but process.terminal is false", where)


def _mount_problems(cfg):
    """A bind mount's source that is not there (the init would stat it
    after the fork), and a filesystem type this kernel neither has
    (/proc/filesystems) nor can load (modules.alias has no fs-<type>)."""
    known = None
    for i, m in enumerate(cfg.mounts):
        bind = m.type == "bind" or "bind" in m.options or "rbind" in m.options
        if bind:
            try:
                posixos.stat(m.source)
            except OSError as e:
                yield "config.md#mounts", "error", errors.SetupError(
                    f"bind source {m.source}: {e.strerror}", f"$.mounts[{i}].source")
            continue
        if not m.type or m.type == "cgroup":  # cgroup: a v1 hierarchy's bind, or cgroup2
            continue
        fstype = m.type.split(".", 1)[0]
        if known is None:
            known = _proc_filesystems()
        if fstype not in known and not _loadable(fstype):
            yield "config.md#mounts", "error", errors.SetupError(
                f"cannot mount {m.type} on {m.destination}: No such device", f"$.mounts[{i}]")


def _proc_filesystems():
    """The filesystem types this kernel has now (/proc/filesystems)."""
    with open("/proc/filesystems") as f:
        return {line.split()[-1] for line in f if line.strip()}


def _loadable(fstype):
    """Whether a mount of <fstype> could load its module (alias fs-<type>),
    True when that cannot be told. Asked only for a type the kernel lacks
    now: modules.alias is large, and a create reads it only then."""
    modules = f"/lib/modules/{posix.uname().release}"
    if not posixos.path.exists("/proc/modules") or not posixos.path.isdir(modules):
        return False  # no module support, or none for this kernel
    want = f"alias fs-{fstype} "
    try:
        with open(modules + "/modules.alias") as f:
            return any(line.startswith(want) for line in f)
    except OSError:
        return True


# a new network namespace has these interfaces only: a sysctl of another
# one (net.ipv4.conf.eth0.forwarding) is absent there even where the host has it
_NET_PER_DEVICE = ("net.ipv4.conf.", "net.ipv6.conf.", "net.ipv4.neigh.", "net.ipv6.neigh.")


def _sysctl_problems(cfg):
    """A sysctl without a /proc/sys file, in a namespace create makes (one
    joined by path may have other interfaces): the init would fail writing it."""
    from ocirt.config import _sysctl_namespace
    for key, _ in cfg.sysctl:
        ns = cfg.namespace(_sysctl_namespace(key) or "")
        if ns is None or ns.path is not None:
            continue
        error = None
        if key.startswith(_NET_PER_DEVICE) and key.split(".")[3] not in ("all", "default", "lo"):
            error = "No such file or directory"
        else:
            try:
                posixos.stat("/proc/sys/" + key.replace(".", "/"))
            except OSError as e:
                error = e.strerror
        if error:
            yield "config-linux.md#sysctl", "error", errors.SetupError(
                f"cannot set {key}: {error}", f"$.linux.sysctl[{key!r}]")


def _built_in_init(cfg, flag):
    """(sealed memfd of the built-in init, signal the process group?) when
    --init or the annotation asks for it (ocirt.linux.pid1), else None."""
    if not flag and ("org.ocirt.init", "true") not in cfg.annotations:
        return None  # (pid1.ANNOTATION: an engine's create imports no more than it did)
    from ocirt.linux import pid1
    on, group = pid1.wanted(flag, dict(cfg.annotations))
    return pid1.sealed_copy("--init" if flag else f"$.annotations[{pid1.ANNOTATION!r}]"), group


def grantable_caps(cfg):
    """process.capabilities as the init can have them, or None to keep the
    runtime's: what cannot be granted is a warning here, in the caller's
    sight, not in the child (ocirt.linux.capabilities.grantable)."""
    if cfg.process.capabilities is None:
        return None
    from ocirt.linux import capabilities
    return capabilities.grantable(cfg.process.capabilities,
                                  cfg.namespace("user") is not None, log.warning)


def _open_namespaces(cfg):
    """Open each namespace given by path and check its type (ioctl NS_GET_NSTYPE)."""
    given = [ns for ns in cfg.namespaces if ns.path is not None]
    if not given:
        return []
    from ocirt.linux import namespaces
    try:
        return namespaces.open_namespaces([(ns.type, ns.path, ns.flag) for ns in given])
    except namespaces.NamespaceError as e:
        ns = given[e.index]
        where = f"$.linux.namespaces[{cfg.namespaces.index(ns)}].path"
        if e.oserror is not None:
            raise errors.ConfigError(f"cannot open {ns.path}: {e.oserror.strerror}", where)
        if e.nstype is None:
            raise errors.ConfigError(f"{ns.path} is not a namespace", where)
        raise errors.ConfigError(f"{ns.path} is not a {ns.type} namespace", where)


class _Cleanup:
    """Undo a half-done create: processes, cgroup directories, the state dir."""

    def __init__(self, c):
        self.c = c
        self.fds = []
        self.pids = []
        self.cgroup_dirs = []
        self.systemd_unit = None
        self.cgroup = None
        self.rootfs_mount = None  # fd of the rootfs mount made in our mount namespace
        self._done = False

    def done(self):
        self._done = True
        self._close_fds()

    def _close_fds(self):
        for fd in self.fds:
            posixos.close(fd)
        self.fds = []
        if self.rootfs_mount is not None and self._done:
            posixos.close(self.rootfs_mount)
            self.rootfs_mount = None

    def run(self):
        if self._done:
            return
        self._close_fds()
        for pid in self.pids:
            try:
                posixos.kill(pid, _signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap_or_wait(pid)
        if self.cgroup is not None:
            # whatever reached the container's cgroup (stage-2, a hook's
            # child): claim() found it empty, so all in it is this create's
            self.cgroup.signal(_signal.SIGKILL)
        if self.rootfs_mount is not None:
            from ocirt.linux import rootfs
            try:
                rootfs.unmount(self.rootfs_mount)
            except OSError:
                pass
            posixos.close(self.rootfs_mount)
            self.rootfs_mount = None
        for d in reversed(self.cgroup_dirs):  # only what this create made
            try:
                from ocirt.linux.cgroups import _rmdir_retry
                _rmdir_retry(d)
            except OSError:
                pass
        if self.systemd_unit:
            from ocirt.linux.systemd import stop_unit
            stop_unit(self.systemd_unit, log.warning)
        self.c.remove()


def _reap_or_wait(pid):
    try:
        posixos.waitpid(pid, 0)
        return
    except ChildProcessError:
        pass
    from ocirt.linux.proc import wait_gone
    wait_gone(pid)


def _bind_mounts(cfg):
    """Indices of cfg's bind mounts (import-free for a config without any)."""
    if not any(m.type == "bind" or {"bind", "rbind"} & set(m.options) for m in cfg.mounts):
        return ()
    from ocirt.linux import rootfs
    return tuple(i for i, m in enumerate(cfg.mounts) if rootfs.is_bind(m))


def _send_mount_sources(chan, init_pid, cfg, indices, idmap_fds):
    """Clone each bind source for an init in a user namespace and send it
    (MOUNT_SOURCE, ocirt.protocol). As host root: the init may not search
    a source's directories, nor idmap a mount. In the init's mount
    namespace, joined for this and left at once: the source resolves as the
    init would see it, and the host's mounts under an rbind stay locked
    there as in any copy of the host's mounts made for a user namespace
    (the container cannot unmount them to see what they cover); the
    clone is taken before the init mounts anything."""
    from ocirt import protocol
    from ocirt.linux import rootfs, shim
    try:
        target = posixos.open(f"/proc/{init_pid}/ns/mnt", posixos.O_RDONLY | posixos.O_CLOEXEC)
    except OSError as e:
        raise errors.SetupError(f"cannot open the container's mount namespace: {e.strerror}")
    own = posixos.open("/proc/self/ns/mnt", posixos.O_RDONLY | posixos.O_CLOEXEC)
    cwd = posixos.open(".", posixos.O_PATH | posixos.O_CLOEXEC)
    trees = []
    try:
        try:
            shim.setns(target, shim.CLONE_NEWNS)
        except OSError as e:
            raise errors.SetupError(f"setns(the container's mount namespace, CLONE_NEWNS): "
                                    f"{e.strerror}")
        try:
            for i in indices:
                m = cfg.mounts[i]
                try:
                    trees.append((i, rootfs.source_tree(m, idmap_fds.get(i))))
                except OSError as e:
                    if e.filename == m.source:
                        raise errors.SetupError(f"bind source {m.source}: {e.strerror}",
                                                f"$.mounts[{i}].source")
                    raise errors.SetupError(f"cannot mount bind on {m.destination}: "
                                            f"{e.strerror}", f"$.mounts[{i}]")
        finally:
            # back to ocirt's own mount namespace (setns set root and cwd
            # to that namespace's root: the cwd comes back through its fd)
            shim.setns(own, shim.CLONE_NEWNS)
            posixos.fchdir(cwd)
        for i, fd in trees:
            chan.send_fd(protocol.MOUNT_SOURCE, fd, i=i)
    finally:
        for _, fd in trees:
            posixos.close(fd)
        for fd in (target, own, cwd):
            posixos.close(fd)


def _spawn(c, cfg, cg, ns_fds, preserve_fds, no_pivot, cleanup, keyring, oci,
           console=None, caps=None, init=None):
    import _socket
    from ocirt import protocol
    from ocirt.linux import shim
    parent_end, child_end = protocol.Channel.pair()
    exec_sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    cwd = posixos.open(".", posixos.O_PATH | posixos.O_CLOEXEC)
    try:
        posixos.chdir(c.fd)
        exec_sock.bind(EXEC_SOCKET)
        exec_sock.listen(1)
    except OSError as e:
        # a state root on a share (9p, NFS) that does not carry unix sockets
        exec_sock.close()
        raise errors.OcirtError(f"state directory {c.dir}: cannot make the exec socket "
                                f"{EXEC_SOCKET}: {e.strerror} (the state root must be on a "
                                "local filesystem such as /run's tmpfs)") from None
    finally:
        posixos.fchdir(cwd)
        posixos.close(cwd)
    sec = cfg.seccomp
    seccomp_filter = None
    if sec is not None:
        from ocirt.linux import seccomp
        ocirt.TRACE and ocirt.TRACE.begin("seccomp")
        seccomp_filter = seccomp.build(sec, cfg.process.no_new_privileges, log.warning)
        ocirt.TRACE and ocirt.TRACE.end("seccomp")
    idmap_fds = {}
    if any(m.idmapped for m in cfg.mounts):
        from ocirt.linux import userns
        idmap_fds = userns.idmap_namespaces(cfg.mounts, cfg.uid_mappings, cfg.gid_mappings)
    cleanup.fds.extend(idmap_fds.values())
    listen = listen_fds()
    plan = protocol.Plan(
        protocol.INIT, cfg, child_end, ns_fds=ns_fds, cgroup_paths=cg.paths, caps=caps,
        seccomp=seccomp_filter, preserve_fds=listen + preserve_fds, console=console,
        exec_sock=exec_sock, no_pivot=no_pivot, keyring=keyring, idmap_fds=idmap_fds,
        mount_sources=_bind_mounts(cfg) if cfg.namespace("user") is not None
        and posixos.geteuid() == 0 else (),  # else no setns(CLONE_NEWNS) here: the init binds
        extra_env={"LISTEN_FDS": str(listen), "LISTEN_PID": "1"} if listen else None)
    plan.init = init
    # a subreaper: should the init die before it is ready, it is ours to
    # reap (and to say how it ended), also when stage-1 forked it
    shim.prctl(shim.PR_SET_CHILD_SUBREAPER, 1)
    ns_flags = _clone_flags(cfg, ns_fds)
    place = not cg.systemd  # else the scope's directory comes later: systemd makes it
    ocirt.TRACE and ocirt.TRACE.next("clone")
    try:
        try:
            pid1, plan.in_unified = cg.fork(ns_flags or 0, place)
        except NotImplementedError:  # no clone3: stage-1 makes the namespaces
            ns_flags = None
            pid1, plan.in_unified = cg.fork(0, place)
        if cg.systemd:
            plan.in_unified = True  # systemd puts the child in the scope before GO
    except OSError as e:
        raise errors.SetupError(f"cannot create the container's first process: {e.strerror} "
                                f"({e.filename})")
    if pid1 == 0:
        try:
            ocirt.DEBUG = False  # a child never prints (ocirt.protocol)
            # The lock belongs to this create call, not to the container.
            c.close()  # with its lock
            parent_end.close()
            # the container side, imported here while the parent sets the
            # device rules; the child waits for GO before it does anything
            ocirt.TRACE and ocirt.TRACE.begin("import")
            from ocirt.stage1 import cloned_init, stage1
            ocirt.TRACE and ocirt.TRACE.end("import")
            if ns_flags is None:
                stage1(plan)  # never returns...
            else:
                cloned_init(plan)
        finally:
            posixos._exit(1)  # ...and a child must never run the parent's code
    ocirt.TRACE and ocirt.TRACE.next("GO")
    cleanup.pids.append(pid1)
    child_end.close()
    exec_sock.close()
    debug(f"create {c.id}: forked pid {pid1}: "
          + ("stage-1 (it makes the namespaces, then forks the init)" if ns_flags is None
             else f"the init, cloned into its namespaces (flags {ns_flags:#x})"))
    try:
        if cg.systemd:
            _start_scope(cg, cfg, c.id, pid1, cleanup)
        # before GO: stage-2 makes its device nodes under the final rules
        ocirt.TRACE and ocirt.TRACE.begin("devices")
        _set_devices(cg, cfg)
        ocirt.TRACE and ocirt.TRACE.end("devices")
        debug(f"create {c.id}: device rules set; sync: GO ->")
        parent_end.send(protocol.GO)
        ocirt.TRACE and ocirt.TRACE.next("READY")
        if _expects_userns(cfg, ns_fds):
            protocol.check_message(parent_end.recv(), protocol.USERNS)
            debug(f"create {c.id}: sync: <- USERNS; writing uid_map and gid_map")
            from ocirt.linux import userns
            userns.write_id_maps(pid1, cfg.uid_mappings, cfg.gid_mappings)
            parent_end.send(protocol.MAPPED)
            debug(f"create {c.id}: sync: MAPPED ->")
        if ns_flags is not None:
            init_pid = pid1  # cloned in place: there is no stage-1
        else:
            init_pid = parent_end.wait_for(protocol.PID)["pid"]
            debug(f"create {c.id}: sync: <- PID {init_pid} (the init, pid 1 of its namespace)")
            cleanup.pids.append(init_pid)
            posixos.waitpid(pid1, 0)
            cleanup.pids.remove(pid1)
        if plan.mount_sources:
            _send_mount_sources(parent_end, init_pid, cfg, plan.mount_sources, idmap_fds)
        if cfg.resources is not None:
            # While the init builds the rootfs, before it reports: no hook
            # and no program of the config has run. Where there was a
            # stage-1, it has exited (pids.max would count it).
            from ocirt.linux import resources
            ocirt.TRACE and ocirt.TRACE.begin("resources")
            resources.apply(cg, cfg.resources, log.warning)
            ocirt.TRACE and ocirt.TRACE.end("resources")
            debug(f"create {c.id}: linux.resources applied")
        from ocirt import jsonio
        creating = dict(oci, pid=init_pid, status="creating")
        msg, fds = parent_end.recv_with_fds()
        while msg is not None and msg["t"] in (protocol.HOOKS, protocol.SECCOMP_FD):
            debug(f"create {c.id}: sync: <- {msg['t']}")
            if msg["t"] == protocol.HOOKS:
                from ocirt import hooks
                hook_state = jsonio.dumps(creating)
                ocirt.TRACE and ocirt.TRACE.begin("hooks", points="prestart, createRuntime")
                for point in ("prestart", "createRuntime"):
                    hooks.run(point, cfg.hooks.get(point, ()), hook_state, info=log.info)
                ocirt.TRACE and ocirt.TRACE.end("hooks")
                parent_end.send(protocol.HOOKS_DONE, state=hook_state)
                debug(f"create {c.id}: prestart and createRuntime hooks done; "
                      "sync: HOOKS_DONE ->")
            else:
                from ocirt.linux import seccomp
                try:
                    if not fds:
                        raise errors.SetupError("no seccomp notify fd came with SECCOMP_FD")
                    seccomp.send_to_listener(sec, fds[0], creating)
                finally:
                    for fd in fds:
                        posixos.close(fd)
            msg, fds = parent_end.recv_with_fds()
        protocol.check_message(msg, protocol.READY)
        ocirt.TRACE and ocirt.TRACE.end("READY")
        debug(f"create {c.id}: sync: <- READY (rootfs built, pivot_root done, process "
              "attributes set; the init waits on exec.sock)")
        return init_pid
    except protocol.SetupProcessDied:
        raise errors.SetupError(_death_notice(cleanup.pids, cg, cfg)) from None
    finally:
        parent_end.close()


def _death_notice(pids, cg, cfg):
    """What to say when a setup process left without a word: how the last
    one we know of ended (reaped here), and whether the OOM killer took it
    or a CPU rlimit of the config (the init runs under process.rlimits from
    the moment it applies them)."""
    what = "exited"
    code = 0
    for pid in reversed(pids):
        try:
            _, status = posixos.waitpid(pid, 0)
        except ChildProcessError:
            continue
        code = posixos.waitstatus_to_exitcode(status)
        if code < 0:
            names = {_signal.SIGKILL: "SIGKILL", _signal.SIGSEGV: "SIGSEGV",
                     _signal.SIGTERM: "SIGTERM", _signal.SIGABRT: "SIGABRT",
                     _signal.SIGBUS: "SIGBUS", _signal.SIGXCPU: "SIGXCPU"}
            what = f"was killed by signal {-code} ({names.get(-code, 'signal')})"
        else:
            what = f"exited with status {code}"
        break
    msg = f"the container's init {what} before it was ready"
    from ocirt.linux.stats import oom_kills
    if oom_kills(cg.paths):
        msg += (": the OOM killer killed it ($.linux.resources.memory.limit is too low "
                "for the container's setup)")
    elif code in (-9, -24) and cfg.process is not None:
        for i, rl in enumerate(cfg.process.rlimits):
            if rl.type == "RLIMIT_CPU":
                # the kernel sends SIGXCPU at the soft limit and SIGKILL at
                # the hard one (and at once for a hard limit beyond ~2^64 ns)
                msg += (f": $.process.rlimits[{i}] limits its CPU time (RLIMIT_CPU "
                        f"soft={rl.soft} hard={rl.hard})")
    return msg


def listen_fds():
    """systemd socket activation, as runc passes it on: LISTEN_FDS=N for this
    process (LISTEN_PID is ours) means fds 3..3+N-1 go to the container,
    before the --preserve-fds ones, and the container's process gets
    LISTEN_FDS=N and LISTEN_PID=1 (it is pid 1 in its namespace)."""
    n = posix.environ.get(b"LISTEN_FDS", b"")
    if not n.isdigit() or posix.environ.get(b"LISTEN_PID", b"") != str(posixos.getpid()).encode():
        return 0
    return int(n)


def _clone_flags(cfg, ns_fds):
    """The CLONE_NEW* flags with which clone3 can make the container's init
    in its new namespaces straight away, or None when stage-1 must come
    between (ocirt.protocol): a user namespace (its maps are written between
    its making and the rest), a pid namespace given by path (setns only moves
    the children), or a new time namespace (its offsets are written before
    any process enters it). The cgroup namespace is stage-2's in both cases."""
    if cfg.namespace("user") is not None or any(t == "pid" for t, _ in ns_fds):
        return None
    flags = 0
    for ns in cfg.namespaces:
        if ns.path is None and ns.type not in ("user", "cgroup"):
            if ns.type == "time":
                return None
            flags |= ns.flag
    return flags


def _expects_userns(cfg, ns_fds):
    """stage-1 makes a user namespace (and asks for its maps) unless it joins one."""
    return (cfg.namespace("user") is not None
            and not any(t == "user" for t, _ in ns_fds))


def _set_devices(cg, cfg):
    if not host_root():
        return  # no rules without CAP_SYS_ADMIN on the host: see ocirt.container.rootless
    from ocirt.linux import devrules
    devrules.apply(cg, cfg.resources.devices if cfg.resources is not None else ())


def _start_scope(cg, cfg, cid, pid, cleanup):
    """The systemd driver: a transient scope holding stage-1."""
    from ocirt.linux import systemd as sd
    slice_, unit = cg.systemd
    mgr = sd.Manager()
    try:
        cleanup.systemd_unit = unit
        mgr.start_scope(unit, sd.properties(cfg.resources, slice_, cid), pid)
    finally:
        mgr.close()
