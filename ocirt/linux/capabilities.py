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


def grantable(caps, in_userns, warn):
    """The masks of the five sets of process.capabilities (a config.Capabilities)
    as this runtime can grant them: {set name: mask}. An unknown name is a
    ConfigError naming its JSON path; every known capability that cannot be
    granted is left out of its set and told to warn(message).

    runtime-spec v1.3.0 (config.md): "Any value which cannot be mapped to a
    relevant kernel interface, or cannot be granted otherwise MUST be logged
    as a warning by the runtime. Runtimes SHOULD NOT fail if the container
    configuration requests capabilities that cannot be granted".

    Called by the runtime before it forks (create, exec), so that the
    warnings reach its caller: the child inherits the sets read here. Without
    a user namespace it holds the runtime's own permitted, bounding and
    inheritable sets; in a user namespace, new or joined, the kernel gives it
    every capability (within that namespace). The kernel's rules: the
    bounding set can only shrink; the permitted set too; effective is within
    permitted; inheritable within the (new) bounding and the old inheritable
    set; and an ambient capability is raised only if it is both permitted and
    inheritable (`runc spec` lists ambient capabilities and no inheritable ones)."""
    from ocirt.linux import shim
    want = {name: mask(getattr(caps, name) or (), f"$.process.capabilities.{name}")
            for name in SETS}
    last = shim.last_cap()
    known = (1 << (last + 1)) - 1
    if in_userns:
        host_bnd = host_prm = known
        host_inh = 0
    else:
        _, host_prm, host_inh = shim.capget()
        host_bnd = 0
        for cap in range(last + 1):
            if shim.prctl(shim.PR_CAPBSET_READ, cap) == 1:
                host_bnd |= 1 << cap
    absent = "the runtime does not hold it on this host"
    got = {}
    reasons = {}  # set -> [(mask, reason)], the first that applies wins

    def keep(name, limits):
        m = want[name]
        for allowed, _ in limits:
            m &= allowed
        got[name] = m
        reasons[name] = limits

    keep("bounding", [(host_bnd & known, absent)])
    keep("permitted", [(host_prm & known, absent)])
    keep("effective", [(host_prm & known, absent),
                       (got["permitted"], "it is not in the permitted set")])
    keep("inheritable", [((host_prm | host_inh) & known, absent),
                         (got["bounding"] | host_inh, "it is not in the bounding set")])
    keep("ambient", [(host_prm & known, absent),
                     (got["permitted"], "it is not in the permitted set"),
                     (got["inheritable"], "it is not in the inheritable set")])
    for name in SETS:
        lost = want[name] & ~got[name]
        if not lost:
            continue
        for i, cap_name in enumerate(getattr(caps, name) or ()):
            bit = 1 << NUMBERS[cap_name]
            if lost & bit:
                lost &= ~bit  # a name listed twice: one warning
                why = next(r for allowed, r in reasons[name] if not allowed & bit)
                warn(f"$.process.capabilities.{name}[{i}]: {cap_name} cannot be granted "
                     f"in the {name} set: {why}; left out")
    return got


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
