"""config-linux.md: namespaces, id mappings, sysctl, rootfsPropagation, masked
and read-only paths, devices, personality, timeOffsets, seccomp, cgroups
(cgroupsPath, the cgroup namespace, resources)."""
import os
import subprocess

from harness import Fail, Skip, eq, mounts, requirement
from .bundle import set_fields
from .host import NS_PROC, cgroup_mounts, v1_mounted, v2_offers


# ---- namespaces ----------------------------------------------------------------------

@requirement("config-linux.namespaces.new", "config-linux.md", "MUST",
             "each listed namespace without a path is new")
def listed_namespaces_are_new(t):
    types = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    r = t.check(set_fields(**{"linux.namespaces": [{"type": x} for x in types]}))
    for x in types:
        if r["namespaces"][NS_PROC[x]] == t.world.host_ns[NS_PROC[x]]:
            raise Fail(f"the {x} namespace is the runtime's")


@requirement("config-linux.namespaces.absent-is-shared", "config-linux.md", "MUST",
             "a namespace type not listed is the runtime's")
def unlisted_namespaces_are_the_runtimes(t):
    def edit(cfg):
        cfg["linux"]["namespaces"] = [{"type": "mount"}, {"type": "pid"}]
        cfg.pop("hostname")  # a hostname needs a UTS namespace of its own
    r = t.check(edit)
    for x in ("net", "ipc", "uts"):
        eq(r["namespaces"][x], t.world.host_ns[x], f"{x} namespace")


@requirement("config-linux.namespaces.join-path", "config-linux.md", "MUST",
             "a namespace with a path is joined")
def namespace_with_a_path_is_joined(t):
    holder = subprocess.Popen(["unshare", "--net", "--uts", "sleep", "60"])
    try:
        import time
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/net") == t.world.host_ns["net"]:
            if time.monotonic() > deadline:
                raise Skip("unshare(1) did not make a network namespace")
            time.sleep(0.01)
        want = os.readlink(f"/proc/{holder.pid}/ns/net")
        want_uts = os.readlink(f"/proc/{holder.pid}/ns/uts")
        r = t.check(set_fields(**{"linux.namespaces": [
            {"type": "mount"}, {"type": "pid"},
            {"type": "network", "path": f"/proc/{holder.pid}/ns/net"},
            {"type": "uts", "path": f"/proc/{holder.pid}/ns/uts"}]}))
        eq(r["namespaces"]["net"], want, "network namespace")
        eq(r["namespaces"]["uts"], want_uts, "uts namespace")
    finally:
        holder.kill()
        holder.wait()


@requirement("config-linux.namespaces.path-type-mismatch", "config-linux.md", "MUST",
             "a namespace path of another type is an error")
def namespace_path_of_another_type_is_an_error(t):
    t.fails("create", "--bundle", t.bundle(edit=set_fields(**{"linux.namespaces": [
        {"type": "mount"}, {"type": "network", "path": "/proc/self/ns/uts"}]})), t.new_id())


@requirement("config-linux.namespaces.duplicate-errors", "config-linux.md", "MUST",
             "a namespace type listed twice is an error")
def namespace_listed_twice_is_an_error(t):
    t.fails("create", "--bundle", t.bundle(edit=set_fields(**{"linux.namespaces": [
        {"type": "mount"}, {"type": "pid"}, {"type": "pid"}]})), t.new_id())


@requirement("config-linux.namespaces.join-path-each-type", "config-linux.md", "MUST",
             "ipc and cgroup namespaces given by path are joined")
def ipc_and_cgroup_namespaces_given_by_path_are_joined(t):
    holder = subprocess.Popen(["unshare", "--ipc", "--cgroup", "sleep", "60"])
    try:
        import time
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/ipc") == t.world.host_ns["ipc"]:
            if time.monotonic() > deadline:
                raise Skip("unshare(1) did not make the namespaces")
            time.sleep(0.01)
        want = {n: os.readlink(f"/proc/{holder.pid}/ns/{n}") for n in ("ipc", "cgroup")}
        r = t.check(set_fields(**{"linux.namespaces": [
            {"type": "mount"}, {"type": "pid"}, {"type": "uts"},
            {"type": "ipc", "path": f"/proc/{holder.pid}/ns/ipc"},
            {"type": "cgroup", "path": f"/proc/{holder.pid}/ns/cgroup"}]}))
        for n in ("ipc", "cgroup"):
            eq(r["namespaces"][n], want[n], f"{n} namespace")
    finally:
        holder.kill()
        holder.wait()


