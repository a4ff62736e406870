"""mount(2) options, and paths resolved inside a root without escaping it."""
import errno
import stat

from ocirt import posixos as os  # os without its import cost (see there)
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
    "ratime": (0, _A.MOUNT_ATTR_NOATIME),
    "rstrictatime": (_A.MOUNT_ATTR_STRICTATIME, _A.MOUNT_ATTR__ATIME),
    "rnostrictatime": (0, _A.MOUNT_ATTR_STRICTATIME),
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


def open_in_root(root_fd, path, flags=shim.O_PATH):
    """Open <path> as seen from inside the root that <root_fd> names.

    Symlinks are followed as if root_fd were "/", so nothing can lead out of it.
    """
    return shim.openat2(root_fd, path.lstrip("/") or ".", flags,
                        resolve=shim.RESOLVE_IN_ROOT | shim.RESOLVE_NO_MAGICLINKS)


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
            os.close(open_in_root(root_fd, "/".join(done + [name])))
            done.append(name)
            continue
        except FileNotFoundError:
            pass
        parent = open_in_root(root_fd, "/".join(done))
        try:
            try:
                target = os.readlink(name, dir_fd=parent)
            except OSError:
                target = None
            if target is not None:
                if _links >= 40:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                base = [] if target.startswith("/") else done
                rest = "/".join(base + [target] + parts[i + 1:])
                return make_in_root(root_fd, rest, is_dir, mode, _links + 1)
            if i == len(parts) - 1 and not is_dir:
                fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o644, dir_fd=parent)
                os.close(fd)
            else:
                try:
                    os.mkdir(name, mode, dir_fd=parent)
                except FileExistsError:
                    pass
        finally:
            os.close(parent)
        done.append(name)
    return open_in_root(root_fd, "/".join(done))


def is_dir_fd(fd):
    return stat.S_ISDIR(os.fstat(fd).st_mode)


def locked_flags(path):
    """Flags of an existing mount that a bind remount must keep (nosuid, nodev, ...)."""
    st = os.statvfs(path)
    out = 0
    for vfs, ms in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV),
                    (os.ST_NOEXEC, MS_NOEXEC), (os.ST_RDONLY, MS_RDONLY),
                    (getattr(os, "ST_NOATIME", 1024), MS_NOATIME),
                    (getattr(os, "ST_NODIRATIME", 2048), MS_NODIRATIME),
                    (getattr(os, "ST_RELATIME", 4096), MS_RELATIME)):
        if st.f_flag & vfs:
            out |= ms
    return out


def mount_at(root_fd, dest, source, fstype, opts, source_is_dir=True, idmap_fd=None):
    """Mount one entry on <dest> inside the root; returns nothing, raises OSError.

    idmap_fd: a user namespace whose mappings an idmapped bind mount uses."""
    target_fd = make_in_root(root_fd, dest, is_dir=source_is_dir)
    try:
        target = fd_path(target_fd)
        if opts.is_bind and idmap_fd is not None:
            _idmapped_bind(source, target_fd, opts, idmap_fd)
        elif opts.is_bind:
            shim.mount(source, target, None, opts.flags & (MS_BIND | MS_REC))
        if opts.is_bind:
            os.close(target_fd)
            target_fd = open_in_root(root_fd, dest)
            target = fd_path(target_fd)
            extra = opts.flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
            if extra or opts.clear & ~MS_REC:
                keep = locked_flags(target) & ~opts.clear
                shim.mount(None, target, None, MS_BIND | MS_REMOUNT | extra | keep)
        else:
            copy_from = None
            if "tmpcopyup" in opts.extensions and fstype == "tmpfs":
                copy_from = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                shim.mount(source or fstype, target, fstype,
                           opts.flags & ~(MS_REMOUNT | MS_RDONLY), opts.data_string)
                os.close(target_fd)
                target_fd = open_in_root(root_fd, dest)
                target = fd_path(target_fd)
                if copy_from is not None:
                    _copy_tree(copy_from, target)
                if opts.flags & MS_RDONLY:
                    shim.mount(None, target, None,
                               MS_REMOUNT | (opts.flags & ~MS_REMOUNT), opts.data_string)
            finally:
                if copy_from is not None:
                    os.close(copy_from)
        for prop in opts.propagation:
            shim.mount(None, target, None, prop)
        if opts.rec_set or opts.rec_clr:
            shim.mount_setattr(target_fd, "", shim.AT_EMPTY_PATH | shim.AT_RECURSIVE,
                               opts.rec_set, opts.rec_clr)
    finally:
        os.close(target_fd)


def _idmapped_bind(source, target_fd, opts, userns_fd):
    """A detached copy of <source>, idmapped through userns_fd, moved onto target_fd."""
    rec = shim.AT_RECURSIVE if opts.flags & MS_REC else 0
    tree = shim.open_tree(shim.AT_FDCWD, source, shim.OPEN_TREE_CLONE | rec)
    try:
        shim.mount_setattr(tree, "", shim.AT_EMPTY_PATH |
                           (shim.AT_RECURSIVE if "ridmap" in opts.extensions else 0),
                           shim.MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
        shim.move_mount(tree, "", target_fd, "",
                        shim.MOVE_MOUNT_F_EMPTY_PATH | shim.MOVE_MOUNT_T_EMPTY_PATH)
    finally:
        os.close(tree)


def _copy_tree(src_fd, dest):
    """Copy the directory behind src_fd (now covered by a tmpfs) into dest.

    The rootfs is not trusted: symlinks are copied as links, and fifos, sockets
    and device nodes are skipped (opening a fifo would block create forever)."""
    import shutil
    src = fd_path(src_fd)
    for name in os.listdir(src):
        s = os.path.join(src, name)
        d = os.path.join(dest, name)
        mode = os.lstat(s).st_mode
        if stat.S_ISDIR(mode):
            shutil.copytree(s, d, symlinks=True, copy_function=_copy_plain_file)
        else:
            _copy_plain_file(s, d)


def _copy_plain_file(s, d):
    mode = os.lstat(s).st_mode
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        import shutil
        shutil.copy2(s, d, follow_symlinks=False)
