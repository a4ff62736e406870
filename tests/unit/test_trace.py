"""ocirt.trace, the --trace writer, without root and without containers."""
import os
import stat

import pytest

from ocirt import config, trace

REQUIRED = {"X": ("name", "ph", "ts", "dur", "pid", "tid"), "M": ("name", "ph", "pid", "args")}


def events(path):
    evs = trace.load(path)
    for e in evs:
        for key in REQUIRED[e["ph"]]:
            assert key in e, e
    return evs


def spans(evs, pid=None):
    return {e["name"]: e for e in evs if e["ph"] == "X" and (pid is None or e["pid"] == pid)}


def test_spans_nest_and_the_file_is_json_plus_a_bracket(tmp_path):
    path = str(tmp_path / "t.json")
    t = trace.Trace(path, "ocirt test")
    t.begin("command", args=["x"])
    t.begin("parse")
    t.next("validate")
    t.end("validate")
    t.begin("mounts")
    t.end("mounts", n=3)
    t.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    assert text.startswith("[") and not text.rstrip().endswith(",")
    evs = events(path)
    assert evs[0] == {"name": "process_name", "ph": "M", "pid": os.getpid(),
                      "tid": os.getpid(), "args": {"name": "ocirt test"}}
    s = spans(evs)
    assert set(s) == {"command", "parse", "validate", "mounts"}
    top = s["command"]
    for e in s.values():
        assert top["ts"] <= e["ts"] and e["ts"] + e["dur"] <= top["ts"] + top["dur"] + 0.001
    assert s["parse"]["ts"] + s["parse"]["dur"] == pytest.approx(s["validate"]["ts"])
    assert s["mounts"]["args"] == {"n": 3}
    assert "unfinished" not in str(evs)


def test_several_writers_append_to_one_file(tmp_path):
    """create, then start, then delete: one head, every event kept."""
    path = str(tmp_path / "t.json")
    for name in ("create", "start", "delete"):
        t = trace.Trace(path, f"ocirt {name}")
        t.begin(name)
        t.close()
    evs = events(path)
    assert [e["name"] for e in evs if e["ph"] == "X"] == ["create", "start", "delete"]
    assert open(path).read().count("[") == 1


def test_an_empty_file_given_gets_the_head(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("")
    t = trace.Trace(str(path), "ocirt state")
    t.begin("state")
    t.close()
    assert [e["name"] for e in events(str(path))] == ["process_name", "state"]


def test_an_error_leaves_inner_spans_unfinished(tmp_path):
    path = str(tmp_path / "t.json")
    t = trace.Trace(path, "ocirt create")
    t.begin("create")
    t.begin("cgroups")
    t.close()
    s = spans(events(path))
    assert s["cgroups"]["args"] == {"unfinished": True}
    assert "args" not in s["create"]


def test_a_forked_child_writes_its_own_events(tmp_path):
    path = str(tmp_path / "t.json")
    t = trace.Trace(path, "ocirt run")
    t.begin("run")
    t.begin("clone")
    pid = os.fork()
    if pid == 0:
        try:
            t.process("init")
            t.begin("mounts")
            t.end("mounts")
            t.flush(final=True)
        finally:
            os._exit(0)
    t.end("clone")
    assert os.waitpid(pid, 0)[1] == 0
    t.close()
    evs = events(path)
    child = spans(evs, pid)
    assert set(child) == {"init", "mounts"}  # none of the parent's spans
    names = {e["pid"]: e["args"]["name"] for e in evs if e["ph"] == "M"}
    assert names == {os.getpid(): "ocirt run", pid: "init"}
    assert set(spans(evs, os.getpid())) == {"run", "clone"}
    # one clock: the child's life lies within the parent's command
    run = spans(evs, os.getpid())["run"]
    assert run["ts"] <= child["init"]["ts"] <= run["ts"] + run["dur"]


def test_the_file_is_not_followed_through_a_symlink(tmp_path):
    target = tmp_path / "target"
    target.write_text("")
    os.symlink(target, tmp_path / "link")
    with pytest.raises(OSError):
        trace.Trace(str(tmp_path / "link"), "ocirt state")
    assert target.read_text() == ""


def test_the_fd_is_close_on_exec(tmp_path):
    t = trace.Trace(str(tmp_path / "t.json"), "ocirt state")
    assert not os.get_inheritable(t.fd)
    assert t.keep() == (t.fd,)


def _seccomp(default, rules=()):
    return config.Seccomp(default_action=default, syscalls=tuple(
        config.Syscall(names=tuple(r[0]), action=r[1], args=tuple(r[2]) if len(r) > 2 else ())
        for r in rules))


@pytest.mark.parametrize("profile,ok", [
    (None, True),
    (_seccomp("SCMP_ACT_ALLOW"), True),
    (_seccomp("SCMP_ACT_ALLOW", [(["mkdir"], "SCMP_ACT_ERRNO")]), True),
    (_seccomp("SCMP_ACT_ERRNO", [(["read", "write"], "SCMP_ACT_ALLOW")]), True),
    (_seccomp("SCMP_ACT_ERRNO"), False),
    (_seccomp("SCMP_ACT_KILL", [(["read"], "SCMP_ACT_ALLOW")]), False),
    (_seccomp("SCMP_ACT_ALLOW", [(["write"], "SCMP_ACT_KILL")]), False),
    (_seccomp("SCMP_ACT_ALLOW", [(["write"], "SCMP_ACT_ALLOW", ["cond"])]), False),
])
def test_allows_write(profile, ok):
    assert trace.allows_write(profile) is ok


def test_a_filter_that_may_refuse_write_ends_the_trace_first(tmp_path):
    path = str(tmp_path / "t.json")
    t = trace.Trace(path, "init")
    t.begin("init")
    t.profile(_seccomp("SCMP_ACT_ERRNO"))
    t.filtering()
    t.end("seccomp")
    t.begin("exec")  # after the filter: not written
    t.flush(final=True)
    s = spans(events(path))
    assert set(s) == {"init", "seccomp"}
    assert s["seccomp"]["args"]["loaded_after_last_event"] is True