# ---- user namespace mappings ---------------------------------------------------------

@requirement("config-linux.user-namespace.mappings", "config-linux.md", "MUST",
             "uidMappings/gidMappings map the container's ids")
def id_mappings_map_the_container_ids(t):
    import shutil
    rootfs = os.path.join(t.dir, "userns-rootfs")
    shutil.copytree(t.world.rootfs, rootfs, symlinks=True)
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), 100000, 100000)
    os.lchown(rootfs, 100000, 100000)

    def edit(cfg):
        cfg["root"]["path"] = rootfs
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/sys"]
    r = t.check(edit, ("--file", "/proc/self/uid_map"))
    eq(r["uid"], 0, "uid inside")
    eq(r["files"]["/proc/self/uid_map"].split(), ["0", "100000", "65536"], "uid_map")


# ---- sysctl --------------------------------------------------------------------------

@requirement("config-linux.sysctl", "config-linux.md", "MUST",
             "linux.sysctl values are set in the container")
def sysctls_are_set(t):
    r = t.check(set_fields(**{"linux.sysctl": {"net.ipv4.ip_forward": "1",
                                          "kernel.shmmni": "1234"}}),
                ("--sysctl", "net.ipv4.ip_forward", "--sysctl", "kernel.shmmni"))
    eq(r["sysctl"], {"net.ipv4.ip_forward": "1\n", "kernel.shmmni": "1234\n"}, "sysctls")


# ---- rootfsPropagation ---------------------------------------------------------------

@requirement("config-linux.rootfsPropagation", "config-linux.md", "MUST",
             "rootfsPropagation sets the propagation of the root mount")
def rootfs_propagation_sets_the_root_mount_propagation(t):
    m = mounts(t.check(set_fields(**{"linux.rootfsPropagation": "shared"})))
    if not any(x.startswith("shared:") for x in m["/"][1]):
        raise Fail(f"/ has {m['/'][1]}")


# ---- maskedPaths and readonlyPaths ---------------------------------------------------

@requirement("config-linux.maskedPaths", "config-linux.md", "MUST",
             "masked paths cannot be read (files read empty, directories are empty)")
def masked_paths_cannot_be_read(t):
    r = t.check(set_fields(**{"linux.maskedPaths": ["/proc/kcore", "/sys/firmware",
                                                    "/proc/cmdline"]}),
                ("--file", "/proc/cmdline"))
    eq(r["files"]["/proc/cmdline"], "", "/proc/cmdline")
    out = t.run(("ls", "-A", "/sys/firmware"),
                set_fields(**{"linux.maskedPaths": ["/sys/firmware"]}))
    eq(out, "", "/sys/firmware listing")


@requirement("config-linux.maskedPaths.nested-and-devices", "config-linux.md", "MUST",
             "a masked file below a directory, and a masked device node, cannot be read")
def masked_nested_files_and_devices_cannot_be_read(t):
    r = t.check(set_fields(**{"linux.maskedPaths": ["/proc/sys/kernel/hostname", "/dev/zero"]}),
                ("--file", "/proc/sys/kernel/hostname", "--file", "/dev/zero"))
    eq(r["files"]["/proc/sys/kernel/hostname"], "", "masked file")
    eq(r["files"]["/dev/zero"], "", "masked device")


@requirement("config-linux.readonlyPaths", "config-linux.md", "MUST",
             "read-only paths are read-only")
def readonly_paths_are_read_only(t):
    m = mounts(t.check(set_fields(**{"linux.readonlyPaths": ["/proc/sys", "/tmp"]})))
    for p in ("/proc/sys", "/tmp"):
        if "ro" not in m[p][0]:
            raise Fail(f"{p} is {m[p][0]}")


@requirement("config-linux.paths.relative-rejected", "config-linux.md", "MUST",
             "masked and read-only paths must be absolute: a relative one is an error")
