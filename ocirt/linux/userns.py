"""User namespaces: their uid and gid maps, and namespaces made only to
hold the mappings of idmapped mounts (MOUNT_ATTR_IDMAP takes a user
namespace's fd)."""
from ocirt import errors
from ocirt import posixos as os  # os without its import cost (see there)


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
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(go_w)
            shim.unshare(shim.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(go_r, 1)  # keep the namespace alive until the parent holds it
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise errors.ConfigError("cannot make the idmap user namespace", where)
        for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write("".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps))
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise errors.ConfigError(f"cannot make the idmap user namespace: {e.strerror}", where)
    finally:
        os.close(ready_r)
        os.close(go_w)
        os.waitpid(pid, 0)


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
