"""cgroup v2 device control on the real kernel: ocirt.linux.bpf + devrules.

Each test makes a cgroup2 directory, attaches programs to it, and moves a
"prober" process into it: a small Python that, on each request read from
its stdin, opens / mknods devices and answers with the errno names. Programs
are loaded by the installed ocirt (a subprocess of this interpreter with
-I, from /), since the compiled shim is not in the source tree.

On a hybrid host the same rules are also written to a v1 devices cgroup,
and a second prober there must get the very same answers.
"""
import errno
import json
import os
import random
import select
import subprocess
import sys
import uuid

import pytest

from ocirt.linux import devrules

HELPER = r"""
import json, os, sys
from ocirt.linux import bpf, devrules
cmd, path = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
if cmd == "install":
    bpf.install(fd, devrules.bpf_program(json.loads(sys.argv[3])))
print(json.dumps(bpf.attached(fd)))
"""

PROBER = r"""
import errno, json, os, stat, sys
MODES = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}
for line in sys.stdin:
    out = []
    for op in json.loads(line):
        try:
            if op[0] == "open":
                os.close(os.open(op[1], MODES[op[2]] | os.O_CLOEXEC))
            else:
                _, path, kind, major, minor = op
                os.mknod(path, (stat.S_IFCHR if kind == "c" else stat.S_IFBLK) | 0o600,
                         os.makedev(major, minor))
                os.unlink(path)
            out.append("ok")
        except OSError as e:
            out.append(errno.errorcode[e.errno])
    print(json.dumps(out), flush=True)
"""


def mounts():
    """(cgroup2 mount point or None, v1 devices mount point or None)."""
    v2 = v1 = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _src, opts = right.split()[:3]
            mp = left.split()[4]
            if fstype == "cgroup2" and v2 is None:
                v2 = mp
            elif fstype == "cgroup" and "devices" in opts.split(","):
                v1 = mp
    return v2, v1


UNIFIED, V1_DEVICES = mounts()
if UNIFIED is None:
    pytest.skip("no cgroup2 hierarchy", allow_module_level=True)


def ocirt_bpf(cmd, path, rules=None):
    """Run the installed ocirt's bpf code: install rules / list what is attached."""
    args = [sys.executable, "-I", "-c", HELPER, cmd, path]
    if rules is not None:
        args.append(json.dumps(rules))
    p = subprocess.run(args, cwd="/", capture_output=True, text=True, timeout=60)
    if "No module named 'ocirt" in p.stderr:
        pytest.fail(f"the installed ocirt lacks the bpf support: pip install . ({p.stderr})")
    assert p.returncode == 0, p.stderr
    return [tuple(x) for x in json.loads(p.stdout)]


def own_programs(path):
    return [pid for pid, name in ocirt_bpf("list", path) if name == "ocirt_devices"]