def relative_masked_or_readonly_path_is_an_error(t):
    for key in ("linux.maskedPaths", "linux.readonlyPaths"):
        t.fails("create", "--bundle", t.bundle(edit=set_fields(**{key: ["proc/kcore"]})),
                t.new_id())


@requirement("config-linux.paths.symlink-rejected", "config-linux.md", "SHOULD",
             "a masked or read-only path that is a symlink in the rootfs is refused (it "
             "could lead out of the container)")
def masked_or_readonly_path_through_a_symlink_is_refused(t):
    import shutil
    rootfs = os.path.join(t.dir, "link-rootfs")
    shutil.copytree(t.world.rootfs, rootfs, symlinks=True)
    os.symlink("/etc", os.path.join(rootfs, "link"))
    for key in ("linux.maskedPaths", "linux.readonlyPaths"):
        t.fails("create", "--bundle", t.bundle(edit=set_fields(**{"root.path": rootfs,
                                                              key: ["/link"]})), t.new_id())


# ---- devices -------------------------------------------------------------------------

@requirement("config-linux.devices", "config-linux.md", "MUST",
             "linux.devices are created with their type, numbers, mode, uid and gid")
def devices_are_created_as_configured(t):
    devs = [{"path": "/dev/cf-char", "type": "c", "major": 1, "minor": 3,
             "fileMode": 0o640, "uid": 10, "gid": 20},
            {"path": "/dev/cf-block", "type": "b", "major": 7, "minor": 0,
             "fileMode": 0o600, "uid": 0, "gid": 0},
            {"path": "/dev/cf-fifo", "type": "p", "fileMode": 0o644}]
    dev = t.check(set_fields(**{"linux.devices": devs}))["dev"]
    c, b, p = dev.get("cf-char"), dev.get("cf-block"), dev.get("cf-fifo")
    if not c or (c["type"], c["major"], c["minor"], c["mode"], c["uid"], c["gid"]) != (
            "char", 1, 3, 0o640, 10, 20):
        raise Fail(f"/dev/cf-char: {c}")
    if not b or (b["type"], b["major"], b["minor"]) != ("block", 7, 0):
        raise Fail(f"/dev/cf-block: {b}")
    if not p or p["type"] != "fifo":
        raise Fail(f"/dev/cf-fifo: {p}")


# ---- personality ---------------------------------------------------------------------

@requirement("config-linux.personality", "config-linux.md", "MUST",
             "linux.personality LINUX32 is set")
def personality_linux32_is_set(t):
    r = t.check(set_fields(**{"linux.personality": {"domain": "LINUX32"}}))
    eq(r["personality"] & 0xFF, 0x0008, "execution domain PER_LINUX32")


# ---- timeOffsets ---------------------------------------------------------------------

@requirement("config-linux.timeOffsets", "config-linux.md", "MUST",
             "v1.2: timeOffsets shift the clocks of a new time namespace")
def time_offsets_shift_the_clocks_of_a_new_time_namespace(t):
    if not os.path.exists("/proc/self/ns/time"):
        raise Skip("no time namespaces in this kernel")

    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "time"})
        cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365}}
    r = t.check(edit, ("--file", "/proc/uptime"))
    up = float(r["files"]["/proc/uptime"].split()[0])
    if up < 86400 * 365:
        raise Fail(f"uptime {up}")


# ---- seccomp -------------------------------------------------------------------------

@requirement("config-linux.seccomp.errno", "config-linux.md", "MUST",
             "a seccomp rule with SCMP_ACT_ERRNO returns its errno")
def seccomp_errno_rule_returns_its_errno(t):
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    out = t.run(("sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"), set_fields(**{"linux.seccomp": sec}))
    if "Permission denied" not in out:
        raise Fail(f"output {out!r}")


@requirement("config-linux.seccomp.kill", "config-linux.md", "MUST",
             "SCMP_ACT_KILL kills the process at the call (SIGSYS)")
def seccomp_kill_kills_at_the_call(t):
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]}
    out = t.run(("sh", "-c", "mkdir /tmp/x; echo rc=$?"), set_fields(**{"linux.seccomp": sec}))
    if "rc=159" not in out:  # 128 + SIGSYS
        raise Fail(f"output {out!r}")


