"""Build a container's root filesystem in the current (new) mount namespace.

The caller is the container's setup process, already in its own mount
namespace. Order, as runc: make "/" slave (or the configured propagation),
bind the rootfs onto itself, mount config.mounts in order, populate /dev,
pivot_root (or MS_MOVE + chroot), then masked and read-only paths, then a
read-only root.
"""
import errno
import stat

from ocirt import posixos  # os without its import cost (see there)
from ocirt.errors import SetupError
from ocirt.linux import devices, lsm, mounts, shim
from ocirt.linux.mounts import (MNT_DETACH, MS_BIND, MS_MOVE, MS_NODEV, MS_NOEXEC, MS_NOSUID,
                                MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SLAVE,
                                MS_UNBINDABLE, PROPAGATION)


def _fail(what, err, path=None, json_path=None):
    where = f" {path}" if path else ""
    raise SetupError(f"{what}{where}: {err.strerror or err}", json_path)


def options(m, mount_label=None):
    """(mounts.Options of config mount m as ocirt applies them, whether it
    is a read-only /dev). A read-only /dev is made read-only last (seal),
    as runc does: devpts, the devices and /dev/console go in first."""
    opts = mounts.Options(m.options)
    if m.type == "bind":
        opts.flags |= MS_BIND
    if mount_label and not opts.is_bind and m.type in _LABELLED_FS:
        opts.data.append(lsm.mount_data_with_label(None, mount_label))
    dev_ro = posixos.path.normpath(m.destination) == "/dev" and bool(opts.flags & MS_RDONLY)
    if dev_ro:
        opts.flags &= ~MS_RDONLY
    return opts, dev_ro


def is_bind(m):
    return options(m)[0].is_bind


def source_tree(m, idmap_fd=None):
    """A detached clone of bind mount m's source, with m's flags and
    idmapping set on it: what prepare() attaches (source_trees).

    With a user namespace, create makes these as host root in the
    container's mount namespace before its init builds the rootfs: the
    init, root of the user namespace only, may not search the directories
    above a source (a 0700 one, say), nor idmap a mount (that needs
    CAP_SYS_ADMIN over the filesystem's user namespace, the host's).
    OSError: the operation's, its filename set for a source that cannot
    be opened."""
    opts = options(m)[0]
    return mounts.bind_tree(m.source, opts, idmap_fd)


