"""cgroup v2 device control: load and attach BPF_PROG_TYPE_CGROUP_DEVICE programs.

The kernel runs every program attached to a cgroup (and, with
BPF_F_ALLOW_MULTI, those of its ancestors) on each device open / mknod by a
process in it; the access is refused (EPERM) if any returns 0. A program
stays attached, and loaded, after the fds to it are closed, until it is
detached or the cgroup is removed.

Replacing (``ocirt update``): the new program is attached first, then the
programs ocirt attached before are detached. In between both run, so the
cgroup never goes without a program (it briefly gets the intersection of the
old and the new rules). Programs are told apart by their name: ocirt loads
its programs as PROG_NAME.

Kernels >= 5.11 charge a program's memory to the memory cgroup rather than
to RLIMIT_MEMLOCK; ocirt never touches that limit.
"""
import errno

from ocirt import posixos  # os without its import cost (see there)
from ocirt._shim import ffi, lib

BPF_CGROUP_DEVICE = 6     # enum bpf_attach_type
BPF_F_ALLOW_MULTI = 1 << 1
INSN_SIZE = 8             # sizeof(struct bpf_insn)
PROG_NAME = "ocirt_devices"  # <= 15 characters: [A-Za-z0-9_.]
LICENSE = "Apache"
LOG_SIZE = 1 << 16


def _check(ret, what):
    if ret < 0:
        raise OSError(-ret, f"{what}: {posixos.strerror(-ret)}")
    return ret


def load(insns, name=PROG_NAME):
    """Load a CGROUP_DEVICE program (bytes of struct bpf_insn); returns its fd.

    If the verifier refuses it, the load is retried with a log, and the
    OSError's message carries the verifier's explanation."""
    if len(insns) % INSN_SIZE:
        raise ValueError("eBPF program length is not a multiple of 8")
    buf = ffi.from_buffer(insns)
    n = len(insns) // INSN_SIZE
    fd = lib.ocirt_bpf_prog_load_cgroup_device(buf, n, LICENSE.encode(), name.encode(),
                                               ffi.NULL, 0)
    if fd >= 0:
        return fd
    log = ffi.new("char[]", LOG_SIZE)
    fd = lib.ocirt_bpf_prog_load_cgroup_device(buf, n, LICENSE.encode(), name.encode(),
                                               log, LOG_SIZE)
    if fd >= 0:  # it loaded the second time: keep it
        return fd
    detail = ffi.string(log).decode(errors="replace").strip().replace("\n", "; ")
    raise OSError(-fd, f"loading the device eBPF program: {posixos.strerror(-fd)}"
                       + (f" (verifier: {detail[-2000:]})" if detail else ""))


def attached_ids(cgroup_fd):
    """Ids of the CGROUP_DEVICE programs attached to this cgroup itself."""
    size = 64  # the kernel's BPF_CGROUP_MAX_PROGS
    while True:
        ids = ffi.new("unsigned int[]", size)
        n = lib.ocirt_bpf_prog_query(cgroup_fd, BPF_CGROUP_DEVICE, ids, size)
        if n == -errno.ENOSPC and size < 1 << 16:
            size *= 2
            continue
        _check(n, "BPF_PROG_QUERY")
        return [ids[i] for i in range(n)]


def info(prog_fd):
    """(id, name) of a loaded program."""
    pid, ptype, name = ffi.new("unsigned int *"), ffi.new("unsigned int *"), ffi.new("char[16]")
    _check(lib.ocirt_bpf_prog_info(prog_fd, pid, ptype, name), "BPF_OBJ_GET_INFO_BY_FD")
    return pid[0], ffi.string(name).decode(errors="replace")


def attached(cgroup_fd):
    """[(id, name)] of the CGROUP_DEVICE programs attached to this cgroup.

    A program that vanished meanwhile is left out; one this process may not
    open (an LSM may forbid it) is listed with name None."""
    out = []
    for pid in attached_ids(cgroup_fd):
        fd = lib.ocirt_bpf_prog_get_fd_by_id(pid)
        if fd == -errno.ENOENT:
            continue
        if fd in (-errno.EPERM, -errno.EACCES):
            out.append((pid, None))
            continue
        _check(fd, "BPF_PROG_GET_FD_BY_ID")
        try:
            out.append(info(fd))
        finally:
            posixos.close(fd)
    return out


def _detach_id(cgroup_fd, prog_id):
    fd = lib.ocirt_bpf_prog_get_fd_by_id(prog_id)
    if fd == -errno.ENOENT:
        return
    _check(fd, "BPF_PROG_GET_FD_BY_ID")
    try:
        ret = lib.ocirt_bpf_prog_detach(cgroup_fd, fd, BPF_CGROUP_DEVICE)
        if ret != -errno.ENOENT:  # detached meanwhile by someone else
            _check(ret, "BPF_PROG_DETACH")
    finally:
        posixos.close(fd)


def install(cgroup_fd, insns, all_others=False):
    """Attach the device program insns to the cgroup2 directory cgroup_fd,
    replacing the one(s) ocirt attached before (every other CGROUP_DEVICE
    program too with all_others=True, as runc does: e.g. systemd's)."""
    old = [pid for pid, name in attached(cgroup_fd)
           if name == PROG_NAME or (all_others and name is not None)]
    fd = load(insns)
    try:
        _check(lib.ocirt_bpf_prog_attach(cgroup_fd, fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, -1),
               "BPF_PROG_ATTACH")
    finally:
        posixos.close(fd)
    for pid in old:
        _detach_id(cgroup_fd, pid)
