"""OCI hooks: run a hook program with the container's state on its stdin.

Runs with os primitives only (fork, execve, a pidfd for the timeout): the
container's init calls this after pivot_root for startContainer hooks, when
no module can be imported any more.
"""
import _signal
import posix
import select

from ocirt import config, log
from ocirt import posixos  # os without its import cost (see there)
from ocirt.errors import OcirtError

# The hook points of runtime-spec v1.3.0, in lifecycle order.
POINTS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
          "poststop")


class HookError(OcirtError):
    pass


def run_recorded(c, point, status, warn=None):
    """Run the hooks of <point> from the config recorded at create, with the
    state of c (an ocirt.state.Container) as it is now <status>."""
    hs = config.parse_hooks(c.load_config()).get(point, ())
    c._status = status
    run(point, hs, c.state_json(), warn, info=log.info)


def run(point, hooks, state_json, warn=None, info=None, stub_fd=None, env=None, cwd=None):
    """Run each hook of <point> in order. At the first failure raise HookError;
    with warn(msg) given (poststop), report each failure and go on. info(msg),
    where given, receives what a successful hook printed. stub_fd: for hooks
    run inside the container, the sealed exec stub to run them through
    (ocirt.linux.execstub). env: the environment of a hook without an "env"
    member (GPU and network hooks count on PATH): by default the runtime's
    own, as runc and crun pass it; inside the container, runc's init has the
    process's (ocirt.init passes it). cwd: where the hook starts, if not
    in the runtime's own directory (createContainer hooks start in the
    container's root, as runc's do)."""
    for i, hook in enumerate(hooks):
        where = f"$.hooks.{point}[{i}]"
        status, output = _run_one(hook, state_json.encode(), stub_fd, env, cwd)
        if status == 0:
            if output and info is not None:
                info(f"{point} hook {hook.path}: {output}")
            continue
        if status is None:
            err = HookError(f"{point} hook {hook.path} timed out after {hook.timeout}s", where)
        else:
            err = HookError(f"{point} hook {hook.path} failed: {_describe(status)}"
                            + (f": {output}" if output else ""), where)
        if warn is None:
            raise err
        warn(str(err))


def _describe(code):
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


_MAX_OUTPUT = 4096


def _run_one(hook, data, stub_fd=None, default_env=None, cwd=None):
    """(exit code, negative for a signal, or None on timeout; the hook's output).

    The hook's stdout and stderr are collected, never passed to the container's
    stdio; a failing hook's output becomes part of the error."""
    r, w = posixos.pipe()
    out_r, out_w = posixos.pipe()
    pid = posixos.fork()
    if pid == 0:
        try:
            posixos.close(w)
            posixos.close(out_r)
            posixos.dup2(r, 0)
            posixos.dup2(out_w, 1)
            posixos.dup2(out_w, 2)
            for s in (_signal.SIGPIPE, _signal.SIGXFSZ):  # ignored by the runtime
                _signal.signal(s, _signal.SIG_DFL)
            if hook.env is not None:
                env = dict(e.split("=", 1) for e in hook.env)
            else:
                env = posix.environ if default_env is None else default_env
            args = list(hook.args) or [hook.path]
            if cwd is not None:
                posixos.chdir(cwd)
            if stub_fd is not None:
                # already imported by the init, which may have pivoted
                from ocirt.linux.execstub import execve
                execve(stub_fd, hook.path, args, env)
            posixos.execve(hook.path, args, env)
        finally:
            posixos._exit(127)
    posixos.close(r)
    posixos.close(out_w)
    try:
        _write_all(w, data)
    finally:
        posixos.close(w)
    output = b""
    try:
        pidfd = posixos.pidfd_open(pid)
    except OSError:
        # a startContainer hook runs under the container's seccomp filter,
        # which may refuse pidfd_open (older engines' profiles do)
        return _wait_polling(pid, out_r, hook.timeout)
    try:
        deadline = None if hook.timeout is None else _now() + hook.timeout
        open_fds = [pidfd, out_r]
        while open_fds:
            left = None if deadline is None else max(0.0, deadline - _now())
            ready, _, _ = select.select(open_fds, [], [], left)
            if not ready:
                posixos.kill(pid, 9)
                posixos.waitpid(pid, 0)
                return None, output.decode(errors="replace").strip()
            if out_r in ready:
                chunk = posixos.read(out_r, 65536)
                if chunk:
                    output = (output + chunk)[-_MAX_OUTPUT:]
                else:
                    open_fds.remove(out_r)
            if pidfd in ready:
                open_fds.remove(pidfd)
                if out_r in open_fds:  # drain what is already written, do not wait
                    while True:
                        ready, _, _ = select.select([out_r], [], [], 0)
                        chunk = posixos.read(out_r, 65536) if ready else b""
                        if not chunk:
                            break
                        output = (output + chunk)[-_MAX_OUTPUT:]
                    open_fds.remove(out_r)
    finally:
        posixos.close(pidfd)
        posixos.close(out_r)
    _, status = posixos.waitpid(pid, 0)
    return posixos.waitstatus_to_exitcode(status), output.decode(errors="replace").strip()


def _wait_polling(pid, out_r, timeout):
    """_run_one's wait without a pidfd: waitpid(WNOHANG) between reads of the
    hook's output, every 10 ms at most."""
    output = b""
    deadline = None if timeout is None else _now() + timeout
    fds = [out_r]  # until its EOF
    try:
        while True:
            done, status = posixos.waitpid(pid, posixos.WNOHANG)
            left = None if deadline is None else deadline - _now()
            if not done and left is not None and left <= 0:
                posixos.kill(pid, 9)
                posixos.waitpid(pid, 0)
                return None, output.decode(errors="replace").strip()
            wait = 0 if done else (0.01 if left is None else min(0.01, left))
            for _ in range(64):  # what is written already, then until `wait` has passed
                ready, _, _ = select.select(fds, [], [], wait)
                chunk = posixos.read(out_r, 65536) if ready else b""
                if not chunk:
                    if ready:
                        fds = []
                    break
                output = (output + chunk)[-_MAX_OUTPUT:]
                wait = 0
            if done:
                return (posixos.waitstatus_to_exitcode(status),
                        output.decode(errors="replace").strip())
    finally:
        posixos.close(out_r)


def _now():
    return posixos.times().elapsed


def _write_all(fd, data):
    try:
        posixos.write_all(fd, data)
    except BrokenPipeError:
        pass  # a hook need not read its stdin