def prepare(cfg, cgroup_mount=None, in_userns=False, idmap_fds=None, source_trees=None):
    """Mount everything under cfg.root_path; raises SetupError.

    idmap_fds: {index in cfg.mounts: user namespace fd} for idmapped mounts;
    source_trees: {index in cfg.mounts: fd of its source_tree()}, made by
    create (each is closed here). Returns what finish() and seal() need
    (a Prepared)."""
    idmap_fds = idmap_fds or {}
    source_trees = source_trees or {}
    root = cfg.root_path
    mount_label = cfg.mount_label
    prop = PROPAGATION.get(cfg.rootfs_propagation or "", MS_SLAVE | MS_REC)
    if prop & MS_UNBINDABLE:
        # Unbindable is private, and cannot be cloned: the host's mounts that
        # ocirt clones (bind sources, the cgroup v1 directories, /dev/null for
        # maskedPaths) must stay clonable until the end. seal() makes the
        # container's root unbindable, last.
        prop = MS_PRIVATE | MS_REC
    done = Prepared()
    if cfg.namespace("mount") is not None:
        try:
            shim.mount(None, "/", None, prop | MS_REC)
        except OSError as e:
            _fail("cannot set the propagation of /", e)
        _make_parent_private(root)
        try:
            shim.mount(root, root, None, MS_BIND | MS_REC)
        except OSError as e:
            _fail("cannot bind the rootfs", e, root)
    # else the runtime's mount namespace, whose propagation is not ours to
    # change: create bound the rootfs onto itself already (bind_in_place)
    root_fd = posixos.open(root, posixos.O_PATH | posixos.O_DIRECTORY | posixos.O_CLOEXEC)
    try:
        dev_bound = False
        for i, m in enumerate(cfg.mounts):
            opts, dev_ro = options(m, mount_label)
            fstype = m.type
            if opts.is_bind and posixos.path.normpath(m.destination) == "/dev":
                dev_bound = True
            tree = source_trees.pop(i, None)
            try:
                if fstype == "cgroup" and not opts.is_bind:
                    (cgroup_mount or _no_cgroup)(root_fd, m, opts)
                    continue
                src_is_dir = True
                if tree is not None:
                    src_is_dir = mounts.is_dir_fd(tree)
                elif opts.is_bind:
                    try:
                        src_is_dir = posixos.path.isdir(m.source)
                        posixos.stat(m.source)
                    except OSError as e:
                        raise SetupError(f"bind source {m.source}: {e.strerror}",
                                         f"$.mounts[{i}].source")
                # procfs or sysfs through a symlink would land where it points
                plain_dir = fstype in ("proc", "sysfs")
                try:
                    given, tree = tree, None  # mount_at's from here on
                    fd = mounts.mount_at(root_fd, m.destination, m.source, fstype, opts,
                                         src_is_dir, idmap_fds.get(i), plain_dir, keep=dev_ro,
                                         tree=given)
                    if dev_ro:
                        done.keep_dev_ro(fd, i)
                except PermissionError:
                    if fstype != "sysfs":
                        raise
                    # sysfs without a private network namespace: bind the host's.
                    mounts.mount_at(root_fd, m.destination, "/sys", None,
                                    mounts.Options(["rbind", "nosuid", "nodev", "noexec"]
                                                   + (["ro"] if opts.flags & MS_RDONLY else [])),
                                    plain_dir=True)
            except OSError as e:
                raise SetupError(f"cannot mount {m.type or 'bind'} on {m.destination}: "
                                 f"{e.strerror}", f"$.mounts[{i}]")
            finally:
                if tree is not None:
                    posixos.close(tree)
        if not dev_bound:
            try:
                devices.setup_dev(root_fd, cfg.devices, in_userns)
            except OSError as e:
                _fail("cannot populate /dev", e, e.filename, "$.linux.devices")
    except BaseException:
        done.close()
        raise
    finally:
        posixos.close(root_fd)
        for fd in source_trees.values():
            posixos.close(fd)
    if cfg.masked_paths:
        try:
            done.null_fd = _host_null()
        except BaseException:
            done.close()
            raise
    return done


def bind_in_place(root, record):
    """For a container without a mount namespace of its own (it inherits
    the runtime's, as config-linux.md says it MUST): bind the rootfs onto
    itself there, the mount that holds every other mount of the container,
    so that unmounting it at delete removes them all. record(id, unique,
    mountinfo id) is called with its mount ids before it is attached (a
    create killed after that leaves delete the means to find it). Returns
    an fd of the mount, for unmount()."""
    try:
        root_fd = posixos.open(root, posixos.O_PATH | posixos.O_DIRECTORY | posixos.O_CLOEXEC)
    except OSError as e:
        raise SetupError(f"rootfs {root}: {e.strerror}", "$.root.path")
    try:
        tree = shim.open_tree(root_fd, "", shim.OPEN_TREE_CLONE | shim.AT_RECURSIVE |
                              shim.AT_EMPTY_PATH)
        try:
            record(*shim.mount_id(tree)[:2], shim.mount_id(tree, want_unique=False)[0])
            mounts.attach(tree, root_fd)
        except BaseException:
            posixos.close(tree)
            raise
    except OSError as e:
        _fail("cannot bind the rootfs", e, root, "$.root.path")
    finally:
        posixos.close(root_fd)
    return tree


