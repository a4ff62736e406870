"""cgroup placement on v1, hybrid and unified (v2) hosts.

A container's cgroup is a set of directories, one per mounted hierarchy,
at the same relative path. ``Cgroup.paths`` maps a hierarchy name (a v1
controller list such as "cpu,cpuacct", "name=systemd", or "unified" for
cgroup2) to the absolute directory; the state store keeps that map so that
later commands need not detect the layout again.

This module places: it finds the hierarchies, makes, claims, joins and
removes the directories. What goes into them is others': the limits are
ocirt.linux.resources', the device rules ocirt.linux.devrules', pausing and
resuming ocirt.linux.freezer's. (cpuset.cpus and cpuset.mems are copied down
here, at mkdir: no process can join a v1 cpuset cgroup without them.)
"""

import _signal
import time

from ocirt import posixos  # os without its import cost (see there)
from ocirt.errors import ConfigError, SetupError
from ocirt.linux import freezer
from ocirt.linux.freezer import UNIFIED, layout_is_unified, subgroups

EBUSY = 16  # errno without importing errno (delete is a hot command)


def hierarchies():
    """{name: mountpoint} for every cgroup hierarchy mounted on this host.

    The mount table decides, not directory names, and only mounts that can be
    seen count: one under a mount that another covers (as when /sys/fs/cgroup
    is mounted over) is hidden. Of a hierarchy's visible mounts, a mount of
    its whole tree (root "/") wins over one of a sub-cgroup, then one under
    /sys/fs/cgroup over others: a container without a mount namespace of its
    own leaves copies of its cgroups in the host's table (under its rootfs),
    which are not the host's: a mount of a sub-cgroup outside /sys/fs/cgroup
    does not count at all. Among equals the first one wins."""
    with open("/proc/self/mountinfo") as f:
        return visible_hierarchies(f)


def visible_hierarchies(mountinfo_lines):
    """hierarchies(), from the lines of a mountinfo file.

    Mount X is covered when a later mount sits on it (its child at the same
    mountpoint) or beside it at or above its mountpoint (a sibling, same
    parent, mounted on an ancestor directory): the kernel gives a mount made
    over a path the mount on top there as its parent. The table's line order
    is no guide: `mount --move` keeps a mount's place in it."""
    mounts, kids = {}, {}
    for line in mountinfo_lines:
        left, _, right = line.partition(" - ")
        f = left.split()
        m = (int(f[0]), int(f[1]), f[4], right.split()[:3], f[3])
        mounts[m[0]] = m
        kids.setdefault(m[1], []).append(m)

    def covered(x, via):
        """x is covered by a mount other than via, the one above it on the
        way from the mount in question."""
        mid, parent, mp = x[:3]
        if any(y is not via and y[2] == mp for y in kids.get(mid, ())):
            return True
        return any(y[0] != mid and ((y[2] == mp and y[0] > mid) or
                                    (y[2] != "/" and mp.startswith(y[2] + "/")))
                   for y in kids.get(parent, ()))

    def visible(x):
        via = None
        for _ in range(64):
            if x is None:
                break
            if covered(x, via):
                return False
            via, x = x, (mounts.get(x[1]) if x[1] != x[0] else None)
        return True

    out = {}
    for m in mounts.values():
        fstype, _src, superopts = m[3]
        if fstype == "cgroup2":
            name = UNIFIED
        elif fstype == "cgroup":
            name = ",".join(o for o in superopts.split(",") if o not in ("rw", "ro") and
                            not o.startswith(("release_agent=", "clone_children", "noprefix",
                                              "xattr", "cpuset_v2_mode", "nsdelegate")))
        else:
            continue
        mp = m[2]
        rank = (m[4] == "/", mp == "/sys/fs/cgroup" or mp.startswith("/sys/fs/cgroup/"))
        if rank == (False, False):  # a sub-cgroup elsewhere: a container's copy
            continue
        if (name not in out or rank > out[name][0]) and visible(m):
            out[name] = (rank, mp)
    return {name: mp for name, (_rank, mp) in out.items()}


def unclaimed_and_empty(d):
    """True if the cgroup directory d exists, has no process and no child
    cgroup, and no create holds its claim (Cgroup.claim)."""
    import fcntl
    try:
        fd = posixos.open(d, posixos.O_RDONLY | posixos.O_DIRECTORY | posixos.O_CLOEXEC)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if any(posixos.path.isdir(posixos.path.join(d, n)) for n in posixos.listdir(d)):
            return False
        with open(posixos.path.join(d, "cgroup.procs")) as f:
            return not f.read().strip()
    except OSError:
        return False
    finally:
        posixos.close(fd)


