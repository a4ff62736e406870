"""mount(2) options, and paths resolved inside a root without escaping it."""
import errno
import stat

from ocirt import posixos  # os without its import cost (see there)
from ocirt.linux import shim

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_DETACH = 2

# option -> (flags to set, flags to clear)
FLAGS = {
    "defaults": (0, 0),
    "ro": (MS_RDONLY, 0), "rw": (0, MS_RDONLY),
    "nosuid": (MS_NOSUID, 0), "suid": (0, MS_NOSUID),
    "nodev": (MS_NODEV, 0), "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0), "exec": (0, MS_NOEXEC),
    "sync": (MS_SYNCHRONOUS, 0), "async": (0, MS_SYNCHRONOUS),
    "dirsync": (MS_DIRSYNC, 0),
    "remount": (MS_REMOUNT, 0),
    "mand": (MS_MANDLOCK, 0), "nomand": (0, MS_MANDLOCK),
    "noatime": (MS_NOATIME, 0), "atime": (0, MS_NOATIME),
    "nodiratime": (MS_NODIRATIME, 0), "diratime": (0, MS_NODIRATIME),
    "bind": (MS_BIND, 0), "rbind": (MS_BIND | MS_REC, 0),
    "relatime": (MS_RELATIME, 0), "norelatime": (0, MS_RELATIME),
    "strictatime": (MS_STRICTATIME, 0), "nostrictatime": (0, MS_STRICTATIME),
    "lazytime": (MS_LAZYTIME, 0), "nolazytime": (0, MS_LAZYTIME),
    "iversion": (MS_I_VERSION, 0), "noiversion": (0, MS_I_VERSION),
    "silent": (MS_SILENT, 0), "loud": (0, MS_SILENT),
    "nosymfollow": (MS_NOSYMFOLLOW, 0), "symfollow": (0, MS_NOSYMFOLLOW),
}

PROPAGATION = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}

