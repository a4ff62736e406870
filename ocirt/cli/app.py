"""The full command-line interface (click), with runc's commands and flags.

Built from the table in ocirt.cli.flags, which ocirt.cli.fast reads too: a
flag is added or changed there, once, for both parsers.
"""
import sys

import click

from ocirt.cli import commands, flags
from ocirt.cli import run_command
from ocirt.errors import UsageError

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _invoke(ctx, func, *args, **kwargs):
    code = run_command(ctx.obj, func, args, kwargs)
    ctx.exit(code)


def _option(opt):
    """click's option for a row of the table."""
    kw = {"help": opt.help, "show_default": opt.show_default}
    if opt.metavar:
        kw["metavar"] = opt.metavar
    if opt.kind == flags.SWITCH:
        kw["is_flag"] = True
    else:
        kw["default"] = opt.default
        if opt.kind == flags.MANY:
            kw["multiple"] = True
        elif opt.kind == flags.COUNT:
            kw["type"] = int if opt.minimum is None else click.IntRange(opt.minimum)
        elif opt.choices is not None:
            kw["type"] = click.Choice(list(opt.choices))
    return click.Option(list(opt.names) + [opt.dest], **kw)


def _argument(arg):
    if arg.rest:
        return click.Argument([arg.dest], metavar=arg.metavar, nargs=-1,
                              type=click.UNPROCESSED)
    if arg.required:
        return click.Argument([arg.dest], metavar=arg.metavar)
    return click.Argument([arg.dest], metavar=arg.metavar, required=False, default=arg.default)


def _callback(cmd):
    """Call the command's function as ocirt.cli.fast would: the simple
    arguments by position, the trailing words and the flags by keyword."""
    @click.pass_context
    def callback(ctx, **kwargs):
        for opt in cmd.opts:
            if opt.unsupported is not None and kwargs.pop(opt.dest) is not None:
                _invoke(ctx, _refuse, UsageError(opt.unsupported))
        if not cmd.interspersed:
            first = kwargs[cmd.args[0].dest]
            if first.startswith("-") and first != "-":
                # options end at the id (ignore_unknown_options): not an id
                raise click.UsageError(f"no such option: {first}")
        args = [kwargs.pop(a.dest) for a in cmd.args if not a.rest]
        _invoke(ctx, getattr(commands, cmd.func), *args, **kwargs)
    return callback


def _refuse(g, err):
    raise err


def _command(cmd):
    context = dict(CONTEXT)
    if cmd.unknown:
        context["ignore_unknown_options"] = True
    if not cmd.interspersed:
        context["allow_interspersed_args"] = False
    return click.Command(cmd.name, context_settings=context, callback=_callback(cmd),
                         params=[_option(o) for o in cmd.opts]
                         + [_argument(a) for a in cmd.args],
                         help=cmd.help)


@click.group(context_settings=CONTEXT, invoke_without_command=True,
             params=[_option(o) for o in flags.GLOBAL])
@click.pass_context
def cli(ctx, show_version, **given):
    """ocirt: an OCI runtime (runtime-spec 1.3.0) with runc's interface."""
    ctx.obj = commands.Globals(**given)
    if show_version:
        ctx.exit(commands.version())
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


for _cmd in flags.COMMANDS.values():
    cli.add_command(_command(_cmd))


def main(argv):
    try:
        # Without standalone mode, click returns the code given to ctx.exit().
        code = cli.main(args=argv, prog_name="ocirt", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        sys.stderr.write(f"ocirt: {e.format_message()}\n")
        return 1
    except click.exceptions.Abort:
        return 130
    return code if isinstance(code, int) else 0