@requirement("config-linux.seccomp.filter-mode", "config-linux.md", "MUST",
             "the process runs with a seccomp filter (mode 2)")
def process_runs_under_a_seccomp_filter(t):
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]}
    eq(t.check(set_fields(**{"linux.seccomp": sec}))["seccomp"], "2", "Seccomp in status")


@requirement("config-linux.seccomp.unknown-action-errors", "config-linux.md", "MUST",
             "an unknown seccomp action is an error")
def unknown_seccomp_action_is_an_error(t):
    sec = {"defaultAction": "SCMP_ACT_NOPE"}
    t.fails("create", "--bundle", t.bundle(edit=set_fields(**{"linux.seccomp": sec})), t.new_id())


SECCOMP_ACTIONS = [
    ("SCMP_ACT_TRAP", "rc=159"),            # SIGSYS
    ("SCMP_ACT_KILL_PROCESS", "rc=159"),
    ("SCMP_ACT_KILL_THREAD", "rc=159"),
    ("SCMP_ACT_TRACE", "Function not implemented"),  # no tracer: ENOSYS
    ("SCMP_ACT_LOG", "rc=0"),
    ("SCMP_ACT_ALLOW", "rc=0"),
]


def _seccomp_action(action, expect):
    """Register config-linux.seccomp.<action>, a check named
    seccomp_<action>_acts_as_the_kernel_defines (e.g. seccomp_trap_...)."""
    what = action.lower()[9:]

    def check(t):
        sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": action}]}
        out = t.run(("sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"),
                    set_fields(**{"linux.seccomp": sec}))
        if expect not in out:
            raise Fail(f"output {out!r}")
    check.__name__ = check.__qualname__ = f"seccomp_{what}_acts_as_the_kernel_defines"
    requirement(f"config-linux.seccomp.{what}", "config-linux.md", "MUST",
                f"{action} on a syscall acts as the kernel defines it")(check)


for _a, _e in SECCOMP_ACTIONS:
    _seccomp_action(_a, _e)


@requirement("config-linux.seccomp.errno-default-eperm", "config-linux.md", "MUST",
             "an ERRNO rule without errnoRet returns EPERM")
def seccomp_errno_rule_defaults_to_eperm(t):
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    out = t.run(("sh", "-c", "mkdir /tmp/x 2>&1"), set_fields(**{"linux.seccomp": sec}))
    if "Operation not permitted" not in out:
        raise Fail(f"output {out!r}")


@requirement("config-linux.seccomp.args", "config-linux.md", "MUST",
             "a rule with args matches only calls whose arguments compare as given")
def seccomp_rule_with_args_matches_only_those_calls(t):
    # personality(0xffffffff) queries; personality(8) sets LINUX32: deny only the latter
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}
    r = t.check(set_fields(**{"linux.seccomp": sec}))
    if r["personality"] == -1:
        raise Fail("the query personality(0xffffffff) was refused too")


# ---- cgroups: cgroupsPath, the cgroup namespace, resources ---------------------------

def _cgroup_file(ctrl, path, name):
    where = cgroup_mounts()
    for base in [where[k] for k in (ctrl, "unified") if k in where]:
        f = f"{base}{path}/{name}"
        if os.path.exists(f):
            with open(f) as h:
                return h.read().strip()
    raise Fail(f"no {name} for {path}")


def _cgroup_case(t, res, ctrl, name):
    cg = f"/cf-cg-{os.getpid()}-{t.name}-{t.new_id()}"
    cid = t.create(("sleep", "100"), set_fields(**{"linux.cgroupsPath": cg,
                                              "linux.resources": res}))
    try:
        return _cgroup_file(ctrl, cg, name), cid
    finally:
        t.call("delete", "--force", cid)


def _placed_in(t, cgroups_path, suffix):
    """Run a container with this cgroupsPath; fail unless a line of its
    /proc/<pid>/cgroup ends with suffix."""
    cid = t.create(("sleep", "100"), set_fields(**{"linux.cgroupsPath": cgroups_path}))
    pid = t.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    if not any(line.endswith(suffix) for line in lines):
        raise Fail(f"/proc/{pid}/cgroup: {lines}")


