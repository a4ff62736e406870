"""Capability names and the five capability sets of a process."""
from ocirt.errors import ConfigError

NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
NUMBERS = {name: i for i, name in enumerate(NAMES)}
SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def mask(names, where):
    m = 0
    for i, name in enumerate(names):
        n = NUMBERS.get(name)
        if n is None:
            raise ConfigError(f"unknown capability {name!r}", f"{where}[{i}]")
        m |= 1 << n
    return m


def apply_bounding(bounding_mask):
    """Drop from the bounding set every cap not in bounding_mask (needs CAP_SETPCAP)."""
    from ocirt.linux import shim
    last = shim.last_cap()
    for cap in range(last + 1):
        if not bounding_mask & (1 << cap):
            try:
                shim.prctl(shim.PR_CAPBSET_DROP, cap)
            except OSError as e:
                if e.errno != 22:  # EINVAL: the kernel does not know this cap
                    raise


def apply_sets(effective, permitted, inheritable, ambient):
    from ocirt.linux import shim
    shim.capset(effective, permitted, inheritable)
    shim.prctl(shim.PR_CAP_AMBIENT, shim.PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(64):
        if ambient & (1 << cap):
            shim.prctl(shim.PR_CAP_AMBIENT, shim.PR_CAP_AMBIENT_RAISE, cap)


def names_of(m):
    return [name for i, name in enumerate(NAMES) if m & (1 << i)]
