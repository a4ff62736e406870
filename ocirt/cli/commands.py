"""What each command does, independent of how its arguments were parsed.

Both parsers (ocirt.cli.fast for the hot commands, ocirt.cli.app with
click for everything) call these. Each returns the process exit status.
"""
import os
import sys


class Globals:
    __slots__ = ("root", "log", "log_format", "debug", "systemd_cgroup")

    def __init__(self, root="/run/ocirt", log=None, log_format="text", debug=False,
                 systemd_cgroup=False):
        self.root = root
        self.log = log
        self.log_format = log_format
        self.debug = debug
        self.systemd_cgroup = systemd_cgroup


def _out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def _systemd_check(g):
    if g.systemd_cgroup and not os.path.isdir("/run/systemd/system"):
        from ocirt.errors import OcirtError
        raise OcirtError("systemd not running on this host, cannot use systemd cgroups manager")


def state(g, cid):
    from ocirt import container
    _out(container.get_state(g.root, cid) + "\n")
    return 0


def start(g, cid):
    from ocirt import container
    container.start(g.root, cid)
    return 0


def kill(g, cid, sig="SIGTERM", all_processes=False):
    from ocirt import container
    from ocirt.linux.signals import parse
    container.kill(g.root, cid, parse(sig), all_processes)
    return 0


def delete(g, cid, force=False):
    from ocirt import container
    container.delete(g.root, cid, force)
    return 0


def create(g, cid, bundle=".", pid_file=None, console_socket=None, no_pivot=False,
           no_new_keyring=False, preserve_fds=0):
    from ocirt import container
    _systemd_check(g)
    container.create(g.root, cid, bundle, pid_file=pid_file, console_socket=console_socket,
                     no_pivot=no_pivot, preserve_fds=preserve_fds,
                     no_new_keyring=no_new_keyring)
    return 0


def run(g, cid, bundle=".", pid_file=None, console_socket=None, no_pivot=False,
        no_new_keyring=False, preserve_fds=0, detach=False, keep=False):
    from ocirt import container
    _systemd_check(g)
    return container.run(g.root, cid, bundle, pid_file=pid_file, detach=detach, keep=keep,
                         no_pivot=no_pivot, preserve_fds=preserve_fds,
                         console_socket=console_socket, no_new_keyring=no_new_keyring)


def pause(g, cid):
    from ocirt import container
    container.pause(g.root, cid)
    return 0


def resume(g, cid):
    from ocirt import container
    container.resume(g.root, cid)
    return 0


def ps(g, cid, fmt="table", ps_args=()):
    """runc's ps: the container's host pids as JSON, or ps(1)'s table for them."""
    from ocirt import container
    pids = container.pids(g.root, cid)
    if fmt == "json":
        _out("[" + ",".join(str(p) for p in pids) + "]\n")
        return 0
    import subprocess
    from ocirt.errors import OcirtError
    args = list(ps_args) or ["-ef"]
    try:
        out = subprocess.run(["ps"] + args, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise OcirtError(f"ps {' '.join(args)} failed: {e}")
    lines = out.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise OcirtError("ps output has no PID column")
    col = header.index("PID")
    wanted = set(pids)
    keep = [lines[0]] + [line for line in lines[1:]
                         if len(line.split()) > col and line.split()[col].isdigit()
                         and int(line.split()[col]) in wanted]
    _out("\n".join(keep) + "\n")
    return 0


def list_(g, fmt="table", quiet=False):
    from ocirt import state as store
    items = store.list_all(g.root)
    if quiet:
        _out("".join(c.id + "\n" for c in items))
        return 0
    states = [c.oci_state() for c in items]
    if fmt == "json":
        import json
        _out(json.dumps(states) + "\n")
        return 0
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"],
              s["owner"] or "root") for s in states]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    _out("".join("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n"
                 for r in rows))
    return 0


def spec(g, bundle=".", rootless=False):
    import json
    from ocirt import defaults
    from ocirt.errors import OcirtError
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise OcirtError(f"File {path} exists. Remove it first")
    with open(path, "w") as f:
        json.dump(defaults.spec(rootless), f, indent=2)
        f.write("\n")
    return 0


def features(g):
    import json
    from ocirt import features as feat
    _out(json.dumps(feat.document(), indent=2) + "\n")
    return 0


def version():
    from ocirt import SPEC_VERSION, __version__
    lines = [f"ocirt version {__version__}", f"spec: {SPEC_VERSION}",
             f"python: {sys.version.split()[0]}"]
    try:
        from ocirt.linux.shim import seccomp_version
        lines.append(f"libseccomp: {seccomp_version()}")
    except (ImportError, OSError):
        pass
    _out("\n".join(lines) + "\n")
    return 0
