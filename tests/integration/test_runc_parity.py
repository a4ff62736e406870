"""What callers written for runc observe (issue 13): `spec`'s template,
`kill ID 0`, the hooks' environment, `--debug`, and the JSON of `state`,
`list` and `events`. Each test runs the same bundle through runc
(/usr/sbin/runc, its own --root) where runc is installed, and compares."""
import json
import os
import pty
import select
import shutil
import subprocess
import tempfile
import uuid

import pytest

from tests.integration.conftest import shared_dir, wait_pids_gone

RUNC = shutil.which("runc") or "/usr/sbin/runc"
HAVE_RUNC = os.access(RUNC, os.X_OK)
needs_runc = pytest.mark.skipif(not HAVE_RUNC, reason=f"runc is not installed ({RUNC})")


class Runc:
    """runc with its own state root; every container it made is force-deleted."""

    def __init__(self, tmp_path):
        self.root = str(tmp_path / "runc-state")
        self.ids = []

    def new_id(self):
        cid = f"it-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def __call__(self, *args, check=False, env=None, timeout=60):
        cmd = [RUNC, "--root", self.root] + [str(a) for a in args]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env, timeout=timeout).returncode
            out.seek(0)
            err.seek(0)
            p = subprocess.CompletedProcess(cmd, rc, out.read().decode(), err.read().decode())
        if check and rc != 0:
            raise AssertionError(f"{cmd} exited {rc}: {p.stderr}")
        return p


@pytest.fixture
def runc(tmp_path):
    if not HAVE_RUNC:
        pytest.skip(f"runc is not installed ({RUNC})")
    r = Runc(tmp_path)
    yield r
    for cid in r.ids:
        r("delete", "--force", cid)


def written_spec(cmd, tmp_path, *flags):
    d = tmp_path / f"spec-{uuid.uuid4().hex[:6]}"
    d.mkdir()
    subprocess.run(cmd + ["spec", *flags], cwd=d, check=True, capture_output=True)
    return (d / "config.json").read_text()


# ---- 5: spec ----------------------------------------------------------------

@needs_runc
@pytest.mark.parametrize("flags", [(), ("--rootless",)], ids=["spec", "spec-rootless"])
def test_spec_writes_what_runc_spec_writes(rt, tmp_path, flags):
    """Byte for byte (tab indents, runc's key order, no final newline), but
    for the spec version ocirt implements and its own hostname."""
    theirs = written_spec([RUNC], tmp_path, *flags)
    ours = written_spec([rt.bin], tmp_path, *flags)
    assert json.loads(ours)["ociVersion"] == "1.3.0"
    assert json.loads(ours)["hostname"] == "ocirt"
    assert ours.replace('"1.3.0"', '"1.0.2-dev"').replace('"ocirt"', '"runc"') == theirs
    cfg = json.loads(ours)
    assert cfg["process"]["terminal"] is True and cfg["process"]["args"] == ["sh"]
    assert "cgroup" not in [ns["type"] for ns in cfg["linux"]["namespaces"]]


