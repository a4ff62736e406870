"""Container lifecycle operations: create, start, state, kill, delete, run.

Each operation loads the container from the state store, asks its derived
Status whether the operation is allowed, and only then acts, so that a
refused call leaves everything as it was.
"""
from ocirt import errors, state
from ocirt import posixos as os  # os without its import cost (see there)
from ocirt.state import EXEC_SOCKET, Status

SIGKILL = 9


# ---- create ---------------------------------------------------------------

def create(root, cid, bundle, pid_file=None, console_socket=None, no_pivot=False,
           preserve_fds=0, subreaper=False, no_new_keyring=False, systemd=False,
           console=None):
    """Build the container and leave its init waiting for start. Returns the init pid.

    console: an already connected console socket (run's own), instead of a path."""
    from ocirt import config as config_mod
    state.check_id(cid)
    bundle = os.path.abspath(bundle)
    cfg = config_mod.load(bundle)
    _check_runtime_constraints(cfg, console_socket if console is None else console)
    if not os.path.isdir(cfg.root_path):
        raise errors.ConfigError(f"root.path: rootfs {cfg.root_path} is not a directory")
    if cfg.process.terminal and console is None:
        from ocirt import console as console_mod
        console = console_mod.connect(console_socket)
    ns_fds = _open_namespaces(cfg)
    c = state.new(root, cid)
    cleanup = _Cleanup(c)
    lock_fd = -1
    try:
        lock_fd = c.lock()
        with open(os.path.join(bundle, "config.json"), "rb") as src:
            state.write_atomic(os.path.join(c.dir, state.CONFIG_COPY), src.read())
        from ocirt.linux.cgroups import UNIFIED, Cgroup
        if systemd:
            from ocirt.linux import systemd as sd
            slice_, unit = sd.parse_path(cfg.cgroups_path, cid)
            cg = Cgroup({UNIFIED: sd.scope_dir(slice_, unit)})
            cg.systemd = (slice_, unit)
            c.record_cgroup(cg.paths, [], unit)
        else:
            cg = Cgroup.for_container(cfg.cgroups_path, cid)
            c.record_cgroup(cg.paths, cg.missing())
            cleanup.cgroup_dirs = cg.create()
        cleanup.cgroup = cg
        keyring = None if no_new_keyring else f"_ses.{cid}"
        import time
        oci = {"ociVersion": cfg.oci_version, "id": cid, "bundle": bundle,
               "rootfs": cfg.root_path, "created": _rfc3339(time.time()), "owner": ""}
        if cfg.annotations:
            oci["annotations"] = dict(cfg.annotations)
        pid = _spawn(c, cfg, cg, ns_fds, preserve_fds, no_pivot, subreaper, cleanup, lock_fd,
                     keyring, oci, console)
        from ocirt.linux.proc import start_time
        pidns = cfg.namespace("pid")
        c.facts = {"pid": pid, "starttime": start_time(pid),
                   "pidns": int(bool(pidns and pidns.path is None))}
        later = [p for p in ("poststart", "poststop") if p in cfg.hooks]
        if later:
            c.facts["hooks"] = ",".join(later)
        c.cgroup_paths = cg.paths
        if cg.systemd:
            c.facts["systemd"] = cg.systemd[1]
        c.save(oci)
        if pid_file:
            write_pid_file(pid_file, pid)
        cleanup.done()
        return pid
    except BaseException:
        cleanup.run()
        raise
    finally:
        for _, fd in ns_fds:
            os.close(fd)
        if lock_fd >= 0:
            os.close(lock_fd)
        if console is not None:
            console.close()


def _rfc3339(t):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int((t % 1) * 1e9)


def write_pid_file(path, pid):
    path = os.path.abspath(path)
    state.write_atomic(path, str(pid).encode(), mode=0o644)


