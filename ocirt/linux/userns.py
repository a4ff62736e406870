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
                f.write("".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps))
        return posixos.open(f"/proc/{pid}/ns/user", posixos.O_RDONLY | posixos.O_CLOEXEC)
    except OSError as e:
        raise errors.ConfigError(f"cannot make the idmap user namespace: {e.strerror}", where)
    finally:
        posixos.close(ready_r)
        posixos.close(go_w)
        posixos.waitpid(pid, 0)


def write_id_maps(pid, uid_mappings, gid_mappings):
    """The maps of process <pid>'s new user namespace (linux.uidMappings
    and linux.gidMappings)."""
    for name, maps in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise errors.ConfigError(f"cannot write {name}: {e.strerror}",
                                     "$.linux." + ("uidMappings" if name == "uid_map"
                                                   else "gidMappings"))
