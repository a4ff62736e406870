"""The config.json that `ocirt spec` writes.

By default it is what `runc spec` writes (runc 1.1.5), field for field and in
runc's order, because tutorials and scripts run that file as it is or edit
it with jq: `terminal: true`, `args: ["sh"]`, the ambient set, runc's five
namespaces. Only ociVersion (the spec ocirt implements) and the hostname
differ. `--hardened` writes ocirt.hardened's template, built on this one:
no capabilities, a read-only root, a seccomp allow-list... (docs/hardened.md).
"""

import os

from ocirt import SPEC_VERSION

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def spec(rootless=False, hardened=False, uid=None, gid=None):
    """The template; with rootless, mapped to uid/gid (default: the caller's),
    as `runc spec --rootless` maps them. hardened: ocirt.hardened's template."""
    caps = ("bounding", "effective", "permitted", "ambient")
    cfg = {
        "ociVersion": SPEC_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "ocirt",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        linux = cfg["linux"]
        # runc's order: the mappings first, then namespaces (user last, no
        # network: an unprivileged user has no way to connect one), no resources
        cfg["linux"] = {
            "uidMappings": [{"containerID": 0, "hostID": os.getuid() if uid is None else uid,
                             "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": os.getgid() if gid is None else gid,
                             "size": 1}],
            "namespaces": [ns for ns in linux["namespaces"] if ns["type"] != "network"]
                        + [{"type": "user"}],
            "maskedPaths": linux["maskedPaths"],
            "readonlyPaths": linux["readonlyPaths"],
        }
        for m in cfg["mounts"]:
            if m["type"] == "sysfs":  # a new sysfs needs a network namespace of one's own
                m.update(type="none", source="/sys",
                         options=["rbind", "nosuid", "noexec", "nodev", "ro"])
            if m["type"] == "devpts":  # gid 5 is not mapped
                m["options"] = [o for o in m["options"] if o != "gid=5"]
    if hardened:
        from ocirt import hardened as template  # optional: only --hardened reads its data
        template.harden(cfg, rootless)
    return cfg
