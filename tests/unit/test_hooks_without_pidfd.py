"""Hooks when pidfd_open is refused (a startContainer hook runs under the
container's seccomp filter, and older engines' profiles lack pidfd_open):
the runtime waits by polling instead, with the same results and timeout."""
import errno
import time

import pytest

from ocirt import hooks
from ocirt.config import Hook


@pytest.fixture(params=[errno.EPERM, errno.ENOSYS], ids=["EPERM", "ENOSYS"])
def no_pidfd(monkeypatch, request):
    def refuse(pid, flags=0):
        raise OSError(request.param, "refused by seccomp")
    monkeypatch.setattr(hooks.posixos, "pidfd_open", refuse)


def sh(script, timeout=None):
    return Hook(path="/bin/sh", args=("sh", "-c", script), env=(), timeout=timeout)


def test_status_and_output(no_pidfd):
    assert hooks._run_one(sh("read x; echo got $x; echo err >&2; exit 3"), b"state\n") == \
        (3, "got state\nerr")
    assert hooks._run_one(sh("kill -9 $$"), b"") == (-9, "")


def test_timeout(no_pidfd):
    t = time.monotonic()
    status, _ = hooks._run_one(sh("echo started; exec sleep 30", timeout=1), b"")
    assert status is None and time.monotonic() - t < 5


def test_a_hook_that_closes_its_output_early_is_still_waited_for(no_pidfd):
    t = time.monotonic()
    assert hooks._run_one(sh("exec >&- 2>&-; sleep 0.3; exit 7"), b"")[0] == 7
    assert time.monotonic() - t >= 0.3


def test_run_raises_with_the_hooks_words(no_pidfd):
    with pytest.raises(hooks.HookError) as e:
        hooks.run("startContainer", [sh("echo nope; exit 2")], "{}")
    assert str(e.value) == ("$.hooks.startContainer[0]: startContainer hook /bin/sh failed: "
                            "exit status 2: nope")
