"""The full command-line interface (click), with runc's commands and flags."""
import sys

import click

from ocirt.cli import commands
from ocirt.cli import run_command

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _invoke(ctx, func, *args, **kwargs):
    code = run_command(ctx.obj, func, args, kwargs)
    ctx.exit(code)


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option("--root", default="/run/ocirt", show_default=True,
              help="root directory for storage of container state")
@click.option("--log", default=None, help="append errors and warnings to this file")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="log format")
@click.option("--debug", is_flag=True, help="enable debug output")
@click.option("--systemd-cgroup", is_flag=True,
              help="use systemd for cgroups (cgroupsPath slice:prefix:name)")
@click.option("--version", "-v", "show_version", is_flag=True, help="print the version")
@click.pass_context
def cli(ctx, root, log, log_format, debug, systemd_cgroup, show_version):
    """ocirt: an OCI runtime (runtime-spec 1.3.0) with runc's interface."""
    ctx.obj = commands.Globals(root, log, log_format, debug, systemd_cgroup)
    if show_version:
        ctx.exit(commands.version())
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def _id_arg(f):
    return click.argument("container_id", metavar="ID")(f)


def _bundle_opt(f):
    return click.option("--bundle", "-b", default=".", show_default=True,
                        help="path to the OCI bundle")(f)


def _create_opts(f):
    for opt in reversed([
        click.option("--pid-file", default=None, help="file to write the init's host pid to"),
        click.option("--console-socket", default=None,
                     help="AF_UNIX socket that receives the pty master"),
        click.option("--no-pivot", is_flag=True, help="use MS_MOVE + chroot, not pivot_root"),
        click.option("--no-new-keyring", is_flag=True, help="keep the caller's keyring"),
        click.option("--preserve-fds", type=click.IntRange(0), default=0,
                     help="pass N extra fds (from 3) to the container"),
    ]):
        f = opt(f)
    return _bundle_opt(f)


@cli.command(context_settings=CONTEXT)
@_create_opts
@_id_arg
@click.pass_context
def create(ctx, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring,
           preserve_fds):
    """Create a container; its process waits for `start`."""
    _invoke(ctx, commands.create, container_id, bundle, pid_file, console_socket, no_pivot,
            no_new_keyring, preserve_fds)


@cli.command(context_settings=CONTEXT)
@_create_opts
@click.option("--detach", "-d", is_flag=True, help="do not wait for the container")
@click.option("--keep", is_flag=True, help="do not delete the container after it exits")
@_id_arg
@click.pass_context
def run(ctx, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring,
        preserve_fds, detach, keep):
    """Create and start a container; wait for it unless --detach."""
    _invoke(ctx, commands.run, container_id, bundle, pid_file, console_socket, no_pivot,
            no_new_keyring, preserve_fds, detach=detach, keep=keep)


@cli.command(context_settings=CONTEXT)
@_id_arg
@click.pass_context
def start(ctx, container_id):
    """Run the user process of a created container."""
    _invoke(ctx, commands.start, container_id)


@cli.command(context_settings=CONTEXT)
@_id_arg
@click.pass_context
def state(ctx, container_id):
    """Print the state of a container as JSON."""
    _invoke(ctx, commands.state, container_id)


@cli.command(context_settings=CONTEXT)
@click.option("--all", "-a", "all_processes", is_flag=True,
              help="signal every process in the container's cgroup")
@_id_arg
@click.argument("signal", default="SIGTERM")
@click.pass_context
def kill(ctx, container_id, signal, all_processes):
    """Send a signal (default SIGTERM) to the container's init."""
    _invoke(ctx, commands.kill, container_id, signal, all_processes=all_processes)


@cli.command(context_settings=CONTEXT)
@click.option("--force", "-f", is_flag=True, help="kill the container first if it runs")
@_id_arg
@click.pass_context
def delete(ctx, container_id, force):
    """Delete a stopped container and everything create made."""
    _invoke(ctx, commands.delete, container_id, force=force)


@cli.command(context_settings=CONTEXT)
@_id_arg
@click.pass_context
def pause(ctx, container_id):
    """Freeze every process of a running container."""
    _invoke(ctx, commands.pause, container_id)


@cli.command(context_settings=CONTEXT)
@_id_arg
@click.pass_context
def resume(ctx, container_id):
    """Thaw a paused container."""
    _invoke(ctx, commands.resume, container_id)


@cli.command(context_settings=CONTEXT)
@click.option("--resources", "-r", default=None, metavar="FILE",
              help="a JSON linux.resources object to apply ('-' reads stdin)")
