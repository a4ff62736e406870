"""Argument parsing for the commands engines call often, without importing click.

Accepts the forms engines use: global flags before the command
(``--root DIR``, ``--root=DIR``, ``--log F``, ``--log-format json``,
``--debug``, ``--systemd-cgroup``), then ``state ID``, ``start ID``,
``kill [--all|-a] ID [SIGNAL]``, ``delete [--force|-f] ID``, ``pause``,
``resume``, ``create`` and ``run`` with their flags, ``exec`` with its flags,
``ps [--format F] ID``, ``list [--format F] [--quiet]`` and
``update --resources FILE ID``. Returns None for anything else (other
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
    "ps": (commands.ps, {}, {"--format": "fmt", "-f": "fmt"}, 1, 1),
    "list": (commands.list_, {"--quiet": "quiet", "-q": "quiet"},
             {"--format": "fmt", "-f": "fmt"}, 0, 0),
    "update": (commands.update, {}, {"--resources": "resources", "-r": "resources"}, 1, 1),
}


_EXEC_BOOL = {"--detach": "detach", "-d": "detach", "--tty": "tty", "-t": "tty",
              "--no-new-privs": "no_new_privs", "--ignore-paused": "ignore_paused"}
_EXEC_VALUE = {"--process": "process", "-p": "process", "--pid-file": "pid_file",
               "--console-socket": "console_socket", "--cwd": "cwd", "--user": "user",
               "-u": "user", "--apparmor": "apparmor", "--process-label": "process_label",
               "--preserve-fds": "preserve_fds"}
_EXEC_MULTI = {"--env": "env", "-e": "env", "--additional-gids": "additional_gids",
               "-g": "additional_gids", "--cap": "cap", "-c": "cap", "--cgroup": "cgroup"}


def _parse_exec(rest):
    """exec [flags] ID [COMMAND...]: options end at the id, as in click's
    parser with interspersed arguments off; "--" or an unknown flag: None."""
    kwargs = {"env": (), "additional_gids": (), "cap": (), "cgroup": ()}
    j = 0
    while j < len(rest):
        a = rest[j]
        j += 1
        if a == "--" or not a.startswith("-") or a == "-":
            if a == "--":
                return None
            return [a], dict(kwargs, command=tuple(rest[j:]))
        name, eq, value = a.partition("=")
        if name in _EXEC_VALUE or name in _EXEC_MULTI:
            if not eq:
                if j >= len(rest):
                    return None
                value = rest[j]
                j += 1
            if name in _EXEC_MULTI:
                key = _EXEC_MULTI[name]
                kwargs[key] = kwargs[key] + (value,)
                continue
            key = _EXEC_VALUE[name]
            if key == "preserve_fds":
                if not value.isdigit():
                    return None
                value = int(value)
            kwargs[key] = value
        elif a in _EXEC_BOOL:
            kwargs[_EXEC_BOOL[a]] = True
        else:
            return None
    return None  # no id


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
    if i < n and argv[i] == "exec":
        parsed = _parse_exec(argv[i + 1:])
        if parsed is None:
            return None
        return g, commands.exec_, parsed[0], parsed[1]
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
            if key == "fmt" and value not in ("table", "json"):
                return None
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
    if func is commands.update:  # click passes every flag, None when not given
        kwargs = dict({k: None for k in commands.UPDATE_FLAGS}, **kwargs)
    return g, func, pos, kwargs