class Prober:
    def __init__(self):
        self.p = subprocess.Popen([sys.executable, "-I", "-S", "-c", PROBER], cwd="/",
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def move(self, cgroup_dir):
        with open(os.path.join(cgroup_dir, "cgroup.procs"), "w") as f:
            f.write(str(self.p.pid))

    def ask(self, ops, timeout=30):
        self.p.stdin.write(json.dumps(ops) + "\n")
        self.p.stdin.flush()
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        assert r, "the prober did not answer"
        line = self.p.stdout.readline()
        assert line, "the prober died"
        return json.loads(line)

    def stop(self):
        self.p.kill()
        self.p.wait()
        self.p.stdin.close()
        self.p.stdout.close()


def _rmdir(path):
    if os.path.isdir(path):
        os.rmdir(path)


@pytest.fixture
def cgroup2():
    path = os.path.join(UNIFIED, f"ocirt-bpftest-{uuid.uuid4().hex[:10]}")
    os.mkdir(path)
    yield path
    _rmdir(path)


@pytest.fixture
def devices_v1():
    if V1_DEVICES is None:
        pytest.skip("no v1 devices hierarchy on this host")
    path = os.path.join(V1_DEVICES, f"ocirt-bpftest-{uuid.uuid4().hex[:10]}")
    os.mkdir(path)
    yield path
    _rmdir(path)


@pytest.fixture
def probers():
    """Start probers with probers(); all are killed at the end, even on failure.
    (Declared after the cgroup fixtures in a test, so it is torn down first and
    the cgroups are empty when removed.)"""
    started = []

    def start():
        started.append(Prober())
        return started[-1]
    yield start
    for p in started:
        p.stop()


def test_install_and_replace(cgroup2, probers, tmp_path):
    allow_null = [{"allow": False, "access": "rwm"},
                  {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    first = ocirt_bpf("install", cgroup2, allow_null)
    assert [name for _, name in first] == ["ocirt_devices"]
    p = probers()
    p.move(cgroup2)
    ops = [["open", "/dev/null", "rw"], ["open", "/dev/zero", "r"],
           ["mknod", str(tmp_path / "n"), "c", 1, 3], ["mknod", str(tmp_path / "z"), "c", 1, 5]]
    assert p.ask(ops) == ["ok", "EPERM", "ok", "EPERM"]

    # update: the new program replaces the old one; nothing else is attached
    second = ocirt_bpf("install", cgroup2, allow_null + [
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"}])
    assert len(second) == 1 and second[0][1] == "ocirt_devices"
    assert second[0][0] != first[0][0]
    assert p.ask(ops) == ["ok", "ok", "ok", "ok"]

    # and back: the denial is in force again
    ocirt_bpf("install", cgroup2, allow_null)
    assert p.ask(ops[:2]) == ["ok", "EPERM"]
    assert len(own_programs(cgroup2)) == 1


def test_requested_bits_are_checked_together(cgroup2, probers):
    """open(O_RDWR) asks for read and write in one check, as on v1."""
    p = probers()
    p.move(cgroup2)
    zero = [["open", "/dev/zero", m] for m in ("r", "w", "rw")]
    ocirt_bpf("install", cgroup2, [{"allow": True},
                                   {"allow": False, "type": "c", "major": 1, "minor": 5,
                                    "access": "w"}])
    assert p.ask(zero) == ["ok", "EPERM", "EPERM"]
    ocirt_bpf("install", cgroup2, [{"allow": False},
                                   {"allow": True, "type": "c", "major": 1, "minor": 5,
                                    "access": "r"},
                                   {"allow": True, "type": "c", "major": 1, "access": "w"}])
    assert p.ask(zero) == ["ok", "ok", "EPERM"]


def test_foreign_programs_are_kept(cgroup2):
    """Only ocirt's own program is replaced: one loaded under another name stays."""
    code = ("import os, sys; from ocirt.linux import bpf, devrules; "
            "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY); "
            "p = bpf.load(devrules.bpf_program([{'allow': True}]), name='other'); "
            "import ocirt._shim as s; "
            "assert s.lib.ocirt_bpf_prog_attach(fd, p, bpf.BPF_CGROUP_DEVICE, "
            "bpf.BPF_F_ALLOW_MULTI, -1) == 0")
    subprocess.run([sys.executable, "-I", "-c", code, cgroup2], cwd="/", check=True)
    ocirt_bpf("install", cgroup2, [{"allow": True}])
    ocirt_bpf("install", cgroup2, [{"allow": True}])
    assert sorted(name for _, name in ocirt_bpf("list", cgroup2)) == ["ocirt_devices", "other"]


# ------------------------------------------------------------ v1 and v2 agree

def _dev(path):
    rdev = os.stat(path).st_rdev
    return os.major(rdev), os.minor(rdev)


OPEN_DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/urandom"]
MKNODS = [("c", 1, 3), ("c", 1, 5), ("c", 10, 200), ("b", 7, 0), ("b", 8, 0)]


def random_rules(rng):
    rules = [{"allow": rng.random() < 0.5}] if rng.random() < 0.8 else []
    for _ in range(rng.randint(1, 7)):
        kind = rng.choice("accccb")
        rule = {"allow": rng.random() < 0.6, "access": "".join(
            ch for ch in "rwm" if rng.random() < 0.6) or "r"}
        if kind != "a":
            rule["type"] = kind
            major = rng.choice([None, 1, 1, 1, 7, 10])
            minor = rng.choice([None, None, 3, 5, 7, 9, 0, 200])
            if major is not None:
                rule["major"] = major
            if minor is not None:
                rule["minor"] = minor
        rules.append(rule)
    return rules


CASES = [
    [],
    [{"allow": True}],
    [{"allow": False}, {"allow": True, "type": "c", "major": 1, "minor": 3}],
    [{"allow": True}, {"allow": False, "type": "c", "major": 1, "access": "w"}],
    [{"allow": False}, {"allow": True, "type": "c", "major": 1, "access": "r"},
     {"allow": True, "type": "c", "minor": 5, "access": "w"}],
    [{"allow": False}] + list(devrules.RUNC_DEFAULT_ALLOW),
] + [random_rules(random.Random(seed)) for seed in range(40)]


def test_v1_and_v2_decide_alike(cgroup2, devices_v1, probers, tmp_path):
    v2 = probers()
    v2.move(cgroup2)
    v1 = probers()
    v1.move(devices_v1)
    ops, expected_for = [], []
    for path in OPEN_DEVICES:
        major, minor = _dev(path)
        for mode in ("r", "w", "rw"):
            ops.append(["open", path, mode])
            expected_for.append(("c", major, minor, mode))
    for i, (kind, major, minor) in enumerate(MKNODS):
        ops.append(["mknod", str(tmp_path / f"node{i}"), kind, major, minor])
        expected_for.append((kind, major, minor, "m"))

    list_file = os.path.join(devices_v1, "devices.list")
    for n, rules in enumerate(CASES):
        # v1: every other case as an update of the previous state (the minimal diff)
        with open(list_file) as f:
            current = f.read() if n % 2 else None
        for name, line in devrules.v1_writes(rules, current=current):
            with open(os.path.join(devices_v1, name), "w") as f:
                f.write(line)
        default_allow, exceptions = state = devrules.effective(rules)
        if not default_allow:
            with open(list_file) as f:
                assert devrules.parse_list(f.read()) == (False, {
                    (e.type, e.major, e.minor): devrules.access_bits(e.access)
                    for e in exceptions}), rules
        ocirt_bpf("install", cgroup2, rules)

        expected = ["ok" if devrules.allows(state, *q) else "EPERM" for q in expected_for]
        got_v1, got_v2 = v1.ask(ops), v2.ask(ops)
        assert got_v1 == expected, (rules, list(zip(ops, got_v1, expected)))
        assert got_v2 == expected, (rules, list(zip(ops, got_v2, expected)))
    assert len(own_programs(cgroup2)) == 1


def test_errors_are_oserrors():
    """A program the verifier refuses: OSError with the verifier's log."""
    code = ("from ocirt.linux import bpf\n"
            "try:\n"
            "    bpf.load(b'\\x95' + bytes(7))\n"
            "except OSError as e:\n"
            "    print(e.errno, e)\n")
    p = subprocess.run([sys.executable, "-I", "-c", code], cwd="/", capture_output=True,
                       text=True, timeout=60, check=True)
    assert p.stdout.split()[0] == str(errno.EACCES)
    assert "verifier" in p.stdout and "R0" in p.stdout, p.stdout

