"""Request accounting for the sandbox servers.

Tests and the benchmark assert things like "a no-op sync made 3 requests and spent 0 quota";
this module counts what each sandbox server answered so they can. One `Accounting` per server,
shared by the server's handlers and its fault middleware, safe to use from any thread.
The admin route `GET /_sandbox/accounting` exposes the same snapshot over HTTP and is not
counted itself.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Scope

ADMIN_PREFIX = "/_sandbox/"
DROPPED = 0
"""Status recorded for a request whose connection was dropped without a response."""

_CONVERTER = re.compile(r"\{(\w+):[^}]+\}")


def endpoint_name(method: str, path_template: str) -> str:
    """The accounting key of a route: `"GET /repos/{owner}/{repo}/issues"` (no converters)."""
    path = _CONVERTER.sub(r"{\1}", path_template)
    return f"{method.upper()} {path}"


def resolve_endpoint(app: ASGIApp, scope: Scope) -> str:
    """Name the route of `app` that `scope` would reach, for counting requests outside it.

    Falls back to the raw path when `app` has no Starlette routes or none matches.
    """
    method = str(scope.get("method", "GET"))
    target: Any = app
    for _ in range(8):  # middleware layers keep the wrapped app in `.app`
        if hasattr(target, "routes") or not hasattr(target, "app"):
            break
        target = target.app
    found = _match(list(getattr(target, "routes", []) or []), scope, method)
    return found or endpoint_name(method, str(scope.get("path", "/")))


def _match(routes: list[BaseRoute], scope: Scope, method: str) -> str | None:
    partial: str | None = None
    for route in routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        match, child = route.matches(scope)
        inner = getattr(route, "routes", None)
        if match == Match.FULL and inner:  # a Mount: name the route inside it
            return _match(list(inner), {**scope, **child}, method)
        if match == Match.FULL:
            return endpoint_name(method, path)
        if match == Match.PARTIAL and partial is None:
            partial = endpoint_name(method, path)
    return partial


class Accounting:
    """Thread-safe counters of requests by endpoint and status, quota spent and bytes sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._by_endpoint: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._quota = 0
        self._bytes = 0
        self._not_modified = 0
        self._limited: Counter[str] = Counter()

    def record(self, endpoint: str, status: int, *, bytes_out: int = 0, quota: int = 0) -> None:
        """Count one answered request; status 0 (`DROPPED`) means the connection was dropped."""
        with self._lock:
            self._requests += 1
            self._by_endpoint[endpoint] += 1
            self._by_status[str(status)] += 1
            self._quota += quota
            self._bytes += bytes_out
            if status == 304:
                self._not_modified += 1

    def record_fault(self, kind: str) -> None:
        """Count one injected fault by kind (`429`, `secondary`, `slow`, `drop`, ...)."""
        with self._lock:
            self._faults[kind] += 1

    def record_limit(self, reason: str) -> None:
        """Count one request refused by an enforced rate limit (`secondary-content`,
        `jira-per-issue-on-write` ...): GitHub's are `secondary_limited`, Jira's
        `rate_limited` by reason."""
        with self._lock:
            self._limited[reason] += 1

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of the counters at this moment."""
        with self._lock:
            return {
                "requests": self._requests,
                "by_endpoint": dict(sorted(self._by_endpoint.items())),
                "by_status": dict(sorted(self._by_status.items())),
                "quota_spent": self._quota,
                "bytes": self._bytes,
                "not_modified": self._not_modified,
                "faults": dict(sorted(self._faults.items())),
                "secondary_limited": sum(n for r, n in self._limited.items()
                                         if r.startswith("secondary-")),
                "rate_limited": dict(sorted(self._limited.items())),
            }

    def reset(self) -> None:
        """Start counting from zero (e.g. after the setup phase of a benchmark)."""
        with self._lock:
            self._requests = 0
            self._by_endpoint.clear()
            self._by_status.clear()
            self._faults.clear()
            self._limited.clear()
            self._quota = 0
            self._bytes = 0
            self._not_modified = 0


def accounting_routes(accounting: Accounting) -> list[Route]:
    """Admin routes every sandbox server mounts: read (`GET`) and reset (`POST .../reset`)."""

    async def read(_: Request) -> Response:
        return JSONResponse(accounting.snapshot())

    async def reset(_: Request) -> Response:
        accounting.reset()
        return Response(status_code=204)

    return [
        Route(f"{ADMIN_PREFIX}accounting", read, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}accounting/reset", reset, methods=["POST"]),
    ]
