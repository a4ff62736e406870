"""The two command-line parsers agree, and CLI errors are one clean line.

ocirt.cli.fast parses the hot commands (state, start, kill, delete) without
click; whatever it accepts, the click application (ocirt.cli.app) must
interpret the same way: same command, same arguments, same global flags.
Both are run here with the functions of ocirt.cli.commands replaced by
recorders, so nothing touches a real container.
"""
import contextlib
import inspect
import json

import pytest
from hypothesis import given, settings, strategies as st

import ocirt.cli
from ocirt.cli import app, commands, fast

HOT = ("state", "start", "kill", "delete", "pause", "resume")
ALL_COMMANDS = HOT + ("create", "run", "list_", "spec", "version", "ps", "exec_", "update")
ORIGINAL = {name: getattr(commands, name) for name in ALL_COMMANDS}
GLOBAL_FIELDS = ("root", "log", "log_format", "debug", "systemd_cgroup")


def _globals(g):
    return {f: getattr(g, f) for f in GLOBAL_FIELDS}


def normalise(name, args, kwargs):
    """The call's arguments by parameter name, defaults filled in (without g)."""
    sig = inspect.signature(ORIGINAL[name])
    bound = sig.bind(None, *args, **kwargs)
    bound.apply_defaults()
    out = dict(bound.arguments)
    out.pop("g")
    return out


@contextlib.contextmanager
def recorded_commands():
    """Replace every function in ocirt.cli.commands with a recorder."""
    calls = []

    def recorder(name):
        def record(*args, **kwargs):
            if name == "version":  # called by the group itself, without Globals
                calls.append((name, None, args, kwargs))
                return 0
            g, rest = args[0], args[1:]
            calls.append((name, _globals(g), rest, kwargs))
            return 0
        return record

    import ocirt
    from ocirt import log
    with pytest.MonkeyPatch.context() as mp:
        for name in ALL_COMMANDS:
            mp.setattr(commands, name, recorder(name))
        # --log FILE is opened at startup: not here, where FILE is any string
        mp.setattr(log, "configure", lambda *a, **k: None)
        mp.setattr(ocirt, "DEBUG", False)  # --debug sets it: restored after
        yield calls


def click_interpretation(argv):
    """What the click application does with argv: [(name, globals, normalised args)]."""
    with recorded_commands() as calls:
        code = app.main(list(argv))
    return code, [(name, g, normalise(name, args, kwargs) if g is not None else None)
                  for name, g, args, kwargs in calls]


def fast_interpretation(argv):
    parsed = fast.parse(list(argv))
    if parsed is None:
        return None
    g, func, args, kwargs = parsed
    assert isinstance(g, commands.Globals)
    name = func.__name__
    assert ORIGINAL[name] is func, f"fast.parse returned {func!r}, not commands.{name}"
    return name, _globals(g), normalise(name, list(args), dict(kwargs))


def assert_parsers_agree(argv):
    expected = fast_interpretation(argv)
    assert expected is not None, f"fast.parse refused {argv}"
    code, calls = click_interpretation(argv)
    assert calls == [expected], f"argv {argv}: fast.parse -> {expected}, click -> {calls}"
    assert code == 0


# ------------------------------------------------------------- strategies

SAFE_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
SAFE = SAFE_FIRST + "_.+-"
ids = st.builds(lambda a, b: a + b, st.sampled_from(SAFE_FIRST),
                st.text(SAFE, max_size=20))
paths = st.one_of(st.sampled_from(["/run/ocirt", "/tmp/x y", "rel", "", "=", "a=b", "-x",
                                   "--debug", "state", "/r/kill"]),
                  st.text(SAFE + "/ ", max_size=15))
signals = st.sampled_from(["KILL", "SIGKILL", "9", "TERM", "SIGTERM", "15", "HUP", "SIGUSR1",
                           "0", "RTMIN+1", "bogus", "-", ""])


