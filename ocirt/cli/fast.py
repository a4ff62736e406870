"""Argument parsing for the hot commands without importing click.

Accepts the forms engines use: global flags before the command
(``--root DIR``, ``--root=DIR``, ``--log F``, ``--log-format json``,
``--debug``, ``--systemd-cgroup``), then ``state ID``, ``start ID``,
``kill [--all|-a] ID [SIGNAL]``, ``delete [--force|-f] ID``. Returns None
for anything else, and the click application handles it (with the same
meaning: tests/unit/test_cli.py checks both agree).
"""
from ocirt.cli import commands

_GLOBAL_VALUE = {"--root": "root", "--log": "log", "--log-format": "log_format"}
_GLOBAL_BOOL = {"--debug": "debug", "--systemd-cgroup": "systemd_cgroup"}

# command -> (function, {flag: kwarg}, min positional, max positional)
_COMMANDS = {
    "state": (commands.state, {}, 1, 1),
    "start": (commands.start, {}, 1, 1),
    "kill": (commands.kill, {"--all": "all_processes", "-a": "all_processes"}, 1, 2),
    "delete": (commands.delete, {"--force": "force", "-f": "force"}, 1, 1),
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
    func, flags, lo, hi = _COMMANDS[argv[i]]
    kwargs = {}
    pos = []
    for a in argv[i + 1:]:
        if a.startswith("-") and len(a) > 1:
            if a not in flags:
                return None
            kwargs[flags[a]] = True
        else:
            pos.append(a)
    if not lo <= len(pos) <= hi:
        return None
    return g, func, pos, kwargs

