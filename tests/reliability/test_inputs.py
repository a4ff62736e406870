"""Inputs that are too big, never end, or are not what they claim, and
records that are broken or half written: every one is one clear line on
stderr, a non-zero exit, and nothing left behind; `list` lists what it can."""
import json
import os
import signal
import subprocess
import tempfile

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from tests.integration.conftest import read_fifo

MAX_CONFIG = 16 << 20  # README: the largest config.json (and --process, -r) read


from tests.reliability.conftest import one_line_error  # noqa: E402


def bundle_with(rt, make_config):
    """A bundle whose config.json make_config(path) makes."""
    b = rt.tmp / f"odd{len(os.listdir(rt.tmp))}"
    b.mkdir()
    make_config(str(b / "config.json"))
    return b


# --------------------------------------------------------------- config.json

@pytest.mark.parametrize("make,needle", [
    (lambda p: os.symlink("/dev/zero", p), "not a regular file"),
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: os.mkdir(p), "not a regular file"),
    (lambda p: open(p, "wb").truncate(MAX_CONFIG + 1), f"larger than {MAX_CONFIG} bytes"),
])
@pytest.mark.parametrize("command", ["create", "run"])
def test_config_json_that_never_ends_or_is_no_file(rt, make, needle, command):
    b = bundle_with(rt, make)
    p = rt(command, "--bundle", b, rt.new_id(), timeout=30)
    one_line_error(p, "config.json", needle)
    rt.assert_nothing_left()


def test_a_large_config_within_the_limit_is_read(rt):
    """Big annotations (a few MiB) are fine."""
    cid = rt.new_id()
    b = rt.bundle(("true",), edit=lambda c: c.update(annotations={"big": "x" * (4 << 20)}))
    p = rt("run", "--bundle", b, cid)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("source", ["/dev/zero", "fifo", "big"])
def test_exec_process_file_is_bounded(rt, tmp_path, source):
    cid = rt.running()
    path = {"/dev/zero": "/dev/zero", "fifo": str(tmp_path / "fifo"),
            "big": str(tmp_path / "big.json")}[source]
    if source == "fifo":
        os.mkfifo(path)
    elif source == "big":
        open(path, "wb").truncate(MAX_CONFIG + 1)
    one_line_error(rt("exec", "--process", path, cid, timeout=30), "--process", path)


def test_update_resources_file_and_stdin_are_bounded(rt):
    cid = rt.running()
    one_line_error(rt("update", "-r", "/dev/zero", cid, timeout=30), "--resources",
                   "not a regular file")
    with open("/dev/zero", "rb") as zero:
        one_line_error(rt("update", "-r", "-", cid, stdin=zero, timeout=30), "--resources",
                       f"larger than {MAX_CONFIG}")


# ------------------------------------------------------------- --preserve-fds

def nofile_soft():
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@pytest.mark.parametrize("command", ["create", "run", "exec"])
def test_preserve_fds_beyond_the_open_file_limit(rt, command):
    """start spun for ever setting 99999999999 fds inheritable."""
    n = 99999999999
    if command == "exec":
        p = rt("exec", "--preserve-fds", n, rt.running(), "true", timeout=30)
    else:
        p = rt(command, "--preserve-fds", n, "--bundle", rt.bundle(), rt.new_id(), timeout=30)
    one_line_error(p, "--preserve-fds", str(n))
    if command != "exec":
        rt.assert_nothing_left()


def _not_an_int(s):
    try:
        int(s)
    except ValueError:
        return True
    return False


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.integers(max_value=-1).map(str),
                 st.integers(min_value=nofile_soft() - 2, max_value=10**30).map(str),
                 st.text(min_size=1, max_size=12).filter(_not_an_int)))
@example("-1")
@example(str(nofile_soft() - 2))
@example("99999999999")
def test_bad_preserve_fds_values_are_one_line(rt, value):
    if "\0" in value:
        return  # no argv can hold it
    p = rt("create", f"--preserve-fds={value}", "--bundle", rt.bundle(), rt.new_id(),
           timeout=30)
    one_line_error(p, "preserve-fds")
    rt.assert_nothing_left()


def test_preserve_fds_within_the_limit_still_works(rt):
    r, w = os.pipe()
    try:
        cid = rt.new_id()
        b = rt.bundle(("sh", "-c", "echo through-fd-3 >&3"))
        # ocirt's fd 3 is the pipe's write end; the container writes to it
        p = subprocess.run([rt.bin, "--root", rt.root, "run", "--preserve-fds", "1",
                            "--bundle", b, cid], close_fds=False,
                           preexec_fn=lambda: os.dup2(w, 3), capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr
        os.close(w)
        w = -1
        assert os.read(r, 100) == b"through-fd-3\n"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


# --------------------------------------------------------------------- ids

@pytest.mark.parametrize("cid,needle", [
    ("x" * 256, "longer than 255"),
    ("x" * 1024, "longer than 255"),
    ("x" * 5000, "longer than 255"),
    ("..", "invalid container id"),
    ("a/../b", "invalid container id"),
    ("/etc", "invalid container id"),
    (os.fsdecode(b"bad\xff\xfeid"), "invalid container id"),  # not UTF-8: surrogates
    ("caf\u00e9", "invalid container id"),
])
@pytest.mark.parametrize("command", ["create", "run"])
def test_bad_ids_are_one_line(rt, cid, needle, command):
    p = rt(command, "--bundle", rt.bundle(), cid)
    line = one_line_error(p, needle)
    assert len(line) < 300
    rt.assert_nothing_left()


def test_an_id_of_255_characters_works(rt):
    cid = "y" * 255
    rt.ids.append(cid)
    rt("create", "--bundle", rt.bundle(("sleep", "1000")), cid, check=True)
    assert rt.state(cid)["status"] == "created"
    rt("start", cid, check=True)
    assert rt.state(cid)["status"] == "running"
    rt("delete", "--force", cid, check=True)
    rt.assert_nothing_left()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.text(max_size=300),
    st.sampled_from(["", ".", "..", "../x", "a/b", "x" * 1024]),
    st.binary(min_size=1, max_size=20).map(os.fsdecode)))
