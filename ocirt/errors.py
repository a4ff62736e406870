"""One exception hierarchy for everything ocirt reports to its caller.

Each class carries the exit status the CLI returns for it. The top-level
handler in ocirt.cli prints ``str(err)`` as one line (or one JSON log line)
and exits with ``err.exit_code``. Errors raised in the container's setup
process travel back to the parent (ocirt.protocol) and are re-raised there
as the same classes.
"""
TYPE_CHECKING = False  # for mypy (importing typing costs ~10 ms)
if TYPE_CHECKING:
    from typing import Any, Iterable


class OcirtError(Exception):
    """Base class: a failure the user should see as one clear line.

    path: the JSON path of the config member at fault ("$."-rooted), or
    None; section: the runtime-spec section of the rule that refused it
    ("config-linux.md#namespaces"), or None; source: the file the path is
    in ("<bundle>/config.json"), told before the path."""

    exit_code = 1

    def __init__(self, msg: str, path: "str | None" = None, *, section: "str | None" = None,
                 source: "str | None" = None) -> None:
        super().__init__(msg)
        self.msg = msg
        # JSON path such as "$.linux.namespaces[2].type", spelt one way: "$."-rooted
        if path and not path.startswith("$"):
            path = "$." + path
        self.path = path
        self.section = section
        self.source = source

    def __str__(self) -> str:
        text = f"{self.path}: {self.msg}" if self.path else self.msg
        return f"{self.source}: {text}" if self.source else text


class UsageError(OcirtError):
    """Wrong command-line use (or a wrong argument of an API call)."""


class ConfigError(OcirtError):
    """config.json is malformed, violates the schema, or asks for the impossible.

    findings: every error the document has (ocirt.config.Finding: path,
    message, severity, section) when it was checked as a whole; this
    error is the first of them."""

    def __init__(self, msg: str, path: "str | None" = None, *, section: "str | None" = None,
                 source: "str | None" = None, findings: "Iterable[Any]" = ()) -> None:
        super().__init__(msg, path, section=section, source=source)
        self.findings = tuple(findings)


class ContainerNotFound(OcirtError):
    """No container of that id in the state root (id: the id asked for)."""

    def __init__(self, cid: str) -> None:
        super().__init__(f"container does not exist: {cid}")
        self.id = cid


class ContainerExists(OcirtError):
    """create of an id the state root has already (id: that id)."""

    def __init__(self, cid: str) -> None:
        super().__init__(f"container with id exists: {cid}")
        self.id = cid


class InvalidState(OcirtError):
    """The operation is not allowed in the container's current status
    (id and status, where the refusal knows them)."""

    def __init__(self, msg: str, path: "str | None" = None, *, id: "str | None" = None,
                 status: "str | None" = None, section: "str | None" = None) -> None:
        super().__init__(msg, path, section=section)
        self.id = id
        self.status = status


class SetupError(OcirtError):
    """The container's environment could not be built (reported by the child)."""


# Name used by the child/parent protocol to rebuild an error on the parent side.
BY_NAME = {
    cls.__name__: cls
    for cls in (OcirtError, UsageError, ConfigError, InvalidState, SetupError)
}