@requirement("config-linux.cgroupsPath.absolute", "config-linux.md", "MUST",
             "an absolute cgroupsPath is where the container's processes are")
def absolute_cgroups_path_places_the_container(t):
    cg = f"/cf-abs-{os.getpid()}-{t.name}"
    _placed_in(t, cg, ":" + cg)


@requirement("config-linux.cgroupsPath.relative", "config-linux.md", "MAY",
             "a relative cgroupsPath is relative to the runtime's cgroup (runc)")
def relative_cgroups_path_is_under_the_runtimes_cgroup(t):
    rel = f"cf-rel-{os.getpid()}-{t.name}"
    _placed_in(t, rel, "/" + rel)


@requirement("config-linux.cgroup-namespace", "config-linux.md", "MUST",
             "a new cgroup namespace is rooted at the container's cgroup")
def cgroup_namespace_is_rooted_at_the_container_cgroup(t):
    r = t.check(lambda c: c["linux"]["namespaces"].append({"type": "cgroup"}))
    for line in r["cgroup"].splitlines():
        if not line.endswith(":/"):
            raise Fail(f"/proc/self/cgroup: {line}")


@requirement("config-linux.resources.memory", "config-linux.md", "MUST",
             "memory.limit is applied")
def memory_limit_is_applied(t):
    v, _ = _cgroup_case(t, {"memory": {"limit": 64 << 20}}, "memory", "memory.limit_in_bytes"
                        if v1_mounted("memory") else "memory.max")
    eq(v, str(64 << 20), "memory limit")


@requirement("config-linux.resources.pids", "config-linux.md", "MUST",
             "pids.limit is applied")
def pids_limit_is_applied(t):
    v, _ = _cgroup_case(t, {"pids": {"limit": 42}}, "pids", "pids.max")
    eq(v, "42", "pids.max")


@requirement("config-linux.resources.pids-zero", "config-linux.md", "MUST",
             "v1.3.0: pids.limit 0 is a limit of zero new tasks")
def pids_limit_zero_allows_no_new_task(t):
    v, _ = _cgroup_case(t, {"pids": {"limit": 0}}, "pids", "pids.max")
    eq(v, "0", "pids.max")


@requirement("config-linux.resources.cpu", "config-linux.md", "MUST",
             "cpu shares, quota and period are applied")
def cpu_shares_quota_and_period_are_applied(t):
    if v1_mounted("cpu"):
        v, _ = _cgroup_case(t, {"cpu": {"shares": 512, "quota": 50000, "period": 100000}},
                            "cpu", "cpu.cfs_quota_us")
        eq(v, "50000", "cfs_quota_us")
    else:
        v, _ = _cgroup_case(t, {"cpu": {"quota": 50000, "period": 100000}}, "cpu", "cpu.max")
        eq(v, "50000 100000", "cpu.max")


@requirement("config-linux.resources.devices", "config-linux.md", "MUST",
             "device rules decide which devices the container can open")
def device_rules_decide_which_devices_open(t):
    dev = {"path": "/dev/cf-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}
    probe = ("sh", "-c", "(exec 3</dev/cf-fuse) 2>/dev/null && echo open || echo refused")
    denied = t.run(probe, set_fields(**{"linux.devices": [dev], "linux.resources": {
        "devices": [{"allow": False, "access": "rwm"}]}}))
    allowed = t.run(probe, set_fields(**{"linux.devices": [dev], "linux.resources": {
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}]}}))
    eq((denied, allowed), ("refused\n", "open\n"), "without and with an allow rule")


@requirement("config-linux.resources.cpuset", "config-linux.md", "MUST",
             "cpu.cpus / cpu.mems pin the container")
def cpuset_pins_the_container(t):
    r = t.check(set_fields(**{"linux.resources": {"cpu": {"cpus": "0", "mems": "0"}}}))
    eq(r["cpus_allowed"], "0", "Cpus_allowed_list")


@requirement("config-linux.resources.memory-swap", "config-linux.md", "MUST",
             "memory.swap (memory+swap) and reservation are applied")
