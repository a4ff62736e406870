"""pause and resume: the cgroup freezer, under the container's lock."""

from ocirt import errors, state
from ocirt.linux import freezer
from ocirt.state import Status


def pause(root, cid):
    _freezer_op(root, cid, Status.can_pause, "not running", "pause", "freeze")


def resume(root, cid):
    _freezer_op(root, cid, Status.can_resume, "not paused", "resume", "thaw")


def _freezer_op(root, cid, allowed, refusal, verb, method):
    """Under the container's lock: check its status, then freeze or thaw it."""
    c = state.load(root, cid)
    c.lock()
    try:
        st = c.refresh()
        if not allowed(st):
            raise errors.InvalidState(f"container {cid} is {refusal} ({st})", id=cid,
                                      status=st)
        if not c.cgroup_paths:
            raise errors.OcirtError(f"cannot {verb} {cid}: it has no cgroup (its user, not "
                                    "root, could make none: the freezer needs a cgroup "
                                    "delegated to that user)")
        try:
            getattr(freezer, method)(c.cgroup_paths)
        except OSError as e:
            raise errors.OcirtError(f"cannot {verb} {cid}: {e.strerror}")
    finally:
        c.unlock()
