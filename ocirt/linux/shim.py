"""Python face of the C shim (csrc/ocirt.c, compiled by cffi as ocirt._shim).

Each wrapper turns the shim's -errno convention into OSError carrying the
errno and the path the call was about.
"""

from ocirt import posixos  # os without its import cost (see there)
from ocirt._shim import ffi, lib
from ocirt.linux.capabilities import NAMES

# clone(2) namespace flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# openat2 resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_IN_ROOT = 0x10

O_PATH = 0o10000000

# mount_setattr
AT_RECURSIVE = 0x8000
AT_EMPTY_PATH = 0x1000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# prctl
PR_SET_DUMPABLE = 4
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_KEEPCAPS = 8

CLOSE_RANGE_CLOEXEC = 4

OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
AT_FDCWD = -100

# the new mount API: fsopen, fsconfig, fsmount
FSOPEN_CLOEXEC = 1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 1


def _check(ret, what=None):
    """ret, or OSError(errno, strerror, what) for -errno: <what> is the call
    with its arguments ("prctl(PR_SET_NO_NEW_PRIVS, 1)"), or the path."""
    if ret < 0:
        raise OSError(-ret, posixos.strerror(-ret), what)
    return ret


def describe(e):
    """An OSError as one line: the call or path first, as the runtime's
    errors say it ("mount(proc, /proc, proc, MS_NOSUID): Operation not
    permitted")."""
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror or e}"
    if isinstance(e, OSError):
        return str(e.strerror or e)
    return f"{type(e).__name__}: {e}"


