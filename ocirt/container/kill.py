"""kill: signal the init, or every process in the container's cgroup."""
from ocirt import errors, state
from ocirt import posixos as os  # os without its import cost (see there)
from ocirt.state import Status

SIGKILL = 9


def kill(root, cid, sig, all_processes=False):
    c = state.load(root, cid)
    if all_processes:
        st = c.status
        if st is not Status.STOPPED and not Status.can_kill(st):
            raise errors.InvalidState(f"container {cid} is not running ({st})")
        # A stopped container's init is gone, but processes may be left in the
        # cgroup (a container in the host's pid namespace): they get the signal,
        # as with runc. containerd's shim sends KILL so when such an init exits.
        signal_all(c, sig, init_alive=st is not Status.STOPPED)
    else:
        # created, running and paused may all be signalled: what matters is that
        # the init is alive, which send_signal checks through a pidfd (no full
        # status derivation on this hot path).
        if not c.recorded:
            raise errors.InvalidState(f"container {cid} is still being created")
        send_signal(c, sig)
    if sig == SIGKILL:
        from ocirt.linux import freezer
        if freezer.is_frozen(c.cgroup_paths):
            # a killed process of a frozen (paused) cgroup v1 dies only once
            # thawed: thaw, as runc does (podman kill/rm of a paused container
            # count on it)
            thaw(c)


def send_signal(c, sig):
    """Signal the init through a pidfd, after checking it is still the same process."""
    from ocirt.linux.proc import is_alive
    try:
        pfd = os.pidfd_open(c.pid)
    except ProcessLookupError:
        raise errors.InvalidState(f"container {c.id} is not running")
    try:
        if not is_alive(c.pid, c.starttime):
            raise errors.InvalidState(f"container {c.id} is not running")
        import _signal
        _signal.pidfd_send_signal(pfd, sig)
    finally:
        os.close(pfd)


def signal_all(c, sig, init_alive=True):
    cg = c.cgroup()
    if sig == SIGKILL and cg.kill_all():
        return
    pids = cg.pids()
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    if not pids and init_alive:
        send_signal(c, sig)


def kill_and_wait(c):
    if c.status is Status.PAUSED:
        thaw(c)
    try:
        send_signal(c, SIGKILL)
    except errors.InvalidState:
        pass
    if not c.has_pidns:
        signal_all(c, SIGKILL)
    from ocirt.linux.proc import wait_gone
    wait_gone(c.pid)


def thaw(c):
    from ocirt.linux import freezer
    try:
        freezer.thaw(c.cgroup_paths)
    except OSError:
        pass