@example("x" * 256)  # over NAME_MAX: was an internal error (File name too long)
@example("x" * 1024)
def test_any_id_is_one_line_for_the_hot_commands(rt, cid):
    if "\0" in cid or cid.startswith("-"):
        return  # no argv holds a NUL; a leading dash is a flag
    for args in (["state", cid], ["kill", cid, "KILL"], ["delete", cid], ["start", cid]):
        p = rt(*args)
        one_line_error(p)
    assert not os.path.isdir(rt.root) or os.listdir(rt.root) == []


# ------------------------------------------------- broken and partial records

def test_one_corrupt_state_json_does_not_hide_the_others(rt):
    good = rt.created()
    bad = rt.created()
    with open(os.path.join(rt.root, bad, "state.json"), "w") as f:
        f.write("{not json at all")
    for fmt in ("table", "json"):
        p = rt("list", "--format", fmt)
        assert p.returncode == 0, p.stderr
        assert good in p.stdout and bad not in p.stdout, p.stdout
        assert len(p.stderr.splitlines()) == 1 and bad in p.stderr and \
            "state.json" in p.stderr, p.stderr
    one_line_error(rt("state", bad), bad, "state.json")
    one_line_error(rt("delete", bad), bad, "delete --force")
    assert rt.state(good)["status"] == "created"
    p = rt("delete", "--force", bad)  # its init (in its cgroup) goes too
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(rt.root, bad))


def test_state_json_that_parses_badly_in_the_middle(rt):
    """Starts and ends as ocirt writes it, invalid inside: list warns."""
    good = rt.created()
    bad = rt.created()
    path = os.path.join(rt.root, bad, "state.json")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text[:-1] + ', "x": }')
    p = rt("list", "--format", "json")
    assert p.returncode == 0, p.stderr
    assert [s["id"] for s in json.loads(p.stdout)] == [good]
    assert bad in p.stderr


def test_corrupt_init_record(rt):
    cid = rt.created()
    with open(os.path.join(rt.root, cid, "init"), "w") as f:
        f.write("pid banana\n")
    one_line_error(rt("state", cid), cid, "init")
    p = rt("list")
    assert p.returncode == 0 and cid not in p.stdout and cid in p.stderr


@pytest.fixture
def blocked_create(rt, tmp_path):
    """An `ocirt create` that stands in its createRuntime hook until released:
    the state directory exists, without a record yet."""
    gate = tmp_path / "gate"
    entered = tmp_path / "entered"
    os.mkfifo(gate)
    os.mkfifo(entered)
    cid = rt.new_id()

    def hook(cfg):
        cfg.setdefault("hooks", {})["createRuntime"] = [{
            "path": "/bin/sh",
            "args": ["sh", "-c", f"echo in > {entered}; read x < {gate}"]}]
    b = rt.bundle(("sleep", "1000"), edit=hook)
    out = tempfile.TemporaryFile()
    proc = subprocess.Popen([rt.bin, "--root", rt.root, "create", "--bundle", b, cid],
                            stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    assert read_fifo(entered) == "in\n"

    def release():
        fd = os.open(gate, os.O_WRONLY)
        os.write(fd, b"go\n")
        os.close(fd)
    yield cid, proc, release
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    out.close()


def test_list_and_state_while_a_container_is_being_created(rt, blocked_create):
    cid, proc, release = blocked_create
    for fmt in ("table", "json"):
        p = rt("list", "--format", fmt)
        assert p.returncode == 0 and "internal error" not in p.stderr, p.stderr
        assert cid in p.stdout and "creating" in p.stdout, p.stdout
    assert rt.state(cid)["status"] == "creating"
    release()
    assert proc.wait(60) == 0
    assert rt.state(cid)["status"] == "created"


def test_a_create_killed_halfway_reads_as_stopped_and_delete_cleans_it(rt, blocked_create):
    cid, proc, release = blocked_create
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    release()  # the orphaned hook
    st = rt.state(cid)
    assert (st["status"], st["pid"]) == ("stopped", 0)
    p = rt("list")
    assert p.returncode == 0 and cid in p.stdout and "stopped" in p.stdout, p.stdout
    p = rt("delete", cid)
    assert p.returncode == 0, p.stderr
    rt.assert_nothing_left()  # the state dir, and the cgroup create had made


# ------------------------------------------------------ relative bind sources

def test_a_relative_bind_source_is_relative_to_the_bundle(rt, tmp_path):
    """config.md: "Path values for bind mounts are either absolute or relative
    to the bundle." ocirt is run from another directory."""
    def edit(cfg):
        cfg["mounts"].append({"destination": "/data", "type": "bind", "source": "data",
                              "options": ["rbind", "ro"]})
        cfg["mounts"].append({"destination": "/one", "source": "./data/file",
                              "options": ["bind", "ro"]})
    b = rt.bundle(("sh", "-c", "cat /data/file /one"), edit=edit)
    os.mkdir(os.path.join(b, "data"))
    with open(os.path.join(b, "data", "file"), "w") as f:
        f.write("from the bundle\n")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "data").mkdir(parents=True)
    (elsewhere / "data" / "file").write_text("from the caller's cwd\n")
    cid = rt.new_id()
    p = subprocess.run([rt.bin, "--root", rt.root, "run", "--bundle", b, cid],
                       cwd=elsewhere, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "from the bundle\nfrom the bundle\n"