def _check_runtime_constraints(cfg, console_socket):
    if cfg.process is None:
        raise errors.ConfigError("config.json has no process to run", "$.process")
    if cfg.namespace("mount") is None:
        raise errors.ConfigError("ocirt needs a mount namespace to build the rootfs",
                                 "$.linux.namespaces")
    if cfg.process.terminal and console_socket is None:
        raise errors.UsageError("process.terminal is true: a --console-socket is required")
    if console_socket is not None and not cfg.process.terminal:
        raise errors.UsageError("--console-socket given but process.terminal is false")
    from ocirt.linux import lsm
    lsm.check(cfg)


def _open_namespaces(cfg):
    """Open each namespace given by path and check its type (ioctl NS_GET_NSTYPE)."""
    import fcntl
    out = []
    try:
        for i, ns in enumerate(cfg.namespaces):
            if ns.path is None:
                continue
            where = f"$.linux.namespaces[{i}].path"
            try:
                fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise errors.ConfigError(f"cannot open {ns.path}: {e.strerror}", where)
            out.append((ns, fd))
            try:
                kind = fcntl.ioctl(fd, 0xB703)  # NS_GET_NSTYPE
            except OSError:
                raise errors.ConfigError(f"{ns.path} is not a namespace", where)
            if kind != ns.flag:
                raise errors.ConfigError(f"{ns.path} is not a {ns.type} namespace", where)
    except BaseException:
        for _, fd in out:
            os.close(fd)
        raise
    return out


