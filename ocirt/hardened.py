"""The template `ocirt spec --hardened` writes (issue 16 §5), and its seccomp
profile, as data.

runc's template (ocirt.defaults) with each of these, for the attack class
it closes (docs/hardened.md tells them at length):

- no capabilities at all: root in the container owns its files and nothing
  more (no CAP_SYS_ADMIN, CAP_NET_RAW, CAP_DAC_OVERRIDE, CAP_CHOWN...);
- noNewPrivileges: a setuid binary of the image grants nothing;
- a read-only root, a small noexec tmpfs on /tmp, /dev read-only and
  noexec: nothing of the image can be changed, nothing written can run;
- the engines' masked paths (runc's, plus podman's and docker's later
  additions) and runc's read-only /proc paths;
- a cgroup namespace: /proc/self/cgroup shows "/", not the host's tree;
- a seccomp allow-list written here from the x86_64 syscall table: what a
  program runs on, and not the rarely used kernel interfaces that most
  container escapes and kernel exploits went through;
- with --rootless, a user namespace (runc's rootless template).

Only `spec` imports this module (a cold command); the names of the profile
are resolved by the libseccomp of the machine that writes the config, so
that the file carries only names its runtime can add to a filter.
"""
import os

# ------------------------------------------------------------- the profile
# Allowed without condition. Every one of x86_64's system calls is either
# here, in REFUSED, in the argument rules below, or in UNIMPLEMENTED.
ALLOWED = (
    # files and directories
    "read", "write", "open", "openat", "openat2", "creat", "close", "close_range",
    "lseek", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2",
    "pwritev2", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
    "access", "faccessat", "faccessat2", "getdents", "getdents64", "getcwd", "chdir",
    "fchdir", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link",
    "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "umask",
    "mknod", "mknodat", "truncate", "ftruncate", "fallocate", "fsync", "fdatasync",
    "sync", "syncfs", "sync_file_range", "fadvise64", "readahead", "utime", "utimes",
    "futimesat", "utimensat", "flock", "fcntl", "ioctl", "dup", "dup2", "dup3",
    "sendfile", "splice", "tee", "copy_file_range", "setxattr", "lsetxattr",
    "fsetxattr", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr",
    "flistxattr", "removexattr", "lremovexattr", "fremovexattr", "inotify_init",
    "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark",
    # waiting and events
    "pipe", "pipe2", "poll", "ppoll", "select", "pselect6", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
    "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create",
    "timerfd_settime", "timerfd_gettime", "futex", "futex_waitv", "futex_wake",
    "futex_wait", "futex_requeue", "set_robust_list",
    "get_robust_list", "io_setup", "io_destroy", "io_getevents", "io_submit",
    "io_cancel",
    # memory
    "brk", "mmap", "munmap", "mprotect", "mremap", "msync", "mincore", "madvise",
    "mlock", "mlock2", "munlock", "mlockall", "munlockall", "remap_file_pages",
    "memfd_create", "memfd_secret", "membarrier", "pkey_mprotect", "pkey_alloc",
    "pkey_free", "cachestat", "map_shadow_stack",
    # processes, threads, signals
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
    "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "rt_sigpending", "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "rt_sigsuspend", "sigaltstack", "pause", "restart_syscall", "set_tid_address",
    "arch_prctl", "set_thread_area", "get_thread_area", "rseq", "prctl", "seccomp",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    "pidfd_open", "pidfd_send_signal", "process_mrelease", "getpid", "getppid",
    "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "getpriority",
    "setpriority", "sched_yield", "sched_setparam", "sched_getparam",
    "sched_setscheduler", "sched_getscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "sched_rr_get_interval", "sched_setaffinity",
    "sched_getaffinity", "sched_setattr", "sched_getattr", "ioprio_set", "ioprio_get",
    "getcpu", "getrlimit", "setrlimit", "prlimit64", "getrusage", "times",
    # identity (without capabilities only towards fewer rights)
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
    "setfsgid", "setgroups", "capget", "capset",
    # time (reading it; adjtimex changes nothing without CAP_SYS_TIME)
    "time", "gettimeofday", "clock_gettime", "clock_getres", "clock_nanosleep",
    "nanosleep", "alarm", "getitimer", "setitimer", "timer_create", "timer_settime",
    "timer_gettime", "timer_getoverrun", "timer_delete", "adjtimex",
    # System V and POSIX IPC (the container's own ipc namespace)
    "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
    "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr",
    # sockets (socket itself: by family, below)
    "socketpair", "connect", "accept", "accept4", "bind", "listen", "shutdown",
    "getsockname", "getpeername", "setsockopt", "getsockopt", "sendto", "recvfrom",
    "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
    # the machine
    "uname", "sysinfo", "getrandom",
)

# Refused with EPERM, by name, so that a program is told "not permitted"
# rather than "no such call" (the default): the calls the engines' default
# profiles refuse, and some more. Why each group, in docs/hardened.md.
REFUSED = (
    # the kernel keyring is not namespaced; a long line of exploits
    "add_key", "request_key", "keyctl",
    # kernel interfaces with a history of exploits, rarely needed by a service
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "io_pgetevents", "vmsplice",
    # mounts, old and new API, and changing root: escapes
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount",
    "fspick", "open_tree", "move_mount", "mount_setattr",
    # other namespaces (clone and unshare: their namespace flags, below)
    "setns",
    # file handles: the "shocker" escape opened host files by handle
    "name_to_handle_at", "open_by_handle_at",
    # other processes' memory and files
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
    "pidfd_getfd",
    # the kernel itself, its modules, the machine
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "quotactl_fd",
    "lookup_dcookie", "fanotify_init", "vhangup", "iopl", "ioperm", "modify_ldt",
    "sethostname", "setdomainname", "ustat", "sysfs",
    # the clock is the host's
    "settimeofday", "clock_settime", "clock_adjtime",
    # NUMA policy and page migration (host memory layout)
    "mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node",
    "migrate_pages", "move_pages",
)

