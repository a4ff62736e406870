"""`exec`: start another process in a running container.

The new process joins the container's cgroups and every namespace of its
init, and gets the attributes of its own process spec (the container's
`process` with runc's exec flags applied, or a whole process object from
--process): user, capabilities, rlimits, no_new_privs, LSM labels and the
container's seccomp filter. This is the parent's side: the processes it
forks are create's engine with a Plan of kind TENANT (ocirt.stage1, then
ocirt.become.tenant); the conversation is described in ocirt.protocol
("exec").
"""

import ocirt
from ocirt import config, debug, errors, jsonio, log, protocol, state
from ocirt import posixos  # os without its import cost (see there)
from ocirt.container.create import grantable_caps, write_pid_file
from ocirt.linux import lsm, namespaces
from ocirt.linux.cgroups import UNIFIED, Cgroup
from ocirt.linux.proc import is_alive, wait_gone
from ocirt.state import Status

MAX_ID = 2**31 - 1  # as ocirt.config: (uid_t)-1 means "unchanged" to setresuid


def parse_id(flag, text):
    """A uid or gid given on the command line: decimal digits, 0..2^31-1."""
    if not (text and text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise errors.UsageError(f"{flag} {text!r}: uids and gids must be numbers in "
                                f"0..{MAX_ID}")
    return int(text)


def process_from_flags(base, args, cwd=None, env=(), user=None, additional_gids=(),
                       caps=(), no_new_privs=False, apparmor=None, label=None, tty=False):
    """The container's process object with runc's exec flags applied."""
    proc = jsonio.loads(jsonio.dumps(base or {}))  # a deep copy, without the copy module
    proc["args"] = list(args)
    proc["terminal"] = bool(tty)
    if cwd is not None:
        proc["cwd"] = cwd
    if env:
        merged = {}
        for e in list(proc.get("env") or ()) + list(env):
            key = e.split("=", 1)[0]
            merged.pop(key, None)
            merged[key] = e
        proc["env"] = list(merged.values())
    u = dict(proc.get("user") or {"uid": 0, "gid": 0})
    if user is not None:
        uid, colon, gid = user.partition(":")
        u["uid"] = parse_id("--user", uid)
        if colon:
            u["gid"] = parse_id("--user", gid)
    if additional_gids:
        u["additionalGids"] = [parse_id("--additional-gids", str(g)) for g in additional_gids]
    proc["user"] = u
    if caps:
        # bounding, effective and permitted only: a capability put in the
        # inheritable (and ambient) sets would pass on through execve to
        # whatever the process runs next (CVE-2022-29162)
        c = dict(proc.get("capabilities") or {})
        for key in ("bounding", "effective", "permitted"):
            have = list(c.get(key) or ())
            c[key] = have + [x for x in caps if x not in have]
        proc["capabilities"] = c
    if no_new_privs:
        proc["noNewPrivileges"] = True
    if apparmor is not None:
        proc["apparmorProfile"] = apparmor
    if label is not None:
        proc["selinuxLabel"] = label
    return proc


def run(root, cid, process, detach=False, pid_file=None, preserve_fds=0,
        ignore_paused=False, sub_cgroup=None, console_socket=None):
    """Start `process` (a spec process object) in container cid. Returns the
    exit status when not detached, else 0 once the process runs."""
    c = state.load(root, cid)
    st = c.refresh()
    if not Status.can_exec(st, ignore_paused):
        if st == Status.PAUSED:
            raise errors.InvalidState(f"container {cid} is paused (use --ignore-paused to "
                                      "exec anyway; the process stays frozen until resume)",
                                      id=cid, status=st)
        raise errors.InvalidState(f"cannot exec in a container that is {st}", id=cid,
                                  status=st)
    doc = c.load_config()
    doc["process"] = process
    bundle = c.oci_state().get("bundle", "")
    ocirt.TRACE and ocirt.TRACE.begin("validate")
    cfg = config.parse(doc, bundle, source="exec process")
    ocirt.TRACE and ocirt.TRACE.end("validate")
    lsm.check(cfg)  # as create: a label this host cannot apply is an error
    if console_socket is not None and not cfg.process.terminal:
        raise errors.UsageError("--console-socket given but the process has no terminal")
    if cfg.process.terminal and console_socket is None and detach:
        raise errors.UsageError("a detached terminal process needs --console-socket")
    caps = grantable_caps(cfg)  # its warnings, here in the caller's sight
    cg = c.cgroup()
    if sub_cgroup:
        cg = _sub_cgroup(cg, sub_cgroup)
    fds = _open_namespaces(c, cfg)
    try:
        seccomp_filter = None
        sec = cfg.seccomp
        if sec is not None:
            from ocirt.linux import seccomp
            ocirt.TRACE and ocirt.TRACE.begin("seccomp")
            seccomp_filter = seccomp.build(sec, cfg.process.no_new_privileges, log.warning)
            ocirt.TRACE and ocirt.TRACE.end("seccomp")
        late_join = st == Status.PAUSED
        receiver = sock = None
        if cfg.process.terminal:
            from ocirt import console
            if console_socket is None:  # foreground: proxy the caller's terminal
                receiver = console.Receiver()
                sock = receiver.theirs
                size = console.caller_size()
                if size and cfg.process.console_size is None:
                    cfg = cfg.replace(process=cfg.process.replace(
                        console_size=config.ConsoleSize(size[0], size[1])))
            else:
                sock = console.connect(console_socket)
        return _spawn(c, cfg, cg, fds, seccomp_filter, detach, pid_file, preserve_fds,
                      late_join, sec, sock, receiver, caps)
    finally:
        for _, fd in fds:
            posixos.close(fd)


def _sub_cgroup(cg, subs):
    """The container's cgroup with runc's `exec --cgroup` applied: each of
    subs is `PATH` (given alone: every hierarchy, the cgroup2 one included)
    or `CTRL[,CTRL]:PATH` (the v1 hierarchies of those controllers; on a pure
    cgroup2 host there is none). PATH is below the container's cgroup in its
    own hierarchy ("/x" and "x" alike), and must exist."""
    if isinstance(subs, str):
        subs = (subs,)
    want = {}  # controller ("" for every hierarchy) -> path
    for arg in subs:
        parts = arg.split(":")
        if len(parts) > 2:
            raise errors.UsageError(f"invalid --cgroup argument: {arg}")
        if len(parts) == 1:
            if len(subs) != 1:
                raise errors.UsageError(f"invalid --cgroup argument: {arg} (missing "
                                        "<controller>: prefix)")
            want[""] = arg
            continue
        for ctrl in parts[0].split(","):
            if not ctrl:
                raise errors.UsageError(f"invalid --cgroup argument: {arg} (empty "
                                        "<controller> prefix)")
            if ctrl in want:
                raise errors.UsageError(f"invalid --cgroup argument(s): controller {ctrl} "
                                        "specified multiple times")
            want[ctrl] = parts[1]
    paths = dict(cg.paths)
    chosen = {}  # hierarchy -> (its new path, the argument)
    for ctrl, sub in want.items():
        names = list(paths) if ctrl == "" else \
            [k for k in paths if k != UNIFIED and ctrl in k.split(",")]
        if not names:
            v1 = sorted(c for k in paths if k != UNIFIED for c in k.split(","))
            raise errors.UsageError(f"--cgroup: unknown controller {ctrl} (" + (
                f"the v1 controllers here: {', '.join(v1)})" if v1 else
                "a pure cgroup2 host: give the path alone)"))
        for name in names:
            base = cg.paths[name]
            p = posixos.path.normpath(base + "/" + sub)
            if p != base and not p.startswith(base + "/"):
                raise errors.UsageError(f"--cgroup: {sub} is not a sub cgroup path")
            if chosen.get(name, (p,))[0] != p:
                raise errors.UsageError(f"--cgroup: {ctrl} shares the hierarchy {name} with "
                                        f"another controller given another path")
            chosen[name] = (p, sub)
    for name, (p, sub) in chosen.items():
        if not posixos.path.isdir(p):
            raise errors.UsageError(f"--cgroup: {sub}: no such cgroup {p}")
        paths[name] = p
    return Cgroup(paths)


def _open_namespaces(c, cfg):
    """fds of the init's namespaces (those the config gives the container)."""
    try:
        out = namespaces.open_namespaces(
            [(ns_type, f"/proc/{c.pid}/ns/{name}", None) for ns_type, name in namespaces.FILES
             if cfg.namespace(ns_type) is not None],
            optional=("time",))  # a kernel without time namespaces
    except namespaces.NamespaceError as e:
        if isinstance(e.oserror, FileNotFoundError):
            raise errors.InvalidState(f"container {c.id} is not running")
        if isinstance(e.oserror, PermissionError) and posixos.geteuid() != 0 \
                and c.status == Status.CREATED:
            # its init is not dumpable until it executes the process (so a
            # process of the container cannot ptrace it): not for its user
            raise errors.InvalidState(f"container {c.id} is created, not started: a user other "
                                      "than root can exec only into a started container")
        raise e.oserror
    try:
        if cfg.namespace("mount") is None:
            # the container is in the runtime's mount namespace, chrooted
            # into its rootfs (ocirt.linux.rootfs.pivot): the process goes
            # into the init's root, this very directory (not the host's "/",
            # which runc 1.1.5's exec leaves it in)
            try:
                out.append(("root", posixos.open(f"/proc/{c.pid}/root", posixos.O_PATH
                                                 | posixos.O_DIRECTORY | posixos.O_CLOEXEC)))
            except OSError:
                raise errors.InvalidState(f"container {c.id} is not running")
        # the fds are the init's only if it is still the same process
        if not is_alive(c.pid, c.starttime):
            raise errors.InvalidState(f"container {c.id} is not running")
    except BaseException:
        for _, fd in out:
            posixos.close(fd)
        raise
    return out


def _spawn(c, cfg, cg, ns_fds, seccomp_filter, detach, pid_file, preserve_fds, late_join,
           sec, console_sock=None, receiver=None, caps=None):
    from ocirt.linux import shim  # here: exec's parsing works (and is tested) without the C shim
    parent_end, child_end = protocol.Channel.pair()
    plan = protocol.Plan(protocol.TENANT, cfg, child_end, ns_fds=ns_fds, cgroup_paths=cg.paths,
                         caps=caps, seccomp=seccomp_filter, preserve_fds=preserve_fds,
                         console=console_sock, late_join=late_join)
    if not detach:
        # the process is our grandchild: when stage-1 exits it becomes ours
        shim.prctl(shim.PR_SET_CHILD_SUBREAPER, 1)
    ocirt.TRACE and ocirt.TRACE.begin("clone")
    try:
        if late_join:
            pid1, plan.in_unified = posixos.fork(), False
        else:
            pid1, plan.in_unified = cg.fork()
    except OSError as e:
        raise errors.SetupError(f"cannot join cgroup: {e.strerror} ({e.filename})")
    if pid1 == 0:
        try:
            ocirt.DEBUG = False  # a child never prints (ocirt.protocol)
            parent_end.close()
            from ocirt.stage1 import stage1
            stage1(plan)
        finally:
            posixos._exit(1)
    ocirt.TRACE and ocirt.TRACE.next("sync")  # PID, SECCOMP_FD..., EOF: the program is executed
    child_end.close()
    debug(f"exec {c.id}: forked stage-1 (pid {pid1}): it joins the container's cgroups "
          "and namespaces")
    if console_sock is not None:
        console_sock.close()  # the process has its own copy
    pid = None
    try:
        # stage-1 sends PID, the process sends SECCOMP_FD or TENANT_READY (paused
        # container), in whatever order they get there; EOF ends it
        ready = False
        while True:
            msg, fds = parent_end.recv_with_fds()
            if msg is None:
                debug(f"exec {c.id}: the process has executed its program")
                break  # EOF: the process has exec'd (the channel is close-on-exec)
            debug(f"exec {c.id}: sync: <- {msg['t']}" + (f" {msg['pid']}" if "pid" in msg
                                                         else ""))
            if msg["t"] == protocol.PID:
                pid = msg["pid"]
                posixos.waitpid(pid1, 0)
                pid1 = None
            elif msg["t"] == protocol.SECCOMP_FD:
                from ocirt.linux import seccomp
                try:
                    seccomp.send_to_listener(sec, fds[0], c.oci_state())
                finally:
                    for fd in fds:
                        posixos.close(fd)
            else:
                protocol.check_message(msg, protocol.TENANT_READY)
                ready = True
            if ready and pid is not None:
                try:
                    cg.move(pid)
                except OSError as e:
                    raise errors.SetupError(f"cannot join cgroup: {e.strerror} ({e.filename})")
                parent_end.send(protocol.TENANT_PLACED)
                break
        if pid is None:
            raise errors.SetupError("the exec process died before it started")
        ocirt.TRACE and ocirt.TRACE.end("sync")
    except BaseException:
        for p in (pid1, pid):
            if p:
                _kill_reap(p)
        raise
    finally:
        parent_end.close()
    if pid_file:
        try:
            write_pid_file(pid_file, pid)
        except BaseException as e:
            # the caller cannot know the process: it must not outlive this failure
            _kill_reap(pid)
            if isinstance(e, OSError):
                raise errors.OcirtError(f"cannot write the pid file {pid_file}: {e.strerror}")
            raise
    if detach:
        return 0
    if receiver is not None:
        from ocirt import console
        master = receiver.master()
        try:
            console.proxy(master)
        finally:
            posixos.close(master)
    return _wait(pid)


def _kill_reap(pid):
    """SIGKILL and reap; a process that is not our child (exec --detach: it
    went to the host's init with stage-1), wait until it has exited."""
    try:
        posixos.kill(pid, 9)
        posixos.waitpid(pid, 0)
    except ProcessLookupError:
        pass
    except ChildProcessError:
        wait_gone(pid)


def _wait(pid):
    from ocirt.container.run import forward_signals, restore_signals, wait_child
    previous = forward_signals(pid)
    try:
        ocirt.TRACE and ocirt.TRACE.begin("wait")
        status = wait_child(pid)
        ocirt.TRACE and ocirt.TRACE.end("wait")
        return status
    finally:
        restore_signals(previous)
