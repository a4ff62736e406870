"""restore: a container from a CRIU image (runc's restore).

The container is a new record in the state store, as create makes one:
its config copy (the bundle's config.json, as checked by create's rules),
its cgroup (made, recorded, device rules and resources applied before any
process lands in it: CRIU puts the restored tree there with --cgroup-root),
then the init facts (pid and start time) and state.json. It has no exec.sock:
it is running as soon as CRIU is done, and state, kill, exec, pause, ps and
delete treat it as any other.

CRIU runs with --restore-sibling --restore-detached: the restored init is
this process's child, as create's init is, and CRIU has exited when the
container runs. The image's external resources (ocirt.container.checkpoint)
are given back: bind mounts from the bundle's sources, masked files from
/dev/null, namespaces joined by path from those paths, the init's stdio
from this process's (or a new terminal, whose master goes to
--console-socket). The prestart and createRuntime hooks run when CRIU has
made the namespaces and before the processes go on (its setup-namespaces
action, as runc runs them), with the state of the restored init.
"""
import os
import select
import time

from ocirt import SPEC_VERSION, config as config_mod, console as console_mod, debug, errors, \
    hooks, jsonio, log, state
from ocirt.container import checkpoint as ckpt
from ocirt.container.create import _rfc3339, _set_devices, write_pid_file
from ocirt.container.delete import delete
from ocirt.container.run import forward_signals, restore_signals, wait_child
from ocirt.linux import criu, resources, shim
from ocirt.linux.cgroups import Cgroup
from ocirt.linux.proc import start_time
from ocirt.linux.pty import open_pty

MS_BIND, MS_REC, MNT_DETACH = 0x1000, 0x4000, 2


