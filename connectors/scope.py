"""What a source pulls (its scope) as recorded in its cursor, and why a changed scope makes
the next pull complete: a cursor only says "everything in *this* scope up to here", so after
a wider JQL or a new repo it would silently skip what the old scope never saw, and after a
narrower one it would keep epics that left the scope until the next complete pull."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

Scope = dict[str, Any]
"""A JSON-able description of what a source pulls, e.g. `{"jql": ..., "flavour": ...}`."""


@runtime_checkable
class ScopedConnector(Protocol):
    """A connector whose cursor records its scope."""

    def scope_change(self, cursor: str) -> str:
        """Why the stored `cursor` no longer fits the configured scope ("" when it does)."""
        ...


def scope_change(connector: object, cursor: str | None) -> str:
    """Why the next pull of `connector` must be complete because its scope changed; "" when
    there is no cursor or the connector does not record a scope."""
    if cursor is None or not isinstance(connector, ScopedConnector):
        return ""
    return connector.scope_change(cursor)


def describe_change(recorded: Mapping[str, Any] | None, current: Mapping[str, Any]) -> str:
    """One line naming what changed between the recorded and the configured scope."""
    if recorded is None:
        return "the cursor does not record its scope (written by an older okrsync)"
    changed = [
        f"{key} {recorded.get(key)!r} -> {current.get(key)!r}"
        for key in sorted(set(recorded) | set(current))
        if recorded.get(key) != current.get(key)
    ]
    return "the scope changed: " + "; ".join(changed) if changed else ""
