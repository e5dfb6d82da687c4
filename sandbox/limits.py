"""The trackers' real rate limits, enforced by the sandbox so tests and the bench meet them.

GitHub (secondary limits): content-creating requests (POST, PATCH, PUT) per account within
each `COUNT/SECONDS` window (real: 80/60 and 500/3600), points per endpoint per minute (real:
900, a read 1, a write 5) and concurrent requests (real: 100). Over a limit the answer is
GitHub's 403 "You have exceeded a secondary rate limit", with `Retry-After` or (as GitHub
also does) without. Jira Cloud: writes per issue (real: 20/2 and 100/30), bursts per endpoint
and method (real: GET/POST 100/s, PUT/DELETE 50/s) and, in quota mode, points per hour; its
429s carry `Retry-After` and the real `RateLimit-Reason`. The checks are the same sliding
windows okrsync paces with (`connectors.pacing`): the strictest reading of the published
figures. Rejected requests are counted in the accounting, by reason, and do not fill a window.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.types import ASGIApp, Receive, Scope, Send

from connectors.limits import (
    GITHUB_CONTENT_LIMITS,
    GITHUB_POINTS_LIMIT,
    JIRA_BURST_LIMITS,
    JIRA_ISSUE_WRITE_LIMITS,
)
from connectors.pacing import Limit, Log, earliest, parse_limits, record
from core.clock import SYSTEM
from sandbox.accounting import ADMIN_PREFIX, Accounting, resolve_endpoint
from sandbox.faults import SECONDARY_MESSAGE

Clock = Callable[[], float]
_Check = tuple[str, tuple[Limit, ...], int, str]
"""(log key, limits, cost, reason when refused)."""

_CONTENT = frozenset({"POST", "PATCH", "PUT"})
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_JIRA_ISSUE = re.compile(r"/rest/api/[23]/issue/(?P<key>[^/]+)")
_EXEMPT = ("/app/installations/",)
SECONDARY_DOCS = ("https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
                  "#about-secondary-rate-limits")


@dataclass(frozen=True)
class GitHubLimits:
    """What the sandbox GitHub enforces; empty or 0 turns a limit off."""

    content: tuple[Limit, ...] = ()
    points: Limit | None = None
    concurrency: int = 0
    retry_after: bool = True

    @classmethod
    def real(cls) -> GitHubLimits:
        """github.com's published secondary limits."""
        return cls(parse_limits(GITHUB_CONTENT_LIMITS), Limit.parse(GITHUB_POINTS_LIMIT), 100)


@dataclass(frozen=True)
class JiraLimits:
    """What the sandbox Jira enforces; empty turns a limit off."""

    issue_writes: tuple[Limit, ...] = ()
    burst: dict[str, Limit] = field(default_factory=dict)
    quota: Limit | None = None

    @classmethod
    def real(cls, *, quota: Limit | None = None) -> JiraLimits:
        """Jira Cloud's published per-issue and burst limits (the points quota only on ask:
        API-token traffic is not subject to it)."""
        return cls(parse_limits(JIRA_ISSUE_WRITE_LIMITS),
                   {m: Limit.parse(v) for m, v in JIRA_BURST_LIMITS.items()}, quota)


@dataclass
class _Windows:
    """Thread-safe sliding logs by key: admit a request only when every limit keeps."""

    clock: Clock
    logs: dict[str, Log] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, checks: list[_Check]) -> tuple[float, str]:
        """(0, "") when admitted (and recorded in every log), else the seconds until the
        first refusing check would admit it, and that check's reason."""
        with self.lock:
            now = self.clock()
            for key, limits, cost, reason in checks:
                wait = earliest(self.logs.get(key, ()), limits, now, cost) - now
                if wait > 0:
                    return wait, reason
            for key, limits, cost, _ in checks:
                self.logs[key] = record(self.logs.get(key, ()), now, cost, limits)
            return 0.0, ""

    def reset(self) -> None:
        with self.lock:
            self.logs.clear()


def limits_from_options(*, off: bool, content: list[str], points: str, concurrency: int,
                        retry_after: bool, issue_writes: list[str], quota: str
                        ) -> tuple[GitHubLimits | None, JiraLimits | None]:
    """The limits `okrsync sandbox` enforces from its options (ValueError on a bad one)."""
    if off:
        return None, None
    github = GitHubLimits(parse_limits(content), Limit.parse(points) if points else None,
                          concurrency, retry_after)
    real = JiraLimits.real(quota=Limit.parse(quota) if quota else None)
    return github, JiraLimits(parse_limits(issue_writes), real.burst, real.quota)


def describe_limits(github: GitHubLimits | None, jira: JiraLimits | None) -> str:
    if github is None and jira is None:
        return "none"
    parts = []
    if github is not None:
        parts.append("GitHub content " + ", ".join(str(lim) for lim in github.content)
                     + (f"; points {github.points}" if github.points else ""))
    if jira is not None:
        parts.append("Jira per issue " + ", ".join(str(lim) for lim in jira.issue_writes)
                     + (f"; quota {jira.quota}" if jira.quota else ""))
    return "; ".join(parts)


