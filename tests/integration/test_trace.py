"""--trace FILE and OCIRT_TRACE=FILE with real containers (ocirt.trace).

Each test reads the file as Perfetto and chrome://tracing do (its text plus
the closing bracket) and checks what a user would look at: every event has
the fields the Trace Event Format requires, the spans of each process nest
inside its outermost one, the container's setup phases come from the init's
own (host) pid, and the trace changes nothing the container or the caller
sees (output, status, the container's fds).
"""
import os
import stat

from ocirt import trace

from tests.integration.conftest import one_line_error

REQUIRED = {"X": ("name", "ph", "ts", "dur", "pid", "tid"), "M": ("name", "ph", "pid", "args")}
EPS = 0.01  # us: ts and dur are floats of ns / 1000


def load(path):
    evs = trace.load(path)
    assert evs, "empty trace"
    for e in evs:
        assert e["ph"] in REQUIRED, e
        for key in REQUIRED[e["ph"]]:
            assert key in e, e
        if e["ph"] == "X":
            assert e["dur"] >= 0 and e["ts"] > 0, e
    return evs


def by_pid(evs):
    """{pid: (process name, [its X events])}"""
    out = {}
    for e in evs:
        name, spans = out.setdefault(e["pid"], [None, []])
        if e["ph"] == "M":
            out[e["pid"]][0] = e["args"]["name"]
        else:
            spans.append(e)
    return out


def within(inner, outer):
    return (outer["ts"] - EPS <= inner["ts"]
            and inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"] + EPS)


def check_nesting(spans):
    """The outermost span holds all others, and any two are nested or apart."""
    top = max(spans, key=lambda e: e["dur"])
    for a in spans:
        assert within(a, top), (a, top)
        for b in spans:
            apart = (a["ts"] + a["dur"] <= b["ts"] + EPS or b["ts"] + b["dur"] <= a["ts"] + EPS)
            assert apart or within(a, b) or within(b, a), (a, b)
    return top


def names(spans):
    return [e["name"] for e in spans]


def test_run_is_traced_without_changing_what_the_container_does(rt, tmp_path):
    args = ["sh", "-c", "echo out; echo err >&2; ls /proc/self/fd; exit 3"]
    b = rt.bundle(args)
    plain = rt("run", "--bundle", b, rt.new_id())
    path = tmp_path / "t.json"
    pid_file = tmp_path / "pid"
    traced = rt("--trace", path, "run", "--pid-file", pid_file, "--bundle", b, rt.new_id())
    assert (traced.returncode, traced.stdout, traced.stderr) == \
        (plain.returncode, plain.stdout, plain.stderr) == (3, "out\n0\n1\n2\n3\n", "err\n")
    # the container saw fds 0-2 and ls's own directory: no trace file
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    procs = by_pid(load(path))
    init = int(pid_file.read_text())
    assert procs[init][0] == "init"
    run = [p for p, (n, _) in procs.items() if n == "ocirt run"]
    assert len(run) == 1
    top = check_nesting(procs[run[0]][1])
    assert top["name"] == "run"
    for phase in ("parse", "validate", "create", "cgroups", "clone", "GO", "READY", "start",
                  "exec.sock", "wait", "delete"):
        assert phase in names(procs[run[0]][1]), phase
    init_spans = procs[init][1]
    init_top = check_nesting(init_spans)
    assert init_top["name"] == "init"
    # the container side, in its order: the handshake, the rootfs, start's wait, exec
    order = [n for n in names(sorted(init_spans, key=lambda e: e["ts"]))
             if n in ("GO", "mounts", "pivot", "become", "exec.sock", "exec")]
    assert order == ["GO", "mounts", "pivot", "become", "exec.sock", "exec"]
    assert "seccomp" not in names(init_spans) and "hooks" not in names(init_spans)
    # one clock: every process's spans lie within run's
    for pid, (_, spans) in procs.items():
        for e in spans:
            assert within(e, top), (pid, e)


def test_create_start_state_kill_delete_append_to_one_file(rt, tmp_path, monkeypatch):
    path = tmp_path / "t.json"
    monkeypatch.setenv("OCIRT_TRACE", str(path))
    cid = rt.new_id()
    pid_file = tmp_path / "pid"
    b = rt.bundle(["sleep", "1000"])
    rt("create", "--pid-file", pid_file, "--bundle", b, cid, check=True)
    created = load(path)
    init = int(pid_file.read_text())
    # written before the init waits: a container never started still shows its setup
    assert {"GO", "mounts", "pivot", "become"} <= set(names(by_pid(created)[init][1]))
    for cmd in (["start", cid], ["state", cid], ["kill", cid, "KILL"], ["delete", cid]):
        rt(*cmd, check=True)
    procs = by_pid(load(path))
    commands = sorted(n for n, _ in procs.values() if n.startswith("ocirt "))
    assert commands == ["ocirt create", "ocirt delete", "ocirt kill", "ocirt start",
                        "ocirt state"]
    for pid, (name, spans) in procs.items():
        top = check_nesting(spans)
        if name.startswith("ocirt "):
            assert top["name"] == name.split()[1]
    start = next(s for n, s in procs.values() if n == "ocirt start")
    assert "exec.sock" in names(start)
    # start's exec.sock meets the init's: it waited from create until start came
    init_names = names(procs[init][1])
    assert "exec.sock" in init_names and "exec" in init_names
    wait = next(e for e in procs[init][1] if e["name"] == "exec.sock")
    release = next(e for e in start if e["name"] == "exec.sock")
    assert wait["ts"] < release["ts"] < wait["ts"] + wait["dur"] + EPS
    assert "destroy" in names(next(s for n, s in procs.values() if n == "ocirt delete"))


def test_exec_is_traced_and_its_process_gets_no_trace_fd(rt, tmp_path):
    cid = rt.running()
    path = tmp_path / "t.json"
    p = rt("--trace", path, "exec", cid, "ls", "/proc/self/fd")
    plain = rt("exec", cid, "ls", "/proc/self/fd")
    assert p.returncode == plain.returncode == 0, p.stderr
    assert p.stdout == plain.stdout == "0\n1\n2\n3\n"  # 3: ls's own /proc/self/fd
    procs = by_pid(load(path))
    roles = {n: s for n, s in procs.values()}
    assert set(roles) == {"ocirt exec", "stage-1", "tenant"}
    for name, spans in roles.items():
        check_nesting(spans)
    assert {"validate", "clone", "sync", "wait"} <= set(names(roles["ocirt exec"]))
    assert {"GO"}.isdisjoint(names(roles["stage-1"])) and "namespaces" in names(roles["stage-1"])
    assert {"become", "exec"} <= set(names(roles["tenant"]))
    # the tenant's pid is its host pid, not its pid in the container's namespace
    assert all(pid > 1 for pid in procs)


def test_hooks_and_seccomp_appear_in_the_init(rt, tmp_path):
    """A createContainer hook runs in the container's namespaces, forked by
    the init while it holds the trace file: it must not get it either."""
    fds = tmp_path / "hook-fds"

    def edit(cfg):
        cfg["hooks"] = {"prestart": [{"path": "/bin/true"}],
                        "createContainer": [{"path": "/bin/sh", "args": [
                            "sh", "-c", f"ls /proc/self/fd >> {fds}"]}]}
        cfg["process"]["noNewPrivileges"] = False  # the filter loads early, in become
        cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mknodat"], "action": "SCMP_ACT_ERRNO"}]}
    path = tmp_path / "t.json"
    pid_file = tmp_path / "pid"
    b = rt.bundle(["true"], edit)
    assert rt("run", "--bundle", b, rt.new_id()).returncode == 0
    p = rt("--trace", path, "run", "--pid-file", pid_file, "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    plain, traced = fds.read_text().split("0\n")[1:]
    assert traced == plain, (plain, traced)
    procs = by_pid(load(path))
    init = procs[int(pid_file.read_text())][1]
    check_nesting(init)
    assert {"hooks", "seccomp", "exec.sock", "exec"} <= set(names(init))
    seccomp = next(e for e in init if e["name"] == "seccomp")
    become = next(e for e in init if e["name"] == "become")
    assert within(seccomp, become)
    run = next(s for n, s in procs.values() if n == "ocirt run")
    assert {"hooks", "seccomp"} <= set(names(run))  # prestart; the filter built


def test_a_profile_that_may_refuse_write_stops_the_trace_before_it(rt, tmp_path):
    """write(2) refused under the filter, as a profile may: the init writes
    its events before loading it and none after; the container runs as without."""
    def edit(cfg):
        cfg["process"]["noNewPrivileges"] = True  # the filter loads last, before execve
        cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["write"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 100, "op": "SCMP_CMP_GE"}]}]}
    path = tmp_path / "t.json"
    pid_file = tmp_path / "pid"
    b = rt.bundle(["echo", "hello"], edit)
    p = rt("--trace", path, "run", "--pid-file", pid_file, "--bundle", b, rt.new_id())
    assert (p.returncode, p.stdout) == (0, "hello\n"), p.stderr
    init = by_pid(load(path))[int(pid_file.read_text())][1]
    seccomp = next(e for e in init if e["name"] == "seccomp")
    assert seccomp["args"]["loaded_after_last_event"] is True
    assert "exec" in names(init)