def own_paths(pid="self"):
    """{hierarchy name: path} from /proc/<pid>/cgroup."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _hid, ctrls, path = line.rstrip("\n").split(":", 2)
            out[ctrls or UNIFIED] = path
    return out


class Cgroup:
    def __init__(self, paths):
        self.paths = dict(paths)
        self.systemd = None  # (slice, unit) when systemd made it
        self.claim_fd = -1   # the flock of claim(), held until release()
        self.claimed = False
        # the parents are ocirt's default (/ocirt): they get the realtime
        # budget the container asks for (see ocirt.linux.resources._fund_rt)
        self.default_parent = False

    @classmethod
    def for_container(cls, cgroups_path, cid):
        """Where a container with this linux.cgroupsPath goes (nothing is created)."""
        rel = cgroups_path or f"/ocirt/{cid}"
        if ".." in rel.split("/"):
            # even where it stays inside after normalising, a ".." names a
            # cgroup by where another one is: refused, as it can lead out
            raise ConfigError(f"{rel!r}: '..' is not allowed in a cgroup path",
                              "$.linux.cgroupsPath")
        if ":" in rel and not rel.startswith("/"):
            raise ConfigError(f"$.linux.cgroupsPath: {rel!r} is a systemd path "
                              "(slice:prefix:name); use --systemd-cgroup")
        mine = own_paths() if not rel.startswith("/") else {}
        paths = {}
        for name, mp in hierarchies().items():
            base = mine.get(name, "/") if mine else "/"
            full = posixos.path.normpath(posixos.path.join(base, rel)).lstrip("/")
            paths[name] = posixos.path.join(mp, full)
        cg = cls(paths)
        cg.default_parent = not cgroups_path
        return cg

    @staticmethod
    def _mkdir_p(name, path, made):
        missing = []
        p = path
        while not posixos.path.isdir(p):
            missing.append(p)
            p = posixos.path.dirname(p)
        if "cpuset" in name.split(","):
            _fill_cpuset(p)
        intend = getattr(made, "intend", None)  # the record's: see ocirt.state._MadeDirs
        for d in reversed(missing):
            if intend:
                intend(d)
            try:
                posixos.mkdir(d, 0o755)
            except FileExistsError:
                if intend:
                    made.exists(d)
                if posixos.path.isdir(d):
                    continue  # another create made it meanwhile: not ours
                raise NotADirectoryError(20, "Not a directory", d)
            made.append(d)
            if "cpuset" in name.split(","):
                _inherit_cpuset(d)

    def create(self, made):
        """mkdir -p each directory, appending each one it makes to `made` at
        once (a list, or one that records as it goes: see ocirt.state), so
        that whatever fails or kills create midway, what it made is known.

        The leaves are made under an exclusive flock on the parent of the
        first one (the cgroup2 one, where the init is born), and the one who
        makes them takes the first one's own flock (see claim) before letting
        go: of two creates with one cgroupsPath (one id under two --roots,
        say), one makes the leaves and claims them first, the other makes
        none, and each removes only what is its own. The kernel serialises
        cgroup mkdirs anyway: this costs no parallelism.

        On a pure cgroup2 host every controller the tree offers is enabled
        down to the container's parent, as runc does, so that what a
        container gets does not depend on what came before it."""
        if not self.paths:  # a user other than root's (ocirt.container.rootless)
            return
        import fcntl
        first = self.paths.get(UNIFIED) or next(iter(self.paths.values()))
        for attempt in range(6):  # a parent that another delete removes meanwhile: again
            try:
                for name, path in self.paths.items():
                    self._mkdir_p(name, posixos.path.dirname(path), made)
                fd = posixos.open(posixos.path.dirname(first), posixos.O_RDONLY
                                  | posixos.O_DIRECTORY | posixos.O_CLOEXEC)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    for name, path in self.paths.items():
                        self._mkdir_p(name, path, made)
                    self.claim_fd = posixos.open(first, posixos.O_RDONLY | posixos.O_DIRECTORY
                                                 | posixos.O_CLOEXEC)
                    try:  # never waits for the one who made it: only for another create
                        fcntl.flock(self.claim_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        self.claimed = True
                    except BlockingIOError:
                        pass
                finally:
                    posixos.close(fd)
                break
            except OSError as e:
                if isinstance(e, FileNotFoundError) and attempt < 5:
                    continue
                raise ConfigError(f"cannot create the cgroup {e.filename}: {e.strerror}",
                                  "$.linux.cgroupsPath")
        if layout_is_unified(self.paths):
            _enable_all(hierarchies().get(UNIFIED), self.paths[UNIFIED])

    def claim(self, made):
        """Take this cgroup (made by create()) for a new container's init, or
        say why it cannot.

        Under an exclusive flock on its directory, held until release(): two
        creates with one cgroupsPath take turns, and the second sees the
        first's init. Then the cgroup must be empty (as runc 1.2 checks:
        sharing it would make each container's delete the other's) and not
        frozen (an init born there would hang, and create with it). The
        hierarchy the init is born in is always read; another only where
        create did not make the directory itself (a new cgroup has no
        process, but is frozen with a frozen parent).
        ConfigError on $.linux.cgroupsPath otherwise."""
        if not self.paths:
            return
        import fcntl
        first = self.paths.get(UNIFIED) or next(iter(self.paths.values()))
        try:
            if not self.claimed:  # another create of this cgroup is under way: its turn first
                fcntl.flock(self.claim_fd, fcntl.LOCK_EX)
                try:
                    same = posixos.stat(first).st_ino == posixos.fstat(self.claim_fd).st_ino
                except OSError:
                    same = False
                if not same:
                    raise ConfigError(f"the container's cgroup {first} was removed by another "
                                      "create meanwhile (it failed): try again",
                                      "$.linux.cgroupsPath")
            for name, d in self.paths.items():
                try:
                    if name == UNIFIED:
                        with open(posixos.path.join(d, "cgroup.events")) as f:
                            events = f.read()
                        busy, frozen = "populated 1" in events, "frozen 1" in events
                    else:
                        busy = (d == first or d not in made) and bool(
                            _words(posixos.path.join(d, "cgroup.procs")))
                        frozen = False
                        if "freezer" in name.split(","):
                            with open(posixos.path.join(d, "freezer.state")) as f:
                                frozen = f.read().strip() != "THAWED"
                except OSError as e:
                    raise ConfigError(f"cannot read the cgroup {d}: {e.strerror}",
                                      "$.linux.cgroupsPath")
                if busy:
                    n = len(_words(posixos.path.join(d, "cgroup.procs")))
                    found = f"{n} process(es) found" if n else "its sub-cgroups have processes"
                    raise ConfigError(f"the container's cgroup {d} is not empty: {found}",
                                      "$.linux.cgroupsPath")
                if frozen:
                    raise ConfigError(f"the container's cgroup {d} is frozen",
                                      "$.linux.cgroupsPath")
        except BaseException:
            self.release()
            raise

    def release(self):
        if self.claim_fd >= 0:
            posixos.close(self.claim_fd)
            self.claim_fd = -1
            self.claimed = False

    def fork(self, ns_flags=0, place=True):
        """Fork; the child is born in this cgroup's v2 directory when it can be
        (and place: not when systemd is to make the directory), and in new
        namespaces for the CLONE_NEW* ns_flags.

        Returns (pid, placed): placed tells the child whether the kernel put
        it in the unified hierarchy already (clone3 CLONE_INTO_CGROUP).
        NotImplementedError: ns_flags were asked for, and this kernel has no
        clone3 to make them with.
        """
        pid, placed = self._fork(ns_flags, place)
        if pid == 0 and self.claim_fd >= 0:
            posixos.close(self.claim_fd)  # the flock is create's, not the container's
            self.claim_fd = -1
        return pid, placed

    def _fork(self, ns_flags, place):
        from ocirt.linux import shim
        path = self.paths.get(UNIFIED) if place else None
        fd = -1 if path is None else posixos.open(path, posixos.O_RDONLY | posixos.O_DIRECTORY
                                                  | posixos.O_CLOEXEC)
        try:
            if fd >= 0 or ns_flags:
                try:
                    return shim.fork_into_cgroup(fd, ns_flags), fd >= 0
                except OSError as e:
                    import errno
                    if e.errno not in (errno.ENOSYS, errno.E2BIG, errno.EINVAL):
                        raise OSError(e.errno, e.strerror, path)
                    if ns_flags:
                        raise NotImplementedError("clone3")
        finally:
            if fd >= 0:
                posixos.close(fd)
        return posixos.fork(), False

    def move(self, pid):
        """Move a (single-threaded) process into every hierarchy: cgroup.procs,
        the slow path (see fork and join_self), for the rare cases that need it."""
        for path in self.paths.values():
            with open(posixos.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def join_self(self, placed_in_unified=False):
        """Move the calling (single-threaded) process into every hierarchy.

        v1 hierarchies: "0" into `tasks` moves the caller's only thread, which
        the kernel does without the global threadgroup lock (no RCU grace
        period to wait for). cgroup2 has no such path: there the caller should
        have been born in place (see fork); otherwise cgroup.procs it is.
        """
        for name, path in self.paths.items():
            if name == UNIFIED:
                if placed_in_unified:
                    continue
                target = posixos.path.join(path, "cgroup.procs")
            else:
                target = posixos.path.join(path, "tasks")
            fd = posixos.open(target, posixos.O_WRONLY | posixos.O_CLOEXEC)
            try:
                posixos.write(fd, b"0")
            except OSError as e:  # write(2) names no file: say which
                raise OSError(e.errno, e.strerror, target) from None
            finally:
                posixos.close(fd)

    def kill_all(self):
        """SIGKILL every process at once with cgroup2's cgroup.kill; False where
        there is none (v1, or a kernel before 5.14): the caller signals each pid."""
        d = self.paths.get(UNIFIED)
        if d is None or not layout_is_unified(self.paths):
            return False
        try:
            fd = posixos.open(posixos.path.join(d, "cgroup.kill"), posixos.O_WRONLY
                              | posixos.O_CLOEXEC)
        except OSError:
            return False
        try:
            posixos.write(fd, b"1")
        finally:
            posixos.close(fd)
        return True

    def pids(self, below=False):
        """The processes in this cgroup (below: and in every cgroup under it)."""
        for name in (UNIFIED, "pids", "freezer", "memory"):
            if name in self.paths or any(name in k.split(",") for k in self.paths):
                path = self.dir_of(name)
                try:
                    with open(posixos.path.join(path, "cgroup.procs")) as f:
                        out = [int(x) for x in f.read().split()]
                except OSError:
                    continue
                for d in subgroups(path) if below else ():
                    out += [int(x) for x in _words(posixos.path.join(d, "cgroup.procs"))]
                return out
        return []

    def signal(self, sig):
        """Signal every process in this cgroup and below it (cgroup.kill for a
        SIGKILL where there is one). Returns False when there was none."""
        if sig == _signal.SIGKILL and self.kill_all():
            return True
        pids = self.pids(below=True)
        for pid in pids:
            try:
                posixos.kill(pid, sig)
            except ProcessLookupError:
                pass
        return bool(pids)

    def dir_of(self, ctrl):
        """The container's directory in the v1 hierarchy of controller
        <ctrl> (a co-mounted one too: "cpu" in "cpu,cpuacct"), or None."""
        for k, v in self.paths.items():
            if k == ctrl or ctrl in k.split(","):
                return v
        return None

    def destroy(self, made, kill=False):
        """Remove the directories create made (`made`: the leaves and the
        parents it made for them), each leaf with the cgroups the container
        made below it, deepest first. A directory create did not make stays.

        kill: SIGKILL whatever is in the cgroup and below it first (and again
        while it will not go): a container without its own pid namespace,
        whose cgroup is the container, as with runc. Without it nothing is
        signalled: a process left there is not the container's (its pid
        namespace died with its init), and is left alone.

        Returns [(directory, why)] for what could not be removed."""
        if kill:
            freezer.thaw_all(self.paths)
            self.signal(_signal.SIGKILL)
        leaves = set(self.paths.values())
        pending = [d for d in made if d in leaves]
        left = []
        for attempt in range(50):
            busy = []
            for top in pending:
                why = _rmdir_tree(top)
                if why == EBUSY:
                    busy.append(top)
                elif why:
                    left.append((top, why))
            pending = busy
            if not pending:
                break
            if kill:
                self.signal(_signal.SIGKILL)
            time.sleep(0.01)
        for top in pending:
            left.append(_who_is_in(top))
        if not left:
            for d in reversed(made):  # the parents, if nothing else uses them
                if d not in leaves:
                    try:
                        posixos.rmdir(d)
                    except OSError:
                        pass
        return left


def _words(path):
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def _below(path, top):
    """path relative to top, a directory above it (os.path.relpath without os)."""
    path, top = posixos.path.normpath(path), posixos.path.normpath(top)
    if path == top:
        return "."
    return path[len(top):].lstrip("/") if top != "/" else path.lstrip("/")


def enable_controller(leaf, ctrl, where):
    """Make the cgroup2 controller ctrl available in leaf, a cgroup2
    directory: enable it in every ancestor of leaf below the mount, if the
    tree offers it. False if it does not; SetupError on where if an ancestor
    refuses."""
    mount = hierarchies().get(UNIFIED)
    if not mount or ctrl not in _words(posixos.path.join(mount, "cgroup.controllers")):
        return False
    _enable(mount, leaf, ctrl, where)
    return True


def _enable(mount, leaf, ctrl, where):
    """Enable a cgroup2 controller in every ancestor of leaf below the mount."""
    rel = _below(leaf, mount)
    parts = [] if rel == "." else rel.split("/")
    d = mount
    for part in parts:
        if ctrl not in _words(posixos.path.join(d, "cgroup.subtree_control")):
            try:
                with open(posixos.path.join(d, "cgroup.subtree_control"), "w") as f:
                    f.write("+" + ctrl)
            except OSError as e:
                raise SetupError(f"cannot enable the {ctrl} controller in {d}: {e.strerror}",
                                 where)
        d = posixos.path.join(d, part)


def _enable_all(mount, leaf):
    """Enable every offered controller in each directory from the mount down
    to leaf's parent (errors are ignored: runc does the same)."""
    if not mount:
        return
    rel = _below(leaf, mount)
    d = mount
    for part in ([] if rel == "." else rel.split("/")[:-1]):
        _enable_offered(d)
        d = posixos.path.join(d, part)
    if rel != ".":
        _enable_offered(d)


