"""How a check changes the bundle it runs: fields of config.json set by dotted
path, a directory shared with the container, a bind mount of it."""
import os


def set_fields(**fields):
    """An edit that sets dotted paths, e.g. set_fields(**{"process.cwd": "/tmp"})."""
    def edit(cfg):
        for path, value in fields.items():
            node = cfg
            keys = path.split(".")
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            node[keys[-1]] = value
    return edit


def shared_dir(case, name="shared"):
    """A world-writable directory of the case's own, to bind into the container."""
    d = os.path.join(case.dir, name)
    os.mkdir(d)
    os.chmod(d, 0o777)
    return d


def bind(cfg, src, dst, opts=("rbind", "rw")):
    """Append a bind mount of src at dst to cfg's mounts."""
    cfg["mounts"].append({"destination": dst, "type": "bind", "source": src,
                          "options": list(opts)})