def test_an_unwritable_trace_file_is_one_clear_error(rt, tmp_path, monkeypatch):
    missing = tmp_path / "no" / "t.json"
    p = rt("--trace", missing, "state", "nosuch")
    one_line_error(p, f"--trace {missing}", "No such file or directory")
    assert p.returncode == 1
    link = tmp_path / "link.json"
    os.symlink(tmp_path / "elsewhere.json", link)
    b = rt.bundle(["true"])
    p = rt("--trace", link, "run", "--bundle", b, rt.new_id())
    one_line_error(p, f"--trace {link}")
    assert not (tmp_path / "elsewhere.json").exists()
    p = rt("--trace", link, "exec", "nosuch", "true")
    assert p.returncode == 255  # exec's own errors, as runc's
    monkeypatch.setenv("OCIRT_TRACE", str(missing))
    p = rt("state", "nosuch")
    one_line_error(p, f"OCIRT_TRACE {missing}")
    rt.assert_nothing_left()


def test_tracing_imports_nothing_after_pivot_root(rt, tmp_path, monkeypatch):
    """The init writes its events after pivot_root, and exec's process after
    it joined the container: all the writer needs is imported before
    (OCIRT_CHECK_IMPORTS fails any import once the root has changed)."""
    monkeypatch.setenv("OCIRT_CHECK_IMPORTS", "1")
    path = tmp_path / "t.json"
    cid = rt.running()
    p = rt("--trace", path, "exec", cid, "true")
    assert p.returncode == 0, p.stderr
    p = rt("--trace", path, "run", "--bundle", rt.bundle(["true"]), rt.new_id())
    assert p.returncode == 0, p.stderr
    seen = {n for n, _ in by_pid(load(path)).values()}
    assert {"tenant", "init"} <= seen
