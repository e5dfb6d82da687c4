"""GitHub payloads to domain values, and the per-repo pull cursor. Pure functions, no I/O.

Kept apart from the connector so the mapping from a real issue payload to a `Ticket` (and the
watermark arithmetic that decides what a pull returns) can be tested with recorded payloads
and property tests, without HTTP.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.text import clean, extract_hypothesis
from core.model import Skipped, Ticket, TicketState

# Labels that mean "someone is on it" for an open issue, besides an assignee.
_IN_PROGRESS = re.compile(
    r"^(?:status\s*[:/]\s*)?(?:in[\s_-]*progress|doing|wip|started|active|in[\s_-]*development)$",
    re.IGNORECASE,
)
_TASK = re.compile(r"(?m)^\s{0,8}(?:[-*+]|\d+[.)])\s+\[[ xX]\]\s")
_WONT_DO_REASONS = frozenset({"not_planned", "duplicate"})


class MalformedIssue(ValueError):
    """An issue payload lacks a field a ticket needs; the pull records it as Skipped."""


def parse_time(value: Any) -> datetime:
    """GitHub ISO-8601 timestamps (`2025-09-02T12:08:56Z`) to UTC-aware datetimes."""
    if not isinstance(value, str) or not value:
        raise MalformedIssue(f"not a timestamp: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedIssue(f"not a timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    """The inverse of `parse_time`, in the form GitHub uses (seconds, `Z`)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def label_names(issue: Mapping[str, Any]) -> tuple[str, ...]:
    """Label names of an issue; GitHub sends objects (older payloads: bare strings)."""
    raw = issue.get("labels") or []
    if not isinstance(raw, list):
        raise MalformedIssue("labels is not a list")
    names: list[str] = []
    for item in raw:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name:
            names.append(name)
    return tuple(names)


def type_name(issue: Mapping[str, Any]) -> str | None:
    kind = issue.get("type")
    if isinstance(kind, dict) and isinstance(kind.get("name"), str):
        return str(kind["name"])
    return None


def is_pull_request(issue: Mapping[str, Any]) -> bool:
    """The issues list returns pull requests too; they carry a `pull_request` key."""
    return "pull_request" in issue


def ticket_state(issue: Mapping[str, Any], labels: Iterable[str]) -> TicketState:
    """open → TODO (IN_PROGRESS when assigned or labelled so); closed → DONE or WONT_DO."""
    state = issue.get("state")
    if state == "closed":
        reason = issue.get("state_reason")
        return TicketState.WONT_DO if reason in _WONT_DO_REASONS else TicketState.DONE
    if state != "open":
        raise MalformedIssue(f"unknown state {state!r}")
    assigned = bool(issue.get("assignee")) or bool(issue.get("assignees"))
    if assigned or any(_IN_PROGRESS.match(name.strip()) for name in labels):
        return TicketState.IN_PROGRESS
    return TicketState.TODO


def task_count(body: str) -> int:
    """Markdown task-list items (`- [ ]`, `- [x]`) in a body."""
    return len(_TASK.findall(body))


def issue_size(issue: Mapping[str, Any], body: str) -> float | None:
    """Sub-issue count when the issue has sub-issues, else its task-list items, else None."""
    summary = issue.get("sub_issues_summary")
    if isinstance(summary, dict):
        total = summary.get("total")
        if isinstance(total, int) and not isinstance(total, bool) and total > 0:
            return float(total)
    tasks = task_count(body)
    return float(tasks) if tasks else None


def _login(user: Any) -> str | None:
    if isinstance(user, dict) and isinstance(user.get("login"), str):
        return str(user["login"])
    return None


def parse_issue(
    issue: Mapping[str, Any],
    *,
    source: str,
    repo: str,
    hypothesis_pattern: str | None = None,
) -> Ticket:
    """One issue payload of `GET /repos/{o}/{r}/issues` to a Ticket; MalformedIssue if unusable."""
    if not isinstance(issue, Mapping):
        raise MalformedIssue("issue is not an object")
    number = issue.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise MalformedIssue("number missing")
    title = issue.get("title")
    if not isinstance(title, str):
        raise MalformedIssue("title missing")
    remote = issue.get("node_id") or issue.get("id")
    if not isinstance(remote, str | int) or isinstance(remote, bool) or remote == "":
        raise MalformedIssue("id missing")
    url = issue.get("html_url")
    if not isinstance(url, str):
        raise MalformedIssue("html_url missing")
    labels = label_names(issue)
    body_raw = issue.get("body")
    if body_raw is not None and not isinstance(body_raw, str):
        raise MalformedIssue("body is not text")
    body = clean(body_raw or "")
    assignee = _login(issue.get("assignee"))
    if assignee is None:
        assignees = issue.get("assignees")
        if isinstance(assignees, list) and assignees:
            assignee = _login(assignees[0])
    created_raw = issue.get("created_at")
    return Ticket(
        source=source,
        key=f"{repo}#{number}",
        remote_id=str(remote),
        url=url,
        title=clean(title, 1000),
        project=repo,
        issue_type=type_name(issue) or "Epic",
        labels=labels,
        state=ticket_state(issue, labels),
        updated=parse_time(issue.get("updated_at")),
        created=parse_time(created_raw) if created_raw is not None else None,
        assignee=assignee,
        hypothesis=extract_hypothesis(body, hypothesis_pattern),
        size=issue_size(issue, body),
        description=body,
        resolved=(parse_time(issue["closed_at"])
                  if issue.get("state") == "closed" and issue.get("closed_at") else None),
    )


