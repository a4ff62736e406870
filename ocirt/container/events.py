"""events: runc's stats and OOM events, until the container stops."""
import gc
import os
import select

from ocirt import errors, state
from ocirt.linux import resources, stats as stats_mod
from ocirt.state import Status


def stats(c):
    return stats_mod.collect(c.cgroup(), resources.hugepage_sizes())


def watch(root, cid, interval, once):
    """runc's events, as an iterator of dicts: a stats event now (once) or
    every `interval` seconds, an "oom" event whenever the kernel's OOM killer
    acts in the container, until the container stops. The container is
    checked here, before the first event is asked for."""
    c = state.load(root, cid)
    st = c.refresh()
    if not Status.can_events(st):
        raise errors.InvalidState(f"container {cid} is not running ({st})", id=cid, status=st)
    if once:
        return iter([{"type": "stats", "id": cid, "data": stats(c)}])
    return _follow(cid, c.pid, c.cgroup(), interval)  # (c's record is read: it may be closed)


def _follow(cid, pid, cg, interval):
    """The events until the init exits (at once, if it has since watch looked)."""
    gc.enable()  # the launcher turns it off for short commands; this one may run for days
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    sizes = resources.hugepage_sizes()
    oom = _OomWatch(cg)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if oom.fd is not None:
        poller.register(oom.fd, oom.events)
    try:
        while True:
            ready = poller.poll(interval * 1000)
            if not ready:
                yield {"type": "stats", "id": cid, "data": stats_mod.collect(cg, sizes)}
                continue
            for fd, _ in ready:
                if fd == oom.fd and oom.fired():
                    yield {"type": "oom", "id": cid}
            if any(fd == pidfd for fd, _ in ready):
                return
    finally:
        os.close(pidfd)
        oom.close()


class _OomWatch:
    """An fd that wakes poll() when the OOM killer acts in the memory cgroup:
    a v1 eventfd registered on memory.oom_control, or cgroup2's memory.events
    (POLLPRI on change; the oom_kill count tells whether it was a kill)."""

    def __init__(self, cg):
        self.fd = None
        self._keep = []
        self._count = 0
        d, v2 = cg.dir_of("memory"), False
        if d is None and cg.paths.get("unified"):
            d, v2 = cg.paths["unified"], True
        if d is None:
            return
        try:
            if v2:
                self.fd = os.open(os.path.join(d, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
                self.events = select.POLLPRI | select.POLLERR
                self._count = self._kills()
            else:
                efd = os.eventfd(0, os.EFD_CLOEXEC)
                ctl = os.open(os.path.join(d, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
                self._keep.append(ctl)
                with open(os.path.join(d, "cgroup.event_control"), "w") as f:
                    f.write(f"{efd} {ctl}")
                self.fd, self.events = efd, select.POLLIN
        except OSError:
            self.close()
            self.fd = None

    def _kills(self):
        data = os.pread(self.fd, 4096, 0).decode()
        for line in data.splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def fired(self):
        if self.events & 1:  # POLLIN: the v1 eventfd
            os.eventfd_read(self.fd)
            return True
        n = self._kills()
        fired, self._count = n > self._count, n
        return fired

    def close(self):
        for fd in self._keep + ([self.fd] if self.fd is not None else []):
            try:
                os.close(fd)
            except OSError:
                pass
        self._keep = []
