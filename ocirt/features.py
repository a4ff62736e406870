"""The runtime-spec features document (`ocirt features`): what this build of
ocirt really supports on this host, derived from the tables the code uses
(and, for seccomp architectures, from what libseccomp resolves)."""
import os

from ocirt import SPEC_VERSION, config, hooks, jsonio
from ocirt.config import NAMESPACES
from ocirt.linux import capabilities, criu, lsm, mempolicy, mounts, seccomp
from ocirt.linux.cgroups import UNIFIED, hierarchies


def _schema_architectures():
    """The SCMP_ARCH_* names of the config schema (runtime-spec v1.3.0)."""
    with open(os.path.join(config.SCHEMA_DIR, "config-schema.json"), "rb") as f:
        return jsonio.loads(f.read())["definitions"]["SeccompArch"]["enum"]


def document():
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
                "actions": sorted(seccomp.ACTIONS),
                "operators": sorted(seccomp.OPERATORS),
                "archs": sorted(seccomp.known_architectures(_schema_architectures())),
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
        "annotations": _checkpoint_annotations(),
    }


def _checkpoint_annotations():
    """checkpoint and restore have no place in the features schema; runc
    says it has them with an annotation (org.opencontainers.runc.checkpoint.enabled),
    and ocirt with its own, when a CRIU it can use is installed. Whether
    the kernel suits CRIU is `criu check`'s to say, at the first use."""
    exe = criu.binary()
    v = criu.version(exe) if exe else None
    if v is None or v[:2] < criu.MIN_VERSION:
        return {}
    return {"org.ocirt.checkpoint.enabled": "true",
            "org.ocirt.checkpoint.criu": ".".join(map(str, v))}
