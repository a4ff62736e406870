"""`ocirt validate`: the errors create gives, told before anything is made.

Every bad config here is also given to create: validate must report an
error at the JSON path of create's one-line error, and create must fail."""
import json
import os

import pytest

from tests.differential.conftest import corpus_names, load_config
from tests.integration.conftest import base_config
from tests.integration.test_errors import _unmapped_uid


def _bundle(rt, cfg):
    b = rt.tmp / f"v{len(os.listdir(rt.tmp))}"
    b.mkdir()
    (b / "config.json").write_text(json.dumps(cfg))
    return b


def validate(rt, bundle, fmt="json"):
    p = rt("validate", "--bundle", bundle, "--format", fmt)
    assert "Traceback" not in p.stderr and p.stderr == "", p.stderr
    return p, (json.loads(p.stdout) if fmt == "json" else p.stdout)


def errors(found):
    return [f for f in found if f["severity"] == "error"]


@pytest.mark.parametrize("name", corpus_names())
def test_the_corpus_has_no_error(rt, name):
    """What podman, docker, containerd and runc spec wrote validates (the
    rootfs relative to the bundle, its bind sources made, as the
    differential harness runs them)."""
    from tests.integration.test_validate_predicts import engine_bundle
    b = engine_bundle(rt, load_config(name))
    p, found = validate(rt, b)
    assert errors(found) == [] and p.returncode == 0, found
    assert all(f["section"].startswith(("config.md", "config-linux.md")) for f in found)


def _args(program):
    return lambda c: c["process"].update(args=[program])


# (edit of the integration tests' base config, the JSON path of the error):
# the error cases of test_errors.py and test_config_findings.py
BAD = [
    (lambda c: c.update(ociVersion="2.0.0"), "$.ociVersion"),
    (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), "$.linux.namespaces[6].type"),
    (lambda c: c.update(mounts="nope"), "$.mounts"),
    (lambda c: c["process"]["user"].update(uid=-1), "$.process.user.uid"),
    (lambda c: c["process"].update(cwd="relative"), "$.process.cwd"),
    (lambda c: c["process"]["rlimits"].append({"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}),
     "$.process.rlimits[1].type"),
    (lambda c: c.update(hostname="h" * 65), "$.hostname"),
    (lambda c: c["process"]["capabilities"].update(bounding=["CAP_BOGUS"]),
     "$.process.capabilities.bounding[0]"),
    (_unmapped_uid, "$.process.user.uid"),
    (lambda c: c["linux"].update(personality={"domain": "LINUX", "flags": ["X"]}),
     "$.linux.personality.flags"),
    (lambda c: (c["linux"]["namespaces"].append({"type": "time"}),
                c["linux"].update(timeOffsets={"realtime": {"secs": 1}})),
     "$.linux.timeOffsets.realtime"),
    (lambda c: c["linux"].update(memoryPolicy={"mode": "MPOL_BIND"}),
     "$.linux.memoryPolicy.nodes"),
    (lambda c: c["root"].update(path="/nonexistent/rootfs"), "$.root.path"),
    (_args("nosuchprogram"), "$.process.args[0]"),
    (_args("/no/such/binary"), "$.process.args[0]"),
    (_args("/etc/passwd"), "$.process.args[0]"),
    (_args("/bin"), "$.process.args[0]"),
    (lambda c: c["process"]["rlimits"].__setitem__(0, {"type": "RLIMIT_NOFILE", "soft": 1,
                                                       "hard": 1 << 40}),
     "$.process.rlimits"),  # create's init names no index
]


@pytest.mark.parametrize("edit,path", BAD)
def test_validate_predicts_the_error_of_create(rt, edit, path):
    cfg = base_config(rt.rootfs, ["true"])
    edit(cfg)
    b = _bundle(rt, cfg)
    p, found = validate(rt, b)
    assert p.returncode == 1, found
    assert any(f["path"].startswith(path) for f in errors(found)), found
    c = rt("create", "--bundle", b, rt.new_id())
    assert c.returncode == 1 and len(c.stderr.splitlines()) == 1, c.stderr
    # create's init names a few paths without the "$.", and an rlimit without its index
    assert path[2:].split("[0]")[0] in c.stderr, (c.stderr, found)
    rt.assert_nothing_left()


def test_apparmor_profile_without_apparmor(rt):
    from ocirt.linux import lsm
    if lsm.apparmor_enabled():
        pytest.skip("AppArmor is enabled on this host")
    cfg = base_config(rt.rootfs, ["true"])
    cfg["process"]["apparmorProfile"] = "x"
    p, found = validate(rt, _bundle(rt, cfg))
    assert p.returncode == 1
    assert [(f["path"], f["message"]) for f in errors(found)] == \
        [("$.process.apparmorProfile", "AppArmor is not enabled on this host")]


def test_the_base_config_is_clean_and_exits_0(rt):
    p, text = validate(rt, _bundle(rt, base_config(rt.rootfs, ["true"])), fmt="text")
    assert p.returncode == 0 and "error:" not in text, text


def test_several_independent_errors_are_all_listed(rt):
    def edit(c):
        c.update(hostname="h" * 70)
        c["process"]["env"].append("NOEQUALS")
        c["process"]["capabilities"].update(permitted=["CAP_NOPE"])
        c["linux"].update(personality={"domain": "LINUX", "flags": ["F"]})
    cfg = base_config(rt.rootfs, ["true"])
    edit(cfg)
    p, text = validate(rt, _bundle(rt, cfg), fmt="text")
    assert p.returncode == 1
    lines = text.splitlines()
    for path, section in (("$.hostname", "config.md#hostname"),
                          (f"$.process.env[{len(cfg['process']['env']) - 1}]",
                           "config.md#process"),
                          ("$.process.capabilities.permitted[0]", "config.md#linux-process"),
                          ("$.linux.personality.flags", "config-linux.md#personality")):
        assert any(ln.startswith(f"error: {path}: ") and ln.endswith(f"({section})")
                   for ln in lines), (path, text)
    assert len(lines) == 4, text


def test_a_missing_bundle_and_bad_json_are_errors(rt):
    p, found = validate(rt, rt.tmp / "nothing")
    assert p.returncode == 1 and "no such file" in found[0]["message"]
    b = rt.tmp / "badjson"
    b.mkdir()
    (b / "config.json").write_text("{")
    p, found = validate(rt, b)
    assert p.returncode == 1 and "invalid JSON" in found[0]["message"]
    f = rt.tmp / "fifo"  # a fifo is refused at once, as create refuses it (no wait)
    f.mkdir()
    os.mkfifo(f / "config.json")
    p, found = validate(rt, f)
    assert p.returncode == 1 and "not a regular file" in found[0]["message"]


# ---- process.args[0], looked up inside the rootfs

def _program(rt, tmp_path, args, env=None, mounts=()):
    """The findings of `validate` at $.process.args[0], as (path, message, severity)."""
    cfg = base_config(str(tmp_path / "rootfs"), args)
    cfg["mounts"] += mounts
    if env is not None:
        cfg["process"]["env"] = env
    _, found = validate(rt, _bundle(rt, cfg))
    return [(f["path"], f["message"], f["severity"]) for f in found
            if f["path"] == "$.process.args[0]"]


def _rootfs(tmp_path):
    r = tmp_path / "rootfs"
    (r / "bin").mkdir(parents=True)
    prog = r / "bin" / "prog"
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o755)
    return r