class _Cleanup:
    """Undo a half-done create: processes, cgroup directories, the state dir."""

    def __init__(self, c):
        self.c = c
        self.fds = []
        self.pids = []
        self.cgroup_dirs = []
        self.systemd_unit = None
        self.cgroup = None
        self._done = False

    def done(self):
        self._done = True
        self._close_fds()

    def _close_fds(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def run(self):
        if self._done:
            return
        self._close_fds()
        for pid in self.pids:
            try:
                os.kill(pid, SIGKILL)
            except ProcessLookupError:
                pass
            _reap_or_wait(pid)
        if self.cgroup is not None:
            # whatever reached the container's cgroup (stage-2, a hook's child)
            for pid in self.cgroup.pids():
                try:
                    os.kill(pid, SIGKILL)
                except ProcessLookupError:
                    pass
        for d in reversed(self.cgroup_dirs):
            try:
                from ocirt.linux.cgroups import _rmdir_retry
                _rmdir_retry(d)
            except OSError:
                pass
        if self.systemd_unit:
            _stop_unit(self.systemd_unit)
        self.c.remove()


def _stop_unit(unit):
    from ocirt.linux import systemd as sd
    try:
        mgr = sd.Manager()
        try:
            mgr.stop(unit)
        finally:
            mgr.close()
    except errors.OcirtError as e:
        from ocirt import log
        log.warning(f"cannot stop {unit}: {e}")


def _reap_or_wait(pid):
    try:
        os.waitpid(pid, 0)
        return
    except ChildProcessError:
        pass
    _wait_gone(pid)


def _wait_gone(pid):
    """Block until <pid> has exited (a pidfd becomes readable)."""
    try:
        pfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        import select
        select.select([pfd], [], [], 10)
    finally:
        os.close(pfd)


def _idmap_namespaces(cfg):
    """{mount index: fd of a user namespace with that mount's mappings} for
    idmapped mounts (mappings of the mount, else the container's)."""
    out = {}
    made = {}
    for i, m in enumerate(cfg.mounts):
        if not m.idmapped:
            continue
        maps = (m.uid_mappings or cfg.uid_mappings, m.gid_mappings or cfg.gid_mappings)
        if maps not in made:
            made[maps] = _user_namespace_fd(*maps, where=f"$.mounts[{i}]")
        out[i] = made[maps]
    return out


def _user_namespace_fd(uid_maps, gid_maps, where):
    """A new user namespace with these mappings, held by an fd (its process is gone)."""
    from ocirt.linux import shim
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(go_w)
            shim.unshare(shim.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(go_r, 1)  # keep the namespace alive until the parent holds it
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise errors.ConfigError("cannot make the idmap user namespace", where)
        for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write("".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps))
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise errors.ConfigError(f"cannot make the idmap user namespace: {e.strerror}", where)
    finally:
        os.close(ready_r)
        os.close(go_w)
        os.waitpid(pid, 0)


def _write_id_maps(pid, cfg):
    for name, maps in (("uid_map", cfg.uid_mappings), ("gid_map", cfg.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise errors.ConfigError(f"cannot write {name}: {e.strerror}",
                                     "$.linux." + ("uidMappings" if name == "uid_map"
                                                   else "gidMappings"))


def _spawn(c, cfg, cg, ns_fds, preserve_fds, no_pivot, subreaper, cleanup, lock_fd, keyring,
           oci, console=None):
    import _socket
    from ocirt import protocol
    from ocirt.process import Plan, stage1
    from ocirt.linux import shim
    parent_end, child_end = protocol.Channel.pair()
    exec_sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    cwd = os.open(".", os.O_PATH | os.O_CLOEXEC)
    try:
        os.chdir(c.dir)
        exec_sock.bind(EXEC_SOCKET)
        exec_sock.listen(1)
    finally:
        os.fchdir(cwd)
        os.close(cwd)
    sec = (cfg.raw.get("linux") or {}).get("seccomp")
    seccomp_filter = None
    if sec is not None:
        from ocirt import log
        from ocirt.linux import seccomp
        seccomp_filter = seccomp.build(sec, cfg.process.no_new_privileges, log.warning)
    idmap_fds = _idmap_namespaces(cfg)
    cleanup.fds.extend(idmap_fds.values())
    listen = listen_fds()
    plan = Plan(cfg, child_end, exec_sock, ns_fds, listen + preserve_fds, no_pivot, cg.paths,
                keyring, seccomp_filter, idmap_fds)
    plan.console = console
    if listen:
        plan.extra_env = {"LISTEN_FDS": str(listen), "LISTEN_PID": "1"}
    if subreaper:
        shim.prctl(shim.PR_SET_CHILD_SUBREAPER, 1)
    if not cg.systemd:
        # before any process is in the cgroup: stage-2 makes its device nodes
        # under the final rules
        _set_devices(cg, cfg)
    try:
        if cg.systemd:
            plan.in_unified = True  # systemd puts stage-1 in the scope before GO
            pid1 = os.fork()
        else:
            pid1, plan.in_unified = cg.fork()
    except OSError as e:
        raise errors.SetupError(f"cannot join cgroup: {e.strerror} ({e.filename})")
    if pid1 == 0:
        try:
            # The lock belongs to this create call, not to the container.
            os.close(lock_fd)
            parent_end.close()
            stage1(plan)  # never returns...
        finally:
            os._exit(1)  # ...and a child must never run the parent's code
    cleanup.pids.append(pid1)
    child_end.close()
    exec_sock.close()
    try:
        if cg.systemd:
            _start_scope(cg, cfg, c.id, pid1, cleanup)
            _set_devices(cg, cfg)
        parent_end.send(protocol.GO)
        if _expects_userns(cfg, ns_fds):
            protocol.check_message(parent_end.recv(), protocol.USERNS)
            _write_id_maps(pid1, cfg)
            parent_end.send(protocol.MAPPED)
        init_pid = parent_end.wait_for(protocol.PID)["pid"]
        cleanup.pids.append(init_pid)
        os.waitpid(pid1, 0)
        cleanup.pids.remove(pid1)
        res = (cfg.raw.get("linux") or {}).get("resources")
        if res:
            # Now that stage-1 is gone (pids.max counts it) and while stage-2
            # builds the rootfs: nothing of the container has run yet.
            from ocirt import log
            cg.set_resources(res, log.warning)
        from ocirt import jsonio
        creating = dict(oci, pid=init_pid, status="creating")
        msg, fds = parent_end.recv_with_fds()
        while msg is not None and msg["t"] in (protocol.HOOKS, protocol.SECCOMP_FD):
            if msg["t"] == protocol.HOOKS:
                from ocirt import hooks
                hook_state = jsonio.dumps(creating)
                from ocirt import log
                for point in ("prestart", "createRuntime"):
                    hooks.run(point, cfg.hooks.get(point, ()), hook_state, info=log.info)
                parent_end.send(protocol.HOOKS_DONE, state=hook_state)
            else:
                from ocirt.linux import seccomp
                try:
                    if not fds:
                        raise errors.SetupError("no seccomp notify fd came with SECCOMP_FD")
                    seccomp.send_to_listener(sec, fds[0], creating)
                finally:
                    for fd in fds:
                        os.close(fd)
            msg, fds = parent_end.recv_with_fds()
        protocol.check_message(msg, protocol.READY)
        return init_pid
    finally:
        parent_end.close()


def listen_fds():
    """systemd socket activation, as runc passes it on: LISTEN_FDS=N for this
    process (LISTEN_PID is ours) means fds 3..3+N-1 go to the container,
    before the --preserve-fds ones, and the container's process gets
    LISTEN_FDS=N and LISTEN_PID=1 (it is pid 1 in its namespace)."""
    n = os.environ.get("LISTEN_FDS", "")
    if not n.isdigit() or os.environ.get("LISTEN_PID", "") != str(os.getpid()):
        return 0
    return int(n)


def _expects_userns(cfg, ns_fds):
    """stage-1 makes a user namespace (and asks for its maps) unless it joins one."""
    return (cfg.namespace("user") is not None
            and not any(ns.type == "user" for ns, _ in ns_fds))


def _set_devices(cg, cfg):
    res = (cfg.raw.get("linux") or {}).get("resources") or {}
    cg.set_devices(res.get("devices") or ())


def _start_scope(cg, cfg, cid, pid, cleanup):
    """The systemd driver: a transient scope holding stage-1."""
    from ocirt.linux import systemd as sd
    slice_, unit = cg.systemd
    res = (cfg.raw.get("linux") or {}).get("resources")
    mgr = sd.Manager()
    try:
        cleanup.systemd_unit = unit
        mgr.start_scope(unit, sd.properties(res, slice_, cid), pid)
    finally:
        mgr.close()


# ---- start ------------------------------------------------------------------

def start(root, cid):
    c = state.load(root, cid)
    c.lock()
    st = c.refresh()
    if not Status.can_start(st):
        raise errors.InvalidState(f"cannot start a container that is {st}")
    begin(c)


def begin(c):
    """Release the init, then run poststart hooks.

    runtime-spec 1.3.0: when startContainer or poststart hooks fail (or the
    process cannot be executed), the container is stopped and destroyed, and
    its poststop hooks run."""
    poststart = "poststart" in c.hook_points
    try:
        release(c, until_exec=poststart)
        if poststart:
            _run_recorded_hooks(c, "poststart", Status.RUNNING)
    except errors.OcirtError:
        _kill_and_wait(c)
        destroy(c)
        raise


def _run_recorded_hooks(c, point, status, warn=None):
    """Run hooks of <point> from the config recorded at create."""
    from ocirt import config, hooks, log
    hs = config.parse_hooks(c.load_config()).get(point, ())
    c._status = status
    hooks.run(point, hs, c.state_json(), warn, info=log.info)


def release(c, until_exec=False):
    """Tell the waiting init to exec process.args; wait until it is about to
    (until it has, with until_exec).

    The init holds the listening end of <state>/exec.sock (see ocirt.protocol).
    The socket module is not imported here: `start` is a hot command and its
    import graph stays minimal, so the C module _socket is used directly.
    """
    import _socket
    from ocirt.protocol import EXEC_FAILED, EXECUTING, START
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    cwd = os.open(".", os.O_PATH | os.O_CLOEXEC)
    try:
        os.chdir(c.dir)  # the socket's path may be longer than sun_path allows
        s.connect(EXEC_SOCKET)
        os.unlink(EXEC_SOCKET)
    except OSError as e:
        s.close()
        raise errors.InvalidState(f"container {c.id} is not waiting to start: {e.strerror}")
    finally:
        os.fchdir(cwd)
        os.close(cwd)
    try:
        s.sendall(START)
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
            if reply == EXECUTING and not until_exec:
                break
    finally:
        s.close()
    if reply.startswith(EXECUTING):
        reply = reply[1:]
    if reply.startswith(EXEC_FAILED):
        raise errors.SetupError(reply[1:].decode(errors="replace"))


# ---- state / list -------------------------------------------------------------

def get_state(root, cid):
    return state.load(root, cid).state_json()


# ---- kill ---------------------------------------------------------------------

def kill(root, cid, sig, all_processes=False):
    c = state.load(root, cid)
    if all_processes:
        st = c.status
        if st is not Status.STOPPED and not Status.can_kill(st):
            raise errors.InvalidState(f"container {cid} is not running ({st})")
        # A stopped container's init is gone, but processes may be left in the
        # cgroup (a container in the host's pid namespace): they get the signal,
        # as with runc. containerd's shim sends KILL so when such an init exits.
        _signal_all(c, sig, init_alive=st is not Status.STOPPED)
    else:
        # created, running and paused may all be signalled: what matters is that
        # the init is alive, which send_signal checks through a pidfd (no full
        # status derivation on this hot path).
        if not c.recorded:
            raise errors.InvalidState(f"container {cid} is still being created")
        send_signal(c, sig)
    if sig == SIGKILL and c.cgroup().frozen():
        # a killed process of a frozen (paused) cgroup v1 dies only once thawed:
        # thaw, as runc does (podman kill/rm of a paused container count on it)
        thaw(c)


def send_signal(c, sig):
    """Signal the init through a pidfd, after checking it is still the same process."""
    from ocirt.linux.proc import is_alive
    try:
        pfd = os.pidfd_open(c.pid)
    except ProcessLookupError:
        raise errors.InvalidState(f"container {c.id} is not running")
    try:
        if not is_alive(c.pid, c.starttime):
            raise errors.InvalidState(f"container {c.id} is not running")
        import _signal
        _signal.pidfd_send_signal(pfd, sig)
    finally:
        os.close(pfd)


def _signal_all(c, sig, init_alive=True):
    cg = c.cgroup()
    if sig == SIGKILL and cg.kill_all():
        return
    pids = cg.pids()
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    if not pids and init_alive:
        send_signal(c, sig)


# ---- delete -------------------------------------------------------------------

def delete(root, cid, force=False):
    try:
        c = state.load(root, cid)
    except errors.ContainerNotFound:
        if force:
            return
        raise
    c.lock()
    st = c.refresh()
    if st in (Status.RUNNING, Status.PAUSED) and not force:
        raise errors.InvalidState(f"cannot delete container {cid} that is not stopped: "
                                  f"{st}")
    if st is Status.CREATING and not force:
        raise errors.InvalidState(f"cannot delete container {cid} that is still being created")
    if st is not Status.STOPPED and st is not Status.CREATING:
        _kill_and_wait(c)
    destroy(c)


def _kill_and_wait(c):
    if c.status is Status.PAUSED:
        thaw(c)
    try:
        send_signal(c, SIGKILL)
    except errors.InvalidState:
        pass
    if not c.has_pidns:
        _signal_all(c, SIGKILL)
    _wait_gone(c.pid)


def destroy(c):
    """Remove everything create made. The container must be stopped."""
    if "poststop" in c.hook_points:
        from ocirt import log
        # the spec: a failing poststop hook is a warning; the others still run
        _run_recorded_hooks(c, "poststop", Status.STOPPED, warn=log.warning)
    paths, made, unit = c.cgroup_record()
    if paths:
        from ocirt.linux.cgroups import Cgroup
        cg = Cgroup(paths)
        for pid in cg.pids():  # no private pid namespace, or a create killed halfway
            try:
                os.kill(pid, SIGKILL)
            except ProcessLookupError:
                pass
        if unit:
            _stop_unit(unit)
        try:
            cg.destroy()
        except OSError as e:
            from ocirt import log
            log.warning(f"cannot remove cgroup of {c.id}: {e.strerror}")
        for d in reversed(made):  # the parents create made, if nothing else uses them
            if d not in paths.values():
                try:
                    os.rmdir(d)
                except OSError:
                    pass
    c.remove()


def thaw(c):
    try:
        c.cgroup().thaw()
    except OSError:
        pass


# ---- pause / resume / ps ------------------------------------------------------

def pause(root, cid):
    _freezer_op(root, cid, Status.can_pause, "not running", "pause", "freeze")


def resume(root, cid):
    _freezer_op(root, cid, Status.can_resume, "not paused", "resume", "thaw")


def _freezer_op(root, cid, allowed, refusal, verb, method):
    """Under the container's lock: check its status, then freeze or thaw it."""
    c = state.load(root, cid)
    lock = c.lock()
    try:
        st = c.refresh()
        if not allowed(st):
            raise errors.InvalidState(f"container {cid} is {refusal} ({st})")
        try:
            getattr(c.cgroup(), method)()
        except OSError as e:
            raise errors.OcirtError(f"cannot {verb} {cid}: {e.strerror}")
    finally:
        os.close(lock)


# ---- update ---------------------------------------------------------------------

def update(root, cid, changes):
    """runc's update: merge `changes` (a linux.resources object) into the
    container's resources, apply the sections it touches, and record them."""
    from ocirt import config, jsonio, log
    c = state.load(root, cid)
    lock = c.lock()
    try:
        st = c.refresh()
        if st in (Status.STOPPED, Status.CREATING):
            raise errors.InvalidState(f"cannot update container {cid} that is {st}")
        doc = c.load_config()
        linux = doc.setdefault("linux", {})
        from ocirt.linux.resources import without_unset
        changes = without_unset(changes, also_pids=True)  # engines send 0 for "unchanged"
        merged = merge_resources(linux.get("resources") or {}, changes)
        config.check_resources(merged)
        touched = {k: merged[k] for k in changes if k in merged and k != "devices"}
        c.cgroup().set_resources(touched, log.warning, update=True)
        linux["resources"] = merged
        state.write_atomic(os.path.join(c.dir, state.CONFIG_COPY), jsonio.dumps(doc).encode())
    finally:
        os.close(lock)


def merge_resources(old, changes):
    """Resources with `changes` laid over `old`: objects merge key by key,
    anything else (lists, numbers) is replaced."""
    out = dict(old)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_resources(out[key], value)
        else:
            out[key] = value
    return out


# ---- events -----------------------------------------------------------------------

def stats(c):
    from ocirt.linux import cgroups, stats as stats_mod
    return stats_mod.collect(c.cgroup(), cgroups.hugepage_sizes())


def events(root, cid, interval, once, emit):
    """runc's events: a stats event now (once) or every `interval` seconds, an
    "oom" event whenever the kernel's OOM killer acts in the container, until
    the container stops. emit(dict) prints one event."""
    import select
    c = state.load(root, cid)
    st = c.refresh()
    if st not in (Status.RUNNING, Status.PAUSED, Status.CREATED):
        raise errors.InvalidState(f"container {cid} is not running ({st})")
    if once:
        emit({"type": "stats", "id": cid, "data": stats(c)})
        return
    import gc
    gc.enable()  # the launcher turns it off for short commands; this one may run for days
    try:
        pidfd = os.pidfd_open(c.pid)
    except ProcessLookupError:
        raise errors.InvalidState(f"container {cid} is not running")
    oom = _OomWatch(c.cgroup())
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if oom.fd is not None:
        poller.register(oom.fd, oom.events)
    try:
        while True:
            ready = poller.poll(interval * 1000)
            if not ready:
                emit({"type": "stats", "id": cid, "data": stats(c)})
                continue
            for fd, _ in ready:
                if fd == oom.fd and oom.fired():
                    emit({"type": "oom", "id": cid})
            if any(fd == pidfd for fd, _ in ready):
                return
    finally:
        os.close(pidfd)
        oom.close()


class _OomWatch:
    """An fd that wakes poll() when the OOM killer acts in the memory cgroup:
    a v1 eventfd registered on memory.oom_control, or cgroup2's memory.events
    (POLLPRI on change; the oom_kill count tells whether it was a kill)."""

    def __init__(self, cg):
        import select
        self.fd = None
        self._keep = []
        self._count = 0
        d, v2 = cg._dir("memory"), False
        if d is None and cg.paths.get("unified"):
            d, v2 = cg.paths["unified"], True
        if d is None:
            return
        try:
            if v2:
                self.fd = os.open(os.path.join(d, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
                self.events = select.POLLPRI | select.POLLERR
                self._count = self._kills()
            else:
                efd = os.eventfd(0, os.EFD_CLOEXEC)
                ctl = os.open(os.path.join(d, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
                self._keep.append(ctl)
                with open(os.path.join(d, "cgroup.event_control"), "w") as f:
                    f.write(f"{efd} {ctl}")
                self.fd, self.events = efd, select.POLLIN
        except OSError:
            self.close()
            self.fd = None

    def _kills(self):
        data = os.pread(self.fd, 4096, 0).decode()
        for line in data.splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def fired(self):
        if self.events & 1:  # POLLIN: the v1 eventfd
            os.eventfd_read(self.fd)
            return True
        n = self._kills()
        fired, self._count = n > self._count, n
        return fired

    def close(self):
        for fd in self._keep + ([self.fd] if self.fd is not None else []):
            try:
                os.close(fd)
            except OSError:
                pass
        self._keep = []


def pids(root, cid):
    """Host pids of the processes in the container's cgroup."""
    c = state.load(root, cid)
    if c.status == Status.CREATING:
        raise errors.InvalidState(f"container {cid} is still being created")
    return c.cgroup().pids()


# ---- run ----------------------------------------------------------------------

def run(root, cid, bundle, pid_file=None, detach=False, keep=False, no_pivot=False,
        preserve_fds=0, console_socket=None, no_new_keyring=False, systemd=False):
    """create + start; in the foreground, wait and return the exit status.

    A terminal container in the foreground without --console-socket gets the
    caller's terminal through a proxy (ocirt.console)."""
    receiver = None
    if not detach and console_socket is None:
        from ocirt import config as config_mod
        proc = config_mod.load(os.path.abspath(bundle)).process
        if proc is not None and proc.terminal:
            from ocirt import console
            receiver = console.Receiver()
    pid = create(root, cid, bundle, pid_file=pid_file, console_socket=console_socket,
                 no_pivot=no_pivot, preserve_fds=preserve_fds, subreaper=not detach,
                 no_new_keyring=no_new_keyring, systemd=systemd,
                 console=receiver.theirs if receiver else None)
    import _signal
    c = state.load(root, cid)
    if detach:
        begin(c)
        return 0
    master = None
    if receiver is not None:
        from ocirt import console
        master = receiver.master()
        console.adopt_size(master)  # before the process can ask for it
    forward = lambda signum, frame: _forward(pid, signum)  # noqa: E731
    for s in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGQUIT,
              _signal.SIGUSR1, _signal.SIGUSR2, _signal.SIGWINCH):
        _signal.signal(s, forward)
    begin(c)  # on failure the container is already gone
    if master is not None:
        from ocirt import console
        try:
            console.proxy(master)
        finally:
            os.close(master)
    status = _wait_child(pid)
    if not keep:
        _finish_run(c)
    return status


def _forward(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _wait_child(pid):
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return 255
        code = os.waitstatus_to_exitcode(status)
        return 128 - code if code < 0 else code


def _finish_run(c):
    c.lock()
    c.refresh()
    if c.status is not Status.STOPPED:
        _kill_and_wait(c)
    destroy(c)
