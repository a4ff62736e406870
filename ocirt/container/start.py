"""start: release the waiting init, then run poststart hooks."""
from ocirt import errors, state
from ocirt import posixos as os  # os without its import cost (see there)
from ocirt.state import EXEC_SOCKET, Status


def start(root, cid):
    c = state.load(root, cid)
    c.lock()
    st = c.refresh()
    if not Status.can_start(st):
        raise errors.InvalidState(f"cannot start a container that is {st}")
    begin(c)


def begin(c, keep=False):
    """Release the init, then run poststart hooks.

    runtime-spec 1.3.0: when startContainer or poststart hooks fail (or the
    process cannot be executed), the container is stopped and destroyed, and
    its poststop hooks run.

    keep: return the connection to the init while its exec is still to come
    (else None), for exec_failure() to read once the process has ended."""
    poststart = "poststart" in c.hook_points
    try:
        conn = release(c, until_exec=poststart, keep=keep)
        if poststart:
            from ocirt import hooks
            hooks.run_recorded(c, "poststart", Status.RUNNING)
    except errors.OcirtError:
        from ocirt.container.delete import destroy
        from ocirt.container.kill import kill_and_wait
        kill_and_wait(c)
        destroy(c)
        raise
    return conn


def release(c, until_exec=False, keep=False):
    """Tell the waiting init to exec process.args; wait until it is about to
    (until it has, with until_exec).

    The init holds the listening end of <state>/exec.sock (see ocirt.protocol).
    The socket module is not imported here: `start` is a hot command and its
    import graph stays minimal, so the C module _socket is used directly.

    keep: when the exec is still to come, return the connection (else None):
    the init reports a failed execve on it (see exec_failure).
    """
    from ocirt.protocol import EXEC_FAILED, EXECUTING, START, connect_unix
    try:
        s = connect_unix(c.fd, EXEC_SOCKET)  # the state directory's fd
    except OSError as e:
        raise errors.InvalidState(f"container {c.id} is not waiting to start: {e.strerror}")
    try:
        # Killed before the init has START, this start leaves the container
        # as it was (created, the socket in place, the init back in accept);
        # killed after, the init goes on, and the socket left behind no
        # longer makes it read as created (state.Container._init_waits).
        try:
            s.sendall(START)
        except OSError as e:
            raise errors.InvalidState(f"container {c.id} is not waiting to start: "
                                      f"{e.strerror}")
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
            if reply == EXECUTING and not until_exec:
                break
    except BaseException:
        s.close()
        raise
    if keep and reply == EXECUTING and not until_exec:
        kept = s
    else:
        kept = None
        s.close()
    try:
        os.unlink(EXEC_SOCKET, dir_fd=c.fd)
    except FileNotFoundError:
        pass
    if reply.startswith(EXECUTING):
        reply = reply[1:]
    if reply.startswith(EXEC_FAILED):
        raise errors.SetupError(reply[1:].decode(errors="replace"))
    return kept


def exec_failure(conn):
    """Once the container's process has ended: why its execve failed, or
    None when it ran (the init's end of the connection closes on exec)."""
    from ocirt.protocol import EXEC_FAILED
    reply = b""
    try:
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    except OSError:
        pass
    finally:
        conn.close()
    if reply.startswith(EXEC_FAILED):
        return reply[1:].decode(errors="replace")
    return None