@st.composite
def global_flag(draw):
    kind = draw(st.sampled_from(["root", "log", "log_format", "debug", "systemd_cgroup"]))
    if kind == "debug":
        return ["--debug"]
    if kind == "systemd_cgroup":
        return ["--systemd-cgroup"]
    flag = "--" + kind.replace("_", "-")
    value = draw(st.sampled_from(["json", "text"]) if kind == "log_format" else paths)
    if draw(st.booleans()):
        return [f"{flag}={value}"]
    return [flag, value]


@st.composite
def hot_argv(draw):
    argv = []
    for item in draw(st.lists(global_flag(), max_size=6)):
        argv += item
    cmd = draw(st.sampled_from(HOT))
    positional = [draw(ids)]
    flags = []
    if cmd == "kill":
        if draw(st.booleans()):
            positional.append(draw(signals.filter(lambda s: not s.startswith("-") or s == "-")))
        flags = draw(st.lists(st.sampled_from(["--all", "-a"]), max_size=2))
    elif cmd == "delete":
        flags = draw(st.lists(st.sampled_from(["--force", "-f"]), max_size=2))
    rest = list(positional)
    for flag in flags:  # each flag before, between or after the positionals
        rest.insert(draw(st.integers(0, len(rest))), flag)
    return argv + [cmd] + rest


@st.composite
def create_argv(draw):
    """create or run with their flags, in any order, in both value forms."""
    argv = []
    for item in draw(st.lists(global_flag(), max_size=3)):
        argv += item
    cmd = draw(st.sampled_from(["create", "run"]))
    bools = ["--no-pivot", "--no-new-keyring"]
    if cmd == "run":
        bools += ["--detach", "-d", "--keep"]
    values = ["--bundle", "-b", "--pid-file", "--console-socket", "--preserve-fds"]
    items = [[draw(ids)]]
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            item = [draw(st.sampled_from(bools))]
        else:
            flag = draw(st.sampled_from(values))
            value = (str(draw(st.integers(0, 5))) if flag == "--preserve-fds"
                     else draw(paths.filter(lambda p: not p.startswith("-"))))
            item = [f"{flag}={value}"] if flag.startswith("--") and draw(st.booleans()) \
                else [flag, value]
        items.insert(draw(st.integers(0, len(items))), item)
    return argv + [cmd] + [word for item in items for word in item]


# ------------------------------------------------------------------ tests

@settings(max_examples=300, deadline=None)
@given(hot_argv())
def test_fast_and_click_agree_on_hot_commands(argv):
    assert_parsers_agree(argv)


ODD_WORDS = ["--root", "--root=/r", "--root=", "--log", "--log=/l", "--log-format",
             "--log-format=json", "json", "text", "xml", "--debug", "--systemd-cgroup", "/r",
             "-x", "-", "--", "", "state", "start", "kill", "delete", "list", "spec", "run",
             "-h", "--help", "--debug=1", "-v", "c1", "KILL", "9", "-9", "--all", "-a",
             "--force", "-f", "-af", "--all=1", "--bundle", "-b"]


@settings(max_examples=400, deadline=None)
@given(hot_argv(), st.lists(st.tuples(st.integers(0, 30), st.sampled_from(ODD_WORDS)),
                            min_size=1, max_size=2))
def test_whatever_fast_accepts_click_reads_the_same(argv, insertions):
    """Near-valid command lines: a valid one with odd words inserted anywhere."""
    argv = list(argv)
    for pos, word in insertions:
        argv.insert(pos % (len(argv) + 1), word)
    if fast.parse(list(argv)) is not None:
        assert_parsers_agree(argv)


