"""Scheduling attributes of a process: policy, I/O priority, CPU affinity,
personality (runtime-spec process.scheduler, process.ioPriority,
process.execCPUAffinity, linux.personality), from ocirt.config's records.

cpu_list is also ocirt.config's check of a CPU list, before any process
is made: the shim is imported by the functions that call the kernel."""

from ocirt import posixos  # os without its import cost (see there)
from ocirt.errors import ConfigError

POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
            "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
               "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
               "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}


def cpu_list(text, where):
    """'0-2,5' -> {0, 1, 2, 5}."""
    cpus = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ConfigError(f"{text!r} is not a CPU list", where)
        cpus.update(range(int(lo), int(hi or lo) + 1))
    if not cpus:
        raise ConfigError(f"{text!r} names no CPU", where)
    return cpus


def set_affinity(text, where):
    try:
        posixos.sched_setaffinity(0, cpu_list(text, where))
    except OSError as e:
        raise ConfigError(f"cannot set CPU affinity {text!r}: {e.strerror}", where)


def apply_scheduler(s):
    """s: a config.Scheduler."""
    from ocirt.linux import shim
    where = "$.process.scheduler"
    flags = 0
    for f in s.flags:
        flags |= SCHED_FLAGS[f]
    try:
        shim.sched_setattr(POLICIES[s.policy], flags, s.nice, s.priority, s.runtime,
                           s.deadline, s.period)
    except OSError as e:
        raise ConfigError(f"cannot set scheduler {s.policy}: {e.strerror}", where)


def apply_io_priority(p):
    """p: a config.IOPriority."""
    from ocirt.linux import shim
    where = "$.process.ioPriority"
    try:
        shim.ioprio_set((IOPRIO_CLASSES[p.io_class] << 13) | p.priority)
    except OSError as e:
        raise ConfigError(f"cannot set I/O priority: {e.strerror}", where)


def apply_personality(p):
    """p: a config.Personality (without flags: ocirt.config refuses them)."""
    from ocirt.linux import shim
    where = "$.linux.personality"
    try:
        shim.personality(PERSONALITIES[p.domain])
    except OSError as e:
        raise ConfigError(f"cannot set personality {p.domain}: {e.strerror}", where)