def memory_swap_and_reservation_are_applied(t):
    if v1_mounted("memory"):
        v, _ = _cgroup_case(t, {"memory": {"limit": 64 << 20, "swap": 128 << 20}}, "memory",
                            "memory.memsw.limit_in_bytes")
        eq(v, str(128 << 20), "memsw limit")
        v, _ = _cgroup_case(t, {"memory": {"reservation": 32 << 20}}, "memory",
                            "memory.soft_limit_in_bytes")
        eq(v, str(32 << 20), "soft limit")
    else:
        v, _ = _cgroup_case(t, {"memory": {"limit": 64 << 20, "swap": 128 << 20}}, "memory",
                            "memory.swap.max")
        eq(v, str(64 << 20), "swap.max (swap alone)")


@requirement("config-linux.resources.hugepageLimits", "config-linux.md", "MUST",
             "hugepageLimits are applied for a page size of the host")
def hugepage_limits_are_applied(t):
    if not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        raise Skip("no 2 MB huge pages on this host")
    if "hugetlb" not in cgroup_mounts() and not v2_offers("hugetlb"):
        raise Skip("no hugetlb controller is mounted here (v1 or cgroup2)")
    name = "hugetlb.2MB.limit_in_bytes" if v1_mounted("hugetlb") else "hugetlb.2MB.max"
    v, _ = _cgroup_case(t, {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]},
                        "hugetlb", name)
    eq(v, str(4 << 20), name)


@requirement("config-linux.resources.blockIO-throttle", "config-linux.md", "MUST",
             "blockIO throttle rates are applied to the device")
def block_io_throttle_rates_are_applied(t):
    devs = [n for n in sorted(os.listdir("/sys/block"))
            if not n.startswith(("loop", "ram", "zram"))]
    if not devs:
        raise Skip("no block device on this machine")
    with open(f"/sys/block/{devs[0]}/dev") as f:
        major, minor = (int(x) for x in f.read().split(":"))
    res = {"blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor,
                                                  "rate": 1048576}]}}
    if v1_mounted("blkio"):
        v, _ = _cgroup_case(t, res, "blkio", "blkio.throttle.read_bps_device")
        eq(v, f"{major}:{minor} 1048576", "read_bps_device")
    else:
        v, _ = _cgroup_case(t, res, "io", "io.max")
        if f"{major}:{minor} rbps=1048576" not in v:
            raise Fail(f"io.max: {v!r}")


@requirement("config-linux.resources.unavailable-errors", "config-linux.md", "MUST",
             "a resource the host cannot apply (no such controller) is an error")
def unavailable_resource_is_an_error(t):
    if v1_mounted("net_cls"):
        raise Skip("net_cls is mounted here")
    t.fails("create", "--bundle", t.bundle(edit=set_fields(**{"linux.resources": {
        "network": {"classID": 1048577}}})), t.new_id())


@requirement("config-linux.resources.devices-by-type", "config-linux.md", "MUST",
             "device rules distinguish types: a char rule does not open a block device "
             "with the same numbers")
def device_rules_tell_char_from_block(t):
    devs = [{"path": "/dev/cf-b", "type": "b", "major": 7, "minor": 0, "fileMode": 0o666},
            {"path": "/dev/cf-c", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]
    probe = ("sh", "-c", "for d in /dev/cf-b /dev/cf-c; do (exec 3</$d) 2>/dev/null && "
                         "echo $d open || echo $d refused; done")
    out = t.run(probe, set_fields(**{"linux.devices": devs, "linux.resources": {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 7, "minor": 0, "access": "rw"}]}}))
    eq(out, "/dev/cf-b refused\n/dev/cf-c open\n", "b 7:0 (only c 7:0 allowed), c 1:3 "
       "(a default device)")


@requirement("config-linux.resources.unified", "config-linux.md", "MUST",
             "unified keys are written as-is to the container's cgroup2 files (on a hybrid "
             "host: for a controller that lives in cgroup2)")
def unified_keys_are_written_to_cgroup2_files(t):
    if not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        raise Skip("no 2 MB huge pages to use as the key")
    if "unified" not in cgroup_mounts():
        raise Skip("no cgroup2 here")
    v, _ = _cgroup_case(t, {"unified": {"hugetlb.2MB.max": str(8 << 20)}}, "unified",
                        "hugetlb.2MB.max")
    eq(v, str(8 << 20), "hugetlb.2MB.max")