@pytest.mark.parametrize("argv", [
    ["state", "c1"],
    ["start", "c1"],
    ["kill", "c1"],
    ["kill", "c1", "KILL"],
    ["kill", "--all", "c1", "9"],
    ["kill", "c1", "-a"],
    ["kill", "-a", "c1", "SIGUSR1", "--all"],
    ["delete", "c1"],
    ["delete", "--force", "c1"],
    ["delete", "c1", "-f"],
    ["--root", "/r", "--log", "/l", "--log-format", "json", "--debug", "--systemd-cgroup",
     "state", "c1"],
    ["--root=/r", "--log=/l", "--log-format=text", "kill", "c1", "TERM"],
    ["--debug", "--debug", "--root", "a", "--root", "b", "delete", "x.y_z+1-2"],
    ["--root", "-x", "state", "c1"],
    ["--root", "state", "start", "c1"],
    ["state", "-"],
])
def test_parsers_agree_on_engine_forms(argv):
    assert_parsers_agree(argv)


def test_kill_defaults():
    g, func, args, kwargs = fast.parse(["kill", "c1"])
    assert func is ORIGINAL["kill"]
    assert normalise("kill", args, kwargs) == {"cid": "c1", "sig": "SIGTERM",
                                               "all_processes": False}
    assert normalise("delete", *fast.parse(["delete", "c1"])[2:]) == {"cid": "c1",
                                                                       "force": False}
    assert _globals(g) == {"root": "/run/ocirt", "log": None, "log_format": "text",
                           "debug": False, "systemd_cgroup": False}


@pytest.mark.parametrize("argv", [
    [],
    ["--help"],
    ["-h"],
    ["state", "--help"],
    ["kill", "-h", "c1"],
    ["--version"],
    ["-v"],
    ["--bogus", "state", "c1"],
    ["state", "--bogus", "c1"],
    ["state", "-x", "c1"],
    ["state"],
    ["start"],
    ["kill"],
    ["delete"],
    ["delete", "-f"],
    ["kill", "--all"],
    ["state", "c1", "c2"],
    ["start", "c1", "c2"],
    ["kill", "c1", "KILL", "extra"],
    ["delete", "c1", "c2"],
    ["frob", "c1"],
    ["spec"],
    ["State", "c1"],
    ["--log-format", "xml", "state", "c1"],
    ["--log-format=xml", "state", "c1"],
    ["--log-format"],
    ["--root"],
    ["--root", "/r"],
    ["--debug"],
    ["--debug=1", "state", "c1"],
    ["--root", "/r", "state", "--debug", "c1"],
    ["state", "--", "c1"],
    ["kill", "c1", "-9"],
    ["kill", "-af", "c1"],
    ["kill", "--all=1", "c1"],
    ["kill", "--signal", "KILL", "c1"],
    ["delete", "--force=true", "c1"],
    ["delete", "-a", "c1"],
    ["kill", "-f", "c1"],
    ["start", "-f", "c1"],
    ["-", "state", "c1"],
    ["", "state", "c1"],
])
def test_fast_parse_refuses(argv):
    assert fast.parse(argv) is None


# ---------------------------------------------------------- error output

def _run_main(argv):
    from ocirt import log
    log.configure()  # not a --log file some earlier in-process run configured
    with pytest.raises(SystemExit) as exc:
        ocirt.cli.main(argv)
    return exc.value.code


def _one_line(text):
    assert "Traceback" not in text, text
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    return text[:-1]


@pytest.mark.parametrize("tail", [
    ["state", "missing"],
    ["start", "missing"],
    ["kill", "missing"],
    ["kill", "missing", "KILL"],
    ["delete", "missing"],
    ["state", "../bad"],
    ["kill", "missing", "NOSUCHSIGNAL"],
    # not for the fast parser: click's path must report the same way
    ["state", "--", "missing"],
    ["kill", "-a", "--", "missing"],
])
def test_missing_container_is_one_line_and_status_1(tmp_path, capsys, tail):
    code = _run_main(["--root", str(tmp_path)] + tail)
    assert code == 1
    out, err = capsys.readouterr()
    assert out == ""
    line = _one_line(err)
    assert line.strip()
    if "missing" in tail and "NOSUCHSIGNAL" not in tail:
        assert "missing" in line


