"""ocirt: an OCI runtime with runc's command-line interface.

Importing this package must stay cheap: every ocirt command is a fresh
process, so nothing here imports more than the version string needs.
"""
__version__ = "0.1.0"
SPEC_VERSION = "1.3.0"
LAUNCHER = "the Python interpreter"  # ocirt.boot says so when the compiled launcher starts

DEBUG = False  # --debug (set by ocirt.cli.run_command; forked children clear it)
TRACE = None  # --trace: an ocirt.trace.Trace (set by ocirt.cli.run_command); trace points test it


def debug(msg: str) -> None:
    """A phase of the command, for --debug (on stderr, or in the --log file).
    Without --debug nothing is imported: the hot commands call this freely.
    Only the ocirt command itself logs; the processes it forks never print
    (their messages travel to it, ocirt.protocol)."""
    if DEBUG:
        from ocirt import log
        log.debug(msg)


# The Python API (README "Python API"): ocirt.Runtime, ocirt.State,
# ocirt.Config and the errors, loaded when first named, so that `import
# ocirt` (which every command does) stays as cheap as above.
_API = {
    "Runtime": "ocirt.runtime", "State": "ocirt.api", "Config": "ocirt.config",
    "OcirtError": "ocirt.errors", "UsageError": "ocirt.errors", "ConfigError": "ocirt.errors",
    "ContainerNotFound": "ocirt.errors", "ContainerExists": "ocirt.errors",
    "InvalidState": "ocirt.errors", "SetupError": "ocirt.errors",
}
__all__ = sorted(_API) + ["SPEC_VERSION", "__version__"]

TYPE_CHECKING = False  # for mypy (importing typing costs ~10 ms)
if TYPE_CHECKING:
    from ocirt.api import State as State
    from ocirt.config import Config as Config
    from ocirt.errors import (ConfigError as ConfigError, ContainerExists as ContainerExists,
                              ContainerNotFound as ContainerNotFound,
                              InvalidState as InvalidState, OcirtError as OcirtError,
                              SetupError as SetupError, UsageError as UsageError)
    from ocirt.runtime import Runtime as Runtime


def __getattr__(name: str) -> object:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'ocirt' has no attribute {name!r}")
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value
    return value
