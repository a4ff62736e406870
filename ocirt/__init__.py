"""ocirt: an OCI runtime with runc's command-line interface.

Importing this package must stay cheap: every ocirt command is a fresh
process, so nothing here imports more than the version string needs.
"""
__version__ = "0.1.0"
SPEC_VERSION = "1.3.0"
LAUNCHER = "the Python interpreter"  # ocirt.boot says so when the compiled launcher starts

DEBUG = False  # --debug (set by ocirt.cli.run_command; forked children clear it)
TRACE = None  # --trace: an ocirt.trace.Trace (set by ocirt.cli.run_command); trace points test it


def debug(msg):
    """A phase of the command, for --debug (on stderr, or in the --log file).
    Without --debug nothing is imported: the hot commands call this freely.
    Only the ocirt command itself logs; the processes it forks never print
    (their messages travel to it, ocirt.protocol)."""
    if DEBUG:
        from ocirt import log
        log.debug(msg)
