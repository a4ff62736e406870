"""start: release the waiting init, then run poststart hooks."""
import ocirt
from ocirt import debug, errors, state
from ocirt import posixos  # os without its import cost (see there)
from ocirt.state import EXEC_SOCKET, Status


def start(root, cid):
    c = state.load(root, cid)
    c.lock()
    st = c.refresh()
    if not Status.can_start(st):
        raise errors.InvalidState(f"cannot start a container that is {st}", id=cid, status=st)
    debug(f"start {cid}: {st}, init pid {c.pid}")
    begin(c)
    debug(f"start {cid}: started")


def begin(c, until_exec=False):
    """Release the init, then run poststart hooks.

    until_exec: wait for the exec itself (always with poststart hooks), so
    that a process that cannot be executed is an error here: a foreground
    run waits for the process anyway.

    When startContainer or poststart hooks fail, or the process cannot be
    executed, the error says so and the container is stopped (runtime-spec
    1.3.0: "generate an error, stop the container"); it stays, stopped,
    until delete destroys it and runs its poststop hooks, as runc's does:
    `state` answers for it, and an engine deletes it as any stopped one."""
    poststart = "poststart" in c.hook_points
    try:
        ocirt.TRACE and ocirt.TRACE.begin("exec.sock", until_exec=poststart or until_exec)
        release(c, until_exec=poststart or until_exec)
        ocirt.TRACE and ocirt.TRACE.end("exec.sock")
        debug(f"start {c.id}: the init was released through exec.sock"
              + (" and executed process.args" if poststart or until_exec else ""))
        if poststart:
            from ocirt import hooks
            ocirt.TRACE and ocirt.TRACE.begin("hooks", points="poststart")
            hooks.run_recorded(c, "poststart", Status.RUNNING)
            ocirt.TRACE and ocirt.TRACE.end("hooks")
    except errors.OcirtError:
        from ocirt.container.kill import kill_and_wait
        kill_and_wait(c)
        raise


def release(c, until_exec=False):
    """Tell the waiting init to exec process.args; wait until it is about to
    (until it has, with until_exec).

    The init holds the listening end of <state>/exec.sock (see ocirt.protocol).
    The socket module is not imported here: `start` is a hot command and its
    import graph stays minimal, so the C module _socket is used directly.
    """
    from ocirt.protocol import EXEC_FAILED, EXECUTING, START, connect_unix
    try:
        s = connect_unix(c.fd, EXEC_SOCKET)  # the state directory's fd
    except OSError as e:
        raise errors.InvalidState(f"container {c.id} is not waiting to start: {e.strerror}",
                                  id=c.id)
    try:
        # Killed before the init has START, this start leaves the container
        # as it was (created, the socket in place, the init back in accept);
        # killed after, the init goes on, and the socket left behind no
        # longer makes it read as created (state.Container._init_waits).
        import _socket  # loaded already (connect_unix)
        # MSG_NOSIGNAL: a racing kill may have closed the other end
        s.sendall(START, _socket.MSG_NOSIGNAL)
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
            if reply == EXECUTING and not until_exec:
                break
    except OSError as e:  # the init was killed meanwhile (a racing kill)
        raise errors.InvalidState(f"container {c.id} stopped before it started: {e.strerror}",
                                  id=c.id, status=Status.STOPPED)
    finally:
        s.close()
    try:
        posixos.unlink(EXEC_SOCKET, dir_fd=c.fd)
    except FileNotFoundError:
        pass
    if reply.startswith(EXECUTING):
        reply = reply[1:]
    if reply.startswith(EXEC_FAILED):
        raise errors.SetupError(reply[1:].decode(errors="replace"))