def test_spec_hardened_is_a_separate_flag(rt, tmp_path):
    cfg = json.loads(written_spec([rt.bin], tmp_path, "--hardened"))
    assert cfg["process"]["terminal"] is False
    assert "ambient" not in cfg["process"]["capabilities"]
    assert "cgroup" in [ns["type"] for ns in cfg["linux"]["namespaces"]]
    assert "/sys/devices/virtual/powercap" in cfg["linux"]["maskedPaths"]
    assert cfg["process"]["capabilities"]["bounding"] == []
    assert cfg["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"


def _interactive(cmd, script, timeout=30):
    """Run cmd on a new pty, as from a terminal; type script; (status, output)."""
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.execv(cmd[0], cmd)
        finally:
            os._exit(127)
    os.write(master, script.encode())
    out = b""
    try:
        while select.select([master], [], [], timeout)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the last holder of the slave closed it
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@pytest.mark.parametrize("runtime", ["ocirt", "runc"])
def test_the_tutorial_spec_gives_an_interactive_shell(rt, tmp_path, runtime):
    """`spec`, then `run ID` from a terminal: sh on a terminal inside the container."""
    if runtime == "runc" and not HAVE_RUNC:
        pytest.skip(f"runc is not installed ({RUNC})")
    b = tmp_path / "tutorial"
    b.mkdir()
    exe = rt.bin if runtime == "ocirt" else RUNC
    subprocess.run([exe, "spec"], cwd=b, check=True)
    cfg = json.loads((b / "config.json").read_text())
    cfg["root"]["path"] = rt.rootfs
    (b / "config.json").write_text(json.dumps(cfg))
    root = rt.root if runtime == "ocirt" else str(tmp_path / "runc-state")
    cid = rt.new_id()
    status, out = _interactive([exe, "--root", root, "run", "--bundle", str(b), cid],
                               "tty -s && echo on-a-tty; echo $((6*7)); exit 3\n")
    subprocess.run([exe, "--root", root, "delete", "--force", cid], capture_output=True)
    assert status == 3, out
    assert "on-a-tty" in out and "42" in out


# ---- 6: kill ID 0 ------------------------------------------------------------

@pytest.mark.parametrize("runtime", ["ocirt", "runc"])
def test_kill_0_is_a_liveness_probe(rt, runc, runtime):
    """runc's `kill ID 0`: 0 while the init exists (created, running, and with
    --all), an error once it is gone; nothing is signalled."""
    tool = rt if runtime == "ocirt" else runc
    b = rt.bundle(["sleep", "1000"])
    cid = tool.new_id()
    tool("create", "--bundle", b, cid, check=True)
    assert tool("kill", cid, "0").returncode == 0
    tool("start", cid, check=True)
    for args in (("kill", cid, "0"), ("kill", "--all", cid, "0")):
        p = tool(*args)
        assert p.returncode == 0, p.stderr
        assert p.stderr == ""
    st = json.loads(tool("state", cid, check=True).stdout)
    assert st["status"] == "running"
    tool("kill", cid, "KILL", check=True)
    assert wait_pids_gone([st["pid"]]) == []
    p = tool("kill", cid, "0")
    assert p.returncode != 0
    assert "not running" in p.stderr
    tool("delete", cid, check=True)


# ---- 7: the hooks' environment -----------------------------------------------

HOOK_POINTS = ("prestart", "createRuntime", "createContainer", "startContainer",
               "poststart", "poststop")


def _env_hooks(cfg, host_dir, in_container_dir):
    """For each point, a hook without env and one with env []; each writes
    its environment (sorted, without the shell's own PWD) to a file."""
    def one(point, empty):
        where = in_container_dir if point == "startContainer" else host_dir
        name = point + ("-empty" if empty else "")
        h = {"path": "/bin/sh",
             "args": ["sh", "-c", f"env | grep -v '^PWD=' | sort > {where}/{name}"]}
        if empty:
            h["env"] = []
        return h
    cfg["hooks"] = {p: [one(p, False), one(p, True)] for p in HOOK_POINTS}


@pytest.mark.parametrize("runtime", ["ocirt", "runc"])
def test_hooks_without_env_get_the_runtimes_environment(rt, runc, tmp_path, runtime):
    """A hook with no "env" runs with the runtime's environment (PATH for GPU
    and network hooks); with "env": [] it gets none. Inside the container
    (createContainer, startContainer) the runtime's init has the process's."""
    tool = rt if runtime == "ocirt" else runc
    shared, share = shared_dir(tmp_path, "/out", fifos=())
    os.chmod(shared, 0o777)

    def edit(cfg):
        share(cfg)
        _env_hooks(cfg, shared, "/out")
    b = rt.bundle(["true"], edit)
    caller = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "GPU_HOOK_SETTING": "x y"}
    cid = tool.new_id()
    p = tool("run", "--bundle", b, cid, env=caller) if runtime == "runc" else \
        _ocirt_env(rt, caller, "run", "--bundle", b, cid)
    assert p.returncode == 0, p.stderr
    seen = {n: (shared / n).read_text().splitlines() for n in os.listdir(shared)}
    caller_env = sorted(f"{k}={v}" for k, v in caller.items())
    for point in ("prestart", "createRuntime", "poststart", "poststop"):
        assert seen[point] == caller_env, point
    process_env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "TERM=xterm"]
    assert seen["createContainer"] == process_env
    assert seen["startContainer"] == sorted(process_env + ["HOME=/root", "SHLVL=1"])
    for point in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        assert seen[point + "-empty"] == [], point
    # busybox sh sets a PATH of its own when it has none
    assert seen["startContainer-empty"] == ["PATH=/sbin:/usr/sbin:/bin:/usr/bin", "SHLVL=1"]


