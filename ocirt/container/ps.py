"""ps: the processes of a container (its cgroup's)."""
from ocirt import errors, state
from ocirt.state import Status


def pids(root, cid):
    """Host pids of the processes in the container's cgroup."""
    c = state.load(root, cid)
    if not Status.can_ps(c.status):
        raise errors.InvalidState(f"container {cid} is still being created")
    return c.cgroup().pids()
