"""update: runc's update, new linux.resources for a running container."""

from ocirt import config, errors, jsonio, log, state
from ocirt.linux import resources
from ocirt.state import Status


def update(root, cid, changes):
    """runc's update: merge `changes` (a linux.resources object) into the
    container's resources, apply the sections it touches, and record them."""
    c = state.load(root, cid)
    c.lock()
    try:
        st = c.refresh()
        if not Status.can_update(st):
            raise errors.InvalidState(f"cannot update container {cid} that is {st}",
                                      id=cid, status=st)
        doc = c.load_config()
        linux = doc.setdefault("linux", {})
        changes = _zeros_dropped(changes)  # engines send 0 for "unchanged"
        mem = changes.get("memory")
        if isinstance(mem, dict) and mem.get("limit") == -1 and "swap" not in mem:
            # no memory limit and the old memory+swap limit cannot stand
            # together (v1 wants memsw >= memory; on v2 a swap limit needs a
            # memory limit): both are lifted, as runc lifts them
            changes["memory"] = dict(mem, swap=-1)
        merged = merge_resources(linux.get("resources") or {}, changes)
        config.check_resources(merged)
        touched = {k: merged[k] for k in changes if k in merged and k != "devices"}
        cg = c.cgroup()
        cg.default_parent = not linux.get("cgroupsPath")
        resources.apply(cg, config.parse_resources(touched), log.warning, update=True)
        linux["resources"] = merged
        c.write(state.CONFIG_COPY, jsonio.dumps(doc).encode())
    finally:
        c.unlock()


def _zeros_dropped(changes):
    """changes without the zero values that mean "unchanged": those of
    ocirt.linux.resources.ZERO_IS_UNSET, and pids.limit 0 (as runc's update
    takes it, though 0 is a limit in a config)."""
    out = {}
    for section, value in changes.items():
        zero = resources.ZERO_IS_UNSET.get(section, ()) + (("limit",) if section == "pids" else ())
        if isinstance(value, dict) and zero:
            value = {k: v for k, v in value.items()
                     if not (k in zero and v == 0 and not isinstance(v, bool))}
        out[section] = value
    return out


def merge_resources(old, changes):
    """Resources with `changes` laid over `old`: objects merge key by key,
    anything else (lists, numbers) is replaced."""
    out = dict(old)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_resources(out[key], value)
        else:
            out[key] = value
    return out
