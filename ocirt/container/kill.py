"""kill: signal the init, or every process in the container's cgroup."""

import _signal

from ocirt import debug, errors, state
from ocirt import posixos  # os without its import cost (see there)
from ocirt.state import Status


def kill(root, cid, sig, all_processes=False):
    # "container not running" is runc's wording, which containerd's runc shim
    # matches to tell "already exited" (not a failure) from a failed kill
    c = state.load(root, cid)
    debug(f"kill {cid}: signal {sig} to " + ("every process of its cgroup" if all_processes
                                             else f"the init, pid {c.pid}"))
    st = c.status
    if all_processes:
        if not Status.can_kill_all(st):
            raise errors.InvalidState(f"container {cid}: container not running ({st})", id=cid,
                                      status=st)
        signal_all(c, sig, init_alive=Status.can_kill(st))
    else:
        if st == Status.CREATING:
            raise errors.InvalidState(f"container {cid} is still being created", id=cid,
                                      status=st)
        if not Status.can_kill(st):
            raise errors.InvalidState(f"container {cid}: container not running", id=cid, status=st)
        send_signal(c, sig)  # through a pidfd: the init may have died since
    if sig == _signal.SIGKILL:
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
        pfd = posixos.pidfd_open(c.pid)
    except ProcessLookupError:
        raise errors.InvalidState(f"container {c.id}: container not running")
    try:
        if not is_alive(c.pid, c.starttime):
            raise errors.InvalidState(f"container {c.id}: container not running")
        _signal.pidfd_send_signal(pfd, sig)
    finally:
        posixos.close(pfd)


def signal_all(c, sig, init_alive=True):
    """Signal every process in the container's cgroup and the cgroups below it."""
    if not c.cgroup().signal(sig) and init_alive:
        send_signal(c, sig)


def kill_and_wait(c, timeout=10):
    """SIGKILL the container and wait until its init has exited.

    With its own pid namespace the init alone is signalled: the kernel kills
    the rest of the namespace, and the init's exit completes only once they
    are gone. Without one, every process in its cgroup, as runc does. Frozen
    cgroups are thawed first (a frozen v1 task does not die). OcirtError,
    with nothing done, when a parent cgroup keeps it frozen; or when the
    init outlives the SIGKILL by timeout seconds."""
    from ocirt.linux import freezer
    from ocirt.linux.proc import is_alive
    frozen = freezer.thaw_all(c.cgroup_paths)
    if frozen:
        raise errors.OcirtError(f"cannot kill container {c.id}: a parent cgroup keeps it "
                                f"frozen ({frozen})")
    try:
        pfd = posixos.pidfd_open(c.pid)
    except ProcessLookupError:
        pfd = -1
    try:
        alive = pfd >= 0 and is_alive(c.pid, c.starttime)
        if alive:
            try:
                _signal.pidfd_send_signal(pfd, _signal.SIGKILL)
            except ProcessLookupError:
                alive = False
        if not c.has_pidns:
            c.cgroup().signal(_signal.SIGKILL)
        if alive:
            import select
            if not select.select([pfd], [], [], timeout)[0]:
                raise errors.OcirtError(f"container {c.id}: its init (pid {c.pid}) is still "
                                        f"there {timeout} s after SIGKILL")
    finally:
        if pfd >= 0:
            posixos.close(pfd)


def thaw(c):
    from ocirt.linux import freezer
    try:
        freezer.thaw(c.cgroup_paths)
    except OSError:
        pass