_CLONE_NAMES = ((CLONE_NEWNS, "CLONE_NEWNS"), (CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
                (CLONE_NEWUTS, "CLONE_NEWUTS"), (CLONE_NEWIPC, "CLONE_NEWIPC"),
                (CLONE_NEWUSER, "CLONE_NEWUSER"), (CLONE_NEWPID, "CLONE_NEWPID"),
                (CLONE_NEWNET, "CLONE_NEWNET"), (CLONE_NEWTIME, "CLONE_NEWTIME"))


def clone_flag_names(flags):
    return _names(flags, _CLONE_NAMES)


_MOUNT_NAMES = tuple((1 << i, n) for i, n in enumerate((
    "MS_RDONLY", "MS_NOSUID", "MS_NODEV", "MS_NOEXEC", "MS_SYNCHRONOUS", "MS_REMOUNT",
    "MS_MANDLOCK", "MS_DIRSYNC", "MS_NOSYMFOLLOW", "", "MS_NOATIME", "MS_NODIRATIME",
    "MS_BIND", "MS_MOVE", "MS_REC", "MS_SILENT", "", "MS_UNBINDABLE", "MS_PRIVATE",
    "MS_SLAVE", "MS_SHARED", "MS_RELATIME", "", "MS_I_VERSION", "MS_STRICTATIME",
    "MS_LAZYTIME")) if n)


def mount_flag_names(flags):
    return _names(flags, _MOUNT_NAMES)


def _names(flags, table):
    out = [name for bit, name in table if flags & bit]
    rest = flags & ~sum(bit for bit, _ in table)
    if rest:
        out.append(hex(rest))
    return "|".join(out) or "0"


_PRCTL_NAMES = {1: "PR_SET_PDEATHSIG", 4: "PR_SET_DUMPABLE", 8: "PR_SET_KEEPCAPS",
                23: "PR_CAPBSET_READ", 24: "PR_CAPBSET_DROP", 36: "PR_SET_CHILD_SUBREAPER",
                38: "PR_SET_NO_NEW_PRIVS", 47: "PR_CAP_AMBIENT"}
_AMBIENT_OPS = {1: "PR_CAP_AMBIENT_IS_SET", 2: "PR_CAP_AMBIENT_RAISE",
                3: "PR_CAP_AMBIENT_LOWER", 4: "PR_CAP_AMBIENT_CLEAR_ALL"}


def _prctl_call(option, a2, a3):
    if option == PR_CAP_AMBIENT:
        op = _AMBIENT_OPS.get(a2, str(a2))
        return f"prctl({op}" + (f", {_cap_name(a3)})" if a2 in (1, 2, 3) else ")")
    if option in (PR_CAPBSET_DROP, PR_CAPBSET_READ):
        return f"prctl({_PRCTL_NAMES[option]}, {_cap_name(a2)})"
    return f"prctl({_PRCTL_NAMES.get(option, option)}, {a2})"


def _cap_name(n):
    return NAMES[n] if 0 <= n < len(NAMES) else f"capability {n}"


def _b(s):
    if s is None:
        return ffi.NULL
    return s.encode() if isinstance(s, str) else s


def fork_into_cgroup(cgroup_fd, ns_flags=0):
    """os.fork(), with the child born in the cgroup v2 directory cgroup_fd
    (none if < 0) and in new namespaces (CLONE_NEW* flags).

    OSError(ENOSYS/E2BIG/EINVAL) means the kernel lacks clone3 or its
    CLONE_INTO_CGROUP; the caller falls back to os.fork()."""
    return _check(lib.ocirt_fork_into_cgroup(cgroup_fd, ns_flags), "clone3")


def unshare(flags):
    _check(lib.ocirt_unshare(flags), f"unshare({clone_flag_names(flags)})")


def setns(fd, nstype=0):
    _check(lib.ocirt_setns(fd, nstype), f"setns({fd}, {clone_flag_names(nstype)})")


def mount(source, target, fstype, flags=0, data=None):
    _check(lib.ocirt_mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           f"mount({source}, {target}, {fstype}, {mount_flag_names(flags)}"
           + (f", {data})" if data else ")"))


def umount2(target, flags=0):
    _check(lib.ocirt_umount2(_b(target), flags), f"umount2({target}, {flags})")


def pivot_root(new_root, put_old):
    _check(lib.ocirt_pivot_root(_b(new_root), _b(put_old)), f"pivot_root({new_root}, {put_old})")


def openat2(dirfd, path, flags, mode=0, resolve=0):
    return _check(lib.ocirt_openat2(dirfd, _b(path), flags | posixos.O_CLOEXEC, mode, resolve),
                  path)


def mount_setattr(dirfd, path, flags, attr_set=0, attr_clr=0, propagation=0, userns_fd=-1):
    _check(lib.ocirt_mount_setattr(dirfd, _b(path), flags, attr_set, attr_clr,
                                   propagation, userns_fd), path)


def prctl(option, a2=0, a3=0, a4=0, a5=0):
    return _check(lib.ocirt_prctl(option, a2, a3, a4, a5), _prctl_call(option, a2, a3))


def close_range(first, last=0xFFFFFFFF, flags=0):
    _check(lib.ocirt_close_range(first, last, flags), f"close_range({first}, {last}, {flags})")


def setdomainname(name):
    b = name.encode()
    _check(lib.ocirt_setdomainname(b, len(b)), f"setdomainname({name})")


def setgroups(gids):
    arr = ffi.new("unsigned int[]", list(gids) or [0])
    _check(lib.ocirt_setgroups(len(gids), arr), f"setgroups({list(gids)})")


def capget(pid=0):
    e = ffi.new("unsigned int[2]")
    p = ffi.new("unsigned int[2]")
    i = ffi.new("unsigned int[2]")
    _check(lib.ocirt_capget(pid, e, p, i), "capget")
    join = lambda a: a[0] | (a[1] << 32)  # noqa: E731
    return join(e), join(p), join(i)


def capset(effective, permitted, inheritable):
    split = lambda v: [v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF]  # noqa: E731
    _check(lib.ocirt_capset(ffi.new("unsigned int[2]", split(effective)),
                            ffi.new("unsigned int[2]", split(permitted)),
                            ffi.new("unsigned int[2]", split(inheritable))),
           f"capset(effective={effective:#x}, permitted={permitted:#x}, "
           f"inheritable={inheritable:#x})")


def last_cap():
    return lib.ocirt_last_cap()


def seccomp_version():
    out = ffi.new("unsigned int[3]")
    _check(lib.ocirt_seccomp_version(out), "seccomp_version")
    return f"{out[0]}.{out[1]}.{out[2]}"


def join_session_keyring(name):
    return _check(lib.ocirt_join_session_keyring(_b(name)),
                  f"keyctl(KEYCTL_JOIN_SESSION_KEYRING, {name})")


def personality(persona):
    _check(lib.ocirt_personality(persona), f"personality({persona:#x})")


def setrlimit(resource, soft, hard):
    _check(lib.ocirt_setrlimit(resource, soft, hard), f"setrlimit({resource}, {soft}, {hard})")


def getrlimit(resource):
    """(soft, hard); RLIM_INFINITY is 2**64 - 1."""
    out = ffi.new("unsigned long long[2]")
    _check(lib.ocirt_getrlimit(resource, out), f"getrlimit({resource})")
    return out[0], out[1]


def link_up(name):
    """Bring the network interface `name` of this network namespace up."""
    _check(lib.ocirt_link_up(_b(name)), f"ioctl(SIOCSIFFLAGS, {name}, IFF_UP)")


def set_mempolicy(mode, nodes, what):
    """mode (with its flags) over the node numbers in <nodes>; what: the
    call as errors name it."""
    nwords = (max(nodes) // 64 + 1) if nodes else 0
    words = [0] * nwords
    for n in nodes:
        words[n // 64] |= 1 << (n % 64)
    bitmap = ffi.new("unsigned long[]", words) if nwords else ffi.NULL
    _check(lib.ocirt_set_mempolicy(mode, bitmap, nwords), what)


def ioprio_set(ioprio):
    _check(lib.ocirt_ioprio_set(ioprio), f"ioprio_set({ioprio:#x})")


def sched_setattr(policy, flags=0, nice=0, priority=0, runtime=0, deadline=0, period=0):
    _check(lib.ocirt_sched_setattr(policy, flags, nice, priority, runtime, deadline, period),
           f"sched_setattr(policy={policy}, nice={nice}, priority={priority})")


def open_tree(dirfd, path, flags):
    return _check(lib.ocirt_open_tree(dirfd, _b(path), flags | posixos.O_CLOEXEC),
                  f"open_tree({dirfd}, {path})")


def move_mount(from_fd, from_path, to_fd, to_path, flags):
    _check(lib.ocirt_move_mount(from_fd, _b(from_path), to_fd, _b(to_path), flags),
           f"move_mount({from_fd}, {to_fd}:{to_path})")


def exec_stub_fd():
    """A sealed close-on-exec memfd holding the exec stub (ocirt.linux.execstub)."""
    return _check(lib.ocirt_exec_stub_fd(), "memfd_create(ocirt-exec)")


def fsopen(fstype):
    """A file system context for a new instance of fstype (close-on-exec)."""
    return _check(lib.ocirt_fsopen(_b(fstype), FSOPEN_CLOEXEC), f"fsopen({fstype})")


def fsconfig(fs_fd, cmd, key=None, value=None):
    """One option of the context (FSCONFIG_SET_FLAG/SET_STRING), or CMD_CREATE.
    The OSError names the option, with what the kernel logged about it."""
    ret = lib.ocirt_fsconfig(fs_fd, cmd, _b(key), _b(value), 0)
    if ret < 0:
        what = key if value is None else f"{key}={value}"
        try:  # the kernel's message, as "e tmpfs: Bad value for 'mode'"
            log = posixos.read(fs_fd, 256).decode(errors="replace").strip()
        except OSError:
            log = ""
        raise OSError(-ret, posixos.strerror(-ret) + (f" ({log[2:]})" if log[1:2] == " " else ""),
                      f"fsconfig({what})" if what else "fsconfig(FSCONFIG_CMD_CREATE)")


def fsmount(fs_fd, attr_flags=0):
    """The detached mount of a created context: an fd of its root (close-on-exec)."""
    return _check(lib.ocirt_fsmount(fs_fd, FSMOUNT_CLOEXEC, attr_flags),
                  f"fsmount({fs_fd}, {attr_flags:#x})")


def fs_type(fd):
    """The file system magic of what fd is on (statfs f_type)."""
    out = ffi.new("unsigned long long *")
    _check(lib.ocirt_fstatfs_type(fd, out), f"fstatfs({fd})")
    return out[0]


def mount_id(fd, want_unique=True):
    """(id, unique, root) of the mount fd is on: its id (the never reused
    one of Linux 6.8 when unique, else mountinfo's), and whether fd is the
    mount's root (statx)."""
    out = ffi.new("unsigned long long *")
    unique = ffi.new("int *")
    root = ffi.new("int *")
    _check(lib.ocirt_mount_id(fd, int(want_unique), out, unique, root),
           f"statx({fd}, STATX_MNT_ID{'_UNIQUE' if want_unique else ''})")
    return out[0], bool(unique[0]), bool(root[0])