def restore(root, cid, bundle, opts, detach=False, pid_file=None, console_socket=None,
            no_pivot=False):
    """no_pivot is accepted and changes nothing, as runc's: CRIU has no such
    option (it always pivots into the restored root) and runc's restore
    request does not carry it."""
    exe = criu.require()
    state.check_id(cid)
    bundle = os.path.abspath(bundle)
    cfg = config_mod.load(bundle)
    doc = jsonio.loads(cfg.to_json())
    ckpt.check_supported(doc)
    try:
        with open(os.path.join(opts.image_path, ckpt.RECORD)) as f:
            record = jsonio.loads(f.read())
    except (OSError, ValueError) as e:
        raise errors.OcirtError(f"restore: {opts.image_path}/{ckpt.RECORD}: "
                                f"{getattr(e, 'strerror', None) or e} (not an image of "
                                "ocirt checkpoint)")
    if cfg.process.terminal and console_socket is None:
        raise errors.UsageError("true, and no --console-socket was given: a terminal needs one",
                                "$.process.terminal")
    console = None
    if cfg.process.terminal:
        console = console_mod.connect(console_socket)
    c = state.new(root, cid, lock=True)
    private = _private_dir()
    pass_fds, cg, made, pid = [], None, None, None
    done = False
    try:
        c.write(state.CONFIG_COPY, cfg.to_json())
        cg = Cgroup.for_container(cfg.cgroups_path, cid)
        c.record_cgroup(cg.paths, [])
        made = c.cgroup_made()
        try:
            cg.create(made)
        finally:
            made.close()
        _set_devices(cg, cfg)
        if cfg.resources is not None:
            resources.apply(cg, cfg.resources, log.warning)
        rootfs = os.path.join(private, "root")
        os.mkdir(rootfs)
        shim.mount(cfg.root_path, rootfs, None, MS_BIND | MS_REC)
        pidfile = os.path.join(private, "pid")
        argv = ["--root", rootfs, "--restore-detached", "--restore-sibling",
                "--pidfile", pidfile, *opts.argv()]
        unified = cg.paths.get("unified") or next(iter(cg.paths.values()), None)
        if unified and opts.manage_cgroups_mode != "ignore":
            argv += ["--cgroup-root", "/" + os.path.relpath(unified, _mount_of(unified))]
        for _, dest, source in ckpt.bind_mounts(doc):
            src = source if source.startswith("/") else os.path.join(bundle, source)
            argv += ["--external", criu.ext_mount(os.path.normpath(dest), src)]
        for p in ckpt.masked_files(doc):
            argv += ["--external", criu.ext_mount(os.path.normpath(p), "/dev/null")]
        for p in ckpt.cgroup_mounts(doc):
            if "unified" not in cg.paths:
                raise errors.ConfigError("restore: a cgroup mount without a cgroup namespace "
                                         "needs a cgroup2 hierarchy", "$.mounts")
            argv += ["--external", criu.ext_mount(p, cg.paths["unified"])]
        argv += _namespaces(doc, pass_fds)
        oci = {"ociVersion": SPEC_VERSION, "id": cid, "bundle": bundle,
               "rootfs": cfg.root_path, "created": _rfc3339(time.time()), "owner": ""}
        if cfg.annotations:
            oci["annotations"] = dict(cfg.annotations)
        argv += _stdio(record, console, pass_fds)
        notify = None
        if any(cfg.hooks.get(p) for p in ("prestart", "createRuntime")):
            argv += ["--action-script", _action_script(private)]
            notify = _HookServer(private, cfg, oci)
        log_path = os.path.join(opts.work_path, "restore.log")
        debug(f"restore {cid}: criu restore {' '.join(argv)}")
        try:
            # criu in the container's cgroup, as runc puts it: with
            # --manage-cgroups-mode ignore the restored tree stays there
            criu.run(exe, "restore", argv, log_path, pass_fds=pass_fds, notify=notify,
                     join=list(cg.paths.values()))
        except criu.CriuError as e:
            why = criu.unsupported(exe)
            if why:  # and what failed, which may be something else
                raise errors.OcirtError(f"{why}; {e.msg}") from None
            raise
        if notify is not None and notify.error is not None:
            raise notify.error
        with open(pidfile) as f:
            pid = int(f.read().strip())
        c.facts = {"pid": pid, "starttime": start_time(pid),
                   "pidns": int(bool(record.get("pidns")))}
        later = [p for p in ("poststart", "poststop") if p in cfg.hooks]
        if later:
            c.facts["hooks"] = ",".join(later)
        c.save(oci)
        if pid_file:
            write_pid_file(pid_file, pid)
        done = True
        debug(f"restore {cid}: restored; its init is pid {pid}")
    finally:
        for fd in pass_fds:
            os.close(fd)
        if console is not None:
            console.close()
        _unmount(private)
        if not done:
            _undo(c, cg, made, pid)
        c.unlock()
    if "poststart" in cfg.hooks:
        hooks.run("poststart", cfg.hooks["poststart"], c.state_json(), warn=log.warning)
    if detach:
        return 0
    # in the foreground, as a run: the signals its user sends go on to the
    # container's init, and its exit status is the command's
    previous = forward_signals(pid)
    try:
        status = wait_child(pid)
    finally:
        restore_signals(previous)
    delete(root, cid, force=True)
    return status


def _private_dir():
    """A new directory of this process's, 0700 (tempfile's mkdtemp, without
    importing tempfile: shutil, random and more, a second under qemu)."""
    base = os.environ.get("TMPDIR") or "/tmp"
    while True:
        d = os.path.join(base, f"ocirt-restore-{os.urandom(6).hex()}")
        try:
            os.mkdir(d, 0o700)
            return d
        except FileExistsError:
            continue


def _mount_of(path):
    """The cgroup2 mount point above <path> (/sys/fs/cgroup on a pure v2 host)."""
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mp = fields[4]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best = mp
    return best


def _namespaces(doc, pass_fds):
    """Namespaces joined by path: net and pid through the image's external
    keys (an fd of the path, --inherit-fd); uts, ipc and time by --join-ns."""
    out = []
    for ns in doc.get("linux", {}).get("namespaces") or ():
        path, kind = ns.get("path"), ns.get("type")
        if not path:
            continue
        if kind in ("network", "pid"):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            pass_fds.append(fd)
            key = ckpt.NET_KEY if kind == "network" else ckpt.PID_KEY
            out += ["--inherit-fd", f"fd[{fd}]:{key}"]
        elif kind in ("uts", "ipc", "time"):
            out += ["--join-ns", f"{kind}:{path}"]
    return out


