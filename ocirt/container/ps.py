"""ps: the processes of a container (its cgroup's)."""
import os

from ocirt import errors, state
from ocirt.linux.proc import is_alive
from ocirt.state import Status


def pids(root, cid):
    """Host pids of the processes in the container's cgroup."""
    c = state.load(root, cid)
    if not Status.can_ps(c.status):
        raise errors.InvalidState(f"container {cid} is still being created", id=cid,
                                  status=Status.CREATING)
    if not c.cgroup_paths:
        return _in_pid_namespace(c)
    return c.cgroup().pids()


def _in_pid_namespace(c):
    """A container without a cgroup (a user other than root could make none,
    ocirt.container.rootless): the processes of its init's pid namespace,
    those whose /proc/<pid>/ns/pid the caller may read (not the init before
    start, whose memory is still the runtime's: it is counted by its pid)."""
    if not c.has_pidns:
        raise errors.OcirtError(f"container {c.id} has neither a cgroup nor a pid namespace "
                                "of its own: its processes cannot be told from others")
    if not is_alive(c.pid, c.starttime):
        return []
    try:
        st = os.stat(f"/proc/{c.pid}/ns/pid")
    except PermissionError:
        return [c.pid]
    except OSError:
        return []
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                other = os.stat(f"/proc/{name}/ns/pid")
            except OSError:
                continue
            if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                out.append(int(name))
    return sorted(out)