@pytest.mark.parametrize("tail", [["state", "missing"], ["state", "--", "missing"]])
def test_json_log_file_gets_one_line(tmp_path, capsys, tail):
    log = tmp_path / "log.json"
    root = tmp_path / "root"
    code = _run_main(["--root", str(root), "--log", str(log), "--log-format", "json"] + tail)
    assert code == 1
    err_line = _one_line(capsys.readouterr().err)
    text = log.read_text()
    entry = json.loads(_one_line(text))
    assert set(entry) == {"level", "msg", "time"}
    assert entry["level"] == "error"
    assert entry["msg"] == err_line
    assert "missing" in entry["msg"]
    assert isinstance(entry["time"], str) and entry["time"].endswith("Z")


def test_text_log_file_gets_one_line(tmp_path, capsys):
    log = tmp_path / "log.txt"
    code = _run_main(["--root", str(tmp_path), "--log=" + str(log), "start", "missing"])
    assert code == 1
    _one_line(capsys.readouterr().err)
    line = _one_line(log.read_text())
    assert "level=error" in line and "missing" in line


def test_click_usage_error_is_one_line(tmp_path, capsys):
    code = _run_main(["--root", str(tmp_path), "state"])
    assert code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "ID" in _one_line(err)


def test_delete_force_of_missing_container_succeeds(tmp_path, capsys):
    # runc: delete --force of a container that does not exist is not an error.
    assert _run_main(["--root", str(tmp_path), "delete", "--force", "missing"]) == 0
    assert capsys.readouterr() == ("", "")


@settings(max_examples=200, deadline=None)
@given(create_argv())
def test_fast_and_click_agree_on_create_and_run(argv):
    assert_parsers_agree(argv)


# ---- exec, ps, list, update: the forms engines use ------------------------------

@pytest.mark.parametrize("argv", [
    ["exec", "--process", "/b/p.json", "--detach", "--pid-file", "/b/pid", "c1"],
    ["--root", "/r", "--log", "/b/log.json", "--log-format", "json", "exec", "--process",
     "/b/p.json", "--detach", "--pid-file", "/b/pid", "--console-socket", "/s", "c1"],
    ["exec", "--tty", "--console-socket=/s", "-p", "/p", "-d", "c1"],
    ["exec", "c1", "sh", "-c", "echo hi"],
    ["exec", "-e", "A=1", "--env", "B=2", "-u", "1000:1000", "-g", "5", "--cap", "CAP_KILL",
     "--cwd", "/tmp", "--no-new-privs", "--preserve-fds", "2", "c1", "ls", "-l", "--", "x"],
    ["exec", "--ignore-paused", "--cgroup", "sub", "--apparmor", "p", "--process-label", "l",
     "c1", "true"],
    ["exec", "c1", "--detach"],  # after the id: the command's own words
    ["ps", "--format", "json", "c1"],
    ["ps", "-f", "table", "c1"],
    ["ps", "c1"],
    ["list"],
    ["list", "--format", "json"],
    ["list", "-q", "-f", "table"],
    ["--root", "/r", "update", "--resources", "-", "c1"],
    ["update", "-r", "/b/res.json", "c1"],
])
def test_parsers_agree_on_more_engine_forms(argv):
    assert_parsers_agree(argv)


@pytest.mark.parametrize("argv", [
    ["exec", "--", "c1", "true"], ["exec", "--bogus", "c1"], ["exec", "-dt", "c1", "x"],
    ["exec", "--preserve-fds", "x", "c1"], ["exec"], ["exec", "-p"],
    ["ps", "--format", "yaml", "c1"], ["ps", "c1", "-ef"], ["list", "c1"],
    ["update", "--memory", "1m", "c1"],
])
def test_fast_parse_refuses_other_forms(argv):
    assert fast.parse(argv) is None


