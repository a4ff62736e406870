"""One exception hierarchy for everything ocirt reports to its caller.

Each class carries the exit status the CLI returns for it. The top-level
handler in ocirt.cli prints ``str(err)`` as one line (or one JSON log line)
and exits with ``err.exit_code``. Errors raised in the container's setup
process travel back to the parent (ocirt.protocol) and are re-raised there
as the same classes.
"""


class OcirtError(Exception):
    """Base class: a failure the user should see as one clear line."""

    exit_code = 1

    def __init__(self, msg, path=None):
        super().__init__(msg)
        self.msg = msg
        # JSON path such as "$.linux.namespaces[2].type", spelt one way: "$."-rooted
        if path and not path.startswith("$"):
            path = "$." + path
        self.path = path

    def __str__(self):
        if self.path:
            return f"{self.path}: {self.msg}"
        return self.msg


class UsageError(OcirtError):
    """Wrong command-line use."""


class ConfigError(OcirtError):
    """config.json is malformed, violates the schema, or asks for the impossible."""


class ContainerNotFound(OcirtError):
    def __init__(self, cid):
        super().__init__(f"container does not exist: {cid}")


class ContainerExists(OcirtError):
    def __init__(self, cid):
        super().__init__(f"container with id exists: {cid}")


class InvalidState(OcirtError):
    """The operation is not allowed in the container's current status."""


class SetupError(OcirtError):
    """The container's environment could not be built (reported by the child)."""


# Name used by the child/parent protocol to rebuild an error on the parent side.
BY_NAME = {
    cls.__name__: cls
    for cls in (OcirtError, UsageError, ConfigError, InvalidState, SetupError)
}
