"""Fixtures of the differential tests: ocirt and runc, side by side.

`differ` runs a config through both runtimes (harness.observe) and fails on
any difference that tests/differential/known.py does not accept. Each runtime
has its own --root in a temporary directory, every container its own id and
bundle; containers, cgroups and mounts are removed even when a test fails.
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conformance.harness import World
from tests.conftest import ocirt_binary
from tests.differential import harness, known

RUNC = os.environ.get("OCIRT_REFERENCE_RUNTIME", "/usr/sbin/runc")
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "data", "configs")

if os.geteuid() != 0:
    pytest.skip("the differential tests run real containers and need root",
                allow_module_level=True)
if not os.access(RUNC, os.X_OK):
    pytest.skip(f"no reference runtime: {RUNC} is not installed (apt-get install runc, "
                "or set OCIRT_REFERENCE_RUNTIME)", allow_module_level=True)
if not shutil.which("gcc"):
    pytest.skip("gcc is needed to build the checker (conformance/checker.c)",
                allow_module_level=True)


def corpus_names():
    return sorted(n for n in os.listdir(CONFIGS) if n.endswith(".json"))


def load_config(name):
    with open(os.path.join(CONFIGS, name)) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def world():
    """The busybox rootfs with the checker, built once (conformance/harness.py)."""
    d = tempfile.mkdtemp(prefix="ocirt-differential-")
    os.chmod(d, 0o755)
    w = World(d)
    yield w
    w.close()


def render(key, o, r):
    return f"  {key}: ocirt {o!r} | runc {r!r}"


def _shared_mounts():
    """Mount points of this mount namespace that are shared."""
    with open("/proc/self/mountinfo") as f:
        return {fl[4] for fl in (line.split() for line in f)
                if any(t.startswith("shared:") for t in fl[6:fl.index("-")])}


class Differ:
    def __init__(self, world, base):
        self.world = world
        self.base = base
        self.ocirt = harness.Runtime("ocirt", ocirt_binary(), base)
        self.runc = harness.Runtime("runc", RUNC, base)

    def observe(self, cfg, extra_args=()):
        """(ocirt's observation, runc's observation) of one config.

        Without a mount namespace in the config the container shares the
        host's: ocirt must change no propagation there. runc 1.1.5 makes
        the host's tree a slave (its default for the rootfs), which would
        turn this machine's shared mounts private for the tests that follow:
        they are made shared again."""
        before = _shared_mounts()
        o = harness.observe(self.ocirt, cfg, self.world.rootfs, self.base, extra_args)
        assert _shared_mounts() == before, "ocirt changed the host's mount propagation"
        try:
            r = harness.observe(self.runc, cfg, self.world.rootfs, self.base, extra_args)
        finally:
            for point in before - _shared_mounts():
                subprocess.run(["mount", "--make-shared", point], check=False)
        return o, r

    def unexplained(self, cfg, o, r):
        """Differences no allow-list entry accepts: [(key, ocirt, runc)]."""
        if known.whole_run_allowed(cfg, o, r):
            return []
        return [(k, a, b) for k, a, b in harness.diff(o, r)
                if not known.explain(k, a, b, cfg)]

    def compare(self, cfg, extra_args=()):
        """Run cfg through both; fail on an unexplained difference. Returns
        both observations (for further checks)."""
        o, r = self.observe(cfg, extra_args)
        self.fail_on(cfg, o, r, self.unexplained(cfg, o, r))
        return o, r

    def fail_on(self, cfg, o, r, bad):
        if bad:
            lines = [render(k, a, b) for k, a, b in bad]
            raise AssertionError(
                "ocirt and runc differ:\n" + "\n".join(lines)
                + f"\n  stderr: ocirt create {o.get('create.stderr')!r} start "
                  f"{o.get('start.stderr')!r} | runc create {r.get('create.stderr')!r} "
                  f"start {r.get('start.stderr')!r}"
                + "\n  config: " + json.dumps(harness.strip_capture_keys(cfg))[:3000])

    def cleanup(self):
        self.ocirt.cleanup()
        self.runc.cleanup()


@pytest.fixture
def differ(world):
    base = tempfile.mkdtemp(prefix="case-", dir=world.dir)
    os.chmod(base, 0o755)
    d = Differ(world, base)
    try:
        yield d
    finally:
        d.cleanup()
        shutil.rmtree(base, ignore_errors=True)