def unmount(fd):
    """Detach the mount whose root fd is open, with all the mounts under
    it: by the fd (its /proc/self/fd link is that very mount), no path."""
    shim.umount2(mounts.fd_path(fd), MNT_DETACH)


def unmount_recorded(mount_id, unique, info_id, path):
    """Detach the mount bind_in_place made, recorded as (mount_id, unique,
    info_id) at path, if it is still there.

    Nothing is looked up twice: the mount on top at path is opened, without
    following a symlink, and what is done is done to that fd. If it is the
    recorded mount (its id, from statx of the fd), it is detached with all
    under it. A mount on top of it (the container, privileged, mounted over
    its "/") is necessarily one of its descendants: such a top mount whose
    chain of parents in /proc/self/mountinfo reaches the recorded one is
    detached (by its fd), and the next one looked at. Anything else on top
    (an engine's mount of the rootfs once ours is gone, or nothing) is not
    ours and stays. OSError from umount2."""
    for _ in range(_MAX_STACK):
        try:
            fd = posixos.open(path, posixos.O_PATH | posixos.O_DIRECTORY | posixos.O_NOFOLLOW
                              | posixos.O_CLOEXEC)
        except OSError:
            return
        try:
            mid, uniq, at_root = shim.mount_id(fd)
            if not at_root:
                return
            if (mid, uniq) == (mount_id, unique):
                unmount(fd)
                return
            if not _descends_from(shim.mount_id(fd, want_unique=False)[0], info_id):
                return
            unmount(fd)
        finally:
            posixos.close(fd)


_MAX_STACK = 64


def _descends_from(info_id, ancestor):
    """Whether mount info_id has mount ancestor among its parents, as
    /proc/self/mountinfo has them now."""
    parents = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            me, parent = line.split(" ", 2)[:2]
            parents[int(me)] = int(parent)
    seen = set()
    while info_id in parents and info_id not in seen:
        seen.add(info_id)
        info_id = parents[info_id]
        if info_id == ancestor:
            return True
    return False


class Prepared:
    """What prepare() hands to finish() and seal(), by fd: the host's
    /dev/null (a detached mount) for maskedPaths, and the /dev mounts to
    make read-only at the end ((fd, index in config.mounts))."""

    __slots__ = ("null_fd", "dev_ro")

    def __init__(self):
        self.null_fd = None
        self.dev_ro = []

    def keep_dev_ro(self, fd, i):
        self.dev_ro.append((fd, i))

    def close(self):
        for fd, _ in self.dev_ro:
            posixos.close(fd)
        self.dev_ro = []
        if self.null_fd is not None:
            posixos.close(self.null_fd)
            self.null_fd = None


def _host_null():
    """The host's /dev/null, cloned as a detached mount: what masks a file.

    Never the container's /dev/null: its rootfs or a volume shared with
    another container can make that a symlink, or another file, by the time
    it is bound (CVE-2025-31133)."""
    try:
        fd = shim.open_tree(shim.AT_FDCWD, "/dev/null", shim.OPEN_TREE_CLONE)
    except OSError as e:
        _fail("maskedPaths: cannot open the null device", e, "/dev/null")
    try:
        st = posixos.fstat(fd)
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != posixos.makedev(1, 3):
            raise SetupError("maskedPaths: the host's /dev/null is not the null device (1:3)")
        shim.mount_setattr(fd, "", shim.AT_EMPTY_PATH,
                           shim.MOUNT_ATTR_NOSUID | shim.MOUNT_ATTR_NOEXEC)
    except BaseException as e:
        posixos.close(fd)
        if isinstance(e, OSError):
            _fail("maskedPaths: cannot prepare the null device", e, "/dev/null")
        raise
    return fd


# file systems that take an SELinux context= option (as runc labels them)
_LABELLED_FS = ("tmpfs", "mqueue", "devpts", "shm")


def _no_cgroup(root_fd, m, opts):
    raise SetupError("cgroup mounts are not available")


