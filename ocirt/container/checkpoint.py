"""checkpoint: dump a running container's processes with CRIU (runc's checkpoint).

What CRIU cannot see from inside the container's mount namespace is named
to it as external, under keys that restore maps back (ocirt.container.restore):

  bind mounts        mnt[<destination>]:<destination>  (restore: the bundle's source)
  masked files       mnt[<path>]:<path>                (restore: the host's /dev/null)
  cgroup mounts without a cgroup namespace
                     mnt[<destination>]:<destination>  (restore: the new cgroup directory)
  net, pid namespaces joined by path
                     net[<inode>]:extRootNetNS, pid[<inode>]:extRootPidNS
  /dev/console       mnt[/dev/console]:/dev/console    (restore: the new terminal)
  the init's stdio   pipes as they are (pipe:[ino]); a file on a mount outside
                     the container's namespace file[<mnt_id>:<ino>]; the
                     terminal tty[<rdev>:<dev>]: restore gives its caller's
                     stdio, or a new terminal through --console-socket, in
                     their place (--inherit-fd)

The keys of the stdio are written to ocirt.json in the image directory (and
runc's descriptors.json, the links of fds 0..2), which restore reads.

A network namespace of the container's own is dumped whole (lo, addresses,
routes, iptables): runc always dumps it empty (as --empty-ns network), so
after its restore lo is down, and neither a TCP connection over lo
(--tcp-established) nor a socket bound to 127.0.0.1 comes back. The price is
CRIU's ip and iptables-save runs, about a second of a dump under qemu.
Without --leave-running (or --pre-dump) the container is gone once dumped:
it is deleted as `delete --force` does, poststop hooks included.
"""
import os

from ocirt import debug, errors, jsonio, state
from ocirt.container.delete import delete
from ocirt.linux import criu
from ocirt.state import Status

NET_KEY = "extRootNetNS"
PID_KEY = "extRootPidNS"
RECORD = "ocirt.json"
DESCRIPTORS = "descriptors.json"  # runc's: the link text of the init's fds 0, 1, 2
CGROUP_MODES = ("soft", "full", "strict", "ignore")
# --empty-ns: runc takes the spec's names; CRIU supports the network one only
EMPTY_NS = {"network": "net"}
CONSOLE = "/dev/console"


class Options:
    """The flags checkpoint and restore share, as runc names them."""

    def __init__(self, image_path=None, work_path=None, tcp_established=False,
                 ext_unix_sk=False, shell_job=False, file_locks=False,
                 manage_cgroups_mode=None, empty_ns=(), auto_dedup=False, lazy_pages=False):
        self.image_path = os.path.abspath(image_path or "checkpoint")  # runc's default
        self.work_path = os.path.abspath(work_path) if work_path else self.image_path
        self.tcp_established = tcp_established
        self.ext_unix_sk = ext_unix_sk
        self.shell_job = shell_job
        self.file_locks = file_locks
        if manage_cgroups_mode not in (None,) + CGROUP_MODES:
            raise errors.UsageError(f"--manage-cgroups-mode {manage_cgroups_mode}: one of "
                                    f"{', '.join(CGROUP_MODES)}")
        self.manage_cgroups_mode = manage_cgroups_mode or "soft"
        for ns in empty_ns:
            if ns not in EMPTY_NS:
                raise errors.UsageError(f"--empty-ns {ns}: not supported (CRIU leaves out "
                                        "only the network namespace: --empty-ns network)")
        self.empty_ns = tuple(dict.fromkeys(EMPTY_NS[ns] for ns in empty_ns))
        self.auto_dedup = auto_dedup
        self.lazy_pages = lazy_pages

    def argv(self):
        out = ["-D", self.image_path, "-W", self.work_path]
        for flag, on in (("--tcp-established", self.tcp_established),
                         ("--ext-unix-sk", self.ext_unix_sk), ("--shell-job", self.shell_job),
                         ("--file-locks", self.file_locks), ("--auto-dedup", self.auto_dedup),
                         ("--lazy-pages", self.lazy_pages)):
            if on:
                out.append(flag)
        for ns in self.empty_ns:
            out += ["--empty-ns", ns]
        if self.manage_cgroups_mode != "ignore":
            out.append(f"--manage-cgroups={self.manage_cgroups_mode}")
        return out


