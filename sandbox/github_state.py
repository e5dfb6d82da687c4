"""The in-memory world of the sandbox GitHub: repos, issues (and pull requests), labels,
comments, issue types and the primary rate-limit quota.

Tests edit it the way a person would (`edit_issue` bumps `updated_at`), read it back without
HTTP, and the app in `github.py` serves it. Every method takes the one lock, so the uvicorn
thread and the test thread never see half an edit. Stored values carry no URLs: payloads are
rendered per request from the request's own base URL (see `github_render.py`).
"""

from __future__ import annotations

import copy
import gc
import hashlib
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.clock import SYSTEM
from sandbox.github_render import (
    BOT_LOGIN,
    render_comment,
    render_issue,
    render_label,
    user_ref,
)

DEFAULT_COLOR = "ededed"
DEFAULT_TYPES = (
    ("Task", "A specific piece of work", "yellow"),
    ("Bug", "An unexpected problem or behavior", "red"),
    ("Feature", "A request, idea, or new functionality", "blue"),
)
QUOTA_LIMIT = 5000
QUOTA_WINDOW = 3600
_URL_KEYS = {"url", "repository_url", "labels_url", "comments_url", "events_url", "html_url",
             "timeline_url", "repository"}
_SKIP_KEYS = _URL_KEYS | {"labels", "comments"}


class GitHubError(Exception):
    """A request the real GitHub would refuse: status, message and optional `errors` list."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def iso(moment: datetime) -> str:
    """GitHub's timestamp format: UTC, whole seconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 timestamp (`Z` or offset; a bare date means midnight UTC)."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _norm_time(value: Any, fallback: str) -> str:
    if isinstance(value, str) and len(value) == 20 and value[10] == "T" and value[19] == "Z":
        return value  # already GitHub's format (the common case: keep loading fast)
    if isinstance(value, str) and value:
        try:
            return iso(parse_time(value))
        except ValueError:
            return fallback
    return fallback


