"""Jira payloads to okrsync values: a search-result issue to a `Ticket`, and the pull cursor.

Pure functions, no I/O. Tolerant of what Jira omits (a missing summary or status is a
default), strict about what identifies an issue (key, id, fields, `updated`): an issue without
those raises ValueError, and the connector records it as `Skipped`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from connectors.text import adf_to_text, clean, extract_hypothesis, wiki_to_text
from core.model import Ticket, TicketState

log = logging.getLogger("okrsync.jira")

WONT_DO_RESOLUTIONS = ("Won't Do", "Won't Fix", "Declined", "Duplicate", "Cannot Reproduce",
                       "Obsolete", "Rejected", "Abandoned", "Cancelled", "Canceled")
"""The default resolution names of a killed bet (a source's `wont_do_resolutions`): Jira's
own, Jira Service Management's "Declined", and the usual custom ones."""


def resolution_key(name: str) -> str:
    """A resolution name for comparison: case-insensitive, apostrophes (' or ’) ignored."""
    return " ".join(name.replace("’", "").replace("'", "").casefold().split())


def parse_time(value: Any) -> datetime:
    """Jira timestamps (`2023-06-24T19:24:50.000+0000`, or epoch ms) as tz-aware UTC."""
    if isinstance(value, bool):
        raise ValueError("boolean timestamp")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _name(value: Any, key: str = "name") -> str:
    if isinstance(value, dict):
        found = value.get(key)
        return str(found) if found is not None else ""
    return ""


def _resolved(fields: dict[str, Any]) -> datetime | None:
    """`resolutiondate`, only while the issue has a resolution (reopening clears it)."""
    raw = fields.get("resolutiondate")
    if raw in (None, "") or not fields.get("resolution"):
        return None
    return parse_time(raw)


def ticket_state(
    fields: dict[str, Any], wont_do_resolutions: Iterable[str] = WONT_DO_RESOLUTIONS
) -> TicketState:
    """Status category (new / indeterminate / done, language-neutral) plus the resolution
    name, matched against the source's list of killed-bet resolutions, give the state."""
    status = fields.get("status")
    category = _name(status.get("statusCategory") if isinstance(status, dict) else None, "key")
    if category == "done":
        resolution = resolution_key(_name(fields.get("resolution")))
        killed = {resolution_key(r) for r in wont_do_resolutions}
        return TicketState.WONT_DO if resolution in killed else TicketState.DONE
    if category == "indeterminate":
        return TicketState.IN_PROGRESS
    return TicketState.TODO


def _size(fields: dict[str, Any], story_points_field: str) -> float | None:
    if story_points_field:
        points = fields.get(story_points_field)
        if isinstance(points, int | float) and not isinstance(points, bool):
            return float(points)
    subtasks = fields.get("subtasks")
    if isinstance(subtasks, list) and subtasks:
        return float(len(subtasks))
    return None


def parse_issue(
    raw: Any,
    *,
    source: str,
    site_url: str,
    story_points_field: str = "",
    hypothesis_pattern: str | None = None,
    wont_do_resolutions: Iterable[str] = WONT_DO_RESOLUTIONS,
) -> Ticket:
    """One search-result issue as a Ticket; ValueError when it lacks what identifies it."""
    if not isinstance(raw, dict):
        raise ValueError("issue is not an object")
    key, remote_id, fields = raw.get("key"), raw.get("id"), raw.get("fields")
    if not isinstance(key, str) or not key:
        raise ValueError("issue has no key")
    if not isinstance(remote_id, str | int) or isinstance(remote_id, bool) or remote_id == "":
        raise ValueError("issue has no id")
    if not isinstance(fields, dict):
        raise ValueError("issue has no fields")
    updated = parse_time(fields.get("updated"))
    created_raw = fields.get("created")
    created = parse_time(created_raw) if created_raw not in (None, "") else None
    description = fields.get("description")
    if isinstance(description, dict):
        text = adf_to_text(description)
    elif isinstance(description, str):
        text = wiki_to_text(description)
    else:
        text = ""
    project = fields.get("project")
    labels = fields.get("labels") or []
    components = fields.get("components") or []
    if not isinstance(labels, list) or not isinstance(components, list):
        raise ValueError("labels or components are not lists")
    return Ticket(
        source=source,
        key=key,
        remote_id=str(remote_id),
        url=f"{site_url}/browse/{quote(key)}",
        title=clean(str(fields.get("summary") or ""), 1000),
        project=_name(project, "key") or key.rsplit("-", 1)[0],
        issue_type=_name(fields.get("issuetype")),
        labels=tuple(str(label) for label in labels),
        state=ticket_state(fields, wont_do_resolutions),
        updated=updated,
        created=created,
        components=tuple(n for n in (_name(c) for c in components) if n),
        assignee=_name(fields.get("assignee"), "displayName") or None,
        hypothesis=extract_hypothesis(text, hypothesis_pattern),
        size=_size(fields, story_points_field),
        resolved=_resolved(fields),
        description=text,
    )


# -- cursor ---------------------------------------------------------------------------------


BOUNDARY_CAP = 2000
"""Most (key, updated) pairs a cursor keeps: bounds its size and the work per page."""


@dataclass
class Cursor:
    """Where the last pull stopped: the newest `updated` stored, and the (key, updated) pairs
    within the lookback window of it, so the overlapping next pull can drop what it saw."""

    since_ms: int | None = None
    boundary: dict[str, int] = field(default_factory=dict)
    scope: dict[str, str] | None = None
    """The JQL and flavour the cursor was made for (None: an older cursor without it)."""

    @classmethod
    def load(cls, raw: str | None) -> Cursor:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            since = data.get("since_ms")
            boundary = {str(k): int(v) for k, v in (data.get("boundary") or {}).items()}
            scope = data.get("scope")
            return cls(int(since) if since is not None else None, boundary,
                       {str(k): str(v) for k, v in scope.items()}
                       if isinstance(scope, dict) else None)
        except (ValueError, TypeError, AttributeError):
            log.warning("unreadable Jira cursor; pulling everything again")
            return cls()

    def dump(self) -> str:
        data: dict[str, object] = {"since_ms": self.since_ms, "boundary": self.boundary}
        if self.scope is not None:
            data["scope"] = self.scope
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def seen(self, key: str, updated_ms: int) -> bool:
        return self.boundary.get(key) == updated_ms

    def advance(self, key: str, updated_ms: int) -> None:
        """Record a stored ticket (`prune` trims the boundary once per page)."""
        if self.since_ms is None or updated_ms > self.since_ms:
            self.since_ms = updated_ms
        self.boundary[key] = max(updated_ms, self.boundary.get(key, updated_ms))

    def prune(self, lookback_ms: int) -> None:
        """Keep the boundary entries inside the lookback window, at most `BOUNDARY_CAP` of
        the newest. After a bulk edit (or okrsync's own big write run) the window can hold
        thousands of tickets; one dropped from the boundary is merely pulled once more."""
        if self.since_ms is None:
            return
        floor = self.since_ms - lookback_ms
        kept = {k: v for k, v in self.boundary.items() if v >= floor}
        if len(kept) > BOUNDARY_CAP:
            kept = dict(sorted(kept.items(), key=lambda kv: (kv[1], kv[0]))[-BOUNDARY_CAP:])
        self.boundary = kept