def _enable_offered(d):
    enabled = _words(posixos.path.join(d, "cgroup.subtree_control"))
    for ctrl in _words(posixos.path.join(d, "cgroup.controllers")):
        if ctrl not in enabled:
            try:
                with open(posixos.path.join(d, "cgroup.subtree_control"), "w") as f:
                    f.write("+" + ctrl)
            except OSError:
                pass  # e.g. a threaded subtree, or a process in that cgroup


def _rmdir_tree(top):
    """rmdir top, and if it has sub-cgroups, them first (deepest first).
    None once it is gone; EBUSY while processes are in it; else why not."""
    for again in (False, True):
        try:
            posixos.rmdir(top)
            return None
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno != EBUSY:
                return e.strerror
        if again:
            return EBUSY
        for d in subgroups(top):
            try:
                posixos.rmdir(d)
            except OSError:
                pass


def _who_is_in(top):
    """(directory, why) for a cgroup that would not go: where processes are."""
    for d in subgroups(top) + [top]:
        n = len(_words(posixos.path.join(d, "cgroup.procs")))
        if n:
            return d, f"{n} process(es) still in it"
    return top, "Device or resource busy"


def _rmdir_retry(path):
    for _ in range(50):
        try:
            posixos.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            import errno  # here: delete, a hot command, seldom gets this far
            if e.errno != errno.EBUSY:
                raise
            # Processes still leaving: give the kernel a moment.
            time.sleep(0.01)
    posixos.rmdir(path)


def _fill_cpuset(path):
    """Give path, an existing v1 cpuset cgroup, and each ancestor of it whose
    cpuset.cpus or cpuset.mems is empty, its parent's, top down, as runc
    does: a parent made by hand (mkdir) starts empty, and no task can join a
    cgroup under it until it has CPUs and memory nodes (ENOSPC)."""
    empty = []
    d = path
    while d != "/" and any(not "".join(_words(posixos.path.join(d, f)))
                           for f in ("cpuset.cpus", "cpuset.mems")):
        if not posixos.path.exists(posixos.path.join(d, "cpuset.cpus")):
            break  # above the hierarchy's root: stop
        empty.append(d)
        d = posixos.path.dirname(d)
    for d in reversed(empty):
        _inherit_cpuset(d, only_empty=True)


def _inherit_cpuset(path, only_empty=False):
    parent = posixos.path.dirname(path)
    for f in ("cpuset.cpus", "cpuset.mems"):
        if only_empty and _words(posixos.path.join(path, f)):
            continue
        try:
            with open(posixos.path.join(parent, f)) as src:
                val = src.read().strip()
            with open(posixos.path.join(path, f), "w") as dst:
                dst.write(val)
        except OSError:
            pass
