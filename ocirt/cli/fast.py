"""Argument parsing for the commands engines call often, without importing click.

Accepts the forms engines use: global flags before the command
(``--root DIR``, ``--root=DIR``, ``--log F``, ``--log-format json``,
``--debug``, ``--systemd-cgroup``), then ``state ID``, ``start ID``,
``kill [--all|-a] ID [SIGNAL]``, ``delete [--force|-f] ID``, and ``create``
and ``run`` with their flags. Returns None for anything else (other
commands, --help, unusual forms), and the click application handles it
with the same meaning: tests/unit/test_cli.py checks that both agree.
"""
from ocirt.cli import commands

_GLOBAL_VALUE = {"--root": "root", "--log": "log", "--log-format": "log_format"}
_GLOBAL_BOOL = {"--debug": "debug", "--systemd-cgroup": "systemd_cgroup"}

_CREATE_BOOL = {"--no-pivot": "no_pivot", "--no-new-keyring": "no_new_keyring"}
_CREATE_VALUE = {"--bundle": "bundle", "-b": "bundle", "--pid-file": "pid_file",
                 "--console-socket": "console_socket", "--preserve-fds": "preserve_fds"}

# command -> (function, boolean flags, value flags, min positional, max positional)
_COMMANDS = {
    "state": (commands.state, {}, {}, 1, 1),
    "start": (commands.start, {}, {}, 1, 1),
    "kill": (commands.kill, {"--all": "all_processes", "-a": "all_processes"}, {}, 1, 2),
    "delete": (commands.delete, {"--force": "force", "-f": "force"}, {}, 1, 1),
    "pause": (commands.pause, {}, {}, 1, 1),
    "resume": (commands.resume, {}, {}, 1, 1),
    "create": (commands.create, _CREATE_BOOL, _CREATE_VALUE, 1, 1),
    "run": (commands.run, dict(_CREATE_BOOL, **{"--detach": "detach", "-d": "detach",
                                                "--keep": "keep"}), _CREATE_VALUE, 1, 1),
}


def parse(argv):
    g = commands.Globals()
    i = 0
    n = len(argv)
    while i < n and argv[i].startswith("-"):
        a = argv[i]
        name, eq, value = a.partition("=")
        if name in _GLOBAL_VALUE:
            if not eq:
                i += 1
                if i >= n:
                    return None
                value = argv[i]
            if name == "--log-format" and value not in ("text", "json"):
                return None
            setattr(g, _GLOBAL_VALUE[name], value)
        elif a in _GLOBAL_BOOL:
            setattr(g, _GLOBAL_BOOL[a], True)
        else:
            return None
        i += 1
    if i >= n or argv[i] not in _COMMANDS:
        return None
    func, bools, values, lo, hi = _COMMANDS[argv[i]]
    kwargs = {}
    pos = []
    rest = argv[i + 1:]
    j = 0
    while j < len(rest):
        a = rest[j]
        j += 1
        if not (a.startswith("-") and len(a) > 1):
            pos.append(a)
            continue
        name, eq, value = a.partition("=")
        if name in values:
            if not eq:
                if j >= len(rest):
                    return None
                value = rest[j]
                j += 1
            key = values[name]
            if key == "preserve_fds":
                if not value.isdigit():
                    return None
                value = int(value)
            kwargs[key] = value
        elif a in bools:
            kwargs[bools[a]] = True
        else:
            return None
    if not lo <= len(pos) <= hi:
        return None
    return g, func, pos, kwargs
