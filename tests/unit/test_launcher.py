"""The launcher's way out: ocirt.cli.launch() flushes and leaves with _exit.

Skipping the interpreter's teardown must not cost a byte of output or the
exit status, whichever parser (fast, click) handled the command."""
import json
import re
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from ocirt import state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCH = "from ocirt.cli import launch; launch()"


def launch(*argv, stdout=subprocess.PIPE):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", LAUNCH] + list(argv), cwd=ROOT, env=env,
                          stdout=stdout, stderr=subprocess.PIPE, timeout=60)


BIG = {f"k{i}": "v" * 100 for i in range(2000)}  # far more than a pipe's buffer


@pytest.fixture
def big_root(tmp_path):
    c = state.new(str(tmp_path), "c1")
    c.facts = {"pid": 0, "starttime": 0, "pidns": 1}
    c.save({"ociVersion": "1.3.0", "id": "c1", "bundle": "/b", "annotations": BIG})
    return str(tmp_path)


def test_output_is_complete_through_a_pipe(big_root):
    p = launch("--root", big_root, "state", "c1")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # all of it, or this fails
    assert doc["annotations"] == BIG and doc["status"] == "stopped"


def test_error_status_and_one_line(tmp_path):
    p = launch("--root", str(tmp_path), "state", "missing")
    assert p.returncode == 1
    assert p.stderr == b"container does not exist: missing\n"
    assert p.stdout == b""


def test_click_path_status():
    p = launch("--version")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(b"ocirt version ")
    p = launch("no-such-command")
    assert p.returncode != 0 and b"Traceback" not in p.stderr


@pytest.mark.parametrize("code,status,err", [("None", 0, b""), ("3", 3, b""),
                                              ('"bye"', 1, b"bye\n"), ("256 + 7", 7, b"")])
def test_system_exit_inside_a_command(code, status, err):
    """sys.exit() deep inside a command (click does it) keeps its meaning."""
    script = ("import ocirt.cli as c\n"
              f"c.dispatch = lambda argv: exec('import sys; sys.exit({code})')\n"
              "c.launch()\n")
    p = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                       timeout=60)
    assert p.returncode == status
    assert p.stderr == err


def test_closed_stdout_is_not_a_traceback(big_root):
    r, w = os.pipe()
    os.close(r)  # the reader is gone: writing gets EPIPE
    try:
        p = launch("--root", big_root, "state", "c1", stdout=w)
    finally:
        os.close(w)
    assert b"Traceback" not in p.stderr, p.stderr


# ------------------------------------------------------------ the image finder

