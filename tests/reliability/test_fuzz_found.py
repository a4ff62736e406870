"""What tests/reliability/test_fuzz.py found, through the CLI with real
containers: each was an internal error, an error without its JSON path, a
leftover, or a config runc runs and ocirt refused."""
import os
import subprocess
import uuid

import pytest

from tests.reliability.test_inputs import one_line_error

# process.capabilities exactly as `runc spec` (1.1.x) writes it: ambient
# capabilities, and no inheritable set (CVE-2022-29162)
RUNC_SPEC_CAPS = {k: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
                  for k in ("bounding", "effective", "permitted", "ambient")}


def test_runc_spec_capabilities_run_and_ambient_needs_inheritable(rt):
    """Before: `prctl(PR_CAP_AMBIENT_RAISE, CAP_KILL): Operation not
    permitted` for every `runc spec` config. The kernel raises an ambient
    capability only from the permitted and inheritable sets; runc leaves the
    others out, and so does ocirt now."""
    def edit(cfg):
        cfg["process"]["capabilities"] = dict(RUNC_SPEC_CAPS)
    p = rt.run(["sh", "-c", "grep -E '^Cap(Inh|Amb)' /proc/self/status"], edit)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["CapInh:", "0000000000000000", "CapAmb:", "0000000000000000"]

    def with_inheritable(cfg):
        edit(cfg)
        cfg["process"]["capabilities"]["inheritable"] = ["CAP_KILL"]
    p = rt.run(["sh", "-c", "grep -E '^CapAmb' /proc/self/status"], with_inheritable)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["CapAmb:", "0000000000000020"]  # CAP_KILL is 5


@pytest.mark.parametrize("edit,needle", [
    (lambda c: c["process"]["env"].append("A=\0"), "$.process.env[2]: contains a NUL byte"),
    (lambda c: c["mounts"].append({"destination": "/x\ud800", "type": "tmpfs",
                                   "source": "tmpfs"}),
     ".destination: contains a lone surrogate"),
    (lambda c: c["process"].update(cwd="/\0"), "$.process.cwd: contains a NUL byte"),
])
@pytest.mark.parametrize("command", ["create", "run"])
def test_nul_and_lone_surrogates(rt, edit, needle, command):
    """Before: internal error: ValueError: embedded null byte (or a
    UnicodeEncodeError)."""
    one_line_error(rt(command, "--bundle", rt.bundle(("true",), edit), rt.new_id()), needle)
    rt.assert_nothing_left()


def test_a_cgroups_path_made_halfway_is_undone(rt):
    """mkdir -p of <prefix>/cgroup.procs/y makes <prefix>, then fails (a
    file is in the way). Before: "...: Not a directory" with no path, and
    <prefix> was left in the cpu hierarchy."""
    prefix = f"ocirt-fuzz-{uuid.uuid4().hex[:12]}"
    b = rt.bundle(("true",), lambda c: c["linux"].update(
        cgroupsPath=f"/{prefix}/cgroup.procs/y"))
    one_line_error(rt("run", "--bundle", b, rt.new_id()),
                   "$.linux.cgroupsPath: cannot create the cgroup ", "Not a directory")
    import glob
    assert glob.glob(f"/sys/fs/cgroup/*/{prefix}") + glob.glob(f"/sys/fs/cgroup/{prefix}") == []
    rt.assert_nothing_left()


def test_an_unknown_member_of_hooks(rt):
    """Before: internal error: TypeError: 'float' object is not iterable."""
    p = rt.run(["true"], lambda c: c.update(hooks={"somethingElse": 1e308}))
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""


def test_a_terminal_without_a_console_socket_names_the_field(rt):
    b = rt.bundle(("true",), lambda c: c["process"].update(terminal=True))
    one_line_error(rt("create", "--bundle", b, rt.new_id()), "$.process.terminal: ",
                   "--console-socket")
    rt.assert_nothing_left()


def test_too_many_additional_gids(rt):
    """Before: "cannot set additionalGids: Invalid argument" from the init."""
    b = rt.bundle(("true",), lambda c: c["process"]["user"].update(
        additionalGids=list(range(70000))))
    one_line_error(rt("run", "--bundle", b, rt.new_id()), "$.process.user.additionalGids: ")
    rt.assert_nothing_left()