def _make_parent_private(root):
    """pivot_root refuses a new root whose parent mount is shared, and a
    shared parent would carry the rootfs bind to the host: make it private
    if it is shared (after "/" was made a slave it is not, unless
    rootfsPropagation asked for shared). A slave stays a slave, as with
    runc: the container's root then still receives the host's mount events."""
    path = posixos.path.abspath(root)
    best, shared = "/", False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mp = fields[4].replace("\\040", " ")
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                best = mp
                shared = any(t.startswith("shared:") for t in fields[6:fields.index("-")])
    if not shared:
        return
    try:
        shim.mount(None, best, None, MS_PRIVATE)
    except OSError as e:
        _fail("cannot make the rootfs parent mount private", e, best)


def pivot(root, no_pivot=False, own_ns=True):
    """Make <root> the process's "/". Without a mount namespace of the
    container's own (own_ns false), chroot: pivot_root or a move over "/"
    would change the runtime's mount namespace, the host's."""
    posixos.chdir(root)
    if not own_ns:
        posixos.chroot(".")
        posixos.chdir("/")
        return
    if no_pivot:
        _hide_host_proc_and_sys(posixos.readlink("/proc/self/cwd"))
        try:
            shim.mount(root, "/", None, MS_MOVE)
        except OSError as e:
            _fail("cannot move the rootfs to /", e)
        posixos.chroot(".")
        posixos.chdir("/")
        return
    old_root = posixos.open("/", posixos.O_DIRECTORY | posixos.O_RDONLY | posixos.O_CLOEXEC)
    try:
        # pivot_root(".", ".") stacks the old root on top of the new one. From the
        # old root (reached through its fd) make it a slave, so that detaching it
        # does not propagate to the host, and detach it.
        shim.pivot_root(".", ".")
        posixos.fchdir(old_root)
        shim.mount(None, ".", None, MS_SLAVE | MS_REC)
        shim.umount2(".", MNT_DETACH)
    except OSError as e:
        _fail("pivot_root failed", e, root)
    finally:
        posixos.close(old_root)
    posixos.chdir("/")


def _hide_host_proc_and_sys(root):
    """Detach the host's procfs and sysfs mounts from this mount namespace
    (cover them with an empty tmpfs where they are locked), before --no-pivot
    moves the rootfs over "/": chroot leaves them in the namespace, and a
    process of the container could then mount a fresh, unmasked procfs or
    sysfs from a user namespace of its own (the kernel allows one when an
    instance already fully visible is in the namespace: mount_too_revealing).

    root is the rootfs's real path: the container's own mounts, under it, stay."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-", 6) + 1]
            point = _unescape(fields[4])
            if (fields[3] == "/" and fstype in ("proc", "sysfs") and point != root
                    and not point.startswith(root.rstrip("/") + "/")):
                found.append(point)
    for point in found:
        try:
            # no unmount event may reach the host through shared propagation
            shim.mount(None, point, None, MS_SLAVE | MS_REC)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.EINVAL):
                continue  # went with a mount above it
            _fail("--no-pivot: cannot make the host's mount a slave", e, point)
        try:
            shim.umount2(point, MNT_DETACH)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EPERM):
                _fail("--no-pivot: cannot detach the host's mount", e, point)
            try:  # locked into this user namespace's mount namespace
                shim.mount("tmpfs", point, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                           "size=0k")
            except OSError as e:
                _fail("--no-pivot: cannot cover the host's mount", e, point)


def _unescape(field):
    """A mountinfo path: space, tab, newline and backslash come as \\ooo."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _existing(root_fd, paths, what):
    """(path, its JSON path, O_PATH fd) for each of <paths> that exists in the
    root; missing ones are skipped, as the spec allows. The fd is closed after
    the caller's turn."""
    for i, p in enumerate(paths):
        where = f"$.linux.{what}[{i}]"
        try:
            fd = mounts.open_in_root(root_fd, p, shim.O_PATH | posixos.O_NOFOLLOW)
        except FileNotFoundError:
            continue
        except OSError as e:
            _fail(what, e, p, where)
        if stat.S_ISLNK(posixos.fstat(fd).st_mode):
            posixos.close(fd)
            raise SetupError(f"{what}: {p} is a symlink in the rootfs", where)
        try:
            yield p, where, fd
        finally:
            posixos.close(fd)


