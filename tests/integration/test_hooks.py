"""OCI hooks: order, namespaces, state on stdin, and failures."""
import json
import os

from tests.integration.conftest import read_fifo, shared_dir


def hook(script, *, timeout=None, env=None):
    h = {"path": "/bin/sh", "args": ["sh", "-c", script]}
    if timeout:
        h["timeout"] = timeout
    if env:
        h["env"] = env
    return h


def log_hook(name, log):
    # records its point, the hostname it sees (host or container UTS namespace)
    # and the state it got on stdin
    return hook(f"read -r s; echo \"{name} $(hostname) $s\" >> {log}")


def test_every_hook_runs_in_order_with_state(rt, tmp_path):
    log = tmp_path / "hooks.log"
    shared, share = shared_dir(tmp_path, "/shared")
    in_container_log = "/shared/log"

    def edit(cfg):
        share(cfg)
        cfg["hostname"] = "hooked"
        cfg["hooks"] = {
            "prestart": [log_hook("prestart", log)],
            "createRuntime": [log_hook("createRuntime", log)],
            "createContainer": [log_hook("createContainer", log)],
            # startContainer's path resolves inside the container
            "startContainer": [log_hook("startContainer", in_container_log)],
            "poststart": [log_hook("poststart", log)],
            "poststop": [log_hook("poststop", log)],
        }
    cid = rt.created(["sh", "-c", "echo done > /shared/fifo"], edit)
    names = [line.split()[0] for line in log.read_text().splitlines()]
    assert names == ["prestart", "createRuntime", "createContainer"]
    rt("start", cid, check=True)
    assert read_fifo(shared / "fifo") == "done\n"
    rt("delete", cid, check=True)
    lines = log.read_text().splitlines()
    assert [line.split()[0] for line in lines] == [
        "prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    host = os.uname().nodename
    seen = {line.split()[0]: line.split(None, 2) for line in lines}
    assert seen["createRuntime"][1] == host        # runtime namespace
    assert seen["createContainer"][1] == "hooked"  # container namespace
    state = json.loads(seen["createRuntime"][2])
    assert state["id"] == cid and state["status"] == "creating" and state["pid"] > 0
    assert json.loads(seen["poststart"][2])["status"] == "running"
    assert json.loads(seen["poststop"][2])["status"] == "stopped"
    start_line = (shared / "log").read_text().split(None, 2)
    assert start_line[:2] == ["startContainer", "hooked"]


def test_failing_create_runtime_hook_fails_create_and_cleans_up(rt):
    def edit(cfg):
        cfg["hooks"] = {"createRuntime": [hook("exit 3")]}
    p = rt("create", "--bundle", rt.bundle(["true"], edit), rt.new_id())
    assert p.returncode == 1
    assert "$.hooks.createRuntime[0]" in p.stderr and "exit status 3" in p.stderr
    assert len(p.stderr.splitlines()) == 1
    rt.assert_nothing_left()


def test_failing_create_container_hook(rt):
    def edit(cfg):
        cfg["hooks"] = {"createContainer": [hook("kill -9 $$")]}
    p = rt("create", "--bundle", rt.bundle(["true"], edit), rt.new_id())
    assert p.returncode == 1 and "killed by signal 9" in p.stderr
    rt.assert_nothing_left()


def test_hook_timeout(rt):
    def edit(cfg):
        cfg["hooks"] = {"prestart": [hook("exec sleep 100", timeout=1)]}
    p = rt("create", "--bundle", rt.bundle(["true"], edit), rt.new_id())
    assert p.returncode == 1 and "timed out" in p.stderr
    rt.assert_nothing_left()


def test_hook_env_and_args(rt, tmp_path):
    out = tmp_path / "out"

    def edit(cfg):
        cfg["hooks"] = {"createRuntime": [
            {"path": "/bin/sh", "args": ["sh", "-c", f"echo $FOO $0 > {out}", "arg0"],
             "env": ["FOO=bar"]}]}
    rt.created(["true"], edit)
    assert out.read_text() == "bar arg0\n"


def test_failing_poststart_is_an_error_and_stops_the_container(rt, tmp_path):
    log = tmp_path / "poststop.log"

    def edit(cfg):
        cfg["hooks"] = {"poststart": [hook("echo broken >&2; exit 1")],
                        "poststop": [log_hook("poststop", log)]}
    cid = rt.created(["sleep", "1000"], edit)
    pid = rt.state(cid)["pid"]
    p = rt("start", cid)
    assert p.returncode == 1 and "poststart" in p.stderr and "broken" in p.stderr
    assert len(p.stderr.splitlines()) == 1
    assert rt.state(cid)["status"] == "stopped"  # stopped, not gone (issue 13, 2.3)
    assert not os.path.exists(f"/proc/{pid}/cmdline") or \
        open(f"/proc/{pid}/cmdline").read() == ""
    assert not log.exists()
    assert rt("delete", cid).returncode == 0
    assert log.read_text().startswith("poststop")  # poststop hooks ran at delete
    rt.assert_nothing_left()


def test_failing_poststop_is_a_warning_and_the_others_still_run(rt, tmp_path):
    log = tmp_path / "after.log"

    def edit(cfg):
        cfg["hooks"] = {"poststop": [hook("exit 1"), log_hook("second", log)]}
    cid = rt.created(["true"], edit)
    p = rt("delete", cid)
    assert p.returncode == 0
    assert "poststop" in p.stderr
    assert log.read_text().startswith("second")
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_failing_start_container_hook_fails_start(rt):
    def edit(cfg):
        cfg["hooks"] = {"startContainer": [hook("exit 4")]}
    cid = rt.created(["sleep", "1000"], edit)
    p = rt("start", cid)
    assert p.returncode == 1 and "startContainer" in p.stderr and "exit status 4" in p.stderr
    assert rt.state(cid)["status"] == "stopped"
    assert rt("delete", cid).returncode == 0
    rt.assert_nothing_left()


def test_hook_output_stays_out_of_the_container_stdio(rt, tmp_path):
    def edit(cfg):
        cfg["hooks"] = {"createRuntime": [hook("echo from-hook; echo err-hook >&2")],
                        "createContainer": [hook("echo from-container-hook")]}
    p = rt.run(["echo", "from-container"], edit)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "from-container\n" and "hook" not in p.stderr


def test_successful_hook_output_goes_to_the_log(rt, tmp_path):
    import json as _json
    log = tmp_path / "log.json"

    def edit(cfg):
        cfg["hooks"] = {"createRuntime": [hook("echo hello-from-hook")]}
    p = rt("--log", log, "--log-format", "json", "create", "--bundle",
           rt.bundle(["true"], edit), rt.new_id())
    assert p.returncode == 0 and p.stderr == "" and p.stdout == ""
    entries = [_json.loads(x) for x in log.read_text().splitlines()]
    assert any(e["level"] == "info" and "hello-from-hook" in e["msg"] for e in entries)