@pytest.mark.parametrize("runtime", ["ocirt", "runc"])
def test_create_container_hooks_start_in_the_root(rt, runc, tmp_path, runtime):
    """A createContainer hook runs in the container's mount namespace, before
    pivot_root, in the container's root directory (runc's cwd), not in the
    caller's."""
    tool = rt if runtime == "ocirt" else runc
    out = tmp_path / "out"
    out.mkdir()

    def edit(cfg):
        cfg["hooks"] = {"createContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", f"pwd -P > {out}/cwd"]}]}
    b = rt.bundle(["true"], edit)
    cid = tool.new_id()
    p = tool("run", "--bundle", b, cid)
    assert p.returncode == 0, p.stderr
    root = json.loads(open(os.path.join(b, "config.json")).read())["root"]["path"]
    assert (out / "cwd").read_text().strip() == os.path.realpath(os.path.join(b, root))


def _ocirt_env(rt, env, *args):
    cmd = [rt.bin, "--root", rt.root] + [str(a) for a in args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                            timeout=60).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, rc, out.read().decode(), err.read().decode())


# ---- 23: state, list and events print runc's JSON --------------------------------

def _mask(text, st):
    """text with the values that must differ between two runtimes replaced:
    the pid, the creation time, and the spec version each implements."""
    return text.replace(str(st["pid"]), "PID").replace(st["created"], "CREATED").replace(
        '"ociVersion":' + (" " if ": " in text else "") + f'"{st["ociVersion"]}"', "VERSION")


def _annotated(cfg):
    cfg["annotations"] = {"org.example.b": "x<y & z", "org.example.a": "é"}


@needs_runc
def test_state_and_list_print_runcs_bytes(rt, runc):
    """The same container (same id, bundle and annotations) in each runtime:
    `state` prints the same indented document, `list --format json` the same
    compact line, but for the pid and the creation time."""
    b = rt.bundle(["sleep", "1000"], _annotated)
    cid = rt.new_id()
    runc.ids.append(cid)
    out = {}
    for tool in (rt, runc):
        tool("create", "--bundle", b, cid, check=True)
        text = tool("state", cid, check=True).stdout
        st = json.loads(text)
        listed = tool("list", "--format", "json", check=True).stdout
        tool("start", cid, check=True)
        running = tool("state", cid, check=True).stdout
        out[tool] = (_mask(text, st), _mask(listed, st), _mask(running, st))
    assert out[rt] == out[runc]
    assert out[rt][0].startswith('{\n  VERSION,\n  "id": ')
    assert '"org.example.b": "x\\u003cy \\u0026 z"' in out[rt][0]  # Go's escapes


@needs_runc
def test_list_of_nothing_is_null(rt, runc):
    for tool in (rt, runc):
        assert tool("list", "--format", "json", check=True).stdout == "null\n"


def _key_paths(doc, path=()):
    """Every key of doc with the keys before it at its level: the order runc writes."""
    if isinstance(doc, dict):
        yield path, list(doc)
        for k, v in doc.items():
            yield from _key_paths(v, path + (k,))


