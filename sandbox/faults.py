"""Fault injection for the sandbox servers: rate limits, 5xx, slow answers, dropped connections,
and lost answers (`lost`: the handler runs, so a write lands, then the connection drops before
the answer is sent).

A spec is a comma list of rules, each `kind:rate` (a probability 0..1 per request) or
`kind@N[+N...]` (exactly on the N-th request, counted from 1 since the spec was set), with an
optional `:param` after either form — seconds of `Retry-After` for `429`/`secondary`
(default 1), seconds of delay for `slow` (default 2). Example:
`429:0.2,500:0.1,secondary:0.1,slow:0.05,drop:0.02,503@7+9,429@3:5`.

Rates share one uniform draw per request, so `429:0.2,500:0.1` gives 20 % 429s and 10 % 500s
exactly in expectation; `@N` rules win over rates. Draws are a pure function of (seed, request
number), so a run replays identically per seed no matter how threads interleave.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.clock import SYSTEM
from sandbox.accounting import ADMIN_PREFIX, DROPPED, Accounting, resolve_endpoint

Flavour = Literal["jira", "github"]
KINDS = ("429", "secondary", "500", "502", "503", "slow", "drop", "lost")
_DEFAULT_PARAM = {"429": 1.0, "secondary": 1.0, "slow": 2.0}
_RULE = re.compile(
    r"^(?P<kind>[a-z0-9]+)"
    r"(?:(?::(?P<rate>[0-9.]+))|(?:@(?P<at>[0-9]+(?:\+[0-9]+)*)))"
    r"(?::(?P<param>[0-9.]+))?$"
)
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID "
    "0000:SANDBOX:0000000:0000000:00000000."
)
_DROP_LOG = "ASGI callable returned without completing response."


@dataclass(frozen=True)
class FaultRule:
    """One rule of a spec: a kind, and either a rate or the request numbers it fires on."""

    kind: str
    rate: float = 0.0
    at: frozenset[int] = frozenset()
    param: float = 0.0

    @property
    def retry_after(self) -> int:
        """Seconds announced in `Retry-After` (whole seconds, as the real servers send)."""
        return max(0, round(self.param))


@dataclass(frozen=True)
class FaultSpec:
    """A parsed fault spec; `FaultSpec.parse(None)` or `""` injects nothing."""

    rules: tuple[FaultRule, ...] = ()
    text: str = ""
    retry_after: int = field(default=1)

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        """Parse `spec`; raise ValueError naming the bad rule and the expected forms."""
        if spec is None or not spec.strip():
            return cls()
        rules: list[FaultRule] = []
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                raise ValueError(f"fault spec {spec!r}: empty rule between commas")
            rules.append(_parse_rule(item))
        total = sum(rule.rate for rule in rules)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault spec {spec!r}: rates add up to {total:g}, more than 1")
        retry_after = next(
            (r.retry_after for r in rules if r.kind in ("429", "secondary")), 1
        )
        return cls(rules=tuple(rules), text=spec.strip(), retry_after=retry_after)

    def __bool__(self) -> bool:
        return bool(self.rules)


def _parse_rule(item: str) -> FaultRule:
    expected = (
        "expected kind:rate or kind@N[+N...] with an optional :seconds, "
        f"kind one of {', '.join(KINDS)}"
    )
    match = _RULE.match(item)
    if match is None:
        raise ValueError(f"fault rule {item!r} is not valid: {expected}")
    kind = match["kind"]
    if kind not in KINDS:
        raise ValueError(f"fault rule {item!r}: unknown kind {kind!r}; {expected}")
    rate = 0.0
    at: frozenset[int] = frozenset()
    if match["rate"] is not None:
        try:
            rate = float(match["rate"])
        except ValueError:
            bad = match["rate"]
            raise ValueError(f"fault rule {item!r}: rate {bad!r} is not a number") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rule {item!r}: rate must be between 0 and 1")
    else:
        at = frozenset(int(n) for n in match["at"].split("+"))
        if 0 in at:
            raise ValueError(f"fault rule {item!r}: requests are counted from 1")
    param = _DEFAULT_PARAM.get(kind, 0.0)
    if match["param"] is not None:
        if kind not in _DEFAULT_PARAM:
            raise ValueError(f"fault rule {item!r}: kind {kind!r} takes no :seconds parameter")
        try:
            param = float(match["param"])
        except ValueError:
            raise ValueError(f"fault rule {item!r}: {match['param']!r} is not a number") from None
    return FaultRule(kind=kind, rate=rate, at=at, param=param)


def _uniform(seed: int, number: int) -> float:
    """A uniform draw in [0, 1) that depends only on (seed, request number)."""
    digest = hashlib.blake2b(f"{seed}:{number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class FaultInjector:
    """Decides, request by request, which fault (if any) a sandbox server injects."""

    def __init__(self, spec: FaultSpec | str | None = None, seed: int = 1) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._spec = FaultSpec()
        self._count = 0
        self.set_spec(spec)

    @property
    def spec(self) -> FaultSpec:
        return self._spec

    @property
    def requests(self) -> int:
        """Requests seen since the spec was last set."""
        with self._lock:
            return self._count

    def set_spec(self, spec: FaultSpec | str | None) -> None:
        """Replace the spec and restart request numbering, so `503@1` hits the next request."""
        parsed = spec if isinstance(spec, FaultSpec) else FaultSpec.parse(spec)
        with self._lock:
            self._spec = parsed
            self._count = 0

    def next_fault(self) -> FaultRule | None:
        """Count one request and return the fault to inject into it, or None."""
        with self._lock:
            self._count += 1
            number = self._count
            spec = self._spec
        return self.fault_for(spec, number)

    def fault_for(self, spec: FaultSpec, number: int) -> FaultRule | None:
        """The fault for request `number` under `spec` (pure: same seed, same answer)."""
        for rule in spec.rules:
            if number in rule.at:
                return rule
        draw = _uniform(self._seed, number)
        edge = 0.0
        for rule in spec.rules:
            if rule.rate <= 0.0:
                continue
            edge += rule.rate
            if draw < edge:
                return rule
        return None


def _error_body(flavour: Flavour, kind: str) -> tuple[int, dict[str, object]]:
    if kind in ("429", "secondary"):
        if flavour == "github" and kind == "secondary":
            return 403, {
                "message": SECONDARY_MESSAGE,
                "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/"
                "overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            }
        if flavour == "github":
            return 429, {
                "message": SECONDARY_MESSAGE,
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            }
        return 429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}
    status = int(kind)
    text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
    if flavour == "github":
        return status, {"message": text, "documentation_url": "https://docs.github.com/rest"}
    return status, {"errorMessages": [text], "errors": {}}


def fault_response(rule: FaultRule, flavour: Flavour) -> Response:
    """The HTTP answer of an error-kind fault, shaped like the real server's."""
    status, body = _error_body(flavour, rule.kind)
    headers: dict[str, str] = {}
    if rule.kind in ("429", "secondary"):
        headers["Retry-After"] = str(rule.retry_after)
        if flavour == "jira":
            headers["RateLimit-Reason"] = "jira-burst-based"
        else:
            headers["x-ratelimit-resource"] = "core"
    payload = json.dumps(body, separators=(",", ":")).encode()
    return Response(payload, status, headers, media_type="application/json; charset=utf-8")


