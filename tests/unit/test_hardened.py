"""The seccomp profile of `ocirt spec --hardened` (ocirt/hardened.py), checked
without root and without the compiled shim: libseccomp itself (ctypes) says
which names are system calls, and the engines' refusals are our own data."""
import ctypes
import ctypes.util

import pytest

from ocirt import config, defaults, hardened

# What docker's and podman's default profiles refuse on x86_64 to a container
# with their default capabilities. Written from Docker's documentation
# ("Significant syscalls blocked by the default profile", docs.docker.com/
# engine/security/seccomp/), Docker 25's refusal of io_uring, and the
# default profile of Debian bookworm's containers-common
# (/usr/share/containers/seccomp.json: its SCMP_ACT_ERRNO list, and the calls
# it allows only with a capability that podman does not grant by default).
# clone and unshare are refused there only with namespace flags, personality
# only for other personalities, ptrace only on kernels before 4.8: see the
# argument tests below.
ENGINES_REFUSE = sorted({
    # docker
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
    "delete_module", "finit_module", "get_kernel_syms", "get_mempolicy", "init_module",
    "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
    "mbind", "mount", "move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at",
    "perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev", "query_module",
    "quotactl", "reboot", "request_key", "set_mempolicy", "setns", "settimeofday", "stime",
    "swapon", "swapoff", "sysfs", "_sysctl", "umount", "umount2", "uselib", "userfaultfd",
    "ustat", "vm86", "vm86old", "io_uring_setup", "io_uring_enter", "io_uring_register",
    # podman (containers-common)
    "bdflush", "io_pgetevents", "migrate_pages", "pciconfig_iobase", "pciconfig_read",
    "pciconfig_write", "vmsplice", "fanotify_init", "setdomainname", "sethostname", "chroot",
    "process_madvise", "vhangup", "quotactl_fd", "set_mempolicy_home_node",
})


@pytest.fixture(scope="module")
def libseccomp():
    name = ctypes.util.find_library("seccomp")
    if not name:
        pytest.skip("libseccomp is not installed")
    lib = ctypes.CDLL(name)
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    return lib


def resolver(lib, arch):
    token = lib.seccomp_arch_resolve_name(arch.encode())
    assert token, arch
    return lambda name: lib.seccomp_syscall_resolve_name_arch(token, name.encode()) >= 0


def allowed_unconditionally(profile):
    return {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW"
            and not r.get("args") for n in r["names"]}


def test_every_name_of_the_profile_is_an_x86_64_system_call(libseccomp):
    known = resolver(libseccomp, "x86_64")
    names = [n for r in hardened._rules() for n in r["names"]]
    assert [n for n in names if not known(n)] == []
    assert not set(hardened.ALLOWED) & set(hardened.REFUSED)


def test_every_x86_64_system_call_is_decided(libseccomp):
    """Each number of x86_64's table (0..max) is allowed, refused, filtered
    by argument, or one the kernel leaves unimplemented: none forgotten."""
    lib = libseccomp
    lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
    token = lib.seccomp_arch_resolve_name(b"x86_64")
    decided = set(hardened.ALLOWED) | set(hardened.REFUSED) | set(hardened.ENOSYS_NAMES) \
        | set(hardened.UNIMPLEMENTED) | {"clone", "unshare", "personality", "socket"}
    table = []
    for nr in range(512):
        p = lib.seccomp_syscall_resolve_num_arch(token, nr)
        if p:
            table.append(ctypes.string_at(p).decode())
            ctypes.CDLL(None).free(ctypes.c_void_p(p))
    assert len(table) > 330, len(table)
    assert sorted(set(table) - decided) == []


