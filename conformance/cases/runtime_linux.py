"""runtime-linux.md: the devices and /dev symlinks every container has."""
from harness import Fail, requirement


@requirement("runtime-linux.default-devices", "runtime-linux.md", "MUST",
             "/dev/null, zero, full, random, urandom, tty, console (terminal), ptmx are "
             "supplied")
def default_devices_are_supplied(t):
    dev = t.check()["dev"]
    want = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
            "urandom": (1, 9), "tty": (5, 0)}
    for name, (ma, mi) in want.items():
        d = dev.get(name)
        if not d or d["type"] != "char" or (d["major"], d["minor"]) != (ma, mi):
            raise Fail(f"/dev/{name}: {d}")
    if "ptmx" not in dev:
        raise Fail("/dev/ptmx is missing")


@requirement("runtime-linux.dev-symlinks", "runtime-linux.md", "MUST",
             "/dev/fd, /dev/stdin, /dev/stdout, /dev/stderr symlinks exist")
def dev_fd_and_stdio_symlinks_exist(t):
    dev = t.check()["dev"]
    want = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
            "stderr": "/proc/self/fd/2"}
    for name, target in want.items():
        d = dev.get(name)
        if not d or d["type"] != "symlink" or d.get("target") != target:
            raise Fail(f"/dev/{name}: {d}")
