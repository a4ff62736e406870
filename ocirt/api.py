"""The values of ocirt's Python API (ocirt.runtime): what its calls return.

A module of its own because dataclasses costs ~10 ms to import, which the
hot CLI commands never pay: they print runc's text and build none of these
(tests/unit/test_imports.py keeps this module off their path).
"""
from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any, Mapping, Optional

from ocirt import SPEC_VERSION

__all__ = ["State"]


@dataclasses.dataclass(frozen=True)
class State:
    """A container's state (runtime-spec runtime.md#state), as `ocirt state`
    prints it.

    status is one of "creating", "created", "running", "stopped" (the spec's)
    or "paused" (runc's); pid is the init's host pid, 0 once it has stopped
    (and while it is being created). created is the RFC 3339 time create
    recorded (`created_at` as a datetime); owner is the id's owner's name,
    as runc's (empty where the runtime does not know it)."""

    id: str
    status: str
    pid: int
    bundle: str
    oci_version: str = SPEC_VERSION
    rootfs: str = ""
    created: str = ""
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    owner: str = ""
    # the document as read, its members in its order (to_dict)
    document: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False,
                                                    compare=False)

    @classmethod
    def from_json(cls, text: str | bytes, owner: Optional[str] = None) -> State:
        """From the state JSON of `ocirt state` (or runc's); owner: the
        owner's name, where the caller knows it (`ocirt list`)."""
        doc = json.loads(text)
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str) \
                or not isinstance(doc.get("status"), str):
            raise ValueError("a state is a JSON object with an id and a status")
        if owner is not None:
            doc["owner"] = owner
        return cls(id=doc["id"], status=doc["status"], pid=int(doc.get("pid") or 0),
                   bundle=doc.get("bundle", ""), oci_version=doc.get("ociVersion", ""),
                   rootfs=doc.get("rootfs", ""), created=doc.get("created", ""),
                   annotations=dict(doc.get("annotations") or {}),
                   owner=doc.get("owner", ""), document=doc)

    def to_dict(self) -> dict[str, Any]:
        """The state document: as read (runc's members, in its order), or,
        for a State made by hand, the runtime-spec's members."""
        if self.document:
            return dict(self.document)
        doc: dict[str, Any] = {"ociVersion": self.oci_version, "id": self.id,
                               "pid": self.pid, "status": self.status,
                               "bundle": self.bundle}
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        return doc

    @property
    def created_at(self) -> Optional[datetime.datetime]:
        """created as an aware datetime (None when not recorded yet)."""
        if not self.created:
            return None
        text = self.created
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        # Go writes up to nine fractional digits; datetime takes six
        head, dot, rest = text.partition(".")
        if dot:
            digits = "".join(c for c in rest if c.isdigit())
            zone = rest[len(digits):]
            text = f"{head}.{(digits + '000000')[:6]}{zone}"
        return datetime.datetime.fromisoformat(text)

    @property
    def alive(self) -> bool:
        """Its init lives: created, running or paused."""
        return self.status in ("created", "running", "paused")