@needs_runc
def test_events_stats_are_runcs_compact_json_in_runcs_order(rt, runc):
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    runc.ids.append(cid)
    lines = {}
    for tool in (rt, runc):
        tool("run", "--detach", "--bundle", b, cid, check=True)
        lines[tool] = tool("events", "--stats", cid, check=True).stdout
    ours, theirs = (json.loads(lines[t]) for t in (rt, runc))
    assert list(ours) == list(theirs) == ["type", "id", "data"]
    # the data runc and ocirt both have, in the same order at every level
    theirs_keys = dict(_key_paths(theirs))
    for path, keys in _key_paths(ours):
        if path in theirs_keys and "raw" not in path and "hugetlb" not in path:
            common = [k for k in keys if k in theirs_keys[path]]
            assert common == [k for k in theirs_keys[path] if k in keys], path
    assert list(ours["data"]) == list(theirs["data"])
    assert lines[rt] == json.dumps(ours, separators=(",", ":"), ensure_ascii=False) + "\n"


# ---- 22: --debug ----------------------------------------------------------------------

@pytest.mark.parametrize("runtime", ["ocirt", "runc"])
def test_debug_logs_the_phases_to_stderr(rt, runc, runtime):
    """--debug: create tells its phases on stderr, as runc's does."""
    tool = rt if runtime == "ocirt" else runc
    cid = tool.new_id()
    p = tool("--debug", "create", "--bundle", rt.bundle(["sleep", "1000"]), cid)
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) >= 5 and all("debug" in line for line in lines), p.stderr
    if runtime == "ocirt":
        text = p.stderr
        for phase in ("config.json checked", "state directory", "cgroup", "forked pid",
                      "sync: <- READY", "created; the init"):
            assert phase in text, (phase, text)
        for cmd, done in (("start", "started"), ("kill", "signal 9"),
                          ("delete", "deleted")):
            args = ("--debug", cmd, cid) + (("KILL",) if cmd == "kill" else ())
            p = tool(*args)
            assert p.returncode == 0, p.stderr
            assert f"{cmd} {cid}: {done}" in p.stderr, p.stderr
            if cmd == "kill":
                pid = int(p.stderr.split("pid ")[-1].split()[0])
                assert wait_pids_gone([pid]) == []


@pytest.mark.parametrize("runtime", ["ocirt", "runc"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_debug_with_log_goes_to_the_log_file_only(rt, runc, tmp_path, runtime, fmt):
    tool = rt if runtime == "ocirt" else runc
    log = tmp_path / "debug.log"
    cid = tool.new_id()
    p = tool("--debug", "--log", log, "--log-format", fmt, "create", "--bundle",
             rt.bundle(["sleep", "1000"]), cid)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lines = log.read_text().splitlines()
    assert len(lines) >= 5
    if fmt == "json":
        assert all(json.loads(line)["level"] == "debug" for line in lines)
    else:
        assert all("level=debug" in line for line in lines)
    # and a command with nothing to say still creates the file
    quiet = tmp_path / "quiet.log"
    assert tool("--log", quiet, "state", cid).returncode == 0
    assert quiet.read_text() == ""


def test_without_debug_nothing_is_said(rt):
    cid = rt.new_id()
    p = rt("create", "--bundle", rt.bundle(["sleep", "1000"]), cid)
    assert p.returncode == 0 and p.stderr == ""


@pytest.mark.parametrize("runtime", ["ocirt", "runc"])
def test_a_log_file_that_cannot_be_created_is_an_error(rt, runc, tmp_path, runtime):
    tool = rt if runtime == "ocirt" else runc
    p = tool("--log", tmp_path / "no-such-dir" / "x.log", "list")
    assert p.returncode == 1
    assert "no-such-dir/x.log" in p.stderr and p.stdout == ""
