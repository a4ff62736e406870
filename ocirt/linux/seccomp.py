"""seccomp filters from linux.seccomp, through libseccomp (csrc/ocirt.c).

The runtime builds the filter before forking (names are resolved and bad
input is reported there, where warnings can be printed); the container's
init loads it: before dropping capabilities when noNewPrivileges is false
(loading then needs CAP_SYS_ADMIN), otherwise as late as possible, right
before execve, as runc does.
"""
import errno as _errno
import posix

from ocirt import SPEC_VERSION, jsonio
from ocirt.errors import ConfigError
from ocirt.linux.shim import ffi, lib

_EPERM = _errno.EPERM

OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
             "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}

# libseccomp's filter attributes for the spec's flags (enum scmp_filter_attr)
_ATTR_NNP = 3
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 4, "SECCOMP_FILTER_FLAG_LOG": 6,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 7}
# the kernel's seccomp(2) flags, for loading without libseccomp (flags it lacks)
KERNEL_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32}
_NEW_LISTENER = 8


# SCMP_ACT_* name -> libseccomp's value; ERRNO and TRACE carry errnoRet in
# the low 16 bits (EPERM when it is not given). `features` lists these.
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_ALLOW": 0x7FFF0000, "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_NOTIFY": 0x7FC00000,
}
_WITH_ERRNO = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")


def action_value(name, errno_ret, where):
    """libseccomp's value for an SCMP_ACT_* name."""
    value = ACTIONS.get(name)
    if value is None:
        raise ConfigError(f"unknown seccomp action {name!r}", where)
    if name in _WITH_ERRNO:
        value |= (_EPERM if errno_ret is None else errno_ret) & 0xFFFF
    return value


def known_architectures(names):
    """Those of the SCMP_ARCH_* names that this libseccomp can add to a filter."""
    handle = lib.ocirt_seccomp_new(ACTIONS["SCMP_ACT_ALLOW"])
    if handle == ffi.NULL:
        return []
    try:
        return [a for a in names
                if lib.ocirt_seccomp_arch(handle, a[len("SCMP_ARCH_"):].lower().encode()) == 0]
    finally:
        lib.ocirt_seccomp_free(handle)


class Filter:
    """A built, not yet loaded, filter. notify: it has SCMP_ACT_NOTIFY rules, whose
    listener fd must reach linux.seccomp.listenerPath (see ocirt.protocol)."""

    def __init__(self, handle, notify=False, kernel_flags=None):
        self.handle = handle
        self.notify = notify
        self.kernel_flags = kernel_flags  # load through seccomp(2) with these, if set
        self._listener = None

    def load(self):
        if self.kernel_flags is not None:
            flags = self.kernel_flags | (_NEW_LISTENER if self.notify else 0)
            r = lib.ocirt_seccomp_load_flags(self.handle, flags)
            if r > 0:
                self._listener = r
        else:
            r = lib.ocirt_seccomp_load(self.handle)
        if r < 0:
            raise OSError(-r, f"cannot load the seccomp filter: {_strerror(-r)}")

    def notify_fd(self):
        if self._listener is not None:
            return self._listener
        fd = lib.ocirt_seccomp_notify_fd(self.handle)
        if fd < 0:
            raise OSError(-fd, f"no seccomp notify fd: {_strerror(-fd)}")
        return fd


def send_to_listener(sec, notify_fd, state):
    """Give the notify fd and the container process state to the listener
    (runtime-spec: one message, the state as JSON, the fd by SCM_RIGHTS)."""
    import socket
    msg = {"ociVersion": state.get("ociVersion", SPEC_VERSION), "fds": ["seccompFd"],
           "pid": state["pid"], "metadata": sec.listener_metadata or "", "state": state}
    where = "$.linux.seccomp.listenerPath"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(sec.listener_path)
            socket.send_fds(s, [jsonio.dumps(msg).encode()], [notify_fd])
    except OSError as e:
        raise ConfigError(f"cannot reach the seccomp listener {sec.listener_path}: "
                          f"{e.strerror or e}", where)


def _strerror(n):
    return posix.strerror(n)


def _check(r, msg, where):
    if r < 0:
        raise ConfigError(f"{msg}: {_strerror(-r)}", where)


def build(sec, no_new_privs, warn):
    """A Filter for <sec> (a config.Seccomp, whose notify rules ocirt.config
    checked: a listenerPath, WAIT_KILLABLE_RECV only with them); warn(msg)
    for skipped names."""
    base = "$.linux.seccomp"
    default = action_value(sec.default_action, sec.default_errno_ret, base + ".defaultAction")
    handle = lib.ocirt_seccomp_new(default)
    if handle == ffi.NULL:
        raise ConfigError("cannot create a seccomp filter", base)
    handle = ffi.gc(handle, lib.ocirt_seccomp_free)
    _check(lib.ocirt_seccomp_attr(handle, _ATTR_NNP, 1 if no_new_privs else 0),
           "cannot set no_new_privs for the filter", base)
    for i, arch in enumerate(sec.architectures):
        _check(lib.ocirt_seccomp_arch(handle, arch[len("SCMP_ARCH_"):].lower().encode()),
               f"architecture {arch} is not supported", f"{base}.architectures[{i}]")
    flags = sec.flags
    kernel_flags = None
    if any(f not in FLAGS for f in flags):
        # a flag libseccomp cannot set: the filter is loaded by seccomp(2) itself
        kernel_flags = 0
        for i, flag in enumerate(flags):
            if flag not in KERNEL_FLAGS:
                raise ConfigError(f"unknown seccomp flag {flag}", f"{base}.flags[{i}]")
            kernel_flags |= KERNEL_FLAGS[flag]
    for i, flag in enumerate(flags if kernel_flags is None else ()):
        _check(lib.ocirt_seccomp_attr(handle, FLAGS[flag], 1), f"cannot set {flag}",
               f"{base}.flags[{i}]")
    for i, rule in enumerate(sec.syscalls):
        where = f"{base}.syscalls[{i}]"
        action = action_value(rule.action, rule.errno_ret, where + ".action")
        args = rule.args
        cargs = ffi.new("struct ocirt_arg[]", max(len(args), 1))
        for j, a in enumerate(args):
            op = OPERATORS.get(a.op)
            if op is None:
                raise ConfigError(f"unknown operator {a.op!r}", f"{where}.args[{j}].op")
            cargs[j].index = a.index
            cargs[j].op = op
            cargs[j].value = a.value
            cargs[j].value_two = a.value_two
        # libseccomp refuses two comparisons of one argument in a rule
        # (EINVAL). runc then adds each condition as a rule of its own, so
        # that the action applies when any one of them holds (all of the
        # rule's conditions, not only those on the repeated argument):
        # profiles written for runc count on it.
        indexes = [a.index for a in args]
        split = len(set(indexes)) < len(indexes)
        groups = [(ffi.new("struct ocirt_arg[]", [cargs[j]]), 1) for j in range(len(args))] \
            if split else [(cargs, len(args))]
        for name in rule.names:
            nr = lib.ocirt_seccomp_resolve(name.encode())
            if nr == -1:  # __NR_SCMP_ERROR: not a syscall of this architecture
                warn(f"seccomp: unknown syscall {name!r} skipped ({where})")
                continue
            if action == default:
                continue  # libseccomp refuses a rule that repeats the default
            for group, n in groups:
                _check(lib.ocirt_seccomp_rule(handle, action, nr, n, group),
                       f"cannot add the rule for {name}", where)
    return Filter(handle, sec.notify, kernel_flags)