class FakeImage:
    """An image as _ocirt_image presents it, of modules written to a directory."""

    def __init__(self, site, modules):
        self.site = site
        self.table = {}
        for name, (source, is_package) in modules.items():
            rel = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
            path = os.path.join(site, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("raise AssertionError('read from the file, not the image')\n")
            self.table[name] = (is_package, path, compile(source, path, "exec"))

    def find(self, name):
        e = self.table.get(name)
        return None if e is None else e[:2]

    def code(self, name):
        return self.table[name][2]


@pytest.fixture
def finder_on_path(tmp_path):
    from ocirt.boot import ImageFinder
    site = str(tmp_path)
    image = FakeImage(site, {"imgpkg": ("X = 1\n", True),
                             "imgpkg.sub": ("import imgpkg\nY = imgpkg.X + 1\n", False)})
    # a module of the package that is not in the image: found on disk
    with open(os.path.join(site, "imgpkg", "ondisk.py"), "w") as f:
        f.write("Z = 3\n")
    finder = ImageFinder(image)
    sys.meta_path.insert(0, finder)
    sys.path.insert(0, site)
    yield site
    sys.meta_path.remove(finder)
    sys.path.remove(site)
    for name in ("imgpkg", "imgpkg.sub", "imgpkg.ondisk"):
        sys.modules.pop(name, None)


def test_finder_serves_the_image_with_real_locations(finder_on_path):
    import imgpkg.sub
    site = finder_on_path
    assert imgpkg.sub.Y == 2
    assert imgpkg.__file__ == os.path.join(site, "imgpkg", "__init__.py")
    assert imgpkg.__path__ == [os.path.join(site, "imgpkg")]
    assert imgpkg.sub.__file__ == os.path.join(site, "imgpkg", "sub.py")
    import imgpkg.ondisk  # not in the image: from the package's real directory
    assert imgpkg.ondisk.Z == 3


def test_finder_ignores_other_modules(tmp_path):
    from ocirt.boot import ImageFinder
    finder = ImageFinder(FakeImage(str(tmp_path), {"imgpkg": ("", True)}))
    assert finder.find_spec("json") is None
    assert finder.find_spec("imgpkg.nothere") is None


def test_image_is_current_reads_the_stamp_file(tmp_path):
    import posix
    from ocirt.boot import image_is_current
    os.makedirs(tmp_path / "ocirt")

    class Image:
        site = str(tmp_path)
        stamp = "ab" * 32
    assert not image_is_current(Image, posix)  # no stamp file
    (tmp_path / "ocirt" / "image-stamp").write_text("ab" * 32 + "\n")
    assert image_is_current(Image, posix)
    (tmp_path / "ocirt" / "image-stamp").write_text("cd" * 32 + "\n")  # installed again
    assert not image_is_current(Image, posix)


def test_the_stamp_covers_every_module(tmp_path):
    """Not only ocirt/__init__.py: a change to any module changes the stamp."""
    from ocirt import launcher
    pkg = tmp_path / "ocirt"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("x = 1\n")
    (pkg / "cli" / "__init__.py").write_text("")
    (pkg / "cli" / "fast.py").write_text("y = 1\n")
    before = launcher.stamp(str(pkg), launcher.image_modules(str(pkg)))
    (pkg / "cli" / "fast.py").write_text("y = 2\n")
    after = launcher.stamp(str(pkg), launcher.image_modules(str(pkg)))
    assert before != after
    (pkg / "cli" / "flags.py").write_text("")  # a module added
    assert launcher.stamp(str(pkg), launcher.image_modules(str(pkg))) != after


def test_a_mismatched_python_h_stops_the_build(tmp_path, monkeypatch):
    import sysconfig
    from ocirt import launcher
    (tmp_path / "patchlevel.h").write_text("#define PY_MAJOR_VERSION 3\n"
                                          "#define PY_MINOR_VERSION 99\n")
    real = sysconfig.get_config_var
    monkeypatch.setattr(sysconfig, "get_config_var",
                        lambda name: str(tmp_path) if name == "INCLUDEPY" else real(name))
    with pytest.raises(launcher.BuildError, match=r"CPython mismatch: this interpreter is "
                       rf"{sys.version_info[0]}\.{sys.version_info[1]}, the Python.h in .* "
                       r"is 3\.99"):
        launcher.check_python_headers()


def test_frozen_encodings_get_their_directory(monkeypatch):
    import types
    from ocirt import boot
    enc = types.ModuleType("encodings")
    enc.__path__ = []
    monkeypatch.setitem(sys.modules, "encodings", enc)
    boot.place_encodings("/usr/lib/pythonX")
    assert enc.__path__ == ["/usr/lib/pythonX/encodings"]
    assert enc.__file__ == "/usr/lib/pythonX/encodings/__init__.py"


# ---------------------------------------------------------- the compiled launcher

@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """A launcher built from csrc/launcher.c for the installed package, the way
    scripts/setup.sh builds it."""
    dest = str(tmp_path_factory.mktemp("launcher") / "ocirt")
    p = subprocess.run([sys.executable, "-I", "-m", "ocirt.launcher", "--source",
                        os.path.join(ROOT, "csrc", "launcher.c"), dest],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr  # not the script fallback
    with open(dest, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    return dest


def test_compiled_launcher_uses_its_image(compiled):
    p = subprocess.run([compiled, "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "launcher: compiled, with its image of ocirt's modules" in p.stdout


def test_compiled_launcher_errors_and_output(compiled, big_root):
    p = subprocess.run([compiled, "--root", big_root, "state", "missing"], capture_output=True,
                       timeout=60)
    assert (p.returncode, p.stderr, p.stdout) == (1, b"container does not exist: missing\n", b"")
    p = subprocess.run([compiled, "--root", big_root, "state", "c1"], capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["annotations"] == BIG


def test_compiled_launcher_ignores_the_environment(compiled, tmp_path):
    """Isolated like python -I: PYTHONPATH and friends cannot swap ocirt's modules."""
    evil = tmp_path / "evil"
    (evil / "ocirt").mkdir(parents=True)
    (evil / "ocirt" / "__init__.py").write_text("raise SystemExit('evil ocirt imported')\n")
    (evil / "encodings").mkdir()
    (evil / "encodings" / "__init__.py").write_text("raise SystemExit('evil encodings')\n")
    env = dict(os.environ, PYTHONPATH=str(evil), PYTHONHOME=str(evil), PYTHONSTARTUP=str(evil),
               PYTHONINSPECT="1")
    p = subprocess.run([compiled, "--root", str(tmp_path), "state", "missing"], env=env,
                       cwd=str(evil), capture_output=True, timeout=60)
    assert (p.returncode, p.stderr) == (1, b"container does not exist: missing\n")


def test_without_a_compiler_the_script_launcher(tmp_path):
    dest = str(tmp_path / "ocirt")
    env = dict(os.environ, CC="/nonexistent/cc")
    p = subprocess.run([sys.executable, "-I", "-m", "ocirt.launcher", "--source",
                        os.path.join(ROOT, "csrc", "launcher.c"), dest], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "writing the script launcher instead: cannot run /nonexistent/cc" in p.stderr
    p = subprocess.run([dest, "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "launcher: the Python interpreter" in p.stdout


def test_installed_launcher_is_the_compiled_one():
    """What scripts/setup.sh installs (and every integration test runs)."""
    from tests.conftest import ocirt_binary
    p = subprocess.run([ocirt_binary(), "--version"], capture_output=True, text=True, timeout=60)
    assert "launcher: compiled, with its image of ocirt's modules" in p.stdout, p.stdout


def test_a_stale_module_beside_its_package_stops_the_build(tmp_path, monkeypatch):
    """ocirt/container.py left over beside ocirt/container/ (a reinstall over
    an older tree): the image would hold one of the two at random."""
    from ocirt import launcher
    pkg = tmp_path / "ocirt"
    (pkg / "container").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "container" / "__init__.py").write_text("")
    (pkg / "container.py").write_text("")
    monkeypatch.setattr(launcher, "package_dir", lambda: str(pkg))
    with pytest.raises(launcher.BuildError, match=r"\['ocirt.container'\]"):
        launcher.image_modules()
    (pkg / "container.py").unlink()
    assert [m[0] for m in launcher.image_modules()] == ["ocirt", "ocirt.container"]


def test_wheel_build_without_a_compiler_writes_the_script(tmp_path, monkeypatch):
    """setup.py's step: no compiler, still an `ocirt` command (pip gives it
    its interpreter through "#!python"), and no stamp for an image never made."""
    from ocirt import launcher
    monkeypatch.setenv("CC", "/nonexistent/cc")
    dest = str(tmp_path / "ocirt")
    kind = launcher.build_for_wheel(os.path.join(ROOT, "csrc", "launcher.c"), dest,
                                    launcher.package_dir(), str(tmp_path))
    assert kind == "script"
    with open(dest) as f:
        text = f.read()
    assert text.startswith("#!python\n") and "from ocirt.cli import launch" in text
    assert "cannot run /nonexistent/cc" in text
    assert os.access(dest, os.X_OK)


# ------------------------------------- delete --force, answered by the launcher alone

def _run_installed(argv, cwd):
    """The installed launcher: (status, stdout, stderr)."""
    from tests.conftest import ocirt_binary
    p = subprocess.run([ocirt_binary()] + argv, cwd=cwd, capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def _faults(argv, cwd):
    """The installed launcher run with argv: (status, its minor page faults)."""
    from tests.conftest import ocirt_binary
    p = subprocess.Popen([ocirt_binary()] + argv, cwd=cwd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return p.returncode, usage.ru_minflt


def test_delete_force_of_a_missing_container_starts_no_interpreter(tmp_path):
    """The launcher's answer to containerd's cleanup call (csrc/launcher.c):
    status 0, nothing said, the --log file created, and no CPython started:
    a tenth of the page faults of a call the interpreter answers."""
    log = tmp_path / "log.json"
    status, fast = _faults(["--root", str(tmp_path), "--log", str(log), "--log-format", "json",
                            "delete", "--force", "gone"], str(tmp_path))
    assert status == 0 and log.exists() and log.read_bytes() == b""
    status, slow = _faults(["--root", str(tmp_path), "delete", "gone"], str(tmp_path))
    assert status == 1  # without --force: the interpreter's error
    assert fast * 4 < slow, (fast, slow)


_VALID_IDS = st.sampled_from(["gone", "c1", "x" * 255, "a+b.c_d-e", "G0"])
_IDS = st.one_of(_VALID_IDS, _VALID_IDS, _VALID_IDS,
                 st.sampled_from([".", "..", "a/b", "../c1", "x" * 256, "é", "a b", "", "-x"]),
                 st.text(alphabet="ab.+_-/\\ \né", min_size=0, max_size=6))
_ROOTS = st.sampled_from(["root", "root", "missing", "file", "", "link", "root/", "file/x"])
_LOGS = st.sampled_from([None, "log", "log", "nodir/log", "", "root"])
_FORMATS = st.sampled_from([None, "json", "text", "xml"])
_FORCE = st.sampled_from(["--force", "-f", "--force", "-f", "-f=1", "--force=true", None,
                          "--all"])


@example(root="root", log="log", fmt="json", cid="gone", spelling="--force", order="flag-id",
         equals=False, systemd=False, debug=False, command="delete")
@example(root="root", log="nodir/log", fmt="json", cid="gone", spelling="-f", order="id-flag",
         equals=True, systemd=True, debug=False, command="delete")
@example(root="root", log=None, fmt=None, cid="a/b", spelling="--force", order="flag-id",
         equals=False, systemd=False, debug=False, command="delete")
@example(root="root", log="log", fmt="text", cid="c1", spelling="--force", order="flag-id",
         equals=False, systemd=False, debug=False, command="delete")
@example(root="file/x", log="log", fmt="xml", cid="gone", spelling="--force",
         order="flag-id-flag", equals=False, systemd=False, debug=False, command="delete")
@example(root="root", log="", fmt=None, cid="gone", spelling="--force", order="flag-id",
         equals=True, systemd=False, debug=True, command="delete")
@given(root=_ROOTS, log=_LOGS, fmt=_FORMATS, cid=_IDS, spelling=_FORCE,
       order=st.sampled_from(["flag-id", "id-flag", "flag-id-flag"]),
       equals=st.booleans(), systemd=st.booleans(),
       debug=st.sampled_from([False] * 7 + [True]),
       command=st.sampled_from(["delete"] * 6 + ["state", "kill"]))
@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_delete_force_answers_as_the_interpreter_does(tmp_path_factory, root, log, fmt, cid,
                                                      spelling, order, equals, systemd, debug,
                                                      command):
    """Whatever the form of the call, the launcher (which answers some
    `delete --force` calls by itself) and ocirt run by the interpreter
    answer alike: status, stdout, stderr, the --log file, what is left in
    the root."""
    results = []
    for runner in ("launcher", "interpreter"):
        base = tmp_path_factory.mktemp(runner)
        (base / "root" / "c1").mkdir(parents=True)
        (base / "root" / "c1" / "state.json").write_text("{}")  # a broken record
        (base / "file").write_text("")
        (base / "link").symlink_to(base / "root")
        argv = []
        for flag, value in (("--root", root), ("--log", log), ("--log-format", fmt)):
            if value is not None:
                argv += [f"{flag}={value}"] if equals else [flag, value]
        argv += ["--systemd-cgroup"] * systemd + ["--debug"] * debug + [command]
        words = [spelling] if spelling else []
        argv += {"flag-id": words + [cid], "id-flag": [cid] + words,
                 "flag-id-flag": words + [cid] + words}[order]
        if runner == "launcher":
            status, out, err = _run_installed(argv, str(base))
        else:
            env = dict(os.environ)
            env.pop("PYTHONPATH", None)
            p = subprocess.run([sys.executable, "-c", LAUNCH] + argv, cwd=str(base), env=env,
                               capture_output=True, timeout=60)
            status, out, err = p.returncode, p.stdout, p.stderr
        logged = (base / log).read_bytes() if log and (base / log).is_file() else None
        left = sorted(str(p.relative_to(base)) for p in base.rglob("*"))
        text = [x.replace(str(base).encode(), b"BASE") if isinstance(x, bytes) else x
                for x in (out, err, logged)]
        # the log's timestamps differ from one run to the next
        if text[2] is not None:
            text[2] = re.sub(rb'"time": ?"[^"]*"|time="[^"]*"', b"T", text[2])
        if debug:  # the debug line names the interpreter's path to ocirt: compare the rest
            text[1] = re.sub(rb"ocirt [^,]*, ", b"", text[1])
        results.append((status, *text, left))
    assert results[0] == results[1]
