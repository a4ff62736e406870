"""The runtime-spec features document (`ocirt features`): what this build of
ocirt really supports on this host, derived from the tables the code uses."""


def document():
    from ocirt import SPEC_VERSION, hooks
    from ocirt.config import NAMESPACES
    from ocirt.linux import capabilities, lsm, mempolicy, mounts, seccomp
    from ocirt.linux.cgroups import UNIFIED, hierarchies
    import os
    names = sorted(set(mounts.FLAGS) | set(mounts.PROPAGATION) | set(mounts.RECURSIVE)
                   | mounts.EXTENSIONS)
    try:
        h = hierarchies()
    except OSError:
        h = {}
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": list(hooks.POINTS),
        "mountOptions": names,
        "linux": {
            "namespaces": sorted(NAMESPACES),
            "capabilities": list(capabilities.NAMES),
            "cgroup": {
                "v1": any(k != UNIFIED for k in h),
                "v2": UNIFIED in h,
                "systemd": True,
                "systemdUser": False,
                "rdma": False,
            },
            "seccomp": {
                "enabled": True,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                            "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                            "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": sorted(seccomp.OPERATORS),
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32",
                          "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"],
                "knownFlags": sorted(seccomp.KERNEL_FLAGS),
                "supportedFlags": sorted(seccomp.KERNEL_FLAGS),
            },
            "apparmor": {"enabled": lsm.apparmor_enabled()},
            "selinux": {"enabled": lsm.selinux_enabled()},
            "intelRdt": {"enabled": False},
            "memoryPolicy": {"modes": [m for m in mempolicy.MODES
                                       if not mempolicy._needs_newer(m)],
                             "flags": [f for f in mempolicy.FLAGS
                                       if not mempolicy._needs_newer(f)]},
            "mountExtensions": {"idmap": {"enabled": os.path.exists("/proc/self/ns/user")}},
        },
        "annotations": {},
    }