# recursive mount attributes (mount_setattr with AT_RECURSIVE): option -> (set, clear)
_A = shim
RECURSIVE = {
    "rro": (_A.MOUNT_ATTR_RDONLY, 0), "rrw": (0, _A.MOUNT_ATTR_RDONLY),
    "rnosuid": (_A.MOUNT_ATTR_NOSUID, 0), "rsuid": (0, _A.MOUNT_ATTR_NOSUID),
    "rnodev": (_A.MOUNT_ATTR_NODEV, 0), "rdev": (0, _A.MOUNT_ATTR_NODEV),
    "rnoexec": (_A.MOUNT_ATTR_NOEXEC, 0), "rexec": (0, _A.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (_A.MOUNT_ATTR_NODIRATIME, 0), "rdiratime": (0, _A.MOUNT_ATTR_NODIRATIME),
    "rrelatime": (_A.MOUNT_ATTR_RELATIME, _A.MOUNT_ATTR__ATIME),
    "rnorelatime": (0, 0),
    "rnoatime": (_A.MOUNT_ATTR_NOATIME, _A.MOUNT_ATTR__ATIME),
    "ratime": (_A.MOUNT_ATTR_RELATIME, _A.MOUNT_ATTR__ATIME),
    "rstrictatime": (_A.MOUNT_ATTR_STRICTATIME, _A.MOUNT_ATTR__ATIME),
    "rnostrictatime": (_A.MOUNT_ATTR_RELATIME, _A.MOUNT_ATTR__ATIME),
    "rnosymfollow": (_A.MOUNT_ATTR_NOSYMFOLLOW, 0), "rsymfollow": (0, _A.MOUNT_ATTR_NOSYMFOLLOW),
}

# Options that ocirt handles itself rather than passing to the kernel.
EXTENSIONS = {"tmpcopyup", "idmap", "ridmap"}


class Options:
    """Parsed mount options."""

    __slots__ = ("flags", "clear", "propagation", "rec_set", "rec_clr", "data", "extensions")

    def __init__(self, options):
        self.flags = 0
        self.clear = 0
        self.propagation = []
        self.rec_set = 0
        self.rec_clr = 0
        self.data = []
        self.extensions = set()
        for opt in options:
            if opt in FLAGS:
                s, c = FLAGS[opt]
                self.flags = (self.flags | s) & ~c
                self.clear |= c
            elif opt in PROPAGATION:
                self.propagation.append(PROPAGATION[opt])
            elif opt in RECURSIVE:
                s, c = RECURSIVE[opt]
                self.rec_set = (self.rec_set | s) & ~c
                self.rec_clr |= c
            elif opt in EXTENSIONS:
                self.extensions.add(opt)
            else:
                self.data.append(opt)

    @property
    def is_bind(self):
        return bool(self.flags & MS_BIND)

    @property
    def data_string(self):
        return ",".join(self.data) or None


def fd_path(fd):
    return f"/proc/self/fd/{fd}"


def open_in_root(root_fd, path, flags=shim.O_PATH, resolve=0):
    """Open <path> as seen from inside the root that <root_fd> names.

    Symlinks are followed as if root_fd were "/", so nothing can lead out of it
    (resolve: more RESOLVE_* flags). The kernel refuses a ".." walked while any
    rename or mount happened on the system (EAGAIN: it cannot tell whether
    ".." left the root); that is retried a few times, as openat2(2) advises.
    """
    path = path.lstrip("/") or "."
    resolve |= shim.RESOLVE_IN_ROOT | shim.RESOLVE_NO_MAGICLINKS
    for _ in range(_EAGAIN_TRIES):
        try:
            return shim.openat2(root_fd, path, flags, resolve=resolve)
        except BlockingIOError:
            pass
    return shim.openat2(root_fd, path, flags, resolve=resolve)


_EAGAIN_TRIES = 16


def make_in_root(root_fd, path, is_dir=True, mode=0o755, _links=0):
    """Make sure <path> exists inside the root (creating parents), return an O_PATH fd.

    A dangling symlink on the way is followed the way the kernel would follow
    it with the root as "/", and the missing target is created inside the root.
    """
    try:
        return open_in_root(root_fd, path)
    except FileNotFoundError:
        pass
    parts = [p for p in path.split("/") if p and p != "."]
    done = []
    for i, name in enumerate(parts):
        if name == "..":
            done = done[:-1]
            continue
        try:
            posixos.close(open_in_root(root_fd, "/".join(done + [name])))
            done.append(name)
            continue
        except FileNotFoundError:
            pass
        parent = open_in_root(root_fd, "/".join(done))
        try:
            try:
                target = posixos.readlink(name, dir_fd=parent)
            except OSError:
                target = None
            if target is not None:
                if _links >= 40:
                    raise OSError(errno.ELOOP, posixos.strerror(errno.ELOOP), path)
                base = [] if target.startswith("/") else done
                rest = "/".join(base + [target] + parts[i + 1:])
                return make_in_root(root_fd, rest, is_dir, mode, _links + 1)
            if i == len(parts) - 1 and not is_dir:
                fd = posixos.open(name, posixos.O_CREAT | posixos.O_WRONLY | posixos.O_NOFOLLOW
                                  | posixos.O_CLOEXEC,
                                  0o644, dir_fd=parent)
                posixos.close(fd)
            else:
                try:
                    posixos.mkdir(name, mode, dir_fd=parent)
                except FileExistsError:
                    pass
        finally:
            posixos.close(parent)
        done.append(name)
    return open_in_root(root_fd, "/".join(done))


def is_dir_fd(fd):
    return stat.S_ISDIR(posixos.fstat(fd).st_mode)


def locked_flags(path):
    """Flags of an existing mount that a bind remount must keep (nosuid, nodev, ...)."""
    st = posixos.statvfs(path)
    out = 0
    for vfs, ms in ((posixos.ST_NOSUID, MS_NOSUID), (posixos.ST_NODEV, MS_NODEV),
                    (posixos.ST_NOEXEC, MS_NOEXEC), (posixos.ST_RDONLY, MS_RDONLY),
                    (getattr(posixos, "ST_NOATIME", 1024), MS_NOATIME),
                    (getattr(posixos, "ST_NODIRATIME", 2048), MS_NODIRATIME),
                    (getattr(posixos, "ST_RELATIME", 4096), MS_RELATIME)):
        if st.f_flag & vfs:
            out |= ms
    return out


def mount_at(root_fd, dest, source, fstype, opts, source_is_dir=True, idmap_fd=None,
             plain_dir=False, keep=False, tree=None):
    """Mount one entry on <dest> inside the root; raises OSError. Returns an
    fd of the new mount if keep (for later changes by fd), else None.

    <dest> is resolved once, to an fd. The new mount is made detached (a clone
    of the source for a bind, fsopen/fsmount otherwise), filled (tmpcopyup) and
    given every flag while nothing else can reach it, and only then moved onto
    that fd: no second lookup that a rename or symlink racing in a shared
    volume could redirect (a `ro` that lands elsewhere leaves the mount rw).

    idmap_fd: a user namespace whose mappings an idmapped bind mount uses.
    plain_dir: <dest> must be a directory reached through no symlink at all
    (proc and sysfs: CVE-2019-16884). tree: the bind's detached clone, made
    already (bind_tree), which this call owns from now on."""
    mode = None
    try:
        if plain_dir:
            target_fd = _plain_dir(root_fd, dest)
        else:
            try:
                target_fd = open_in_root(root_fd, dest)
                if fstype == "tmpfs" and not opts.is_bind and is_dir_fd(target_fd):
                    mode = stat.S_IMODE(posixos.fstat(target_fd).st_mode)
            except FileNotFoundError:
                target_fd = make_in_root(root_fd, dest, is_dir=source_is_dir)
    except BaseException:
        if tree is not None:
            posixos.close(tree)
        raise
    try:
        if tree is None:
            tree = (bind_tree(source, opts, idmap_fd) if opts.is_bind
                    else _new_fs(source, fstype, opts, target_fd, mode))
        try:
            attach(tree, target_fd)
            for prop in opts.propagation:  # once attached: relative to the target's peers
                shim.mount_setattr(tree, "", shim.AT_EMPTY_PATH |
                                   (shim.AT_RECURSIVE if prop & MS_REC else 0),
                                   propagation=prop & ~MS_REC)
        except BaseException:
            posixos.close(tree)
            raise
        if not keep:
            posixos.close(tree)
            tree = None
    finally:
        posixos.close(target_fd)
    return tree


def attach(tree, target_fd):
    """Move the mount (detached, or attached elsewhere) open at fd tree onto
    the file or directory open at target_fd: no path on either side."""
    shim.move_mount(tree, "", target_fd, "",
                    shim.MOVE_MOUNT_F_EMPTY_PATH | shim.MOVE_MOUNT_T_EMPTY_PATH)


def new_fs(fstype, options, source=None):
    """A new, detached instance of fstype with mount options; an fd of its root."""
    return _new_fs(source, fstype, Options(options), None)


def _plain_dir(root_fd, dest):
    """An O_PATH fd of the directory <dest>, reached through no symlink (made if missing)."""
    try:
        try:
            fd = open_in_root(root_fd, dest, resolve=shim.RESOLVE_NO_SYMLINKS)
        except FileNotFoundError:
            posixos.close(make_in_root(root_fd, dest))
            fd = open_in_root(root_fd, dest, resolve=shim.RESOLVE_NO_SYMLINKS)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError(e.errno, f"destination {dest} is a symlink in the rootfs") from None
        raise
    if not is_dir_fd(fd):
        posixos.close(fd)
        raise OSError(errno.ENOTDIR, f"destination {dest} is not a directory in the rootfs")
    return fd


_ATTRS = ((MS_RDONLY, shim.MOUNT_ATTR_RDONLY), (MS_NOSUID, shim.MOUNT_ATTR_NOSUID),
          (MS_NODEV, shim.MOUNT_ATTR_NODEV), (MS_NOEXEC, shim.MOUNT_ATTR_NOEXEC),
          (MS_NODIRATIME, shim.MOUNT_ATTR_NODIRATIME),
          (MS_NOSYMFOLLOW, shim.MOUNT_ATTR_NOSYMFOLLOW))
_ATIME = MS_NOATIME | MS_STRICTATIME | MS_RELATIME


def mount_attrs(flags, clear=0):
    """(attr_set, attr_clr) of mount_setattr for MS_* flags set and cleared.

    Only what an option names changes. The atime mode is one value: named by
    any atime option, it is strictatime over noatime over relatime, as mount(2)
    has it."""
    attr_set = attr_clr = 0
    for ms, attr in _ATTRS:
        if flags & ms:
            attr_set |= attr
        elif clear & ms:
            attr_clr |= attr
    if (flags | clear) & _ATIME:
        attr_clr |= shim.MOUNT_ATTR__ATIME
        attr_set |= (shim.MOUNT_ATTR_STRICTATIME if flags & MS_STRICTATIME else
                     shim.MOUNT_ATTR_NOATIME if flags & MS_NOATIME else
                     shim.MOUNT_ATTR_RELATIME)
    return attr_set, attr_clr


def bind_tree(source, opts, userns_fd=None):
    """A detached clone of <source> (its submounts too for rbind) with the
    options' flags, the idmapping and the recursive attributes set on it.
    OSError: open_tree's with the source as its filename, or mount_setattr's."""
    rec = shim.AT_RECURSIVE if opts.flags & MS_REC else 0
    try:
        tree = shim.open_tree(shim.AT_FDCWD, source, shim.OPEN_TREE_CLONE | rec)
    except OSError as e:
        e.filename = source
        raise
    try:
        if userns_fd is not None:
            shim.mount_setattr(tree, "", shim.AT_EMPTY_PATH |
                               (shim.AT_RECURSIVE if "ridmap" in opts.extensions else 0),
                               shim.MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
        attr_set, attr_clr = mount_attrs(opts.flags, opts.clear)
        if attr_set or attr_clr:
            shim.mount_setattr(tree, "", shim.AT_EMPTY_PATH, attr_set, attr_clr)
        if opts.rec_set or opts.rec_clr:
            shim.mount_setattr(tree, "", shim.AT_EMPTY_PATH | shim.AT_RECURSIVE,
                               opts.rec_set, opts.rec_clr)
    except BaseException:
        posixos.close(tree)
        raise
    return tree


# superblock flags as fsconfig names them (the per-mount ones are attributes)
_SB_FLAGS = ((MS_SYNCHRONOUS, "sync"), (MS_DIRSYNC, "dirsync"), (MS_MANDLOCK, "mand"),
             (MS_LAZYTIME, "lazytime"))


def _new_fs(source, fstype, opts, target_fd, mode=None):
    """A new, detached instance of <fstype> with the options' data and flags.

    mode: the mode of the directory a tmpfs goes over, which it keeps unless
    a mode= option says otherwise (as runc and crun: a tmpfs's own default,
    1777, would open a 0700 directory to every user). With tmpcopyup, what
    target_fd (not covered yet) holds is copied in first."""
    if not fstype:
        raise OSError(errno.EINVAL, "a mount that is not a bind needs a type")
    fs = shim.fsopen(fstype)
    try:
        shim.fsconfig(fs, shim.FSCONFIG_SET_STRING, "source", source or fstype)
        if mode is not None and not any(o.startswith("mode=") for o in opts.data):
            shim.fsconfig(fs, shim.FSCONFIG_SET_STRING, "mode", f"{mode:o}")
        for flag, name in _SB_FLAGS:
            if opts.flags & flag:
                shim.fsconfig(fs, shim.FSCONFIG_SET_FLAG, name)
        for opt in opts.data:
            key, eq, value = opt.partition("=")
            if not eq:
                shim.fsconfig(fs, shim.FSCONFIG_SET_FLAG, key)
            else:
                if len(value) > 1 and value[0] == value[-1] == '"':
                    value = value[1:-1]  # context="..." (mount(2) takes the quotes off)
                shim.fsconfig(fs, shim.FSCONFIG_SET_STRING, key, value)
        shim.fsconfig(fs, shim.FSCONFIG_CMD_CREATE)
        attr_set = mount_attrs(opts.flags)[0]
        copy_up = "tmpcopyup" in opts.extensions and fstype == "tmpfs"
        mnt = shim.fsmount(fs, attr_set & ~shim.MOUNT_ATTR_RDONLY if copy_up else attr_set)
    finally:
        posixos.close(fs)
    try:
        if copy_up:
            src = posixos.open(".", posixos.O_RDONLY | posixos.O_DIRECTORY | posixos.O_CLOEXEC,
                               dir_fd=target_fd)
            try:
                dst = posixos.open(".", posixos.O_RDONLY | posixos.O_DIRECTORY | posixos.O_CLOEXEC,
                                   dir_fd=mnt)
                try:
                    _copy_tree(src, dst)
                finally:
                    posixos.close(dst)
            finally:
                posixos.close(src)
            if attr_set & shim.MOUNT_ATTR_RDONLY:
                shim.mount_setattr(mnt, "", shim.AT_EMPTY_PATH, shim.MOUNT_ATTR_RDONLY, 0)
        if opts.rec_set or opts.rec_clr:
            shim.mount_setattr(mnt, "", shim.AT_EMPTY_PATH | shim.AT_RECURSIVE,
                               opts.rec_set, opts.rec_clr)
    except BaseException:
        posixos.close(mnt)
        raise
    return mnt


def _copy_tree(src, dst):
    """Copy the directory open at fd src into the one open at fd dst (the
    new tmpfs, still detached: nothing else can reach it).

    The rootfs is not trusted, and can change under the copy: every entry is
    opened once, with O_PATH|O_NOFOLLOW, and handled by that fd (fstat, the
    copy, the descent), never by a path. Symlinks are copied as links, never
    followed; fifos, sockets and device nodes are skipped (opening a fifo
    would block create forever). Mode, owner, times and xattrs are kept."""
    import posix  # builtin: fchmod, sendfile, xattrs without importing os
    for name in posixos.listdir(src):
        try:
            fd = posixos.open(name, posixos.O_PATH | posixos.O_NOFOLLOW | posixos.O_CLOEXEC,
                              dir_fd=src)
        except FileNotFoundError:  # gone meanwhile
            continue
        try:
            st = posixos.fstat(fd)
            kind = stat.S_IFMT(st.st_mode)
            if kind == stat.S_IFLNK:
                posixos.symlink(posixos.readlink("", dir_fd=fd), name, dir_fd=dst)
                _own(lambda u, g: posixos.chown(name, u, g, dir_fd=dst, follow_symlinks=False), st)
                posix.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst,
                            follow_symlinks=False)
                continue
            if kind == stat.S_IFDIR:
                rfd = posixos.open(".", posixos.O_RDONLY | posixos.O_DIRECTORY | posixos.O_CLOEXEC,
                                   dir_fd=fd)
                posixos.mkdir(name, 0o700, dir_fd=dst)
                wfd = posixos.open(name, posixos.O_RDONLY | posixos.O_DIRECTORY
                                   | posixos.O_NOFOLLOW | posixos.O_CLOEXEC,
                                   dir_fd=dst)
            elif kind == stat.S_IFREG:
                # reopened through the fd (the magic link of this process's
                # /proc, the host's): the same inode, whatever the name is now
                rfd = posixos.open(fd_path(fd), posixos.O_RDONLY | posixos.O_CLOEXEC)
                wfd = posixos.open(name, posixos.O_WRONLY | posixos.O_CREAT | posixos.O_EXCL
                                   | posixos.O_NOFOLLOW | posixos.O_CLOEXEC, 0o600, dir_fd=dst)
            else:
                continue
            try:
                if kind == stat.S_IFDIR:
                    _copy_tree(rfd, wfd)
                else:
                    while posix.sendfile(wfd, rfd, None, 1 << 30) > 0:
                        pass
                _copy_xattrs(posix, rfd, wfd)
                _own(lambda u, g: posixos.fchown(wfd, u, g), st)
                posix.chmod(wfd, stat.S_IMODE(st.st_mode))
                posix.utime(wfd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                posixos.close(wfd)
                posixos.close(rfd)
        finally:
            posixos.close(fd)


def _own(chown, st):
    try:
        chown(st.st_uid, st.st_gid)
    except OSError as e:  # an owner this user namespace does not map
        if e.errno not in (errno.EINVAL, errno.EPERM):
            raise


def _copy_xattrs(posix, rfd, wfd):
    """As shutil.copy2: what cannot be read or set (security.*, no support) is skipped."""
    try:
        names = posix.listxattr(rfd)
    except OSError:
        return
    for key in names:
        try:
            posix.setxattr(wfd, key, posix.getxattr(rfd, key))
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.ENODATA, errno.EINVAL,
                               errno.EACCES):
                raise
