"""The sandbox Jira's in-memory state and how it renders Jira's REST shapes.

Issues are kept as small records (not raw JSON) so 100,000 of them fit and search stays
fast; REST payloads are rendered per request for the API version asked (ADF on v3, wiki
text on v2) and the flavour (Cloud users carry `accountId`, Data Center users `name`/`key`).
Every mutation happens under one lock and bumps `version`, which invalidates search snapshots.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.text import adf_to_text
from sandbox.jira_access import JiraAccess
from sandbox.jql import Query

JIRA_USER = "sandbox@example.com"
STORY_POINTS_FIELD = "customfield_10016"

# name -> (id, statusCategory key, statusCategory id, statusCategory name, colour)
STATUSES: dict[str, tuple[str, str, int, str, str]] = {
    "To Do": ("10000", "new", 2, "To Do", "blue-gray"),
    "In Progress": ("3", "indeterminate", 4, "In Progress", "yellow"),
    "Done": ("10001", "done", 3, "Done", "green"),
    "Won't Do": ("10002", "done", 3, "Done", "green"),
}
_CATEGORY_DEFAULT_STATUS = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
STATE_TO_STATUS = {"todo": "To Do", "in_progress": "In Progress", "done": "Done",
                   "wont_do": "Won't Do"}
# name -> (id, hierarchyLevel, subtask)
ISSUE_TYPES: dict[str, tuple[str, int, bool]] = {
    "Epic": ("10000", 1, False),
    "Story": ("10001", 0, False),
    "Task": ("10002", 0, False),
    "Sub-task": ("10003", -1, True),
    "Bug": ("10004", 0, False),
}
_RESOLUTION_IDS = {"Done": "10000", "Won't Do": "10001", "Duplicate": "10002"}


def now_ms() -> int:
    return int(time.time() * 1000)


def format_time(ms: int) -> str:
    """Jira's timestamp format: `2021-01-17T12:34:00.000+0000`."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


def parse_time(raw: Any, default: int) -> int:
    """Jira timestamps, ISO-8601 strings or epoch ms to epoch ms."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, str) and raw:
        text = raw.replace("Z", "+00:00")
        if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
            text = text[:-2] + ":" + text[-2:]
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return default
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    return default


def text_to_adf(text: str) -> dict[str, Any]:
    """Wrap plain text as an ADF document, one paragraph per line."""
    content = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
        for line in text.split("\n")
    ]
    return {"type": "doc", "version": 1, "content": content}


def body_for(value: Any, api: str) -> Any:
    """A description or comment body as the API version shows it (v3: ADF, v2: wiki text)."""
    if value is None:
        return None
    if api == "3":
        return value if isinstance(value, dict) else text_to_adf(str(value))
    return value if isinstance(value, str) else adf_to_text(value, limit=1_000_000)


@dataclass(slots=True)
class IssueRecord:
    """One issue, compact. `description` / comment bodies keep whatever format was written."""

    id: str
    key: str
    project: str
    project_name: str
    issuetype: str
    summary: str
    labels: list[str]
    status: str
    status_category: str
    resolution: str | None
    created_ms: int
    updated_ms: int
    description: Any = None
    story_points: float | None = None
    components: list[str] = field(default_factory=list)
    assignee: str | None = None
    priority: str = "Medium"
    subtasks: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    remotelinks: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    resolved_ms: int | None = None
    """Jira's `resolutiondate`: set when the issue is resolved, kept through later edits."""


class EditRejected(ValueError):
    """A PUT /issue body Jira would refuse; `errors` is Jira's field -> message map."""

    def __init__(self, errors: dict[str, str], messages: Sequence[str] = ()) -> None:
        super().__init__("; ".join([*messages, *errors.values()]))
        self.errors = errors
        self.messages = list(messages)


_EDITABLE = {"labels", "summary", "description", STORY_POINTS_FIELD, "components", "assignee",
             "priority"}