def checkpoint(root, cid, opts, leave_running=False, pre_dump=False, parent_path=None,
               page_server=None, status_fd=None):
    """page_server: "ADDR:PORT", where the pages go (runc's --page-server:
    a page server there takes them; with --lazy-pages this dump serves them
    there itself, to `criu lazy-pages`). status_fd: an fd of the caller's
    that CRIU writes \\0 to and closes once it serves the lazy pages."""
    exe = criu.require()
    c = state.load(root, cid)
    c.lock()
    st = c.refresh()
    if st not in (Status.RUNNING, Status.PAUSED):
        raise errors.InvalidState(f"cannot checkpoint container {cid}: it is {st} (not "
                                  "running)", id=cid, status=st)
    cfg = c.load_config()
    check_supported(cfg)
    pid = c.pid
    for d in {opts.image_path, opts.work_path}:
        try:
            os.makedirs(d, 0o700, exist_ok=True)
        except OSError as e:
            raise errors.OcirtError(f"checkpoint: cannot create {d}: {e.strerror}")
    # the rootfs as create resolved it (config.json may give it relative to the bundle)
    rootfs = c.oci_state().get("rootfs") or cfg["root"]["path"]
    argv = ["-t", str(pid), "--root", rootfs, *opts.argv()]
    argv += external_mounts(cfg, pid)
    argv += _external_namespaces(cfg, pid)
    stdio, descriptors = _external_stdio(pid)
    if any(k.startswith("tty[") for _, k in stdio) and \
            CONSOLE in criu.mount_ids(pid).values():
        # the terminal bound onto /dev/console: its pty goes with the
        # terminal (CRIU refuses a bound pty slave without its master)
        argv += ["--external", criu.ext_mount(CONSOLE, CONSOLE)]
    for key in dict.fromkeys(k for _, k in stdio if not k.startswith("pipe:")):
        argv += ["--external", key]
    if leave_running or pre_dump:
        argv.append("--leave-running")
    if pre_dump:
        argv.append("--track-mem")
    if parent_path:
        argv += ["--prev-images-dir", parent_path, "--track-mem"]
    pass_fds = ()
    if page_server:
        addr, _, port = page_server.rpartition(":")
        if not addr or not port.isdigit():
            raise errors.UsageError(f"--page-server {page_server}: not ADDRESS:PORT")
        # with --lazy-pages the dump is the page server; else it sends to one
        argv += ([] if opts.lazy_pages else ["--page-server"]) + \
            ["--address", addr.strip("[]"), "--port", port]
    if status_fd is not None:
        argv += ["--status-fd", str(status_fd)]
        pass_fds = (status_fd,)
    if st == Status.PAUSED:  # CRIU thaws and freezes it again itself
        unified = c.cgroup_paths.get("unified") or next(iter(c.cgroup_paths.values()), None)
        if unified:
            argv += ["--freeze-cgroup", unified]
    with open(os.path.join(opts.image_path, DESCRIPTORS), "w") as f:
        f.write(jsonio.dumps(descriptors))
    with open(os.path.join(opts.image_path, RECORD), "w") as f:
        f.write(jsonio.dumps({"id": cid, "stdio": stdio, "pidns": c.has_pidns}))
    action = "pre-dump" if pre_dump else "dump"
    log = os.path.join(opts.work_path, f"{action}.log")
    debug(f"checkpoint {cid}: criu {action} {' '.join(argv)}")
    try:
        criu.run(exe, action, argv, log, pass_fds=pass_fds)
    except criu.CriuError as e:
        why = criu.unsupported(exe)
        if why:  # and what failed, which may be something else
            raise errors.OcirtError(f"{why}; {e.msg}") from None
        raise
    debug(f"checkpoint {cid}: criu {action} done: {opts.image_path}")
    if leave_running or pre_dump:
        return
    # the processes are gone with the dump: what create made goes too
    c.unlock()
    delete(root, cid, force=True)


