"""The hot commands (state, start, kill, delete, create, run, exec) stay light.

Every ocirt call is a fresh interpreter, and engines call these constantly,
so their import graph is part of their cost. Each case runs `ocirt.cli.main`
in a fresh interpreter, the way the launcher does, and compares sys.modules
before and after.

For state, start, kill and delete the containers are fakes written into a
temporary state root (their "init" is a `sleep` process of this test): no
root, no real container. create, run and exec run a real busybox container
with the installed package (as root only).

The modules are split in two, HOT and COLD (below), and the code follows
the split: a HOT module uses ocirt.posixos (by that name) instead of os and
imports inside a function only what saves a hot command an import it does
not always need; a COLD module imports os and everything at its top.
"""
import ast
import os
import pkgutil
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

import ocirt
from ocirt import state
from ocirt.linux.proc import start_time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Every module that a hot command (state, start, kill, delete, create, run,
# exec) can load, in its own process or in the processes it forks (stage-1,
# the container's init, exec's process), on any host layout (cgroup v1, v2
# with its eBPF device filter, --systemd-cgroup) and config (terminal,
# seccomp, hooks, user namespace, resources, a failing init). Derived from
# the import graph (every import, at the top or in a function, from the
# commands' functions in ocirt.cli.commands: a static closure), checked
# against what a probe saw each process of each hot command load, with an
# audit hook on "import" and register_at_fork, on a hybrid host with plain,
# seccomp, hooks, user-namespace and resources configs. ocirt.boot runs first
# in every command of the compiled launcher. Their imports are on the
# commands' path: they use ocirt.posixos (os costs about 1 ms), and a
# function-level import there must save some hot command an import.
HOT = frozenset({
    "ocirt", "ocirt.boot", "ocirt.posixos", "ocirt.errors", "ocirt.log", "ocirt.jsonio",
    "ocirt.cli", "ocirt.cli.fast", "ocirt.cli.flags", "ocirt.cli.commands",
    "ocirt.runtime",  # the Python API, which every command's code calls
    "ocirt.state", "ocirt.protocol", "ocirt.config", "ocirt.jsonschema_lite",
    "ocirt.container", "ocirt.container.create", "ocirt.container.start",
    "ocirt.container.kill", "ocirt.container.delete", "ocirt.container.run",
    "ocirt.container.exec",
    # the forked side of create and exec
    "ocirt.stage1", "ocirt.init", "ocirt.become", "ocirt.hooks", "ocirt.console",
    "ocirt.linux", "ocirt.linux.bpf", "ocirt.linux.capabilities", "ocirt.linux.cgroupfs",
    "ocirt.linux.cgroups", "ocirt.linux.devices", "ocirt.linux.devrules",
    "ocirt.linux.execstub", "ocirt.linux.freezer", "ocirt.linux.lsm", "ocirt.linux.mempolicy",
    "ocirt.linux.mounts", "ocirt.linux.namespaces", "ocirt.linux.proc", "ocirt.linux.pty",
    "ocirt.linux.resources", "ocirt.linux.rootfs", "ocirt.linux.sched",
    "ocirt.linux.seccomp", "ocirt.linux.shim", "ocirt.linux.signals",
    "ocirt.linux.systemd",  # --systemd-cgroup
    "ocirt.linux.stats",  # create's message when the init dies: was it the OOM killer
    "ocirt.linux.userns",
    "ocirt.linux.pid1",  # create --init (or its annotation) only: the built-in init
    "ocirt.container.rootless",  # create by a user other than root
    # --trace / OCIRT_TRACE only (ocirt.cli.run_command imports it then; off, a
    # trace point is a test of ocirt.TRACE): the forked side uses it after
    # pivot_root, so it imports all it needs at its top, from the hot set
    "ocirt.trace",
})
# The rest: commands engines call rarely (events, ps, pause, resume, update,
# spec, features, list), the click application (a hot command reaches it only
# in forms engines do not use: --help, combined short flags), `python -m
# ocirt` and the launcher's build. They import os and import at the top; a
# function-level import there says why on its line: "# cycle: ..." (it
# would be an import cycle at the top) or "# optional: ..." (a dependency
# that may be absent or is heavy).
COLD = frozenset({
    "ocirt.__main__", "ocirt.cli.app", "ocirt.container.events", "ocirt.container.pause",
    "ocirt.container.ps", "ocirt.container.update", "ocirt.defaults", "ocirt.features",
    "ocirt.launcher", "ocirt.validate",
    "ocirt.api",  # the API's dataclasses (State): runtime.state() and list() only
    "ocirt.hardened",  # the --hardened template and its seccomp profile: only `spec` reads it
    # checkpoint and restore (CRIU): their own commands only
    "ocirt.container.checkpoint", "ocirt.container.restore", "ocirt.linux.criu",
})

FORBIDDEN = frozenset({
    "os", "errno", "ocirt.container.create",  # about 1 ms: the hot path uses ocirt.posixos (the launcher runs python -S)
    "click", "json", "re", "enum", "socket", "signal", "subprocess", "shutil", "dataclasses",
    "typing", "jsonschema", "cffi", "ocirt._shim", "ocirt.config", "ocirt.jsonschema_lite",
    "ocirt.stage1", "ocirt.init", "ocirt.become", "ocirt.container.exec",
})

# Every ocirt module a hot command may import: those all of them need, and
# each command's own. A new import on the hot path must be added here on purpose.
ALLOWED_OCIRT = frozenset({
    "ocirt", "ocirt.cli", "ocirt.cli.fast", "ocirt.cli.flags",  # the flag table: plain data
    "ocirt.cli.commands", "ocirt.runtime", "ocirt.errors", "ocirt.log",
    "ocirt.state", "ocirt.posixos", "ocirt.linux", "ocirt.linux.proc",
    "ocirt.linux.freezer",  # a running container's status: paused or not
})
ALLOWED_BY_COMMAND = {
    "state": frozenset(),
    "start": frozenset({"ocirt.container", "ocirt.container.start",
                        "ocirt.protocol"}),  # its constants; it imports json and socket lazily
    "kill": frozenset({"ocirt.container", "ocirt.container.kill", "ocirt.linux.signals"}),
    "kill --all": frozenset({"ocirt.container", "ocirt.container.kill", "ocirt.linux.signals",
                             "ocirt.linux.cgroups"}),  # the cgroup's processes
    "delete": frozenset({"ocirt.container", "ocirt.container.delete",
                         "ocirt.linux.cgroups",  # removing its directories
                         "ocirt.container.kill"}),  # --force of a running container
}

# create, run and exec (the parent process; what it forks is HOT too, and
# tests/integration/test_import_before_pivot.py checks that it imports all
# it needs before its root changes). A plain config: seccomp, a terminal,
# hooks, systemd... each add what they need.
SPAWN_OCIRT = frozenset({
    "ocirt.config", "ocirt.jsonschema_lite", "ocirt.jsonio", "ocirt.protocol",
    "ocirt.container", "ocirt.container.create", "ocirt._shim", "ocirt._shim.lib",
    "ocirt.linux.shim", "ocirt.linux.capabilities", "ocirt.linux.cgroups",
    "ocirt.linux.lsm",
})
ALLOWED_BY_COMMAND.update({
    "create": SPAWN_OCIRT | {"ocirt.linux.devrules", "ocirt.linux.resources"},
    "exec": SPAWN_OCIRT | {"ocirt.container.exec", "ocirt.linux.namespaces",
                           "ocirt.container.run",  # waiting for the process, its signals
                           "ocirt.container.start", "ocirt.container.kill",
                           "ocirt.container.delete", "ocirt.linux.signals"},
    "run": SPAWN_OCIRT | {"ocirt.linux.devrules", "ocirt.linux.resources", "ocirt.container.run",
                          "ocirt.container.start", "ocirt.container.kill",
                          "ocirt.container.delete", "ocirt.linux.signals", "ocirt.hooks"},
})
# what create, run and exec need that the others do not (all built in but _json)
SPAWN_MAY_IMPORT = frozenset({"ocirt.container.create", "ocirt._shim", "ocirt.config",
                              "ocirt.jsonschema_lite", "ocirt.container.exec", "errno"})


def command_of(argv):
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in ("--root", "--log", "--log-format") else 1
    cmd = argv[i] if i < len(argv) else None
    return "kill --all" if cmd == "kill" and "--all" in argv else cmd


SCRIPT = r"""
import sys
before = set(sys.modules)
from ocirt.cli import main
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as e:
    code = e.code
new = sorted(set(sys.modules) - before)
sys.stdout.write("\n@@RESULT@@" + repr((code, new)) + "\n")
"""


def run_hot(argv, site=False):
    """Run `ocirt <argv>` in a fresh interpreter: (exit code, new modules, stdout, stderr)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    # -S as the launcher: no site module, which would import os itself
    flags = [] if site else ["-S"]
    p = subprocess.run([sys.executable] + flags + ["-c", SCRIPT] + list(argv), cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60)
    marker = p.stdout.rfind("@@RESULT@@")
    assert marker >= 0, f"no result from the child:\n{p.stdout}\n{p.stderr}"
    code, new = ast.literal_eval(p.stdout[marker + len("@@RESULT@@"):].strip())
    return code, new, p.stdout[:marker].rstrip("\n"), p.stderr


def check_light(argv, new):
    forbidden = FORBIDDEN - SPAWN_MAY_IMPORT if command_of(argv) in ("create", "run", "exec") \
        else FORBIDDEN
    heavy = sorted(forbidden & set(new))
    ours = sorted(m for m in new if m == "ocirt" or m.startswith("ocirt."))
    allowed = ALLOWED_OCIRT | ALLOWED_BY_COMMAND.get(command_of(argv), frozenset())
    unexpected = sorted(set(ours) - allowed)
    report = (f"ocirt {' '.join(argv)}\n  forbidden modules imported: {heavy}\n"
              f"  ocirt modules imported: {ours}\n  not in the allowed list: {unexpected}\n"
              f"  all new modules: {new}")
    assert not heavy and not unexpected, report


@pytest.fixture
def root():
    # short, so that <root>/<id>/exec.sock fits in sun_path
    d = tempfile.mkdtemp(prefix="ocirt-imp-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------ missing / invalid

@pytest.mark.parametrize("tail,expected_code", [
    (["state", "missing"], 1),
    (["start", "missing"], 1),
    (["kill", "missing"], 1),
    (["kill", "missing", "KILL"], 1),
    (["kill", "--all", "missing", "9"], 1),
    (["delete", "missing"], 1),
    (["delete", "--force", "missing"], 0),
    (["state", "../bad"], 1),
    (["start", "bad/id"], 1),
    (["kill", ".."], 1),
    (["delete", "a b"], 1),
    (["kill", "missing", "NOSUCHSIG"], 1),
])
def test_hot_command_errors_stay_light(root, tail, expected_code):
    argv = ["--root", root] + tail
    code, new, out, err = run_hot(argv)
    assert code == expected_code, err
    assert "Traceback" not in err, err
    check_light(argv, new)


def test_engine_style_flags_stay_light(root):
    # containerd/conmon pass --root, --log and --log-format json to every call.
    log = os.path.join(root, "log.json")
    argv = ["--root", root, "--log", log, "--log-format", "json", "--systemd-cgroup",
            "delete", "--force", "missing"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    check_light(argv, new)


# -------------------------------------------------- fake containers

def fake_container(root, cid, pid, exec_sock=False, cgroup_dir=None):
    c = state.new(root, cid)
    c.facts = {"pid": pid, "starttime": start_time(pid) if pid else 0, "pidns": 1}
    if cgroup_dir:
        os.makedirs(cgroup_dir)
        with open(os.path.join(cgroup_dir, "cgroup.procs"), "w") as f:
            f.write(f"{pid}\n")
        with open(os.path.join(cgroup_dir, "cgroup.freeze"), "w") as f:
            f.write("0\n")
        c.record_cgroup({"unified": cgroup_dir}, [])
    c.save({"ociVersion": "1.3.0", "id": cid, "bundle": "/nonexistent/bundle",
            "annotations": {"k": "v"}})
    return c


@pytest.fixture
def init():
    """A process standing in for a container's init."""
    p = subprocess.Popen(["sleep", "60"])
    yield p
    p.kill()
    p.wait()


def test_state_of_running_container(root, init):
    fake_container(root, "c1", init.pid, cgroup_dir=os.path.join(root, "cg"))
    argv = ["--root", root, "state", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert f'"pid": {init.pid},\n  "status": "running"' in out
    check_light(argv, new)


def test_state_of_stopped_container(root):
    fake_container(root, "c1", 0)
    argv = ["--root", root, "state", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert '"status": "stopped"' in out
    check_light(argv, new)


def test_kill_running_container(root, init):
    fake_container(root, "c1", init.pid)
    argv = ["--root", root, "kill", "c1", "TERM"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert init.wait(10) == -15
    check_light(argv, new)


def test_kill_all_running_container(root, init):
    fake_container(root, "c1", init.pid, cgroup_dir=os.path.join(root, "cg"))
    argv = ["--root", root, "kill", "--all", "c1", "KILL"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert init.wait(10) == -9
    check_light(argv, new)


def test_kill_stopped_container_is_refused(root):
    fake_container(root, "c1", 0)
    argv = ["--root", root, "kill", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 1 and "Traceback" not in err
    check_light(argv, new)


def test_delete_stopped_container(root):
    fake_container(root, "c1", 0)
    argv = ["--root", root, "delete", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert not os.path.exists(os.path.join(root, "c1"))
    check_light(argv, new)


def test_delete_force_running_container(root, init):
    fake_container(root, "c1", init.pid)
    argv = ["--root", root, "delete", "--force", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert init.wait(10) == -9
    assert not os.path.exists(os.path.join(root, "c1"))
    check_light(argv, new)


def test_start_created_container(root, init):
    """`start` of a created container: connects to exec.sock, sends b"S", reads EOF."""
    c = fake_container(root, "c1", init.pid)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(os.path.join(c.dir, state.EXEC_SOCKET))
    server.listen(1)
    server.settimeout(30)
    received = []

    def serve():
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            received.append(conn.recv(16))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    argv = ["--root", root, "start", "c1"]
    try:
        code, new, out, err = run_hot(argv)
    finally:
        t.join(30)
        server.close()
    assert code == 0, err
    assert received == [b"S"]
    check_light(argv, new)


def test_start_stopped_container_is_refused(root):
    fake_container(root, "c1", 0)
    argv = ["--root", root, "start", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 1 and "Traceback" not in err
    check_light(argv, new)


def test_checker_sees_a_heavy_import():
    """The harness itself: a command that takes the click path is caught."""
    code, new, out, err = run_hot(["--help"], site=True)  # click lives in site-packages
    assert code == 0
    assert "click" in new
    with pytest.raises(AssertionError):
        check_light(["--help"], new)


# ------------------------------------------------- the HOT/COLD split

def _package_modules():
    """{module name: source path} of every Python module of the package."""
    top = os.path.dirname(ocirt.__file__)
    out = {"ocirt": os.path.join(top, "__init__.py")}
    for m in pkgutil.walk_packages([top], "ocirt."):
        if m.name == "ocirt._shim":  # compiled by cffi (csrc/): no source here
            continue
        path = os.path.join(top, *m.name.split(".")[1:])
        out[m.name] = os.path.join(path, "__init__.py") if m.ispkg else path + ".py"
    return out


def _imports(tree):
    """(import node, inside a function) for every import of a module."""
    out = []

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) \
                    and child.test.id == "TYPE_CHECKING":
                continue  # for mypy only: `TYPE_CHECKING = False` in the module
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, in_function))
            walk(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
    walk(tree, False)
    return out


def _targets(name, node, modules):
    """The ocirt modules an import node loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    base = node.module or ""
    if node.level:
        parts = name.split(".")
        if not modules[name].endswith("__init__.py"):
            parts = parts[:-1]
        base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            if base in modules or f"{base}.{a.name}" in modules]


def test_every_module_is_hot_or_cold():
    """A new module is placed on purpose: on a hot command's path or not."""
    modules = set(_package_modules())
    assert not HOT & COLD, sorted(HOT & COLD)
    unplaced = sorted(modules - HOT - COLD)
    assert not unplaced, f"not classified (HOT or COLD): {unplaced}"
    assert (HOT | COLD) - modules == set(), f"no such module: {sorted((HOT | COLD) - modules)}"


def test_hot_modules_import_no_cold_one_at_their_top():
    """What a HOT module imports at its top is loaded whenever it is: HOT too."""
    modules = _package_modules()
    wrong = []
    for name in sorted(HOT):
        with open(modules[name]) as f:
            tree = ast.parse(f.read())
        for node, in_function in _imports(tree):
            for target in _targets(name, node, modules):
                if not in_function and target in COLD:
                    wrong.append(f"{name}:{node.lineno} imports {target}")
    assert not wrong, wrong


MARKED = re.compile(r"#\s*(cycle|optional):")


def test_posixos_by_its_name_and_cold_imports_at_the_top():
    """posixos is never `os` in disguise: a HOT module calls posixos.X and
    imports no os at its top; a COLD module imports os, not posixos, and
    imports at its top, but where a line says "# cycle: ..." or
    "# optional: ..."."""
    modules = _package_modules()
    wrong = []
    for name, path in sorted(modules.items()):
        with open(path) as f:
            source = f.read()
        lines = source.splitlines()
        for node, in_function in _imports(ast.parse(source)):
            where = f"{name}:{node.lineno}: {lines[node.lineno - 1].strip()}"
            if isinstance(node, ast.ImportFrom) and any(
                    a.name == "posixos" and a.asname for a in node.names):
                wrong.append(f"{where}: posixos under another name")
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [f"{node.module}.{a.name}" for a in node.names]
            if name in HOT and not in_function and "os" in names:
                wrong.append(f"{where}: a HOT module imports os (ocirt.posixos)")
            if name in COLD and "ocirt.posixos" in names:
                wrong.append(f"{where}: a COLD module imports posixos (import os)")
            if name in COLD and in_function and not MARKED.search(lines[node.lineno - 1]):
                wrong.append(f"{where}: a function-level import in a COLD module "
                             "(at the top, or say why: # cycle: / # optional:)")
    assert not wrong, "\n".join(wrong)


def test_the_split_checker_sees_a_function_level_import(tmp_path):
    """The checker itself: a late import is one, a marked one is accepted."""
    tree = ast.parse("import a\ndef f():\n    import b  # optional: heavy\n    import c\n")
    found = [(n.names[0].name, late) for n, late in _imports(tree)]
    assert found == [("a", False), ("b", True), ("c", True)]
    assert MARKED.search("    import b  # optional: heavy")
    assert not MARKED.search("    import c")


# ------------------------------------------- create, run, exec (as root)

@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A busybox bundle whose process sleeps, and the installed package's
    directory (create needs the compiled C shim, which the tree lacks)."""
    if os.geteuid() != 0:
        pytest.skip("create, run and exec start a real container: root only")
    from tests.conftest import ocirt_binary
    d = tmp_path_factory.mktemp("imports-bundle")
    os.chmod(d, 0o755)
    subprocess.run([os.path.join(ROOT, "demo", "make-bundle.sh"), str(d), "sleep", "1000"],
                   check=True, capture_output=True, env=dict(os.environ, OCIRT=ocirt_binary()))
    import sysconfig
    return str(d), sysconfig.get_paths()["purelib"]


def run_installed(argv, bundle, out_dir):
    """run_hot with the installed package (python -IS, site-packages first on
    sys.path, as the script launcher), its output in files: a container's
    init keeps the stdout and stderr it inherited."""
    d, site = bundle
    prelude = f"import sys\nsys.path[:0] = [{site!r}]\n"
    out, err = os.path.join(out_dir, "out"), os.path.join(out_dir, "err")
    with open(out, "w") as o, open(err, "w") as e:
        subprocess.run([sys.executable, "-I", "-S", "-c", prelude + SCRIPT] + list(argv),
                       cwd=d, stdin=subprocess.DEVNULL, stdout=o, stderr=e, timeout=60)
    with open(out) as o, open(err) as e:
        stdout, stderr = o.read(), e.read()
    marker = stdout.rfind("@@RESULT@@")
    assert marker >= 0, f"no result from the child:\n{stdout}\n{stderr}"
    code, new = ast.literal_eval(stdout[marker + len("@@RESULT@@"):].strip())
    return code, new, stderr


def test_create_exec_and_run_stay_light(bundle, root, tmp_path):
    cid = "imp-" + os.urandom(4).hex()
    base = ["--root", root]
    try:
        for argv in (base + ["create", "--bundle", ".", cid], base + ["exec", cid, "true"]):
            code, new, err = run_installed(argv, bundle, tmp_path)
            assert code == 0, err
            check_light(argv, new)
    finally:
        subprocess.run([sys.executable, "-I", "-S", "-c",
                        f"import sys\nsys.path[:0] = [{bundle[1]!r}]\nfrom ocirt.cli import main\n"
                        "main(sys.argv[1:])", "--root", root, "delete", "--force", cid],
                       capture_output=True, timeout=60)
    run_bundle = os.path.join(tmp_path, "run")
    os.mkdir(run_bundle)
    with open(os.path.join(bundle[0], "config.json")) as f:
        cfg = f.read().replace('"sleep",\n      "1000"', '"true"')
    assert '"true"' in cfg
    with open(os.path.join(run_bundle, "config.json"), "w") as f:
        f.write(cfg.replace('"path": "rootfs"', f'"path": "{bundle[0]}/rootfs"'))
    argv = base + ["run", "--bundle", run_bundle, cid + "-run"]
    code, new, err = run_installed(argv, bundle, tmp_path)
    assert code == 0, err
    check_light(argv, new)
