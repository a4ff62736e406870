"""OCI hooks: run a hook program with the container's state on its stdin.

Runs with os primitives only (fork, execve, a pidfd for the timeout): the
container's init calls this after pivot_root for startContainer hooks, when
no module can be imported any more.
"""
import os
import select

from ocirt.errors import OcirtError

# The hook points of runtime-spec v1.3.0, in lifecycle order.
POINTS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
          "poststop")


class HookError(OcirtError):
    pass


def run(point, hooks, state_json):
    """Run each hook of <point> in order; raise HookError at the first failure."""
    for i, hook in enumerate(hooks):
        where = f"$.hooks.{point}[{i}]"
        status = _run_one(hook, state_json.encode())
        if status is None:
            raise HookError(f"{point} hook {hook.path} timed out after {hook.timeout}s", where)
        if status != 0:
            raise HookError(f"{point} hook {hook.path} failed: {_describe(status)}", where)


def _describe(code):
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


def _run_one(hook, data):
    """The hook's exit code (negative for a signal), or None on timeout."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            os.dup2(r, 0)
            if r != 0:
                os.close(r)
            env = dict(e.split("=", 1) for e in hook.env)
            os.execve(hook.path, list(hook.args) or [hook.path], env)
        finally:
            os._exit(127)
    os.close(r)
    try:
        _write_all(w, data)
    finally:
        os.close(w)
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], hook.timeout)
        if not ready:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return None
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _write_all(fd, data):
    try:
        while data:
            n = os.write(fd, data)
            data = data[n:]
    except BrokenPipeError:
        pass  # a hook need not read its stdin