@click.option("--blkio-weight", default=None, help="block IO weight (10-1000)")
@click.option("--cpu-period", default=None, help="CFS period in microseconds")
@click.option("--cpu-quota", default=None, help="CFS quota in microseconds")
@click.option("--cpu-burst", default=None, help="CFS burst in microseconds")
@click.option("--cpu-share", default=None, help="CPU shares (relative weight)")
@click.option("--cpu-rt-period", default=None, help="realtime period in microseconds")
@click.option("--cpu-rt-runtime", default=None, help="realtime runtime in microseconds")
@click.option("--cpu-idle", default=None, help="1: the cgroup gets only idle CPU time")
@click.option("--cpuset-cpus", default=None, help="CPUs to run on (0-3, 0,1)")
@click.option("--cpuset-mems", default=None, help="memory nodes to use (0-3, 0,1)")
@click.option("--kernel-memory", default=None, help="kernel memory limit (ignored)")
@click.option("--kernel-memory-tcp", default=None, help="kernel TCP buffer limit")
@click.option("--memory", default=None, help="memory limit (e.g. 64m; -1: none)")
@click.option("--memory-reservation", default=None, help="memory soft limit")
@click.option("--memory-swap", default=None, help="memory+swap limit (-1: none)")
@click.option("--pids-limit", default=None, help="maximum number of tasks (-1: none)")
@click.option("--l3-cache-schema", default=None, help="Intel RDT L3 schema (not supported)")
@click.option("--mem-bw-schema", default=None, help="Intel RDT memory bandwidth (not supported)")
@_id_arg
@click.pass_context
def update(ctx, container_id, l3_cache_schema, mem_bw_schema, **kwargs):
    """Change the resource limits of a running container."""
    if l3_cache_schema is not None or mem_bw_schema is not None:
        from ocirt.errors import UsageError
        _invoke(ctx, _refuse, UsageError("Intel RDT is not supported by ocirt"))
    _invoke(ctx, commands.update, container_id, **kwargs)


def _refuse(g, err):
    raise err


@cli.command("exec", context_settings=dict(CONTEXT, ignore_unknown_options=True,
                                            allow_interspersed_args=False))
@click.option("--process", "-p", default=None, metavar="FILE",
              help="a JSON process object to run ('-' reads stdin)")
@click.option("--detach", "-d", is_flag=True, help="do not wait for the process")
@click.option("--pid-file", default=None, help="write the process's host pid here")
@click.option("--console-socket", default=None, help="send the terminal's master here")
@click.option("--tty", "-t", is_flag=True, help="give the process a terminal")
@click.option("--cwd", default=None, help="working directory in the container")
@click.option("--env", "-e", multiple=True, help="KEY=VALUE to add to the environment")
@click.option("--user", "-u", default=None, help="uid[:gid] to run as")
@click.option("--additional-gids", "-g", multiple=True, help="a supplementary gid")
@click.option("--cap", "-c", multiple=True, help="a capability to add")
@click.option("--no-new-privs", is_flag=True, help="set no_new_privs")
@click.option("--apparmor", default=None, help="AppArmor profile")
@click.option("--process-label", default=None, help="SELinux label")
@click.option("--preserve-fds", default=0, type=int, help="pass N more fds (from 3)")
@click.option("--cgroup", multiple=True,
              help="run in a sub-cgroup of the container: [CTRL[,CTRL]:]PATH (repeatable)")
@click.option("--ignore-paused", is_flag=True, help="exec even into a paused container")
@_id_arg
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def exec_cmd(ctx, container_id, command, **kwargs):
    """Run a new process in a running container."""
    if container_id.startswith("-") and container_id != "-":
        # options end at the id (ignore_unknown_options): not an id
        raise click.UsageError(f"no such option: {container_id}")
    _invoke(ctx, commands.exec_, container_id, command=command, **kwargs)


@cli.command(context_settings=CONTEXT)
@click.option("--interval", default="5s", show_default=True, help="time between stats events")
@click.option("--stats", is_flag=True, help="print one stats event and exit")
@_id_arg
@click.pass_context
def events(ctx, container_id, interval, stats):
    """Print the container's resource usage and OOM events as JSON lines."""
    _invoke(ctx, commands.events, container_id, interval=interval, stats=stats)


@cli.command(context_settings=dict(CONTEXT, ignore_unknown_options=True))
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
@_id_arg
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def ps(ctx, container_id, fmt, ps_args):
    """List the processes of a container (json: their host pids)."""
    _invoke(ctx, commands.ps, container_id, fmt, ps_args)


@cli.command(context_settings=CONTEXT)
@click.pass_context
def features(ctx):
    """Print the runtime-spec features document of this runtime."""
    _invoke(ctx, commands.features)


@cli.command("list", context_settings=CONTEXT)
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--quiet", "-q", is_flag=True, help="print only the ids")
@click.pass_context
def list_cmd(ctx, fmt, quiet):
    """List the containers in --root."""
    _invoke(ctx, commands.list_, fmt, quiet)


@cli.command(context_settings=CONTEXT)
@_bundle_opt
@click.option("--rootless", is_flag=True, help="a config for an unprivileged user")
@click.option("--hardened", is_flag=True,
              help="no terminal, no ambient capabilities, a cgroup namespace, "
                   "powercap masked (default: what runc spec writes)")
@click.pass_context
def spec(ctx, bundle, rootless, hardened):
    """Write a default config.json into the bundle (runc's template)."""
    _invoke(ctx, commands.spec, bundle, rootless, hardened)


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