def test_on_aarch64_the_names_are_those_libseccomp_knows_there(libseccomp):
    known = resolver(libseccomp, "aarch64")
    profile = hardened.seccomp("aarch64", known)
    assert profile["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    names = allowed_unconditionally(profile)
    assert "openat" in names and "read" in names
    assert "open" not in names and "arch_prctl" not in names  # none on aarch64


def test_the_profile_refuses_what_the_engines_refuse(libseccomp):
    profile = hardened.seccomp("x86_64", resolver(libseccomp, "x86_64"))
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    allowed = allowed_unconditionally(profile)
    conditional = {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW"
                   and r.get("args") for n in r["names"]}
    assert conditional == {"clone", "unshare", "personality", "socket"}
    assert sorted(set(ENGINES_REFUSE) & (allowed | conditional)) == []
    # and a few the engines allow (podman: ptrace, keyctl, mount, unshare...)
    for name in ("ptrace", "keyctl", "unshare", "mount", "fsopen", "open_tree", "syslog",
                 "modify_ldt", "pidfd_getfd"):
        assert name not in allowed, name
    refused = {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ERRNO"
               and r.get("errnoRet") == hardened.EPERM and not r.get("args")
               for n in r["names"]}
    known = resolver(libseccomp, "x86_64")
    # those x86_64 has are refused by name, with EPERM (the rest: ENOSYS)
    assert sorted(n for n in ENGINES_REFUSE if known(n) and n not in refused
                  and n not in hardened.UNIMPLEMENTED) == []


def _allows(profile, name, value):
    """Whether a rule of name allows arg0 == value (the filter's view)."""
    for r in profile["syscalls"]:
        if name not in r["names"] or r["action"] != "SCMP_ACT_ALLOW":
            continue
        ok = True
        for a in r.get("args") or ():
            if a["op"] == "SCMP_CMP_EQ":
                ok &= value == a["value"]
            elif a["op"] == "SCMP_CMP_MASKED_EQ":
                ok &= (value & a["value"]) == a["valueTwo"]
            else:
                raise AssertionError(a)
        if ok:
            return True
    return False


CLONE_NEWUSER, CLONE_NEWNS, SIGCHLD = 0x10000000, 0x20000, 17
CLONE_THREAD_FLAGS = 0x003d0f00  # glibc's pthread_create flags


def test_clone_and_unshare_with_namespace_flags_are_refused():
    profile = hardened.seccomp("x86_64", known=lambda n: True)
    assert _allows(profile, "clone", SIGCHLD)  # fork
    assert _allows(profile, "clone", CLONE_THREAD_FLAGS)  # a thread
    for flag in hardened.CLONE_NEW:
        assert not _allows(profile, "clone", flag | SIGCHLD), hex(flag)
        assert not _allows(profile, "unshare", flag), hex(flag)
    assert not _allows(profile, "unshare", hardened.CLONE_NEWTIME)
    assert _allows(profile, "unshare", 0x400 | 0x200)  # CLONE_FILES | CLONE_FS
    assert not _allows(profile, "socket", 40)  # AF_VSOCK
    assert _allows(profile, "socket", 10)  # AF_INET6
    assert _allows(profile, "personality", 0xffffffff)
    assert not _allows(profile, "personality", 0x0040000)  # READ_IMPLIES_EXEC
    clone3 = [r for r in profile["syscalls"] if "clone3" in r["names"]]
    assert clone3 and clone3[0]["errnoRet"] == hardened.ENOSYS  # libc falls back to clone


@pytest.mark.parametrize("rootless", [False, True], ids=["root", "rootless"])
def test_the_hardened_template_is_a_valid_config(tmp_path, rootless):
    doc = defaults.spec(rootless=rootless, uid=1000, gid=1000)
    hardened.harden(doc, rootless, known=lambda n: True)
    cfg = config.parse(doc, str(tmp_path))
    assert cfg.root_readonly is True
    assert cfg.process.no_new_privileges is True
    assert cfg.process.capabilities.bounding == ()
    types = [ns.type for ns in cfg.namespaces]
    assert "cgroup" in types and ("user" in types) == rootless
    assert "/proc/interrupts" in cfg.masked_paths
    tmp = [m for m in doc["mounts"] if m["destination"] == "/tmp"]
    assert tmp and {"nosuid", "nodev", "noexec", "size=65536k"} <= set(tmp[0]["options"])