def parse_or_skip(
    issue: Any, *, source: str, repo: str, hypothesis_pattern: str | None = None
) -> Ticket | Skipped:
    """`parse_issue`, turning a malformed payload into a Skipped record instead of an error."""
    try:
        return parse_issue(issue, source=source, repo=repo, hypothesis_pattern=hypothesis_pattern)
    except (MalformedIssue, TypeError, AttributeError) as exc:
        number = issue.get("number") if isinstance(issue, Mapping) else None
        key = f"{repo}#{number}" if isinstance(number, int) else f"{repo}#?"
        return Skipped(source=source, key=key, reason=f"malformed issue: {exc}")


# -- the cursor --------------------------------------------------------------------------


@dataclass
class RepoCursor:
    """Where one repo's pull stands.

    `since`: the newest `updated_at` stored (ISO, `Z`). `boundary`: issue number → updated_at
    of the issues stored *at* `since` (GitHub timestamps have one-second resolution, so an
    issue updated in that same second can still arrive later). `etag`: of the first page of
    the fixed listing URL, for the conditional request. `scope`: the listing's filter, so a
    changed epic label or type starts that repo over.
    """

    since: str | None = None
    etag: str | None = None
    boundary: dict[str, str] = field(default_factory=dict)
    scope: str = ""
    modified: str | None = None
    """`Last-Modified` of that first page, for App auth (see `github_conditional`)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"since": self.since, "etag": self.etag, "boundary": self.boundary}
        if self.scope:
            out["scope"] = self.scope
        if self.modified:
            out["modified"] = self.modified
        return out

    @classmethod
    def from_json(cls, data: Any) -> RepoCursor:
        if not isinstance(data, dict):
            return cls()
        since = data.get("since")
        etag = data.get("etag")
        boundary = data.get("boundary")
        scope = data.get("scope")
        modified = data.get("modified")
        return cls(
            modified=modified if isinstance(modified, str) else None,
            since=since if isinstance(since, str) else None,
            etag=etag if isinstance(etag, str) else None,
            boundary=(
                {str(k): str(v) for k, v in boundary.items()} if isinstance(boundary, dict) else {}
            ),
            scope=scope if isinstance(scope, str) else "",
        )

    def is_new(self, number: int, updated: datetime) -> bool:
        """Whether an issue seen now was not already stored by the pull this cursor ends."""
        if self.since is None:
            return True
        since = parse_time(self.since)
        if updated > since:
            return True
        if updated < since:
            return False
        return self.boundary.get(str(number)) != format_time(updated)

    def is_older(self, updated: datetime) -> bool:
        """Strictly before the watermark: in a newest-first listing, nothing after it is new."""
        return self.since is not None and updated < parse_time(self.since)

    def advanced(self, seen: Iterable[tuple[int, datetime]], etag: str | None,
                 modified: str | None = None) -> RepoCursor:
        """The cursor after storing the issues in `seen` (number, updated_at)."""
        since = parse_time(self.since) if self.since else None
        boundary = dict(self.boundary)
        for number, updated in seen:
            if since is None or updated > since:
                since = updated
                boundary = {}
            if updated == since:
                boundary[str(number)] = format_time(updated)
        return RepoCursor(
            since=format_time(since) if since else None,
            etag=etag,
            boundary=boundary,
            scope=self.scope,
            modified=modified,
        )


@dataclass
class SourceCursor:
    """The whole source's cursor: one RepoCursor per repo, and the org's repo list cache."""

    repos: dict[str, RepoCursor] = field(default_factory=dict)
    org_etag: str | None = None
    org_repos: list[str] = field(default_factory=list)
    org_modified: str | None = None
    scope: dict[str, Any] | None = None
    """The org, repos and epic selector the cursor was made for (None: an older cursor)."""

    def dumps(self) -> str:
        data: dict[str, Any] = {
            "repos": {name: rc.to_json() for name, rc in sorted(self.repos.items())}
        }
        if self.org_etag or self.org_repos:
            data["org"] = {"etag": self.org_etag, "repos": list(self.org_repos)}
            if self.org_modified:
                data["org"]["modified"] = self.org_modified
        if self.scope is not None:
            data["scope"] = self.scope
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | None) -> SourceCursor:
        """Parse a stored cursor; an unreadable one means start over (a full pull)."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        repos_raw = data.get("repos")
        repos = (
            {str(k): RepoCursor.from_json(v) for k, v in repos_raw.items()}
            if isinstance(repos_raw, dict)
            else {}
        )
        org = data.get("org")
        org_etag: str | None = None
        org_repos: list[str] = []
        org_modified: str | None = None
        if isinstance(org, dict):
            modified = org.get("modified")
            org_modified = modified if isinstance(modified, str) else None
            etag = org.get("etag")
            org_etag = etag if isinstance(etag, str) else None
            names = org.get("repos")
            if isinstance(names, list):
                org_repos = [str(n) for n in names if isinstance(n, str)]
        scope = data.get("scope")
        return cls(repos=repos, org_etag=org_etag, org_repos=org_repos,
                   org_modified=org_modified, scope=scope if isinstance(scope, dict) else None)
