"""Build a container's root filesystem in the current (new) mount namespace.

The caller is the container's setup process, already in its own mount
namespace. Order, as runc: make "/" slave (or the configured propagation),
bind the rootfs onto itself, mount config.mounts in order, populate /dev,
pivot_root (or MS_MOVE + chroot), then masked and read-only paths, then a
read-only root.
"""
import stat

from ocirt import posixos as os  # os without its import cost (see there)
from ocirt.errors import SetupError
from ocirt.linux import devices, lsm, mounts, shim
from ocirt.linux.mounts import (MNT_DETACH, MS_BIND, MS_MOVE, MS_PRIVATE, MS_RDONLY, MS_REC,
                                MS_REMOUNT, MS_SLAVE, PROPAGATION)


def _fail(what, err, path=None):
    where = f" {path}" if path else ""
    raise SetupError(f"{what}{where}: {err.strerror or err}")


def prepare(cfg, cgroup_mount=None, in_userns=False, idmap_fds=None):
    """Mount everything under cfg.root_path. Returns nothing; raises SetupError.

    idmap_fds: {index in cfg.mounts: user namespace fd} for idmapped mounts."""
    idmap_fds = idmap_fds or {}
    root = cfg.root_path
    mount_label = (cfg.raw.get("linux") or {}).get("mountLabel")
    prop = PROPAGATION.get(cfg.rootfs_propagation or "", MS_SLAVE | MS_REC)
    try:
        shim.mount(None, "/", None, prop | MS_REC)
    except OSError as e:
        _fail("cannot set the propagation of /", e)
    _make_parent_private(root)
    try:
        shim.mount(root, root, None, MS_BIND | MS_REC)
    except OSError as e:
        _fail("cannot bind the rootfs", e, root)
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dev_bound = False
        for i, m in enumerate(cfg.mounts):
            opts = mounts.Options(m.options)
            fstype = m.type
            if fstype == "bind":
                opts.flags |= MS_BIND
            if mount_label and not opts.is_bind and fstype in _LABELLED_FS:
                opts.data.append(lsm.mount_data_with_label(None, mount_label))
            if opts.is_bind and os.path.normpath(m.destination) == "/dev":
                dev_bound = True
            try:
                if fstype == "cgroup" and not opts.is_bind:
                    (cgroup_mount or _no_cgroup)(root_fd, m, opts)
                    continue
                src_is_dir = True
                if opts.is_bind:
                    try:
                        src_is_dir = os.path.isdir(m.source)
                        os.stat(m.source)
                    except OSError as e:
                        raise SetupError(f"mounts[{i}]: bind source {m.source}: {e.strerror}")
                try:
                    mounts.mount_at(root_fd, m.destination, m.source, fstype, opts, src_is_dir,
                                    idmap_fds.get(i))
                except PermissionError:
                    if fstype != "sysfs":
                        raise
                    # sysfs without a private network namespace: bind the host's.
                    mounts.mount_at(root_fd, m.destination, "/sys", None,
                                    mounts.Options(["rbind", "nosuid", "nodev", "noexec"]
                                                   + (["ro"] if opts.flags & MS_RDONLY else [])))
            except OSError as e:
                raise SetupError(f"mounts[{i}]: cannot mount {m.type or 'bind'} on "
                                 f"{m.destination}: {e.strerror}")
        if not dev_bound:
            try:
                devices.setup_dev(root_fd, cfg.devices, in_userns)
            except OSError as e:
                _fail("cannot populate /dev", e, e.filename)
    finally:
        os.close(root_fd)


# file systems that take an SELinux context= option (as runc labels them)
_LABELLED_FS = ("tmpfs", "mqueue", "devpts", "shm")


def _no_cgroup(root_fd, m, opts):
    raise SetupError("cgroup mounts are not available")


def _make_parent_private(root):
    """pivot_root refuses a new root whose parent mount is shared."""
    path = os.path.abspath(root)
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best = mp
    try:
        shim.mount(None, best, None, MS_PRIVATE)
    except OSError as e:
        _fail("cannot make the rootfs parent mount private", e, best)


def pivot(root, no_pivot=False):
    """Make <root> the process's "/"."""
    os.chdir(root)
    if no_pivot:
        try:
            shim.mount(root, "/", None, MS_MOVE)
        except OSError as e:
            _fail("cannot move the rootfs to /", e)
        os.chroot(".")
        os.chdir("/")
        return
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        # pivot_root(".", ".") stacks the old root on top of the new one. From the
        # old root (reached through its fd) make it a slave, so that detaching it
        # does not propagate to the host, and detach it.
        shim.pivot_root(".", ".")
        os.fchdir(old_root)
        shim.mount(None, ".", None, MS_SLAVE | MS_REC)
        shim.umount2(".", MNT_DETACH)
    except OSError as e:
        _fail("pivot_root failed", e, root)
    finally:
        os.close(old_root)
    os.chdir("/")


def _existing(root_fd, paths, what):
    """(path, O_PATH fd) for each of <paths> that exists in the root; missing ones
    are skipped, as the spec allows. The fd is closed after the caller's turn."""
    for p in paths:
        try:
            fd = mounts.open_in_root(root_fd, p, shim.O_PATH | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue
        except OSError as e:
            _fail(what, e, p)
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            os.close(fd)
            raise SetupError(f"{what}: {p} is a symlink in the rootfs")
        try:
            yield p, fd
        finally:
            os.close(fd)


def finish(cfg):
    """After pivot: masked paths, read-only paths, read-only root, propagation."""
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for p, fd in _existing(root_fd, cfg.readonly_paths, "readonlyPaths"):
            try:
                target = mounts.fd_path(fd)
                shim.mount(target, target, None, MS_BIND | MS_REC)
                fd2 = mounts.open_in_root(root_fd, p)  # the new mount, not the one below
                try:
                    target = mounts.fd_path(fd2)
                    keep = mounts.locked_flags(target)
                    shim.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | keep)
                finally:
                    os.close(fd2)
            except OSError as e:
                _fail("cannot make read-only", e, p)
        for p, fd in _existing(root_fd, cfg.masked_paths, "maskedPaths"):
            try:
                target = mounts.fd_path(fd)
                if mounts.is_dir_fd(fd):
                    shim.mount("tmpfs", target, "tmpfs", MS_RDONLY, "size=0k")
                else:
                    shim.mount("/dev/null", target, None, MS_BIND)
            except OSError as e:
                _fail("cannot mask", e, p)
    finally:
        os.close(root_fd)
    if cfg.root_readonly:
        try:
            keep = mounts.locked_flags("/")
            shim.mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | keep)
        except OSError as e:
            _fail("cannot make the root read-only", e)
    if cfg.rootfs_propagation:
        try:
            shim.mount(None, "/", None, PROPAGATION[cfg.rootfs_propagation])
        except OSError as e:
            _fail("cannot set rootfsPropagation", e)