class _QuietDrops(logging.Filter):
    """Hide uvicorn's one-line complaint about the responses we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROP_LOG


_QUIET = _QuietDrops()


async def _drop(send: Send) -> None:
    """Start a response and never finish it: uvicorn closes the connection mid-message."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"partial', "more_body": True})


async def _discard(message: Message) -> None:
    """Swallow an answer the handler sends: what a connection lost after the write sees."""


def fault_middleware(
    app: ASGIApp,
    injector: FaultInjector,
    *,
    flavour: Flavour,
    accounting: Accounting | None = None,
) -> ASGIApp:
    """Wrap a sandbox app so faults are injected before its handlers run.

    Admin paths (`/_sandbox/*`) are exempt and not numbered. Injected error answers and drops
    are recorded in `accounting` (no quota); `slow` only delays and lets the app answer;
    `lost` lets the app handle the request (and count it) but drops its answer.
    """
    logging.getLogger("uvicorn.error").addFilter(_QUIET)

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(ADMIN_PREFIX):
            await app(scope, receive, send)
            return
        rule = injector.next_fault()
        if rule is None:
            await app(scope, receive, send)
            return
        if accounting is not None:
            accounting.record_fault(rule.kind)
        if rule.kind == "slow":
            await SYSTEM.sleep(rule.param)
            await app(scope, receive, send)
            return
        endpoint = resolve_endpoint(app, scope)
        if rule.kind == "drop":
            if accounting is not None:
                accounting.record(endpoint, DROPPED)
            await _drop(send)
            return
        if rule.kind == "lost":
            await app(scope, receive, _discard)
            await _drop(send)
            return
        response = fault_response(rule, flavour)
        if accounting is not None:
            accounting.record(endpoint, response.status_code, bytes_out=len(response.body))
        await response(scope, receive, send)

    return middleware


def fault_routes(injector: FaultInjector) -> list[Route]:
    """Admin routes to read (`GET`) or replace (`PUT`, body = spec text) the fault spec."""

    async def read(_: Request) -> Response:
        return JSONResponse({"spec": injector.spec.text, "requests": injector.requests})

    async def replace(request: Request) -> Response:
        text = (await request.body()).decode("utf-8", "replace").strip()
        try:
            injector.set_spec(text or None)
        except ValueError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        return JSONResponse({"spec": injector.spec.text})

    return [
        Route(f"{ADMIN_PREFIX}faults", read, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}faults", replace, methods=["PUT"]),
    ]
