"""Argument parsing for the commands engines call often, without importing click.

It reads the same table as the click application (ocirt.cli.flags) and
accepts the forms engines use: global flags before the command (``--root
DIR``, ``--root=DIR``, ``--log F``, ``--log-format json``, ``--debug``,
``--systemd-cgroup``), then a command of the table marked `fast` with its
flags marked `fast`: a switch spelled exactly, a value as ``--flag V`` or
``--flag=V`` (``-f V`` or ``-f=V`` for a short one, as runc reads it), and
the command's positional arguments (exec's command: the words after its
id; a trailing ps argument goes to click). It returns None for
anything else (other commands, --help, combined short flags, ``--``, a flag
it does not know), and the click application handles it with the same
meaning: tests/unit/test_cli.py checks that both agree.
"""
from ocirt.cli import commands, flags

_GLOBAL = {name: opt for opt in flags.GLOBAL if opt.fast for name in opt.names}


def _take(opt, a, value, eq, rest, j):
    """The value of flag `opt` written as word a (value after "=" if eq) with
    rest[j] next: (value, next j), or None where click must decide."""
    if opt.kind == flags.SWITCH:
        return (True, j) if not eq else None  # "--all=1": click's error
    if not eq:
        if j >= len(rest):
            return None
        value = rest[j]
        j += 1
    if opt.choices is not None and value not in opt.choices:
        return None
    if opt.kind == flags.COUNT:
        if not value.isdigit():
            return None
        value = int(value)
    return value, j


def parse(argv):
    """(Globals, function, positional arguments, keyword arguments), or None."""
    g = commands.Globals()
    i = 0
    n = len(argv)
    while i < n and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        opt = _GLOBAL.get(name)
        if opt is None:
            return None
        got = _take(opt, name, value, eq, argv, i + 1)
        if got is None:
            return None
        setattr(g, opt.dest, got[0])
        i = got[1]
    if i >= n:
        return None
    cmd = flags.COMMANDS.get(argv[i])
    if cmd is None or not cmd.fast:
        return None
    parsed = _parse_command(cmd, argv[i + 1:])
    if parsed is None:
        return None
    return g, getattr(commands, cmd.func), parsed[0], parsed[1]


def _parse_command(cmd, rest):
    """A command's words: (positional arguments, keyword arguments with every
    flag's default filled in, as click passes them), or None."""
    opts = {}
    kwargs = {}
    for opt in cmd.opts:
        if opt.unsupported is None:
            kwargs[opt.dest] = opt.default
        if opt.fast:
            for name in opt.names:
                opts[name] = opt
    simple = [a for a in cmd.args if not a.rest]
    trailing = [a for a in cmd.args if a.rest]
    for a in trailing:
        kwargs[a.dest] = a.default
    pos = []
    j = 0
    while j < len(rest):
        a = rest[j]
        j += 1
        if a == "-" or not a.startswith("-"):
            pos.append(a)
            if not cmd.interspersed and trailing:
                # options end at the first argument (exec ID COMMAND...): the
                # words after it are the command's own
                kwargs[trailing[0].dest] = tuple(rest[j:])
                break
            continue
        name, eq, value = a.partition("=")
        opt = opts.get(name)
        if opt is None:
            return None
        got = _take(opt, name, value, eq, rest, j)
        if got is None:
            return None
        if opt.kind == flags.MANY:
            kwargs[opt.dest] = kwargs[opt.dest] + (got[0],)
        else:
            kwargs[opt.dest] = got[0]
        j = got[1]
    if not sum(a.required for a in simple) <= len(pos) <= len(simple):
        return None
    return pos, kwargs