def finish(cfg, prepared=None):
    """After pivot: masked paths, read-only paths, read-only root.

    prepared: what prepare() returned; its /dev/null is closed here.
    Every path is resolved once, to an fd, and the mounts go onto that fd: a
    read-only or masking mount is made (detached) and moved, never looked up
    again by its path."""
    null_fd = prepared.null_fd if prepared is not None else None
    if prepared is not None:
        prepared.null_fd = None
    root_fd = posixos.open("/", posixos.O_PATH | posixos.O_DIRECTORY | posixos.O_CLOEXEC)
    try:
        for p, where, fd in _existing(root_fd, cfg.readonly_paths, "readonlyPaths"):
            try:
                tree = shim.open_tree(fd, "", shim.OPEN_TREE_CLONE | shim.AT_RECURSIVE |
                                      shim.AT_EMPTY_PATH)
                try:
                    shim.mount_setattr(tree, "", shim.AT_EMPTY_PATH | shim.AT_RECURSIVE,
                                       shim.MOUNT_ATTR_RDONLY)
                    mounts.attach(tree, fd)
                finally:
                    posixos.close(tree)
            except OSError as e:
                _fail("cannot make read-only", e, p, where)
        null_attached = False
        for p, where, fd in _existing(root_fd, cfg.masked_paths, "maskedPaths"):
            try:
                if mounts.is_dir_fd(fd):
                    # (never through /proc/self/fd: this /proc is the rootfs's
                    # name, which the rootfs can swap for a symlink to its own tree)
                    tree = mounts.new_fs("tmpfs", ["ro", "size=0k"])
                    try:
                        mounts.attach(tree, fd)
                    finally:
                        posixos.close(tree)
                    continue
                if null_fd is None:
                    raise SetupError(f"maskedPaths: {p}: no null device to mask it with",
                                     where)
                if not null_attached:
                    # the first masked file gets the host's clone itself, the
                    # others a clone of it (a detached mount cannot be cloned)
                    mounts.attach(null_fd, fd)
                    null_attached = True
                    continue
                tree = shim.open_tree(null_fd, "", shim.OPEN_TREE_CLONE | shim.AT_EMPTY_PATH)
                try:
                    mounts.attach(tree, fd)
                finally:
                    posixos.close(tree)
            except OSError as e:
                _fail("cannot mask", e, p, where)
    finally:
        posixos.close(root_fd)
        if null_fd is not None:
            posixos.close(null_fd)
    if cfg.root_readonly:
        try:
            keep = mounts.locked_flags("/")
            shim.mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | keep)
        except OSError as e:
            _fail("cannot make the root read-only", e, json_path="$.root.readonly")


def seal(cfg, prepared=None):
    """The last changes to the container's mounts, once nothing is to be
    made in /dev (the terminal included) nor cloned: a read-only /dev
    (through the fd of its mount), then rootfsPropagation."""
    if prepared is not None:
        try:
            for fd, i in prepared.dev_ro:
                try:
                    shim.mount_setattr(fd, "", shim.AT_EMPTY_PATH, shim.MOUNT_ATTR_RDONLY)
                except OSError as e:
                    _fail("cannot make /dev read-only", e, json_path=f"$.mounts[{i}]")
        finally:
            prepared.close()
    if cfg.rootfs_propagation:
        try:
            shim.mount(None, "/", None, PROPAGATION[cfg.rootfs_propagation])
        except OSError as e:
            _fail("cannot set rootfsPropagation", e, json_path="$.linux.rootfsPropagation")
