"""podman container checkpoint / restore with the runtime of the session
(ocirt, and runc beside it): podman drives the runtime's checkpoint and
restore (through conmon), as it does runc's. CRIU needs a kernel that
`criu check` accepts: run it in the qemu lane
(tests/vm/lane.sh tests/engines/test_podman_checkpoint.py); elsewhere it is
skipped with criu's reason."""
import pytest

from tests.engines.conftest import IMAGE, wait_until
from tests.integration.test_checkpoint import CRIU_PROBLEM

pytestmark = pytest.mark.skipif(CRIU_PROBLEM is not None, reason=str(CRIU_PROBLEM))

COUNTER = "i=0; while :; do i=$((i+1)); echo $i; usleep 100000; done"


def logged(podman, name):
    return [int(x) for x in podman.ok("logs", name).split()]


def test_checkpoint_and_restore_go_on_counting(podman):
    podman.ok("run", "-d", "--name", "c1", IMAGE, "sh", "-c", COUNTER)
    wait_until("the counter to count", lambda: len(logged(podman, "c1")) >= 3, timeout=120)
    p = podman("container", "checkpoint", "c1", timeout=300)
    assert p.returncode == 0, p.stderr
    assert podman.ok("inspect", "--format", "{{.State.Status}}", "c1").strip() == "exited"
    dumped = logged(podman, "c1")
    p = podman("container", "restore", "c1", timeout=300)
    assert p.returncode == 0, p.stderr
    wait_until("the restored counter", lambda: len(logged(podman, "c1")) >= len(dumped) + 3,
               timeout=120)
    got = logged(podman, "c1")
    assert got == list(range(1, len(got) + 1)), got  # on from its value, no restart at 1
    assert podman.ok("inspect", "--format", "{{.State.Status}}", "c1").strip() == "running"
    p = podman("exec", "c1", "sh", "-c", "echo in")
    assert (p.returncode, p.stdout) == (0, "in\n"), p.stderr