def test_root_path_that_is_no_directory(rt, tmp_path):
    b = rt.bundle(("true",), lambda c: c["root"].update(path=str(tmp_path / "nope")))
    one_line_error(rt("run", "--bundle", b, rt.new_id()), "$.root.path: ")
    rt.assert_nothing_left()


def test_a_megabyte_seccomp_name_is_not_a_megabyte_warning(rt):
    """An unknown syscall name is a warning (as runc); before, the warning
    quoted all of a 1 MB name."""
    def edit(cfg):
        cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["x" * (1 << 20)], "action": "SCMP_ACT_ERRNO"}]}
    p = rt.run(["true"], edit)
    assert p.returncode == 0, p.stderr[:300]
    assert p.stderr.startswith("warning: ") and len(p.stderr) < 5000, p.stderr[:300]
    assert os.path.isdir(rt.root)


@pytest.mark.parametrize("name,needle", [
    ("net.ipv4.nope", "cannot set net.ipv4.nope: No such file or directory"),
    ("net.ipv4/../../kernel/hostname", "is not a sysctl name"),
])
def test_sysctl_errors_name_the_sysctl(rt, name, needle):
    """Before: "linux.sysctl.net.ipv4.nope: cannot set: ...", from the init,
    for both (a name with "/" was written, and failed with ENOENT)."""
    b = rt.bundle(("true",), lambda c: c["linux"].update(sysctl={name: "1"}))
    one_line_error(rt("run", "--bundle", b, rt.new_id()), f"$.linux.sysctl[{name!r}]: ",
                   needle)
    rt.assert_nothing_left()


def test_a_hostname_longer_than_the_kernel_takes(rt):
    """Before: "Invalid argument", alone on its line."""
    b = rt.bundle(("true",), lambda c: c.update(hostname="a" * 65))
    one_line_error(rt("run", "--bundle", b, rt.new_id()), "$.hostname: 65 bytes long")
    rt.assert_nothing_left()


def test_an_exec_that_fails_after_start_returned_is_reported_by_run(rt):
    """start returns once the init is about to exec (as runc's); a failed
    execve came later, and `run` exited 127 without a word. The arguments
    here are more than execve takes (E2BIG)."""
    p = rt.run(["true"] + ["x" * 1000] * 3000)
    one_line_error(p, "$.process.args: ", "Argument list too long")
    rt.assert_nothing_left()


def test_an_environment_entry_without_a_name(rt):
    """Before: `run` exited 127, silently (runc: "environment variable name
    can't be empty")."""
    b = rt.bundle(("true",), lambda c: c["process"].update(env=["=x", "PATH=/bin"]))
    one_line_error(rt("run", "--bundle", b, rt.new_id()), "$.process.env[0]: ")
    rt.assert_nothing_left()


def test_a_hook_timeout_beyond_any_timer(rt):
    """Before: create took it; delete then failed with internal error:
    OverflowError (timestamp too large), and so did delete --force: the
    container could not be removed."""
    b = rt.bundle(("true",), lambda c: c.update(hooks={"poststop": [
        {"path": "/bin/true", "timeout": 5.6e16}]}))
    one_line_error(rt("create", "--bundle", b, rt.new_id()), "$.hooks.poststop[0].timeout: ")
    rt.assert_nothing_left()


def test_a_namespace_that_cannot_be_joined_names_its_path(rt):
    """From inside a new user namespace, a uts namespace of the host's user
    namespace cannot be joined (EPERM). Before: the message had no path."""
    helper = subprocess.Popen(["unshare", "--uts", "sleep", "1000"])
    try:
        ns = f"/proc/{helper.pid}/ns/uts"
        while os.readlink(ns) == os.readlink("/proc/self/ns/uts"):
            pass  # unshare(1) has not unshared yet (it does so before its exec)

        def edit(cfg):
            nss = cfg["linux"]["namespaces"]
            for n in nss:
                if n["type"] == "uts":
                    n["path"] = ns
            nss.append({"type": "user"})
            cfg["linux"]["uidMappings"] = cfg["linux"]["gidMappings"] = [
                {"containerID": 0, "hostID": 0, "size": 65536}]
            cfg.pop("hostname", None)
        b = rt.bundle(("true",), edit)
        one_line_error(rt("run", "--bundle", b, rt.new_id()), "$.linux.namespaces[",
                       f"].path: cannot join uts namespace {ns}: Operation not permitted")
    finally:
        helper.kill()
        helper.wait()
    rt.assert_nothing_left()
