"""A field the payload does not carry is unknown, not empty.

Jira leaves `labels` out of an issue when a field configuration hides it (or a team-managed
issue type lacks it). Read as "no labels", every managed label would look removed by a person:
overrides recorded, goal links deleted. Instead the connector skips the ticket with a reason
that starts with `UNKNOWN_FIELD`; the store keeps its last known copy and the engine plans no
write-back and records no override for it until a pull sees the field again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNKNOWN_FIELD = "unknown field"
"""How the reason of a skipped ticket whose payload lacks a field starts."""


class MissingField(ValueError):
    """The payload does not carry a field okrsync plans from."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{UNKNOWN_FIELD} `{name}`: the payload does not carry it (hidden by a field "
            "configuration?); nothing is written to this ticket until it is seen again"
        )
        self.name = name


def missing_field(payload: Any, name: str) -> MissingField | None:
    """MissingField when `payload` is an object without `name`; None otherwise (a payload
    that is not an object is the parser's to reject)."""
    return MissingField(name) if isinstance(payload, Mapping) and name not in payload else None