def check_supported(cfg):
    """What ocirt cannot checkpoint or restore, as one line with its JSON path."""
    namespaces = cfg.get("linux", {}).get("namespaces") or []
    types = [ns.get("type") for ns in namespaces]
    if "mount" not in types:
        raise errors.ConfigError("checkpoint: a container without a mount namespace of its "
                                 "own is not supported", "$.linux.namespaces")
    for i, ns in enumerate(namespaces):
        if ns.get("path") and ns.get("type") in ("mount", "user", "cgroup"):
            raise errors.ConfigError(f"checkpoint: a {ns['type']} namespace joined by path is "
                                     "not supported", f"$.linux.namespaces[{i}].path")
    if "user" in types:
        raise errors.ConfigError("checkpoint: a container with a user namespace is not "
                                 "supported", "$.linux.namespaces")


def bind_mounts(cfg):
    """(index, destination, source) of the config's bind mounts."""
    out = []
    for i, m in enumerate(cfg.get("mounts") or ()):
        if m.get("type") == "bind" or {"bind", "rbind"} & set(m.get("options") or ()):
            out.append((i, m["destination"], m.get("source", "")))
    return out


def masked_files(cfg):
    """The masked paths that are files (those get a bind of the host's /dev/null;
    a masked directory gets a tmpfs, which CRIU dumps as it is)."""
    return list(cfg.get("linux", {}).get("maskedPaths") or ())


def external_mounts(cfg, pid):
    """--external mnt[...] for the bind mounts and the masked files that are
    mount points in the container (a path absent from its rootfs is not)."""
    points = set(criu.mount_ids(pid).values())
    out = []
    for _, dest, _ in bind_mounts(cfg):
        dest = os.path.normpath(dest)
        if dest in points:
            out += ["--external", criu.ext_mount(dest, dest)]
    for p in masked_files(cfg):
        p = os.path.normpath(p)
        if p in points and not os.path.isdir(f"/proc/{pid}/root{p}"):
            out += ["--external", criu.ext_mount(p, p)]
    for p in cgroup_mounts(cfg):
        if p in points:
            out += ["--external", criu.ext_mount(p, p)]
    return out


def cgroup_mounts(cfg):
    """The cgroup mounts of a container without a cgroup namespace of its
    own: the host's cgroup2 seen from the container's directory, which CRIU
    cannot take for a mount of its own (it "doesn't have a proper root
    mount"); restore binds the new container's directory there. (With a
    cgroup namespace the mount's root is the namespace's, and CRIU dumps it.)"""
    namespaces = cfg.get("linux", {}).get("namespaces") or ()
    if any(ns.get("type") == "cgroup" and not ns.get("path") for ns in namespaces):
        return []
    return [os.path.normpath(m["destination"]) for m in cfg.get("mounts") or ()
            if m.get("type") in ("cgroup", "cgroup2")]


def _external_namespaces(cfg, pid):
    out = []
    for ns in cfg.get("linux", {}).get("namespaces") or ():
        if not ns.get("path"):
            continue
        kind = {"network": ("net", NET_KEY), "pid": ("pid", PID_KEY)}.get(ns["type"])
        if kind:
            ino = os.stat(f"/proc/{pid}/ns/{kind[0]}").st_ino
            out += ["--external", f"{kind[0]}[{ino}]:{kind[1]}"]
    return out


def _external_stdio(pid):
    """([(fd, key)] for the init's fds 0..2 that come from outside the
    container, the links of fds 0..2 as runc records them)."""
    inside = criu.mount_ids(pid)
    out, links = [], []
    for fd in (0, 1, 2):
        try:
            link, mnt_id, st = criu.fd_target(pid, fd)
        except OSError:
            links.append("")
            continue
        links.append(link)
        if link.startswith("pipe:"):
            out.append((fd, link))
        elif (st.st_mode & 0o170000) == 0o020000 and 136 <= os.major(st.st_rdev) <= 143:
            # a pty slave (UNIX98 majors): the container's devpts is not the
            # host's, so its link reads "/0", not "/dev/pts/0"
            out.append((fd, criu.tty_key(st.st_rdev, st.st_dev)))
        elif mnt_id is not None and mnt_id not in inside and not link.startswith(
                ("socket:", "anon_inode:")):
            out.append((fd, criu.file_key(mnt_id, st.st_ino)))
    return out, links
