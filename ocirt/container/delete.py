"""delete: remove everything create made (with --force, kill first)."""
from ocirt import errors, state
from ocirt import posixos as os  # os without its import cost (see there)
from ocirt.state import Status

SIGKILL = 9


def delete(root, cid, force=False):
    try:
        c = state.load(root, cid, broken=force)  # --force removes a corrupt record too
    except errors.ContainerNotFound:
        if force:
            return
        raise
    c.lock()
    st = c.refresh()
    if st in (Status.RUNNING, Status.PAUSED) and not force:
        raise errors.InvalidState(f"cannot delete container {cid} that is not stopped: "
                                  f"{st}")
    if st is Status.CREATING and not force:
        raise errors.InvalidState(f"cannot delete container {cid} that is still being created")
    if st is not Status.STOPPED and st is not Status.CREATING:
        from ocirt.container.kill import kill_and_wait
        kill_and_wait(c)
    destroy(c)


def destroy(c):
    """Remove everything create made. The container must be stopped."""
    if "poststop" in c.hook_points:
        from ocirt import hooks, log
        # the spec: a failing poststop hook is a warning; the others still run
        hooks.run_recorded(c, "poststop", Status.STOPPED, warn=log.warning)
    paths, made, unit = c.cgroup_record()
    if paths:
        from ocirt.linux.cgroups import Cgroup
        cg = Cgroup(paths)
        for pid in cg.pids():  # no private pid namespace, or a create killed halfway
            try:
                os.kill(pid, SIGKILL)
            except ProcessLookupError:
                pass
        if unit:
            from ocirt import log
            from ocirt.linux.systemd import stop_unit
            stop_unit(unit, log.warning)
        try:
            cg.destroy()
        except OSError as e:
            from ocirt import log
            log.warning(f"cannot remove cgroup of {c.id}: {e.strerror}")
        for d in reversed(made):  # the parents create made, if nothing else uses them
            if d not in paths.values():
                try:
                    os.rmdir(d)
                except OSError:
                    pass
    c.remove()
