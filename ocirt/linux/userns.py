"""User namespaces: their uid and gid maps, and namespaces made only to
hold the mappings of idmapped mounts (MOUNT_ATTR_IDMAP takes a user
namespace's fd)."""
from ocirt import errors
from ocirt import posixos  # os without its import cost (see there)


def idmap_namespaces(mounts, uid_mappings, gid_mappings):
    """{mount index: fd of a user namespace with that mount's mappings} for
    idmapped mounts (mappings of the mount, else the container's)."""
    out = {}
    made = {}
    for i, m in enumerate(mounts):
        if not m.idmapped:
            continue
        maps = (m.uid_mappings or uid_mappings, m.gid_mappings or gid_mappings)
        if maps not in made:
            made[maps] = user_namespace_fd(*maps, where=f"$.mounts[{i}]")
        out[i] = made[maps]
    return out


def user_namespace_fd(uid_maps, gid_maps, where):
    """A new user namespace with these mappings, held by an fd (its process is gone)."""
    from ocirt.linux import shim
    ready_r, ready_w = posixos.pipe()
    go_r, go_w = posixos.pipe()
    pid = posixos.fork()
    if pid == 0:
        try:
            posixos.close(ready_r)
            posixos.close(go_w)
            shim.unshare(shim.CLONE_NEWUSER)
            posixos.write(ready_w, b"1")
            posixos.read(go_r, 1)  # keep the namespace alive until the parent holds it
        finally:
            posixos._exit(0)
    posixos.close(ready_w)
    posixos.close(go_r)
    try:
        if posixos.read(ready_r, 1) != b"1":
            raise errors.ConfigError("cannot make the idmap user namespace", where)
        for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(_map_text(maps))
        return posixos.open(f"/proc/{pid}/ns/user", posixos.O_RDONLY | posixos.O_CLOEXEC)
    except OSError as e:
        raise errors.ConfigError(f"cannot make the idmap user namespace: {e.strerror}", where)
    finally:
        posixos.close(ready_r)
        posixos.close(go_w)
        posixos.waitpid(pid, 0)


def write_id_maps(pid, uid_mappings, gid_mappings):
    """The maps of process <pid>'s new user namespace (linux.uidMappings
    and linux.gidMappings).

    A user other than root (user_namespaces(7)) may write one mapping of
    its own id itself; a gid_map only once setgroups is denied (else the
    container could drop a group that denies it access, by setgroups).
    Other mappings go through newuidmap/newgidmap, the setuid helpers that
    allow the ranges /etc/subuid and /etc/subgid give the user (as podman
    does)."""
    unprivileged = posixos.geteuid() != 0
    for name, maps in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
        where = "$.linux." + ("uidMappings" if name == "uid_map" else "gidMappings")
        if unprivileged and not _own_id_only(maps, name):
            _new_id_map(pid, name, maps, where)
            continue
        text = _map_text(maps)
        try:
            if unprivileged and name == "gid_map":
                with open(f"/proc/{pid}/setgroups", "w") as f:
                    f.write("deny")
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise errors.ConfigError(f"cannot write {e.filename or name}: {e.strerror}",
                                     where)


def _map_text(maps):
    """A uid_map or gid_map's text: one "container host size" line per mapping."""
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)


def _own_id_only(maps, name):
    """The maps are one mapping of the caller's own uid (gid) alone."""
    own = posixos.geteuid() if name == "uid_map" else posixos.getegid()
    return len(maps) == 1 and maps[0].host_id == own and maps[0].size == 1


def _new_id_map(pid, name, maps, where):
    """newuidmap or newgidmap PID (CONTAINER-ID HOST-ID SIZE)...: they check
    each range against /etc/subuid or /etc/subgid (the user's own id is
    allowed too) and write the map as root."""
    import subprocess
    tool = "newuidmap" if name == "uid_map" else "newgidmap"
    argv = [tool, str(pid)] + [str(v) for m in maps for v in (m.container_id, m.host_id, m.size)]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, close_fds=True)
    except OSError as e:
        raise errors.ConfigError(f"{tool}: {e.strerror} (a user other than root needs it "
                                 "for these mappings: package uidmap)", where)
    if p.returncode != 0:
        why = " ".join(p.stderr.decode(errors="replace").split()) or f"exit status {p.returncode}"
        raise errors.ConfigError(f"{' '.join(argv)}: {why}", where)
