"""Test users for the rootless tests (tests/integration/test_rootless.py and
tests/engines/test_podman_rootless.py): their subordinate id ranges, and
their processes."""
import os
import subprocess


def subids(name, path):
    """(start, count) of name's range in /etc/subuid or /etc/subgid, or None."""
    with open(path) as f:
        for line in f:
            user, _, rest = line.strip().partition(":")
            if user == name:
                start, count = rest.split(":")
                return int(start), int(count)
    return None


def ensure_subids(name, uid):
    """Give name a range of 65536 subordinate uids and gids unless useradd
    gave it one (login.defs decides); returns (subuid, subgid)."""
    if subids(name, "/etc/subuid") is None or subids(name, "/etc/subgid") is None:
        base = 300000 + (uid % 1000) * 65536
        subprocess.run(["usermod", "--add-subuids", f"{base}-{base + 65535}",
                        "--add-subgids", f"{base}-{base + 65535}", name],
                       check=True, capture_output=True)
    return subids(name, "/etc/subuid"), subids(name, "/etc/subgid")


def drop_subids(name):
    """Take name's lines out of /etc/subuid and /etc/subgid."""
    for path in ("/etc/subuid", "/etc/subgid"):
        with open(path) as f:
            lines = f.readlines()
        keep = [x for x in lines if not x.startswith(name + ":")]
        if keep != lines:
            with open(path, "w") as f:
                f.writelines(keep)


def pids_of(uids, zombies=True):
    """Pids of the processes whose real uid is in uids; zombies=False leaves
    out those that have ended (a pid 1 may take its time to reap them)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                fields = dict(ln.split(":", 1) for ln in f if ":" in ln)
        except OSError:
            continue
        if not zombies and fields.get("State", "Z").split()[0] == "Z":
            continue
        if int(fields.get("Uid", "-1").split()[0]) in uids:
            out.append(int(name))
    return out