# x86_64 numbers that today's kernels answer with ENOSYS themselves: left
# to the default, which says the same
UNIMPLEMENTED = ("afs_syscall", "getpmsg", "putpmsg", "security", "tuxcall", "vserver",
                 "epoll_ctl_old", "epoll_wait_old", "create_module", "get_kernel_syms",
                 "query_module", "nfsservctl", "uselib", "_sysctl")

# clone3 passes its flags in a struct seccomp cannot read: ENOSYS, so that
# the C library falls back to clone, whose flags the filter sees.
ENOSYS_NAMES = ("clone3",)

EPERM, ENOSYS = 1, 38

# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET; for
# unshare also CLONE_NEWTIME (0x80, which clone reads as its exit signal)
CLONE_NEW = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
             0x40000000)
CLONE_NEWTIME = 0x00000080

# personality(2): Linux, PER_LINUX32, UNAME26 (each alone or with the other),
# and 0xffffffff, which only asks
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xffffffff)

# socket(2): AF_UNIX, AF_INET, AF_INET6, AF_NETLINK. The other families
# (AF_VSOCK to the hypervisor, AF_ALG, AF_TIPC, AF_RDS, AF_PACKET, ...) get
# the default, ENOSYS. (Not EAFNOSUPPORT: on x86 socket is also reached
# through socketcall, whose arguments a filter cannot see, and libseccomp
# refuses rules of two actions on it, EEXIST.)
SOCKET_FAMILIES = (1, 2, 10, 16)

ARCHITECTURES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}


def _rules():
    """The syscalls of the profile, as linux.seccomp.syscalls (before the
    names are resolved)."""
    rules = [{"names": list(ALLOWED), "action": "SCMP_ACT_ALLOW"},
             {"names": list(REFUSED), "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM},
             {"names": list(ENOSYS_NAMES), "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}]
    for name, flags in (("clone", CLONE_NEW), ("unshare", CLONE_NEW + (CLONE_NEWTIME,))):
        allowed = 0
        for f in flags:
            allowed |= f
        # (flags & all namespace flags) == 0: allowed; each namespace flag: EPERM
        rules.append({"names": [name], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": allowed, "valueTwo": 0,
                                "op": "SCMP_CMP_MASKED_EQ"}]})
        for f in flags:
            rules.append({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM,
                          "args": [{"index": 0, "value": f, "valueTwo": f,
                                    "op": "SCMP_CMP_MASKED_EQ"}]})
    for p in PERSONALITIES:
        rules.append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": p, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]})
    for fam in SOCKET_FAMILIES:
        rules.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": fam, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]})
    return rules


def seccomp(machine=None, known=None):
    """linux.seccomp for this machine: its architectures, and only the names
    known(name) says libseccomp resolves here (by default, this libseccomp's
    native table: an aarch64 has no open, stat or arch_prctl)."""
    if known is None:
        from ocirt.linux.shim import lib  # optional: known= spares the compiled shim (unit tests)

        def known(name):
            return lib.ocirt_seccomp_resolve(name.encode()) >= 0
    rules = []
    for rule in _rules():
        names = [n for n in rule["names"] if known(n)]
        if names:
            rules.append(dict(rule, names=names))
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": ENOSYS,
            "architectures": ARCHITECTURES.get(machine or os.uname().machine, []),
            "syscalls": rules}


# ------------------------------------------------------------- the template
# runc's masked paths, with what podman and docker mask today
MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore",
                "/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
                "/proc/timer_list", "/proc/timer_stats", "/sys/dev/block",
                "/sys/devices/virtual/powercap", "/sys/firmware", "/sys/fs/selinux"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
TMP = {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
       "options": ["nosuid", "nodev", "noexec", "mode=1777", "size=65536k"]}


def harden(cfg, rootless, known=None):
    """Turn runc's template <cfg> (ocirt.defaults.spec's, rootless already
    applied) into the hardened one, in place; known: as for seccomp()."""
    process = cfg["process"]
    process["terminal"] = False
    process["capabilities"] = {"bounding": [], "effective": [], "permitted": []}
    process["noNewPrivileges"] = True
    cfg["root"] = {"path": "rootfs", "readonly": True}
    for m in cfg["mounts"]:
        if m["destination"] == "/proc":
            m["options"] = ["nosuid", "noexec", "nodev"]
        if m["destination"] == "/dev":
            m["options"] = ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k",
                            "ro"]
    if rootless:  # a cgroup mount needs a cgroup namespace the user may not own
        cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "cgroup"]
    cfg["mounts"].append(dict(TMP, options=list(TMP["options"])))
    linux = cfg["linux"]
    namespaces = linux["namespaces"]
    at = next((i for i, ns in enumerate(namespaces) if ns["type"] == "user"), len(namespaces))
    namespaces.insert(at, {"type": "cgroup"})
    linux["maskedPaths"] = list(MASKED_PATHS)
    linux["readonlyPaths"] = list(READONLY_PATHS)
    linux["seccomp"] = seccomp(known=known)
    return cfg