def _identity(scope: Scope) -> str:
    """Who the limit is counted for: a digest of the credential (installation tokens all
    count for the installation, as GitHub counts per installation)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            credential = value.decode("latin-1").partition(" ")[2].strip()
            if credential.startswith("ghs_"):
                return "installation"
            return hashlib.sha256(credential.encode()).hexdigest()[:16]
    return "anonymous"


async def _answer(send: Send, status: int, body: dict[str, object],
                  headers: dict[str, str]) -> int:
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-type", b"application/json; charset=utf-8"))
    raw.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
    return len(payload)


class _Gate:
    """Shared plumbing of both limiters: skip admin routes, count rejections by reason."""

    def __init__(self, app: ASGIApp, accounting: Accounting | None, clock: Clock) -> None:
        self.app = app
        self.accounting = accounting
        self.windows = _Windows(clock)
        self.clock = clock

    def exempt(self, scope: Scope) -> bool:
        path = str(scope.get("path", ""))
        return scope["type"] != "http" or path.startswith(ADMIN_PREFIX) or any(
            part in path for part in _EXEMPT)

    def count(self, scope: Scope, status: int, reason: str, size: int) -> None:
        if self.accounting is not None:
            self.accounting.record(resolve_endpoint(self.app, scope), status, bytes_out=size)
            self.accounting.record_limit(reason)


class GitHubLimiter(_Gate):
    """ASGI middleware enforcing `GitHubLimits` in front of the sandbox GitHub app."""

    def __init__(self, app: ASGIApp, limits: GitHubLimits, *,
                 accounting: Accounting | None = None, clock: Clock = SYSTEM.time) -> None:
        super().__init__(app, accounting, clock)
        self.limits = limits
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.exempt(scope):
            await self.app(scope, receive, send)
            return
        who = _identity(scope)
        method = str(scope.get("method", "GET"))
        with self._lock:
            running = self._running.get(who, 0) + 1
            self._running[who] = running
        try:
            if self.limits.concurrency and running > self.limits.concurrency:
                await self._reject(scope, send, 60.0, "concurrency")
                return
            endpoint = resolve_endpoint(self.app, scope)
            checks: list[_Check] = []
            if method in _CONTENT and self.limits.content:
                checks.append((f"{who} content", self.limits.content, 1, "content"))
            if self.limits.points is not None:
                checks.append((f"{who} {endpoint}", (self.limits.points,),
                               5 if method in _WRITES else 1, "points"))
            wait, which = self.windows.admit(checks)
            if wait > 0:
                await self._reject(scope, send, wait, which)
                return
            await self.app(scope, receive, send)
        finally:
            with self._lock:
                self._running[who] -= 1

    async def _reject(self, scope: Scope, send: Send, wait: float, which: str) -> None:
        headers = {"x-ratelimit-resource": "core", "x-github-request-id": "0000:SANDBOX"}
        if self.limits.retry_after:
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        size = await _answer(send, 403, {"message": SECONDARY_MESSAGE,
                                         "documentation_url": SECONDARY_DOCS}, headers)
        self.count(scope, 403, f"secondary-{which}", size)


class JiraLimiter(_Gate):
    """ASGI middleware enforcing `JiraLimits` in front of the sandbox Jira app."""

    def __init__(self, app: ASGIApp, limits: JiraLimits, *,
                 accounting: Accounting | None = None, clock: Clock = SYSTEM.time) -> None:
        super().__init__(app, accounting, clock)
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.exempt(scope):
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        path = str(scope.get("path", ""))
        endpoint = resolve_endpoint(self.app, scope)
        checks: list[_Check] = []
        if self.limits.quota is not None:
            checks.append(("quota", (self.limits.quota,), 1, "jira-quota-global-based"))
        burst = self.limits.burst.get(method)
        if burst is not None:
            checks.append((f"burst {endpoint}", (burst,), 1, "jira-burst-based"))
        issue = _JIRA_ISSUE.search(path)
        if issue is not None and method in _WRITES and self.limits.issue_writes:
            checks.append((f"issue {issue.group('key').upper()}", self.limits.issue_writes, 1,
                           "jira-per-issue-on-write"))
        wait, reason = self.windows.admit(checks)
        if wait > 0:
            limits = next(lim for _, lim, _, why in checks if why == reason)
            await self._reject(scope, send, wait, reason, limits)
            return
        await self.app(scope, receive, send)

    async def _reject(self, scope: Scope, send: Send, wait: float, reason: str,
                      limits: tuple[Limit, ...]) -> None:
        reset = datetime.fromtimestamp(self.clock() + wait, UTC).isoformat(timespec="seconds")
        headers = {"Retry-After": str(max(1, math.ceil(wait))), "RateLimit-Reason": reason,
                   "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.replace("+00:00",
                                                                                    "Z")}
        if limits:
            headers["X-RateLimit-Limit"] = str(limits[0].count)
        size = await _answer(send, 429, {"errorMessages": ["Rate limit exceeded."],
                                         "errors": {}}, headers)
        self.count(scope, 429, reason, size)
