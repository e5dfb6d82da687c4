"""The shared HTTP layer every connector talks through.

One pooled `httpx.AsyncClient` per source behind a concurrency limit. It owns the policy so
connectors don't each reinvent it: tenacity retries (exponential backoff with jitter) on
dropped connections, timeouts and 5xx; waits the server asks for on a rate limit, capped by
`max_rate_limit_wait`; a pre-emptive pause when the quota runs low; request accounting
(`RequestStats`); and the translation of HTTP failures into the `RemoteError` tree.

It knows HTTP, not trackers: how a tracker words its errors, signals a rate limit or reports
its quota is that connector's `ResponsePolicy` (the base reads only RFC `Retry-After`).
Auth headers are never logged and never appear in an exception: messages are built from
method, path, status and the server's (scrubbed) error text.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json as _json
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from connectors.pacing import EVERYTHING, Deferred, Pace, Pacer
from connectors.refusals import READ_METHODS, is_idempotent, redirect_target, refuses_token
from core.clock import SYSTEM, Clock
from core.errors import (
    AnswerLost,
    AuthError,
    Forbidden,
    NotFound,
    RateLimited,
    RemoteError,
    RemoteRejected,
    Unavailable,
)
from core.model import RequestStats
from core.redact import header_secrets, scrub

log = logging.getLogger("okrsync.http")

Sleep = Callable[[float], Awaitable[None]]
DEFAULT_CLOCK: Clock = SYSTEM
"""The clock of clients and connectors created without one (tests may swap in a fake)."""
DEFAULT_SLEEP: Sleep | None = None
"""The waiting function of clients created without one, when not `DEFAULT_CLOCK.sleep`."""

TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
MAX_ERROR_TEXT = 300


@dataclass(frozen=True)
class RateLimitPolicy:
    """When to slow down before the server says stop, and how many rate-limit waits to accept.

    A response whose `x-ratelimit-remaining` is below `min_remaining`, or below
    `min_remaining_ratio` of `x-ratelimit-limit`, pauses later requests until the reset time
    (capped by `max_rate_limit_wait`). `max_waits` bounds the rate-limit waits of one request.
    """

    min_remaining: int = 10
    min_remaining_ratio: float = 0.01
    max_waits: int = 20
    secondary_default_wait: float = 60.0
    jitter: float = 0.5


@dataclass(frozen=True)
class LimitAnswer:
    """What one rate-limit answer asks for, as a tracker's `ResponsePolicy` reads it."""

    seconds: float
    """The wait asked for; 0 when the server named none (then the client backs off)."""
    reason: str
    """What the answer said, for logs and messages ("HTTP 429 Retry-After 5 s")."""
    limit: str
    """How a person calls the limit, for deferral messages."""
    lane_reason: str = ""
    """The server's name for a limit that stops only some lanes (see `connectors.pacing`)."""
    documented_wait: bool = False
    """The server documents a long minimum wait it does not name
    (`RateLimitPolicy.secondary_default_wait`): a wait past the cap is deferred at once."""


@dataclass(frozen=True)
class Quota:
    """The request budget an answer reported."""

    remaining: int
    limit: int | None
    reset: float | None
    """Epoch seconds at which the budget refills, if known."""


class ResponsePolicy:
    """A tracker's dialect of HTTP answers; this base reads only what HTTP itself defines.

    Each connector passes its own subclass: error text from its error bodies, its rate-limit
    signals and headers, its quota headers, and a hint for a misconfigured base URL.
    """

    retry_after_headers: tuple[str, ...] = ("retry-after",)

    def messages(self, data: Any) -> list[str]:
        """The error messages in a parsed JSON error body (none known here)."""
        return []

    def quota(self, response: httpx.Response, now: float) -> Quota | None:
        """The budget this answer reports (none known here)."""
        return None

    def retry_after(self, response: httpx.Response, now: float) -> float | None:
        return retry_after(response.headers, now, self.retry_after_headers)

    def rate_limit(self, response: httpx.Response, now: float) -> LimitAnswer | None:
        """How long this answer asks to wait, or None when it is not a rate limit: a 429,
        for as long as `Retry-After` says, until the quota resets, or for a backoff."""
        status = response.status_code
        if status != 429:
            return None
        limit = f"HTTP {status} rate limit"
        wait = self.retry_after(response, now)
        if wait is not None:
            return LimitAnswer(wait, f"HTTP 429 Retry-After {wait:.0f} s", limit)
        quota = self.quota(response, now)
        if quota is not None and quota.remaining == 0 and quota.reset is not None:
            return LimitAnswer(wait_until(quota.reset, now),
                               "HTTP 429 quota exhausted until x-ratelimit-reset",
                               QUOTA_LIMIT)
        return LimitAnswer(0.0, "HTTP 429 without Retry-After", limit)

    def hint(self, path: str) -> str:
        """Advice for a 404 at `path` that points at the configuration (none known here)."""
        return ""