EXEC_BOOLS = ["--detach", "-d", "--tty", "-t", "--no-new-privs", "--ignore-paused"]
EXEC_VALUES = ["--process", "-p", "--pid-file", "--console-socket", "--cwd", "--user", "-u",
               "--apparmor", "--process-label", "--cgroup", "--preserve-fds", "--env", "-e",
               "--additional-gids", "-g", "--cap", "-c"]


@st.composite
def exec_argv(draw):
    argv = []
    for item in draw(st.lists(global_flag(), max_size=3)):
        argv += item
    opts = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            opts.append(draw(st.sampled_from(EXEC_BOOLS)))
        else:
            flag = draw(st.sampled_from(EXEC_VALUES))
            value = (str(draw(st.integers(0, 5))) if flag == "--preserve-fds"
                     else draw(paths.filter(lambda p: not p.startswith("-"))))
            opts += [f"{flag}={value}"] if flag.startswith("--") and draw(st.booleans()) \
                else [flag, value]
    command = draw(st.lists(st.sampled_from(["sh", "-c", "echo", "--", "-d", "x y", "--env"]),
                            max_size=4))
    return argv + ["exec"] + opts + [draw(ids)] + command


@settings(max_examples=300, deadline=None)
@given(exec_argv())
def test_fast_and_click_agree_on_exec(argv):
    assert_parsers_agree(argv)


# ------------------------------------------------- bounds on flags and ids

def _nofile_soft():
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-10**30, max_value=10**30))
def test_preserve_fds_is_bounded_by_the_open_file_limit(n):
    limit = _nofile_soft() - 3
    if 0 <= n <= limit:
        # within the bound: accepted, or refused for an fd the caller (pytest,
        # here) did not pass
        try:
            assert commands.check_preserve_fds(n) == n
        except Exception as e:
            assert "was not passed by the caller" in str(e), e
    else:
        from ocirt.errors import UsageError
        with pytest.raises(UsageError) as exc:
            commands.check_preserve_fds(n)
        assert str(exc.value).startswith(f"--preserve-fds {n}: ")


@pytest.mark.parametrize("command", ["create", "run", "exec"])
def test_huge_preserve_fds_is_one_line_before_anything_happens(tmp_path, capsys, command):
    tail = ["exec", "--preserve-fds", "99999999999", "x", "true"] if command == "exec" else \
        [command, "--preserve-fds", "99999999999", "--bundle", str(tmp_path), "x"]
    # exec's own errors exit 255, as runc's
    assert _run_main(["--root", str(tmp_path / "root")] + tail) == \
        (255 if command == "exec" else 1)
    assert "--preserve-fds 99999999999" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "root").exists()


@given(st.text(max_size=12))
def test_exec_ids_are_plain_numbers_in_range(text):
    from ocirt.container import exec as tenant
    from ocirt.errors import UsageError
    ok = text.isascii() and text.isdigit() and int(text) <= 2**31 - 1
    if ok:
        assert tenant.parse_id("--user", text) == int(text)
    else:
        with pytest.raises(UsageError) as exc:
            tenant.parse_id("--user", text)
        assert "\n" not in str(exc.value) and str(exc.value).startswith("--user ")


@pytest.mark.parametrize("user,expected", [
    ("1000", {"uid": 1000, "gid": 0}), ("1000:1001", {"uid": 1000, "gid": 1001}),
    ("2147483647:0", {"uid": 2**31 - 1, "gid": 0})])
def test_exec_user_flag(user, expected):
    from ocirt.container import exec as tenant
    proc = tenant.process_from_flags({"user": {"uid": 0, "gid": 0}}, ["id"], user=user)
    assert proc["user"] == expected


@pytest.mark.parametrize("user", ["4294967295", "-1", "1000:4294967295", "1000:", "+5",
                                  " 5", "1_000", "٣", "root", ""])
