"""The `ocirt` command.

main() first tries ocirt.cli.fast, a hand-written parser for the forms in
which engines call the hot commands (state, start, kill, delete); it
imports nothing heavy. Anything it does not recognise (other commands,
--help, unusual flag forms) goes to the click application in ocirt.cli.app.
"""
import sys


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    from ocirt.cli import fast
    parsed = fast.parse(argv)
    if parsed is None:
        from ocirt.cli import app
        sys.exit(app.main(argv))
    g, func, args, kwargs = parsed
    sys.exit(run_command(g, func, args, kwargs))


def run_command(g, func, args, kwargs):
    """Configure logging, run one command, turn errors into one line and a status."""
    from ocirt import log
    from ocirt.errors import OcirtError
    log.configure(g.log, g.log_format, g.debug)
    try:
        return func(g, *args, **kwargs)
    except OcirtError as e:
        log.error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug: still one line, the traceback only with --debug
        if g.debug:
            import traceback
            log.error(traceback.format_exc())
        log.error(f"internal error: {type(e).__name__}: {e}")
        return 1