class JiraState:
    """All issues of the sandbox Jira, plus helpers that edit them the way a person would."""

    def __init__(self, records: Iterable[IssueRecord] = ()) -> None:
        self.lock = threading.RLock()
        self.version = 0
        self.base_url = "http://127.0.0.1"
        self.admin = False  # notifyUsers=false needs admin: 403 otherwise, as in Jira
        self.denied_permissions: set[str] = set()
        self.access = JiraAccess()
        self._by_key: dict[str, IssueRecord] = {}
        self._by_id: dict[str, IssueRecord] = {}
        self._ids = itertools.count(10_000)
        self._snapshots: dict[str, tuple[int, list[IssueRecord]]] = {}
        self._last_ms = 0
        for rec in records:
            self._add(rec)

    # --- loading -------------------------------------------------------------------------

    @classmethod
    def from_scenario(cls, jira_part: dict[str, Any] | None) -> JiraState:
        """Build the state from the scenario's `jira` part (issues shaped as GET issue)."""
        state = cls()
        state.access = JiraAccess.from_scenario(jira_part)
        issues = (jira_part or {}).get("issues", [])
        for n, raw in enumerate(issues):
            if not raw.get("deleted"):
                state._add(state._record_from(raw, n))
        return state

    def _record_from(self, raw: dict[str, Any], n: int) -> IssueRecord:
        fields = dict(raw.get("fields") or {})
        key = str(raw.get("key") or f"SBX-{n + 1}")
        project_raw = fields.pop("project", None) or {}
        project = str(project_raw.get("key") or key.rpartition("-")[0] or "SBX")
        status_raw = fields.pop("status", None) or {}
        category = str((status_raw.get("statusCategory") or {}).get("key") or "new")
        status = str(status_raw.get("name") or _CATEGORY_DEFAULT_STATUS.get(category, "To Do"))
        category = STATUSES[status][1] if status in STATUSES else category
        resolution_raw = fields.pop("resolution", None)
        resolution = resolution_raw.get("name") if isinstance(resolution_raw, dict) else None
        if resolution is None and category == "done":
            resolution = "Won't Do" if status == "Won't Do" else "Done"
        default_ms = now_ms()
        updated = parse_time(fields.pop("updated", None), default_ms)
        created = min(parse_time(fields.pop("created", None), updated), updated)
        resolved_raw = fields.pop("resolutiondate", None)
        resolved = parse_time(resolved_raw, updated) if resolution is not None else None
        assignee_raw = fields.pop("assignee", None)
        raw_id = raw.get("id")
        return IssueRecord(
            id=str(raw_id) if raw_id is not None else str(next(self._ids)),
            key=key,
            project=project,
            project_name=str(project_raw.get("name") or project.title()),
            issuetype=str((fields.pop("issuetype", None) or {}).get("name") or "Epic"),
            summary=str(fields.pop("summary", None) or f"Untitled {key}"),
            labels=[str(x) for x in fields.pop("labels", None) or []],
            status=status,
            status_category=category,
            resolution=resolution,
            created_ms=created,
            updated_ms=updated,
            description=fields.pop("description", None),
            story_points=fields.pop(STORY_POINTS_FIELD, None),
            components=[str(c.get("name", c)) if isinstance(c, dict) else str(c)
                        for c in fields.pop("components", None) or []],
            assignee=(assignee_raw.get("displayName") if isinstance(assignee_raw, dict)
                      else assignee_raw),
            priority=str((fields.pop("priority", None) or {}).get("name") or "Medium"),
            subtasks=list(fields.pop("subtasks", None) or []),
            comments=[self._comment_from(c, updated) for c in raw.get("comments") or []],
            remotelinks=[dict(link) for link in raw.get("remotelinks") or []],
            extra=fields,
            resolved_ms=resolved,
        )

    def _comment_from(self, raw: Any, default_ms: int) -> dict[str, Any]:
        if isinstance(raw, str):
            raw = {"body": raw}
        author = raw.get("author")
        return {
            "id": str(raw.get("id") or next(self._ids)),
            "author": author.get("displayName") if isinstance(author, dict) else author,
            "body": raw.get("body", ""),
            "created_ms": parse_time(raw.get("created"), default_ms),
            "updated_ms": parse_time(raw.get("updated"), default_ms),
        }

    def _add(self, rec: IssueRecord) -> None:
        if rec.key in self._by_key:
            raise ValueError(f"duplicate Jira issue key in scenario: {rec.key}")
        self._by_key[rec.key] = rec
        self._by_id[rec.id] = rec
        if rec.id.isdigit() and int(rec.id) >= 10_000:
            self._ids = itertools.count(max(int(rec.id) + 1, next(self._ids)))
        for link in rec.remotelinks:
            link.setdefault("id", next(self._ids))

    def delete_issue(self, key: str) -> None:
        """Delete an issue as a person would: it answers 404 from then on."""
        with self.lock:
            rec = self.require(key)
            del self._by_key[rec.key]
            del self._by_id[rec.id]
            self.version += 1
            self._snapshots.clear()

    # --- reads ---------------------------------------------------------------------------

    def find(self, key_or_id: str) -> IssueRecord | None:
        with self.lock:
            return self._by_key.get(key_or_id.upper()) or self._by_id.get(key_or_id)

    def require(self, key_or_id: str) -> IssueRecord:
        rec = self.find(key_or_id)
        if rec is None:
            raise KeyError(key_or_id)
        return rec

    def keys(self) -> list[str]:
        with self.lock:
            return list(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[str]:
        """Issue keys, like `keys()`."""
        return iter(self.keys())

    def projects(self) -> dict[str, str]:
        """Project key -> name, in first-seen order."""
        with self.lock:
            out: dict[str, str] = {}
            for rec in self._by_key.values():
                out.setdefault(rec.project, rec.project_name)
            return out

    def search(self, query: Query, cache_key: str) -> list[IssueRecord]:
        """All matching issues in query order; a snapshot reused while nothing changes."""
        with self.lock:
            hit = self._snapshots.get(cache_key)
            if hit is not None and hit[0] == self.version:
                return hit[1]
            predicate = query.predicate()
            matched = [r for r in self._by_key.values() if predicate(r)]
            matched.sort(key=query.sort_key())
            if len(self._snapshots) > 32:
                self._snapshots.clear()
            self._snapshots[cache_key] = (self.version, matched)
            return matched

    def issue(self, key: str) -> dict[str, Any]:
        """The issue as GET /rest/api/3/issue/{key} shows it (for tests)."""
        from sandbox.jira_render import Renderer

        with self.lock:
            return Renderer(self.base_url, "3", "cloud").issue(self.require(key), None)

    def labels(self, key: str) -> list[str]:
        with self.lock:
            return list(self.require(key).labels)

    def remote_links(self, key: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(link) for link in self.require(key).remotelinks]

    def comments(self, key: str) -> list[dict[str, Any]]:
        """Comments with `body` as written and `text` as plain text."""
        with self.lock:
            return [
                {**c, "text": body_for(c["body"], "2")} for c in self.require(key).comments
            ]

    # --- writes --------------------------------------------------------------------------

    def touch(self, rec: IssueRecord) -> None:
        """A write happened: bump `updated` (strictly increasing) and invalidate searches."""
        stamp = max(now_ms(), self._last_ms + 1, rec.updated_ms + 1)
        self._last_ms = stamp
        rec.updated_ms = stamp
        self.version += 1

    def edit_issue(
        self,
        key: str,
        *,
        labels: Sequence[str] | None = None,
        summary: str | None = None,
        status: str | None = None,
        description: Any = None,
    ) -> None:
        """Edit as a person would in the UI; bumps `updated`. `status` is a status name or a
        state (`todo`, `in_progress`, `done`, `wont_do`)."""
        with self.lock:
            rec = self.require(key)
            if labels is not None:
                rec.labels = list(labels)
            if summary is not None:
                rec.summary = summary
            if description is not None:
                rec.description = description
            if status is not None:
                self.set_status(rec, STATE_TO_STATUS.get(status, status))
            self.touch(rec)

    @staticmethod
    def set_status(rec: IssueRecord, name: str) -> None:
        rec.status = name
        rec.status_category = STATUSES.get(name, ("", "indeterminate"))[1]
        if rec.status_category == "done":
            if rec.resolution is None:
                rec.resolved_ms = now_ms()
            rec.resolution = "Won't Do" if name == "Won't Do" else "Done"
        else:
            rec.resolution = None
            rec.resolved_ms = None

    def apply_edit(self, key: str, body: dict[str, Any]) -> None:
        """PUT /issue/{key}: `update` ops and `fields`, validated the way Jira does."""
        update = body.get("update") or {}
        fields = body.get("fields") or {}
        if not isinstance(update, dict) or not isinstance(fields, dict):
            raise EditRejected({}, ["Can not deserialize the request body."])
        errors: dict[str, str] = {}
        for name in [*update, *fields]:
            if name not in _EDITABLE:
                errors[name] = (
                    f"Field '{name}' cannot be set. It is not on the appropriate screen, "
                    "or unknown."
                )
        for name in set(update) & set(fields):
            errors[name] = f"Field '{name}' can be set using only one of 'fields' or 'update'."
        labels_in = fields.get("labels")
        new_labels: list[str] | None = None
        with self.lock:
            rec = self.require(key)
            if "labels" in update:
                new_labels = list(rec.labels)
                for op in update["labels"] or []:
                    for verb, value in (op or {}).items():
                        if verb == "add" and value not in new_labels:
                            new_labels.append(str(value))
                        elif verb == "remove" and value in new_labels:
                            new_labels.remove(value)
                        elif verb == "set":
                            new_labels = [str(v) for v in value or []]
            elif labels_in is not None:
                new_labels = [str(v) for v in labels_in]
            for label in new_labels or []:
                if not label or any(ch.isspace() for ch in label):
                    errors["labels"] = f"The label '{label}' contains spaces which is invalid."
                elif len(label) > 255:
                    errors["labels"] = "The label must not exceed 255 characters."
            if errors:
                raise EditRejected(errors)
            if new_labels is not None:
                rec.labels = new_labels
            for name, value in fields.items():
                if name == "summary":
                    if not value or "\n" in str(value):
                        raise EditRejected({"summary": "You must specify a summary of the issue."})
                    rec.summary = str(value)
                elif name == "description":
                    rec.description = value
                elif name == STORY_POINTS_FIELD:
                    rec.story_points = value
                elif name == "components":
                    rec.components = [str(c.get("name")) for c in value or []]
                elif name == "assignee":
                    rec.assignee = (value or {}).get("displayName") or (value or {}).get("name")
            self.touch(rec)

    def add_comment(self, key: str, body: Any, author: str) -> dict[str, Any]:
        with self.lock:
            rec = self.require(key)
            stamp = max(now_ms(), self._last_ms + 1)
            comment = {"id": str(next(self._ids)), "author": author, "body": body,
                       "created_ms": stamp, "updated_ms": stamp}
            rec.comments.append(comment)
            self.touch(rec)
            return comment

    def upsert_remote_link(self, key: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """POST remotelink: same `globalId` replaces (omitted fields nulled), else creates.
        Returns the stored link and whether it is new."""
        with self.lock:
            rec = self.require(key)
            global_id = body.get("globalId")
            link = {
                "globalId": global_id,
                "application": body.get("application"),
                "relationship": body.get("relationship"),
                "object": dict(body.get("object") or {}),
            }
            if global_id:
                for i, existing in enumerate(rec.remotelinks):
                    if existing.get("globalId") == global_id:
                        link["id"] = existing["id"]
                        rec.remotelinks[i] = link
                        self.touch(rec)
                        return link, False
            link["id"] = next(self._ids)
            rec.remotelinks.append(link)
            self.touch(rec)
            return link, True

    def update_remote_link(self, key: str, link_id: int, body: dict[str, Any]) -> bool:
        """PUT remotelink/{id}: the whole link replaced in place (omitted fields nulled)."""
        with self.lock:
            rec = self.require(key)
            for i, existing in enumerate(rec.remotelinks):
                if existing.get("id") == link_id:
                    rec.remotelinks[i] = {
                        "id": link_id, "globalId": body.get("globalId"),
                        "application": body.get("application"),
                        "relationship": body.get("relationship"),
                        "object": dict(body.get("object") or {}),
                    }
                    self.touch(rec)
                    return True
            return False

    def delete_remote_link(self, key: str, *, global_id: str | None = None,
                           link_id: int | None = None) -> bool:
        with self.lock:
            rec = self.require(key)
            before = len(rec.remotelinks)
            rec.remotelinks = [
                link for link in rec.remotelinks
                if not ((global_id is not None and link.get("globalId") == global_id)
                        or (link_id is not None and link.get("id") == link_id))
            ]
            if len(rec.remotelinks) == before:
                return False
            self.touch(rec)
            return True