def test_a_program_is_found_in_the_rootfs_and_by_path(rt, tmp_path):
    r = _rootfs(tmp_path)
    os.symlink("bin", r / "usr")  # an image's link, resolved inside the rootfs
    assert _program(rt, tmp_path, ["/bin/prog"]) == []
    assert _program(rt, tmp_path, ["prog"], ["PATH=/usr"]) == []
    assert _program(rt, tmp_path, ["/usr/prog"]) == []


def test_links_do_not_lead_out_of_the_rootfs(rt, tmp_path):
    """/bin/true of the host is no program of the container: an absolute link
    or one of "../" climbs stay inside the rootfs."""
    assert os.path.isfile("/bin/true")
    r = _rootfs(tmp_path)
    os.symlink("/bin/true", r / "bin" / "abs")
    os.symlink("../../../../../../../../bin/true", r / "bin" / "rel")
    for name in ("/bin/abs", "/bin/rel"):
        assert _program(rt, tmp_path, [name]) == [
            ("$.process.args[0]", f"exec: {name!r}: stat {name}: no such file or directory",
             "error")]


def test_runcs_words_for_a_program_that_cannot_run(rt, tmp_path):
    r = _rootfs(tmp_path)
    (r / "etc").mkdir()
    (r / "etc" / "passwd").write_text("")
    for args, message in ((["nope"], "exec: 'nope': executable file not found in $PATH"),
                          (["/etc/passwd"], "exec: '/etc/passwd': permission denied"),
                          (["/bin"], "exec: '/bin': permission denied")):
        assert [f[1] for f in _program(rt, tmp_path, args)] == [message]


def test_a_program_a_mount_may_bring_is_a_warning(rt, tmp_path):
    _rootfs(tmp_path)
    found = _program(rt, tmp_path, ["/opt/tool"], mounts=[
        {"destination": "/opt", "type": "bind", "source": "/x", "options": ["rbind"]}])
    assert [f[2] for f in found] == ["warning"]