def stable_id(*parts: object, base: int = 1_000_000) -> int:
    """A deterministic positive id from names, for objects a scenario gives without one."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=6).digest()
    return base + int.from_bytes(digest, "big") % 900_000_000


@dataclass
class IssueRecord:
    """One issue or pull request; `data` holds every non-URL field except labels/comments."""

    number: int
    data: dict[str, Any]
    labels: list[str] = field(default_factory=list)
    comment_ids: list[int] = field(default_factory=list)

    @property
    def updated_at(self) -> str:
        return str(self.data["updated_at"])


@dataclass
class RepoRecord:
    """One repository with its issues, label catalogue and a version bumped on every change."""

    full_name: str
    data: dict[str, Any]
    issues: dict[int, IssueRecord] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    cache: OrderedDict[tuple[Any, ...], list[int]] = field(default_factory=OrderedDict)
    deleted: set[int] = field(default_factory=set)

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]


class GitHubState:
    """Thread-safe sandbox GitHub data; build it with `from_scenario`."""

    def __init__(self, org: str) -> None:
        self.lock = threading.RLock()
        self.org = org
        self.base_url = "http://127.0.0.1"
        self.repos: dict[str, RepoRecord] = {}
        self.issue_types: dict[str, dict[str, Any]] = {}
        self.comments_by_id: dict[int, dict[str, Any]] = {}
        self.renamed: dict[str, str] = {}  # old full name (lower case) -> new full name
        self._comment_events: dict[str, Counter[str]] = {}
        self._next_comment = 3_000_000_000
        self._next_label = 9_000_000
        self._next_issue_id = 5_000_000_000
        self.quota_limit = QUOTA_LIMIT
        self.quota_used = 0
        self.quota_reset = int(SYSTEM.time()) + QUOTA_WINDOW
        for name, description, color in DEFAULT_TYPES:
            self._issue_type(name, description=description, color=color)

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_scenario(cls, github_part: dict[str, Any] | None, org: str) -> GitHubState:
        """Load `{"repos": {"owner/name": {"issues": [...], "labels": [...]}}}`."""
        state = cls(org)
        repos = (github_part or {}).get("repos") or {}
        state.renamed = {str(old).lower(): str(new) for old, new in
                         ((github_part or {}).get("renamed") or {}).items()}
        collecting = gc.isenabled()
        gc.disable()  # loading 100k issues allocates only live objects: skip needless GC passes
        try:
            with state.lock:
                for full_name, content in repos.items():
                    state._load_repo(str(full_name), content or {})
        finally:
            if collecting:
                gc.enable()
        return state

    def _load_repo(self, full_name: str, content: dict[str, Any]) -> None:
        now = iso(SYSTEM.now())
        meta = {k: v for k, v in content.items() if k not in ("issues", "labels")}
        repo = RepoRecord(full_name=full_name, data=meta)
        meta.setdefault("id", stable_id("repo", full_name))
        meta.setdefault("created_at", "2020-01-01T00:00:00Z")
        meta.setdefault("private", False)
        meta.setdefault("description", None)
        meta.setdefault("default_branch", "main")
        self.repos[full_name.lower()] = repo
        for label in content.get("labels") or []:
            self._ensure_label(repo, str(label.get("name", "")), label)
        for raw in content.get("issues") or []:
            self._load_issue(repo, raw, now)
            if raw.get("deleted"):
                self._delete(repo, int(raw.get("number") or max(repo.issues)))

    def _load_issue(self, repo: RepoRecord, raw: dict[str, Any], now: str) -> None:
        number = int(raw.get("number") or (max(repo.issues, default=0) + 1))
        # shallow: nested values the state edits (user, type, summary) are rebuilt below
        data = {k: v for k, v in raw.items() if k not in _SKIP_KEYS}
        created = _norm_time(raw.get("created_at"), now)
        data["number"] = number
        data["created_at"] = created
        data["updated_at"] = _norm_time(raw.get("updated_at"), created)
        data.setdefault("title", f"Issue {number}")
        data.setdefault("body", "")
        state = "closed" if raw.get("state") == "closed" else "open"
        data["state"] = state
        data["closed_at"] = (_norm_time(raw.get("closed_at"), data["updated_at"])
                             if state == "closed" else None)
        data.setdefault("state_reason", "completed" if state == "closed" else None)
        data["user"] = user_ref(raw.get("user"))
        data["assignees"] = [user_ref(u) for u in raw.get("assignees") or []]
        data["assignee"] = user_ref(raw["assignee"]) if raw.get("assignee") else (
            data["assignees"][0] if data["assignees"] else None)
        if state == "closed":
            data["closed_by"] = user_ref(raw.get("closed_by") or raw.get("user"))
        else:
            data["closed_by"] = None
        if "id" not in data:
            self._next_issue_id += 1
            data["id"] = self._next_issue_id
        data["type"] = self._type_of(raw.get("type"))
        summary = raw.get("sub_issues_summary") or {}
        data["sub_issues_summary"] = _summary(summary.get("total", 0), summary.get("completed", 0))
        if "pull_request" in raw:
            data["pull_request"] = {"merged_at": (raw.get("pull_request") or {}).get("merged_at")}
        record = IssueRecord(number=number, data=data)
        for label in raw.get("labels") or []:
            obj = label if isinstance(label, dict) else {"name": str(label)}
            name = self._ensure_label(repo, str(obj.get("name", "")), obj)["name"]
            if name.lower() not in (n.lower() for n in record.labels):
                record.labels.append(name)
        comments = raw.get("comments")
        if isinstance(comments, list):
            for comment in comments:
                self._store_comment(repo, record, comment, now, count_event=False)
        repo.issues[number] = record

    def _issue_type(self, name: str, *, description: str = "", color: str = "gray"
                    ) -> dict[str, Any]:
        key = name.lower()
        if key not in self.issue_types:
            type_id = stable_id("type", name)
            self.issue_types[key] = {
                "id": type_id, "node_id": f"IT_kwDOSANDBOX{type_id}", "name": name,
                "description": description or f"{name} work", "color": color,
                "created_at": "2024-01-25T12:55:41Z", "updated_at": "2024-07-26T10:24:51Z",
                "is_enabled": True,
            }
        return self.issue_types[key]

    def _type_of(self, value: Any) -> dict[str, Any] | None:
        if not value:
            return None
        if isinstance(value, str):
            return dict(self._issue_type(value))
        if isinstance(value, dict) and value.get("name"):
            known = self._issue_type(str(value["name"]), description=str(
                value.get("description") or ""), color=str(value.get("color") or "gray"))
            return {**known, **value}
        return None

    def _ensure_label(self, repo: RepoRecord, name: str, given: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
        if not name:
            raise GitHubError(422, "Validation Failed", [
                {"resource": "Label", "code": "missing_field", "field": "name"}])
        existing = repo.labels.get(name.lower())
        if existing is not None:
            return existing
        given = given or {}
        self._next_label += 1
        label = {
            "id": int(given.get("id") or self._next_label),
            "name": name,
            "color": str(given.get("color") or DEFAULT_COLOR).lstrip("#").lower(),
            "default": bool(given.get("default", False)),
            "description": given.get("description"),
        }
        label["node_id"] = str(given.get("node_id") or f"LA_kwDOSANDBOX{label['id']}")
        repo.labels[name.lower()] = label
        return label

    def _store_comment(self, repo: RepoRecord, issue: IssueRecord, raw: dict[str, Any],
                       now: str, *, count_event: bool = True) -> dict[str, Any]:
        self._next_comment += 1
        created = _norm_time(raw.get("created_at"), now)
        comment: dict[str, Any] = {
            "id": int(raw.get("id") or self._next_comment),
            "repo": repo.full_name,
            "number": issue.number,
            "body": str(raw.get("body") or ""),
            "user": user_ref(raw.get("user") or {"login": BOT_LOGIN, "type": "Bot"}),
            "created_at": created,
            "updated_at": _norm_time(raw.get("updated_at"), created),
            "author_association": str(raw.get("author_association") or "MEMBER"),
            "app": raw.get("performed_via_github_app"),
        }
        self.comments_by_id[comment["id"]] = comment
        issue.comment_ids.append(comment["id"])
        if count_event:
            self._event(repo, issue, "created")
        return comment

    # -- lookups ---------------------------------------------------------------------------

    def repo(self, full_name: str) -> RepoRecord:
        found = self.repos.get(full_name.lower())
        if found is None:
            raise GitHubError(404, "Not Found")
        return found

    def delete_issue(self, full_name: str, number: int) -> None:
        """Delete an issue as an admin would: 410 on it from then on, gone from listings."""
        with self.lock:
            self._delete(self.repo(full_name), number)

    def _delete(self, repo: RepoRecord, number: int) -> None:
        issue = repo.issues.pop(number)
        for cid in issue.comment_ids:
            self.comments_by_id.pop(cid, None)
        repo.deleted.add(number)
        repo.version += 1
        repo.cache.clear()

    def record(self, full_name: str, number: int) -> tuple[RepoRecord, IssueRecord]:
        repo = self.repo(full_name)
        issue = repo.issues.get(number)
        if issue is None:
            raise GitHubError(404, "Not Found")
        return repo, issue

    def comment_record(self, full_name: str, comment_id: int) -> dict[str, Any]:
        comment = self.comments_by_id.get(comment_id)
        if comment is None or comment["repo"].lower() != full_name.lower():
            raise GitHubError(404, "Not Found")
        return comment

    # -- mutations (each bumps the repo version; issue edits bump updated_at) -----------------

    def touch(self, repo: RepoRecord, issue: IssueRecord | None = None) -> None:
        """Record a change: invalidate list caches, move the issue's `updated_at` to now (never
        back: scenario times may lie in the future)."""
        repo.version += 1
        repo.cache.clear()
        if issue is not None:
            now = SYSTEM.now().replace(microsecond=0)
            before = parse_time(issue.updated_at)
            issue.data["updated_at"] = iso(max(now, before))

    def _event(self, repo: RepoRecord, issue: IssueRecord, kind: str) -> None:
        key = f"{repo.full_name}#{issue.number}"
        self._comment_events.setdefault(key, Counter())[kind] += 1

    def add_labels(self, full_name: str, number: int, names: list[str]) -> list[str]:
        """Add labels (auto-creating missing ones in grey, as GitHub does); return the set."""
        with self.lock:
            repo, issue = self.record(full_name, number)
            changed = False
            for name in names:
                label = self._ensure_label(repo, name)
                if label["name"].lower() not in (n.lower() for n in issue.labels):
                    issue.labels.append(label["name"])
                    changed = True
            if changed:
                self.touch(repo, issue)
            return list(issue.labels)

    def set_labels(self, full_name: str, number: int, names: list[str]) -> list[str]:
        with self.lock:
            repo, issue = self.record(full_name, number)
            wanted: list[str] = []
            for name in names:
                label = self._ensure_label(repo, name)["name"]
                if label not in wanted:
                    wanted.append(label)
            if wanted != issue.labels:
                issue.labels = wanted
                self.touch(repo, issue)
            return list(issue.labels)

    def remove_label(self, full_name: str, number: int, name: str) -> list[str]:
        with self.lock:
            repo, issue = self.record(full_name, number)
            kept = [n for n in issue.labels if n.lower() != name.lower()]
            if len(kept) == len(issue.labels):
                raise GitHubError(404, "Label does not exist")
            issue.labels = kept
            self.touch(repo, issue)
            return list(issue.labels)

    def create_label(self, full_name: str, name: str, color: str | None,
                     description: str | None) -> dict[str, Any]:
        with self.lock:
            repo = self.repo(full_name)
            if name.lower() in repo.labels:
                raise GitHubError(422, "Validation Failed", [
                    {"resource": "Label", "code": "already_exists", "field": "name"}])
            label = self._ensure_label(repo, name, {"color": color or DEFAULT_COLOR,
                                                    "description": description})
            self.touch(repo)
            return label

    def edit_issue(self, repo: str, number: int, *, labels: list[str] | None = None,
                   title: str | None = None, body: str | None = None, state: str | None = None,
                   state_reason: str | None = None, type: str | None = None) -> dict[str, Any]:
        """Edit an issue as a person would (bumps `updated_at`); returns `issue(repo, n)`."""
        with self.lock:
            record_repo, issue = self.record(repo, number)
            if labels is not None:
                issue.labels = [self._ensure_label(record_repo, n)["name"] for n in labels]
            if title is not None:
                issue.data["title"] = title
            if body is not None:
                issue.data["body"] = body
            if type is not None:
                issue.data["type"] = self._type_of(type) if type else None
            if state is not None and state != issue.data["state"]:
                if state not in ("open", "closed"):
                    raise GitHubError(422, "Validation Failed", [
                        {"resource": "Issue", "code": "invalid", "field": "state"}])
                issue.data["state"] = state
                closing = state == "closed"
                issue.data["closed_at"] = iso(SYSTEM.now()) if closing else None
                issue.data["closed_by"] = user_ref({"login": BOT_LOGIN, "type": "Bot"}) if (
                    closing) else None
                issue.data["state_reason"] = state_reason or ("completed" if closing
                                                              else "reopened")
            elif state_reason is not None:
                issue.data["state_reason"] = state_reason
            self.touch(record_repo, issue)
            return self.issue(repo, number)

    def create_issue(self, full_name: str, title: str, body: str | None,
                     labels: list[str], type: str | None) -> int:
        with self.lock:
            repo = self.repo(full_name)
            now = iso(SYSTEM.now())
            raw: dict[str, Any] = {"number": max(repo.issues, default=0) + 1, "title": title,
                                   "body": body, "labels": labels, "type": type,
                                   "created_at": now, "updated_at": now,
                                   "user": {"login": BOT_LOGIN, "type": "Bot"}}
            self._load_issue(repo, raw, now)
            self.touch(repo)
            return int(raw["number"])

    def add_comment(self, full_name: str, number: int, body: str, *,
                    user: dict[str, Any] | None = None,
                    app: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new comment by `user` (default: the App's bot, as before), `app` set when an App
        wrote it (GitHub's `performed_via_github_app`)."""
        with self.lock:
            repo, issue = self.record(full_name, number)
            now = iso(SYSTEM.now())
            raw: dict[str, Any] = {"body": body, "performed_via_github_app": app}
            if user is not None:
                raw["user"] = user
            comment = self._store_comment(repo, issue, raw, now)
            self.touch(repo, issue)
            return dict(comment)

    def edit_comment(self, full_name: str, comment_id: int, body: str) -> dict[str, Any]:
        with self.lock:
            comment = self.comment_record(full_name, comment_id)
            repo, issue = self.record(full_name, int(comment["number"]))
            if comment["body"] != body:
                comment["body"] = body
                comment["updated_at"] = iso(SYSTEM.now())
                self._event(repo, issue, "edited")
                self.touch(repo, issue)
            return dict(comment)

    def delete_comment(self, full_name: str, comment_id: int) -> None:
        with self.lock:
            comment = self.comment_record(full_name, comment_id)
            repo, issue = self.record(full_name, int(comment["number"]))
            del self.comments_by_id[comment_id]
            issue.comment_ids.remove(comment_id)
            self._event(repo, issue, "deleted")
            self.touch(repo, issue)

    # -- quota -----------------------------------------------------------------------------

    def spend_quota(self, cost: int) -> bool:
        """Spend `cost` requests of the primary limit; False (nothing spent) when exhausted."""
        with self.lock:
            now = int(SYSTEM.time())
            if now >= self.quota_reset:
                self.quota_used = 0
                self.quota_reset = now + QUOTA_WINDOW
            if cost and self.quota_used + cost > self.quota_limit:
                return False
            self.quota_used += cost
            return True

    def rate(self) -> dict[str, int]:
        with self.lock:
            return {"limit": self.quota_limit, "used": self.quota_used,
                    "remaining": max(0, self.quota_limit - self.quota_used),
                    "reset": self.quota_reset}

    def set_quota(self, *, limit: int | None = None, used: int | None = None) -> None:
        """For tests: shrink the limit or pretend requests were spent."""
        with self.lock:
            if limit is not None:
                self.quota_limit = limit
            if used is not None:
                self.quota_used = used

    # -- test helpers ----------------------------------------------------------------------

    def issue(self, repo: str, number: int) -> dict[str, Any]:
        """The issue as `GET /repos/{o}/{r}/issues/{n}` renders it (URLs on `base_url`)."""
        with self.lock:
            record_repo, record = self.record(repo, number)
            return copy.deepcopy(render_issue(self, record_repo, record, self.base_url))

    def labels_of(self, repo: str, number: int) -> list[str]:
        with self.lock:
            return list(self.record(repo, number)[1].labels)

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self.lock:
            record = self.record(repo, number)[1]
            return [copy.deepcopy(render_comment(self.comments_by_id[cid], self.base_url))
                    for cid in record.comment_ids]

    def repo_labels(self, repo: str) -> list[dict[str, Any]]:
        with self.lock:
            record = self.repo(repo)
            return [render_label(label, record.full_name, self.base_url)
                    for label in record.labels.values()]

    @property
    def comment_events(self) -> dict[str, dict[str, int]]:
        """Comment creations/edits/deletions per issue, keyed `owner/repo#n`."""
        with self.lock:
            return {key: dict(counts) for key, counts in self._comment_events.items()}


def _summary(total: Any, completed: Any) -> dict[str, int]:
    total_n, done = int(total or 0), int(completed or 0)
    return {"total": total_n, "completed": done,
            "percent_completed": (done * 100 // total_n) if total_n else 0}
