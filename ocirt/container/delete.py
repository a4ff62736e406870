"""delete: remove everything create made (with --force, kill first)."""
import ocirt
from ocirt import debug, errors, state
from ocirt.state import Status


def delete(root, cid, force=False):
    try:
        c = state.load(root, cid, broken=force)  # --force removes a corrupt record too
        # ContainerNotFound too if another delete removed it meanwhile; a create
        # that held the lock has ended once we have it (refresh reads its record)
        c.lock()
    except errors.ContainerNotFound:
        if force:
            return
        raise
    st = c.refresh()
    debug(f"delete {cid}: {st}, init pid {c.pid}")
    if not Status.can_delete(st, force):
        if st == Status.CREATING:
            raise errors.InvalidState(f"cannot delete container {cid} that is still being "
                                      "created", id=cid, status=st)
        raise errors.InvalidState(f"cannot delete container {cid} that is not stopped: "
                                  f"{st}", id=cid, status=st)
    if Status.can_kill(st):  # created, or --force: its init first, as runc does
        from ocirt.container.kill import kill_and_wait
        ocirt.TRACE and ocirt.TRACE.begin("kill")
        kill_and_wait(c)
        ocirt.TRACE and ocirt.TRACE.end("kill")
        debug(f"delete {cid}: killed")
    ocirt.TRACE and ocirt.TRACE.begin("destroy")
    destroy(c)
    ocirt.TRACE and ocirt.TRACE.end("destroy")
    debug(f"delete {cid}: deleted")


def destroy(c):
    """Remove everything create made, then run the poststop hooks. The
    container must be stopped.

    Its processes: with its own pid namespace they died with its init, and
    nothing else is signalled (a process in its cgroup now is not the
    container's: another container's, say); without one, or after a create
    killed before it recorded the init, all in its cgroup are killed, as runc
    does. OcirtError when something cannot be removed: the state is kept,
    for a later delete to finish."""
    paths, made, unit = c.cgroup_record()
    if paths:
        from ocirt.linux.cgroups import Cgroup
        if unit:
            from ocirt import log
            from ocirt.linux.systemd import stop_unit
            stop_unit(unit, log.warning)
        debug(f"delete {c.id}: removing the cgroup {' '.join(paths.values())}")
        left = Cgroup(paths).destroy(made, kill=not c.has_pidns)
        if left:
            d, why = left[0]
            raise errors.OcirtError(f"cannot delete container {c.id}: cannot remove its "
                                    f"cgroup {d}: {why}")
    for mount_id, unique, info_id, path in c.mounts_record():
        # a container without a mount namespace of its own: the mount that
        # holds all create made in ours (ocirt.linux.rootfs.bind_in_place)
        from ocirt.linux import rootfs
        try:
            rootfs.unmount_recorded(mount_id, unique, info_id, path)
        except OSError as e:
            raise errors.OcirtError(f"cannot delete container {c.id}: cannot unmount its "
                                    f"rootfs {path}: {e.strerror}")
    if "poststop" in c.hook_points:
        from ocirt import hooks, log
        # the spec: a failing poststop hook is a warning; the others still run
        hooks.run_recorded(c, "poststop", Status.STOPPED, warn=log.warning)
    c.remove()
