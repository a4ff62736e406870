"""Bad input: one clear line, exit status 1, nothing left behind."""
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.integration.conftest import base_config


def create_with(rt, text, cid=None):
    b = rt.tmp / f"bad{len(os.listdir(rt.tmp))}"
    b.mkdir()
    (b / "config.json").write_text(text)
    cid = rt.new_id() if cid is None else cid
    return rt("create", "--bundle", b, cid)


def check_clean_error(rt, p, *needles):
    assert p.returncode == 1, (p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    rt.assert_nothing_left()


def cfg_text(rt, edit):
    cfg = base_config(rt.rootfs, ["true"])
    edit(cfg)
    return json.dumps(cfg)


def test_malformed_json(rt):
    check_clean_error(rt, create_with(rt, '{"ociVersion": "1.3.0",'), "config.json",
                      "invalid JSON")


def test_missing_config(rt):
    d = rt.tmp / "empty"
    d.mkdir()
    check_clean_error(rt, rt("create", "--bundle", d, rt.new_id()), "config.json")


@pytest.mark.parametrize("edit,needles", [
    (lambda c: c.update(ociVersion="2.0.0"), ["$.ociVersion"]),
    (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), ["$.linux.namespaces[6].type"]),
    (lambda c: c.update(mounts="nope"), ["$.mounts", "expected array"]),
    (lambda c: c["process"]["user"].update(uid=-1), ["$.process.user.uid"]),
    (lambda c: c["process"].update(cwd="relative"), ["$.process.cwd"]),
    (lambda c: c["process"]["rlimits"].append({"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}),
     ["$.process.rlimits[1].type", "duplicate"]),
    (lambda c: c["process"]["rlimits"].append({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 2}),
     ["RLIMIT_BOGUS"]),
    (lambda c: c.pop("root"), ["root"]),
])
def test_schema_and_semantic_errors_name_the_json_path(rt, edit, needles):
    check_clean_error(rt, create_with(rt, cfg_text(rt, edit)), *needles)


def test_missing_rootfs(rt):
    check_clean_error(rt, create_with(rt, cfg_text(
        rt, lambda c: c["root"].update(path="/nonexistent/rootfs"))), "root.path",
        "/nonexistent/rootfs")


@pytest.mark.parametrize("bad_id", ["../x", "a/b", "", "..", "x y"])
def test_invalid_ids(rt, bad_id):
    p = create_with(rt, cfg_text(rt, lambda c: None), cid=bad_id)
    check_clean_error(rt, p, "invalid container id")


@pytest.mark.parametrize("edit,needles", [
    # failures discovered by the container's init, after the cgroup was made
    (lambda c: c["process"].update(args=["/no/such/binary"]), ["/no/such/binary"]),
    (lambda c: c["process"]["capabilities"].update(bounding=["CAP_BOGUS"]), ["CAP_BOGUS"]),
    (lambda c: c["mounts"].append({"destination": "/x", "type": "bind",
                                   "source": "/no/such/dir", "options": ["rbind"]}),
     ["/no/such/dir"]),
    (lambda c: c["mounts"].append({"destination": "/y", "type": "nosuchfs",
                                   "source": "none"}), ["/y"]),
    (lambda c: c["linux"].update(sysctl={"kernel.no_such_sysctl": "1"}),
     ["kernel.no_such_sysctl"]),
])
def test_late_failures_clean_up_everything(rt, edit, needles):
    check_clean_error(rt, create_with(rt, cfg_text(rt, edit)), *needles)


def _unmapped_uid(c):
    c["linux"]["namespaces"].append({"type": "user"})
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1000}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1000}]
    c["process"]["user"].update(uid=1000)


@pytest.mark.parametrize("edit,where,words", [
    # before: told by the init after the fork (an EINVAL of setresuid for the uid)
    (_unmapped_uid, "$.process.user.uid", "uid 1000 is not mapped in the new user namespace"),
    (lambda c: c["linux"].update(personality={"domain": "LINUX", "flags": ["X"]}),
     "$.linux.personality.flags", "not supported"),
    (lambda c: (c["linux"]["namespaces"].append({"type": "time"}),
                c["linux"].update(timeOffsets={"realtime": {"secs": 1}})),
     "$.linux.timeOffsets.realtime", "unknown clock 'realtime'"),
])
def test_config_checks_once_made_after_the_fork_come_before_it(rt, edit, where, words):
    """A config error as any other (ocirt.config.findings): the config file,
    the JSON path, one line."""
    p = create_with(rt, cfg_text(rt, edit))
    check_clean_error(rt, p, f"config.json: {where}: ", words)


@pytest.mark.parametrize("program,words", [
    ("nosuchprogram", "exec: 'nosuchprogram': executable file not found in $PATH"),
    ("/no/such/binary", "exec: '/no/such/binary': stat /no/such/binary: no such file or directory"),
    ("/etc/passwd", "exec: '/etc/passwd': permission denied"),
    ("/bin", "exec: '/bin': permission denied"),
])
def test_a_program_that_cannot_run_is_told_in_runcs_words(rt, program, words):
    # podman and docker turn them into exit codes: 127 for "not found" and "no
    # such file or directory", 126 for "permission denied"
    p = create_with(rt, cfg_text(rt, lambda c: c["process"].update(args=[program])))
    check_clean_error(rt, p, "process.args[0]", words)


def test_json_log_gets_the_error(rt, tmp_path):
    log = tmp_path / "log.json"
    d = tmp_path / "b"
    d.mkdir()
    (d / "config.json").write_text("[]")
    p = rt("--log", log, "--log-format", "json", "create", "--bundle", d, rt.new_id())
    assert p.returncode == 1
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == 1
    assert entries[0]["level"] == "error" and "config.json" in entries[0]["msg"]
    assert set(entries[0]) == {"level", "msg", "time"}


def test_success_prints_nothing_on_stderr(rt, tmp_path):
    log = tmp_path / "log.json"
    cid = rt.new_id()
    for args in (["create", "--bundle", rt.bundle(["sleep", "100"]), cid], ["start", cid],
                 ["state", cid], ["kill", cid, "9"], ["delete", "--force", cid]):
        p = rt("--log", log, "--log-format", "json", *args)
        assert p.returncode == 0 and p.stderr == "", (args, p.stderr)
    assert not log.exists() or log.read_text() == ""


_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5),
                    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                          st.integers(),
                                                                          max_size=2))
_paths = st.sampled_from([
    ("process", "args"), ("process", "cwd"), ("process", "user", "uid"), ("process", "env"),
    ("root", "path"), ("mounts",), ("linux", "namespaces"), ("hostname",),
    ("process", "rlimits"), ("linux", "maskedPaths"), ("process", "capabilities", "bounding"),
    ("ociVersion",), ("linux", "uidMappings"), ("process", "terminal"), ("linux",),
])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_paths, value=_values)
def test_mutated_configs_never_crash_and_never_leak(rt, path, value):
    cfg = base_config(rt.rootfs, ["true"])
    node = cfg
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    cid = rt.new_id()
    p = create_with(rt, json.dumps(cfg), cid=cid)
    assert "Traceback" not in p.stderr
    if p.returncode == 0:
        rt("delete", "--force", cid, check=True)
    else:
        assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr
    rt.assert_nothing_left()


def test_apparmor_profile_without_apparmor(rt):
    from ocirt.linux import lsm
    if lsm.apparmor_enabled():
        pytest.skip("AppArmor is enabled on this host")
    p = create_with(rt, cfg_text(rt, lambda c: c["process"].update(apparmorProfile="x")))
    check_clean_error(rt, p, "$.process.apparmorProfile", "AppArmor is not enabled")