QUOTA_LIMIT = "API quota, until its reset"
GENERIC = ResponsePolicy()


class _Transient(Exception):
    """One attempt failed in a way worth retrying (5xx, dropped connection, timeout)."""

    def __init__(self, reason: str, *, status: int | None = None, wait_hint: float = 0.0,
                 sent: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.wait_hint = wait_hint
        self.sent = sent


class _RateLimitWait(Exception):
    """The server asked to wait `seconds` before trying again."""

    def __init__(self, answer: LimitAnswer, status: int):
        super().__init__(answer.reason)
        self.answer = answer
        self.seconds = answer.seconds
        self.reason = answer.reason
        self.status = status
        self.held = False


@dataclass
class _Attempts:
    transient: int = 0
    rate_limited: int = 0
    waited: float = 0.0


class HttpClient:
    """An async HTTP client for one source: pooling, limits, retries, waits and accounting."""

    def __init__(
        self,
        *,
        base_url: str,
        source: str,
        headers: dict[str, str],
        max_concurrency: int = 8,
        timeout: float = 30,
        verify_tls: bool = True,
        max_retries: int = 5,
        max_rate_limit_wait: float = 300,
        backoff_base: float = 0.5,
        rate_limit_policy: RateLimitPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
        monotonic: Callable[[], float] | None = None,
        pacer: Pacer | None = None,
        pace_of: Callable[[str, str], Pace] | None = None,
        responses: ResponsePolicy = GENERIC,
    ) -> None:
        self.source = source
        self.pacer = pacer
        self._pace_of = pace_of
        self.max_retries = max_retries
        self.max_rate_limit_wait = max_rate_limit_wait
        self.backoff_base = backoff_base
        self.policy = rate_limit_policy or RateLimitPolicy()
        self.responses = responses
        self._sleep = sleep or DEFAULT_SLEEP or DEFAULT_CLOCK.sleep
        self._clock = clock or DEFAULT_CLOCK.time
        self._monotonic = monotonic or DEFAULT_CLOCK.monotonic
        self._secrets = header_secrets(headers)
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            verify=verify_tls,
            limits=httpx.Limits(
                max_connections=max_concurrency, max_keepalive_connections=max_concurrency
            ),
            transport=transport,
            follow_redirects=True,
        )
        self._stats = RequestStats()
        self._pause_until = 0.0

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def stats(self) -> RequestStats:
        """A copy of the accounting since this client was created."""
        s = self._stats
        return RequestStats(
            requests=s.requests,
            by_endpoint=dict(s.by_endpoint),
            by_status=dict(s.by_status),
            not_modified=s.not_modified,
            retries=s.retries,
            rate_limit_waits=s.rate_limit_waits,
            elapsed=s.elapsed,
            quota_remaining=s.quota_remaining,
        )

    async def request(
        self,
        method: str,
        url_or_path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        endpoint: str | None = None,
        expect: tuple[int, ...] = (),
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one logical request (retrying as policy allows) and return the response.

        2xx/3xx and statuses in `expect` are returned; everything else raises a `RemoteError`.
        `endpoint` names the request for accounting (e.g. "GET /search").
        A request that is not idempotent (see `connectors.refusals`; `idempotent` overrides)
        is resent only when it never left (connection refused); once sent, a timeout, a
        dropped connection or a 5xx raises `AnswerLost` so the caller can look for what landed.
        Redirects are followed for reads only: a 3xx on a write raises naming its target.
        """
        method = method.upper()
        path = httpx.URL(url_or_path).path or url_or_path
        name = endpoint or f"{method} {path}"
        attempts = _Attempts()
        resend = is_idempotent(method, idempotent)
        pace = self._pace_of(method, path) if self._pace_of is not None else Pace()

        async def attempt() -> httpx.Response:
            await self._respect_pause()
            async with self._slot(pace, f"{method} {path}"):
                try:
                    return await self._attempt(method, url_or_path, path, name, params, json,
                                               headers, expect)
                except _RateLimitWait as exc:
                    self._on_limited(exc, pace, attempts, f"{method} {path}")
                    raise
                except _Transient as exc:
                    if resend or not exc.sent:
                        raise
                    raise AnswerLost(
                        f"{method} {path}: the answer was lost ({exc.reason}); the write may "
                        "have landed, so it is not resent blindly",
                        source=self.source, status=exc.status,
                    ) from exc

        retrying = AsyncRetrying(
            retry=retry_if_exception_type((_Transient, _RateLimitWait)),
            stop=lambda state: self._should_stop(state, attempts),
            wait=lambda state: self._wait_for(state, attempts),
            sleep=self._sleep,
            before_sleep=lambda state: self._count_retry(),
            reraise=True,
        )
        try:
            return await retrying(attempt)
        except _Transient as exc:
            raise Unavailable(
                f"{method} {path} failed after {attempts.transient} attempts: {exc.reason}",
                source=self.source,
                status=exc.status,
            ) from exc
        except _RateLimitWait as exc:
            raise RateLimited(
                f"{method} {path} still rate limited after {attempts.rate_limited} waits "
                f"({exc.reason})",
                source=self.source,
                status=exc.status,
            ) from exc

    # -- one attempt --------------------------------------------------------------------

    async def _attempt(
        self,
        method: str,
        url_or_path: str,
        path: str,
        name: str,
        params: dict[str, Any] | None,
        body: Any,
        headers: dict[str, str] | None,
        expect: tuple[int, ...],
    ) -> httpx.Response:
        self._stats.requests += 1
        self._stats.by_endpoint[name] = self._stats.by_endpoint.get(name, 0) + 1
        started = self._monotonic()
        try:
            async with self._semaphore:
                response = await self._client.request(
                    method, url_or_path, params=params, json=body, headers=headers,
                    follow_redirects=method in READ_METHODS,
                )
                await response.aread()
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            elapsed = self._monotonic() - started
            self._stats.elapsed += elapsed
            log.debug("%s %s -> %s in %.3fs", method, name, type(exc).__name__, elapsed)
            unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            raise _Transient(self._scrub(f"{type(exc).__name__}: {exc}", headers),
                             sent=not unsent) from exc
        except httpx.HTTPError as exc:
            raise Unavailable(
                self._scrub(f"{method} {path}: {type(exc).__name__}: {exc}", headers),
                source=self.source,
            ) from exc
        elapsed = self._monotonic() - started
        status = response.status_code
        self._stats.elapsed += elapsed
        self._stats.by_status[status] = self._stats.by_status.get(status, 0) + 1
        if status == 304:
            self._stats.not_modified += 1
        log.debug("%s %s -> %d in %.3fs", method, name, status, elapsed)
        self._note_quota(response)
        return self._classify(method, path, response, expect)

    def _classify(
        self, method: str, path: str, response: httpx.Response, expect: tuple[int, ...]
    ) -> httpx.Response:
        status = response.status_code
        limited = self.responses.rate_limit(response, self._clock())
        if limited is not None:
            raise _RateLimitWait(limited, status)
        if 300 <= status < 400 and status != 304 and method not in READ_METHODS:
            target = self._scrub(redirect_target(response.headers.get("location", "")))
            raise RemoteRejected(
                f"{method} {path} -> {status}: redirected to {target or '(no Location)'}; "
                "okrsync never follows a redirect on a write (the repo or site may have "
                "moved: point the source at the new address)",
                source=self.source, status=status,
            )
        if status in expect or status < 400:
            return response
        if status in TRANSIENT_STATUSES:
            hint = self.responses.retry_after(response, self._clock()) or 0.0
            text = self._error_text(response)
            where = f"{method} {_shown_url(response, path)} -> {status}"
            raise _Transient(f"{where}: {text}" if text else where, status=status, wait_hint=hint)
        raise self.error_for(method, path, response)

    def error_for(self, method: str, path: str, response: httpx.Response) -> RemoteError:
        """The `RemoteError` for a failed response, for callers that used `expect` and then
        decided the status is an error after all. Carries no headers and no secrets."""
        status = response.status_code
        text = self._error_text(response)
        where = f"{method} {_shown_url(response, path)} -> {status}"
        if status == 401:
            return AuthError(f"{where}: not authenticated", source=self.source, status=status)
        if status == 403:
            detail = f"forbidden (the account lacks permission){': ' + text if text else ''}"
            kind = AuthError if refuses_token(text) else Forbidden
            return kind(f"{where}: {detail}", source=self.source, status=status)
        if status in (404, 410):
            gone = "not found" if status == 404 else "gone"
            return NotFound(f"{where}: {gone}", source=self.source, status=status,
                            hint=self.responses.hint(_request_path(response)))
        if status >= 500:
            return Unavailable(f"{where}: {text}" if text else where, source=self.source,
                               status=status)
        return RemoteRejected(f"{where}: {text}" if text else where, source=self.source,
                              status=status)

    # -- rate limits ----------------------------------------------------------------------

    def _note_quota(self, response: httpx.Response) -> None:
        quota = self.responses.quota(response, self._clock())
        if quota is None:
            return
        self._stats.quota_remaining = quota.remaining
        low = quota.remaining < self.policy.min_remaining or (
            quota.limit is not None and quota.limit > 0
            and quota.remaining < quota.limit * self.policy.min_remaining_ratio
        )
        if low and response.status_code < 400 and quota.reset is not None:
            self._pause_until = max(self._pause_until, quota.reset)

    async def _respect_pause(self) -> None:
        if self._pause_until <= 0:
            return
        wait = min(self._pause_until - self._clock(), self.max_rate_limit_wait)
        self._pause_until = 0.0
        if wait > 0:
            log.debug("%s: quota low, pausing %.1fs until reset", self.source, wait)
            self._stats.rate_limit_waits += wait
            await self._sleep(wait)

    # -- tenacity hooks -------------------------------------------------------------------

    def _should_stop(self, state: RetryCallState, attempts: _Attempts) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RateLimitWait):
            attempts.rate_limited += 1
            return attempts.rate_limited > self.policy.max_waits
        attempts.transient += 1
        return attempts.transient > self.max_retries

    def _wait_for(self, state: RetryCallState, attempts: _Attempts) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RateLimitWait):
            seconds = 0.0 if exc.held else exc.seconds
            log.debug("%s: rate limited (%s), waiting %.1fs", self.source, exc.reason,
                      exc.seconds)
            return seconds
        delay = self._backoff(attempts.transient)
        if isinstance(exc, _Transient) and exc.wait_hint > 0:
            delay = max(delay, min(exc.wait_hint, self.max_rate_limit_wait))
        return delay

    def _slot(self, pace: Pace, what: str) -> contextlib.AbstractAsyncContextManager[None]:
        if self.pacer is None:
            return contextlib.nullcontext()
        return self.pacer.slot(pace, max_wait=self.max_rate_limit_wait, source=self.source,
                               what=what)

    def _on_limited(self, exc: _RateLimitWait, pace: Pace, attempts: _Attempts,
                    what: str) -> None:
        """Decide the wait for one rate-limit answer: the server's `Retry-After`, else a
        backoff (from `secondary_default_wait` when the limit documents a long minimum wait,
        others from 2 s, doubling), never more than what is left of `max_rate_limit_wait`
        for this request.
        With a pacer the wait becomes a hold every worker of the credential respects.
        A block known to outlast the cap is `Deferred` (with a pacer; else `RateLimited`):
        nothing is sent into it. Short blocks that add up to the cap are a failure
        (`RateLimited`), as a flaky server is not a limit to wait out."""
        cap = self.max_rate_limit_wait
        left = cap - attempts.waited
        jitter = random.uniform(0, self.policy.jitter)
        known = exc.seconds > 0 or exc.answer.documented_wait
        if exc.seconds > 0:
            asked = exc.seconds
        else:
            base = self.policy.secondary_default_wait if exc.answer.documented_wait else 2.0
            asked = base * 2.0 ** min(attempts.rate_limited, 16)
        scope = self._hold_scope(pace, exc.answer.lane_reason)
        if known and asked > cap:
            until = self._clock() + asked
            message = (f"{what}: the server asked to wait {asked:.0f} s ({exc.reason}), more "
                       f"than max_rate_limit_wait = {cap:.0f} s")
            if self.pacer is not None:
                self.pacer.hold(until, exc.reason, scope)
                raise Deferred(f"{message}; the rest waits for a later run", until=until,
                               limit=exc.answer.limit, source=self.source, status=exc.status)
            raise RateLimited(
                f"{message}; raise `max_rate_limit_wait` in [sources.{self.source}] or run "
                "later",
                source=self.source,
                status=exc.status,
            )
        if left <= 0 or (known and asked > left):
            raise RateLimited(
                f"{what}: still rate limited ({exc.reason}) after waiting "
                f"{attempts.waited:.0f} s, all of max_rate_limit_wait = {cap:.0f} s",
                source=self.source,
                status=exc.status,
            )
        seconds = min(asked + jitter, left)
        attempts.waited += seconds
        self._stats.rate_limit_waits += seconds
        exc.seconds = seconds
        if self.pacer is not None:
            self.pacer.hold(self._clock() + seconds, exc.reason, scope)
            exc.held = True

    @staticmethod
    def _hold_scope(pace: Pace, limit_reason: str) -> tuple[str, ...]:
        """The lanes a rate-limit answer stops: those answering to the limit it names
        (one issue, an endpoint's burst), else the whole credential."""
        lanes = tuple(lane.key for lane in pace.lanes if limit_reason and
                      lane.reason == limit_reason)
        return lanes or (EVERYTHING,)

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with full jitter on top: base, 2*base, 4*base ... capped at 60 s."""
        exponent = min(max(failures, 1) - 1, 16)
        delay: float = min(60.0, self.backoff_base * 2.0**exponent)
        return delay + random.uniform(0, self.backoff_base)

    def _count_retry(self) -> None:
        self._stats.retries += 1

    # -- scrubbing ------------------------------------------------------------------------

    def _scrub(self, text: str, headers: Mapping[str, str] | None = None) -> str:
        """`text` without any form of a credential, the client's or one request's own (a
        App installation token)."""
        return scrub(text, self._secrets + header_secrets(headers or {}))

    def _error_text(self, response: httpx.Response) -> str:
        """The server's own error message (as its `ResponsePolicy` reads the body), else the
        body itself, collapsed, shortened and scrubbed."""
        raw = response.text if response.content else ""
        text = raw
        with contextlib.suppress(ValueError):
            parts = self.responses.messages(_json.loads(raw))
            if parts:
                text = "; ".join(parts)
        text = " ".join(text.split())
        if len(text) > MAX_ERROR_TEXT:
            text = text[: MAX_ERROR_TEXT - 1] + "…"
        return self._scrub(text)


def _shown_url(response: httpx.Response, path: str) -> str:
    """The full URL a failed request went to, without its query (so a wrong base URL shows),
    or `path` for a response built without a request."""
    try:
        url = response.request.url
    except RuntimeError:
        return httpx.URL(path).path or path
    return str(url.copy_with(query=None, fragment=None))


def _request_path(response: httpx.Response) -> str:
    """The path a response answered ("" for a response built without a request)."""
    try:
        return response.request.url.path
    except RuntimeError:
        return ""


def repeats_api_path(path: str, api: str) -> bool:
    """Whether `path` holds the API prefix `api` (a regex) twice: a base URL given with it."""
    return re.search(rf"({api})(?:/.*)?\1(/|$)", path) is not None


def int_header(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def retry_after(headers: httpx.Headers, now: float,
                names: tuple[str, ...] = ("retry-after",)) -> float | None:
    """Seconds asked by the first of `names` present: a number or an HTTP date."""
    for name in names:
        value = headers.get(name)
        if not value:
            continue
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        with contextlib.suppress(TypeError, ValueError):
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - now)
    return None


def header_time(headers: httpx.Headers, name: str, now: float) -> float | None:
    """A header giving a moment as epoch seconds, seconds from now or ISO-8601, as epoch
    seconds (rate-limit resets come in each of these forms)."""
    value = headers.get(name)
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    # Small numbers are "seconds from now" (some servers), large ones epoch seconds.
    return number if number > 10**9 else now + number


def x_ratelimit_quota(response: httpx.Response, now: float) -> Quota | None:
    """The budget in the de-facto `x-ratelimit-remaining` / `-limit` / `-reset` headers, for
    the trackers that send them."""
    h = response.headers
    remaining = int_header(h, "x-ratelimit-remaining")
    if remaining is None:
        return None
    return Quota(remaining, int_header(h, "x-ratelimit-limit"),
                 header_time(h, "x-ratelimit-reset", now))


def wait_until(reset: float, now: float) -> float:
    """Seconds to wait for a reset at `reset`, at least one."""
    return max(1.0, reset - now)