def _stdio(record, console, pass_fds):
    """--inherit-fd for the init's stdio that came from outside: this
    process's own fds 0..2 in their place, or (a terminal) the slave of a
    new pty whose master goes to the console socket."""
    out, tty_fd, seen = [], None, set()
    for fd, key in record.get("stdio") or ():
        if key in seen:  # one fd a key: CRIU moves each given fd into its store, once
            continue
        seen.add(key)
        if key.startswith("tty[") and console is not None:
            # the container's own terminal (process.terminal): a new one;
            # without it, a terminal was its caller's (a shell's job, as
            # --shell-job has it), and the restoring caller's takes its place
            if tty_fd is None:
                master, tty_fd, _ = open_pty()
                try:
                    console_mod.send_master(console, master)
                finally:
                    os.close(master)
                pass_fds.append(tty_fd)
                # and bound onto /dev/console, as create's is (the image names it)
                out += ["--external", criu.ext_mount(ckpt.CONSOLE,
                                                     os.readlink(f"/proc/self/fd/{tty_fd}"))]
            out += ["--inherit-fd", f"fd[{tty_fd}]:{key}"]
        elif key.startswith("tty["):
            # a copy: CRIU moves an inherited fd into its store, and with
            # --shell-job it keeps its own stdin there too ("Can't send fd 0
            # into store" when both are fd 0)
            copy = os.dup(fd)
            pass_fds.append(copy)
            out += ["--inherit-fd", f"fd[{copy}]:{key}"]
        else:
            out += ["--inherit-fd", f"fd[{fd}]:{key}"]
    return out


def _action_script(private):
    """A shell script CRIU runs at each action: at setup-namespaces it asks
    this process to run the hooks (a fifo each way) and fails if they did."""
    for name in ("hook.req", "hook.rep"):
        os.mkfifo(os.path.join(private, name), 0o600)
    path = os.path.join(private, "action")
    with open(path, "w") as f:
        f.write(f"""#!/bin/sh
[ "$CRTOOLS_SCRIPT_ACTION" = setup-namespaces ] || exit 0
echo "$CRTOOLS_INIT_PID" > '{private}/hook.req'
read r < '{private}/hook.rep'
[ "$r" = ok ]
""")
    os.chmod(path, 0o700)
    return path


class _HookServer:
    """Runs the prestart and createRuntime hooks when CRIU's action script
    asks (setup-namespaces), while criu runs; `error` keeps a hook's failure."""

    def __init__(self, private, cfg, oci):
        self.private, self.cfg, self.oci, self.error = private, cfg, oci, None

    def __call__(self, criu_pid):
        req = os.open(os.path.join(self.private, "hook.req"), os.O_RDONLY | os.O_NONBLOCK)
        keep = os.open(os.path.join(self.private, "hook.req"), os.O_WRONLY)  # never EOF
        pidfd = os.pidfd_open(criu_pid)
        try:
            buf = b""
            while True:
                ready = select.select([req, pidfd], [], [])[0]
                if req in ready:
                    buf += os.read(req, 64)
                    if buf.endswith(b"\n"):
                        self._run(int(buf.strip() or 0))
                        buf = b""
                elif pidfd in ready:
                    return
        finally:
            for fd in (req, keep, pidfd):
                os.close(fd)

    def _run(self, pid):
        answer = b"ok\n"
        try:
            st = jsonio.dumps(dict(self.oci, pid=pid, status="creating"))
            for point in ("prestart", "createRuntime"):
                hooks.run(point, self.cfg.hooks.get(point, ()), st, info=log.info)
        except errors.OcirtError as e:
            self.error, answer = e, b"fail\n"
        rep = os.open(os.path.join(self.private, "hook.rep"), os.O_RDWR)
        try:
            os.write(rep, answer)
        finally:
            os.close(rep)


def _unmount(private):
    rootfs = os.path.join(private, "root")
    try:
        shim.umount2(rootfs, MNT_DETACH)
    except OSError:
        pass
    # never a recursive removal: had the unmount failed, it would go
    # through the rootfs; rmdir of a mount point fails instead
    for name in ("pid", "hook.req", "hook.rep", "action"):
        try:
            os.unlink(os.path.join(private, name))
        except OSError:
            pass
    for d in (rootfs, private):
        try:
            os.rmdir(d)
        except OSError:
            pass


def _undo(c, cg, made, pid):
    """A restore that failed: its processes (CRIU kills what it restored on
    failure; a pid known here is killed too), cgroup and record go."""
    if pid:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
    if cg is not None:
        try:
            cg.destroy(list(made or ()), kill=True)
        except OSError:
            pass
    c.remove()