def test_exec_user_flag_refuses(user):
    from ocirt.container import exec as tenant
    from ocirt.errors import UsageError
    with pytest.raises(UsageError, match="--user"):
        tenant.process_from_flags({}, ["id"], user=user)


def test_exec_cap_goes_to_bounding_effective_and_permitted_only():
    """CVE-2022-29162: not to inheritable (nor ambient, which needs it)."""
    from ocirt.container import exec as tenant
    base = {"capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                             "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"],
                             "ambient": ["CAP_KILL"]}}
    caps = tenant.process_from_flags(base, ["x"], caps=["CAP_NET_RAW", "CAP_KILL"])
    caps = caps["capabilities"]
    for key in ("bounding", "effective", "permitted"):
        assert caps[key] == ["CAP_KILL", "CAP_NET_RAW"], key
    for key in ("inheritable", "ambient"):
        assert caps[key] == ["CAP_KILL"], key
    bare = tenant.process_from_flags({}, ["x"], caps=["CAP_NET_RAW"])["capabilities"]
    assert set(bare) == {"bounding", "effective", "permitted"}


def test_spec_does_not_write_through_a_symlink(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "config.json").symlink_to(victim)
    assert _run_main(["spec", "--bundle", str(tmp_path)]) == 1
    assert "exists" in _one_line(capsys.readouterr().err)
    assert victim.read_text() == "precious"
    (tmp_path / "config.json").unlink()
    (tmp_path / "config.json").symlink_to(tmp_path / "dangling")
    assert _run_main(["spec", "--bundle", str(tmp_path)]) == 1
    assert not (tmp_path / "dangling").exists()


@pytest.mark.parametrize("euid,host,xdg,user,expected", [
    (0, True, None, None, "/run/ocirt"),
    (0, True, b"/run/user/0", None, "/run/ocirt"),  # root's login: its XDG is not used
    (0, False, b"/home/u/run", None, "/home/u/run/ocirt"),  # rootless podman's runtime
    (0, False, b"/home/u/run", b"root", "/run/ocirt"),  # root's shell in a namespace
    (0, False, None, None, "/run/ocirt"),
    (1000, False, b"/run/user/1000/", b"u", "/run/user/1000/ocirt"),
])
def test_default_root(monkeypatch, euid, host, xdg, user, expected):
    """Without --root: /run/ocirt for root of the host, $XDG_RUNTIME_DIR/ocirt
    for a user, and for root of a user's namespace that has one (as runc)."""
    import posix
    from ocirt.linux import proc
    monkeypatch.setattr(commands.posixos, "geteuid", lambda: euid)
    monkeypatch.setattr(proc, "host_root", lambda: host)
    for name, value in ((b"XDG_RUNTIME_DIR", xdg), (b"USER", user)):
        if value is None:
            monkeypatch.delitem(posix.environ, name, raising=False)
        else:
            monkeypatch.setitem(posix.environ, name, value)
    assert commands.default_root() == expected


def test_host_root_is_false_for_root_of_a_user_namespace():
    """proc.host_root(): root of the host only, not root of a namespace that
    maps it (unshare --map-root-user, as rootless podman's)."""
    import os
    import shutil
    import subprocess
    import sys
    from ocirt.linux import proc
    assert proc.host_root() == (os.geteuid() == 0)
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    p = subprocess.run(["unshare", "--user", "--map-root-user", sys.executable, "-S", "-c",
                        "import os; from ocirt.linux.proc import host_root; "
                        "print(os.geteuid(), host_root())"],
                       capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(
                           os.path.dirname(os.path.abspath(__file__))))))
    if p.returncode != 0 and "unshare failed" in p.stderr:
        pytest.skip(f"no user namespace here: {p.stderr.strip()}")
    assert p.stdout.split() == ["0", "False"], p.stdout + p.stderr
