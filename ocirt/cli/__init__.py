"""The `ocirt` command.

main() first tries ocirt.cli.fast, a hand-written parser for the forms in
which engines call the hot commands (state, start, kill, delete); it
imports nothing heavy. Anything it does not recognise (other commands,
--help, unusual flag forms) goes to the click application in ocirt.cli.app.

launch() is what the installed launcher calls: the same, then an exit that
skips the interpreter's teardown (see there).
"""
import posix
import sys

import ocirt
from ocirt.cli import fast
from ocirt.errors import OcirtError


def main(argv=None):
    sys.exit(dispatch(sys.argv[1:] if argv is None else argv))


def dispatch(argv):
    """Parse argv, run the command; the exit status."""
    if b"OCIRT_CHECK_IMPORTS" in posix.environ:
        check_imports()
    parsed = fast.parse(argv)
    if parsed is None:
        from ocirt.cli import app
        return app.main(argv)
    g, func, args, kwargs = parsed
    return run_command(g, func, args, kwargs)


def check_imports():
    """OCIRT_CHECK_IMPORTS=1 (tests/integration/test_import_before_pivot.py):
    an import in a process whose root is no longer the root this command
    started with fails, naming the module.

    The rule it checks: the container's init, once it has pivoted (or
    chrooted), and an exec'd process, once it has joined the container's
    mount namespace, can no longer reach site-packages nor the standard
    library, so every module they need is imported before (ocirt.process
    imports the container side at the top; what only some configs need, such
    as ocirt.console for a terminal, is imported before rootfs.pivot).
    Under the script launcher a late import fails at once; the compiled
    launcher still finds ocirt's own modules in its image, and would hide
    it. This hook makes both fail alike. Built-in modules (fcntl, ...) need
    no file and are allowed."""
    st = posix.stat("/")
    root = (st.st_dev, st.st_ino)
    builtin = frozenset(sys.builtin_module_names)

    def hook(event, args):
        if event == "import" and args[0] not in builtin:
            st = posix.stat("/")
            if (st.st_dev, st.st_ino) != root:
                raise ImportError(f"import of {args[0]} after the root changed (pivot_root, "
                                  "chroot or setns): import it before (OCIRT_CHECK_IMPORTS)")
    sys.addaudithook(hook)


def launch():
    """main() for a process that is about to end: flush stdout and stderr and
    leave with _exit. Every ocirt call is a fresh interpreter, and tearing it
    down (freeing every module, a last garbage collection) costs 1 to 3 ms
    that nobody waits for; a command never leaves work to that teardown
    (files are closed where they are written, forked children _exit by
    themselves)."""
    try:
        code = dispatch(sys.argv[1:])
    except SystemExit as e:  # sys.exit() deep inside a command (click does it)
        code = e.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more to say
            pass
    posix._exit(code & 0xff)


def run_command(g, func, args, kwargs):
    """Configure logging, run one command, turn errors into one line and a status
    (func.error_status, where a command has one, for all its errors: exec's
    255, as runc's, apart from the process's own statuses)."""
    status = getattr(func, "error_status", None)
    if g.log or g.debug:  # else ocirt.log's defaults, and no import until it is needed
        from ocirt import log
        try:
            log.configure(g.log, g.log_format, g.debug)
        except OSError as e:
            log.configure(None, g.log_format, g.debug)
            log.error(f"--log {g.log}: {e.strerror}")
            return status or 1
        if g.debug:
            ocirt.DEBUG = True
            try:
                root = g.root
            except OcirtError as e:  # only for a command that needs it (not spec)
                root = f"none ({e})"
            log.debug(f"{func.__name__.rstrip('_')}: ocirt {ocirt.__version__}, "
                      f"root {root}, arguments {list(args)}")
    trace = g.trace or posix.environ.get(b"OCIRT_TRACE", b"").decode("utf-8", "surrogateescape")
    if trace and not start_trace(trace, "--trace" if g.trace else "OCIRT_TRACE", func, args):
        return status or 1
    try:
        return func(g, *args, **kwargs)
    except OcirtError as e:
        from ocirt import log
        log.error(str(e))
        return status or e.exit_code
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        # a system call that failed where no code gave it context: still the
        # call or the file, and the error (the traceback only with --debug)
        from ocirt import log
        if g.debug:
            import traceback
            log.error(traceback.format_exc())
        where = f"{e.filename}: " if e.filename else ""
        log.error(f"{where}{e.strerror or e}")
        return status or 1
    except Exception as e:  # a bug: still one line, the traceback only with --debug
        from ocirt import log
        if g.debug:
            import traceback
            log.error(traceback.format_exc())
        log.error(f"internal error: {type(e).__name__}: {e}")
        return status or 1
    finally:
        if ocirt.TRACE is not None:
            ocirt.TRACE.close()


def start_trace(path, flag, func, args):
    """--trace FILE (or OCIRT_TRACE=FILE): ocirt.TRACE, whose outermost span
    is this command (ocirt.trace). False, with one error line naming the
    file, when it cannot be opened."""
    from ocirt import trace
    name = func.__name__.rstrip("_")
    try:
        ocirt.TRACE = trace.Trace(path, f"ocirt {name}")
    except OSError as e:
        from ocirt import log
        log.error(f"{flag} {path}: {e.strerror}")
        return False
    ocirt.TRACE.begin(name, args=list(args))
    return True
