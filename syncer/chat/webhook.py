"""Posting a chat message to Slack and Teams incoming webhooks, with retries within limits.

The webhook URL is a secret (anyone holding it can post to the channel): it is read from the
environment variable `[chat]` names, and no error text, record or log line carries it (only
the channel, the HTTP status or the kind of network failure). A failure after the last
attempt is returned as a failed delivery, never raised: the caller records it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from core.redact import scrub
from syncer.chat.message import ChatMessage, slack_payload, teams_payload
from syncer.rhythm.settings import ChatSection
from syncer.store_rhythm import ChatDelivery

Sleeper = Callable[[float], None]
MAX_WAIT_SECONDS = 30.0
_PAYLOADS: dict[str, Callable[[ChatMessage], dict[str, Any]]] = {
    "slack": slack_payload, "teams": teams_payload}


@dataclass(frozen=True)
class Channel:
    name: str
    url: str


def channels(settings: ChatSection, environ: Mapping[str, str]) -> list[Channel]:
    """The configured channels whose variable holds a URL."""
    out = []
    for name, var in (("slack", settings.slack_webhook_env),
                      ("teams", settings.teams_webhook_env)):
        url = environ.get(var, "").strip() if var else ""
        if url:
            out.append(Channel(name, url))
    return out


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _wait(response: httpx.Response | None, attempt: int, first: float) -> float:
    if response is not None:
        after = response.headers.get("retry-after", "")
        if after.isdigit():
            return min(float(after), MAX_WAIT_SECONDS)
    return float(min(first * 2 ** (attempt - 1), MAX_WAIT_SECONDS))


def post(channel: Channel, msg: ChatMessage, settings: ChatSection, *, now: datetime,
         transport: httpx.BaseTransport | None = None,
         sleep: Sleeper = time.sleep) -> ChatDelivery:
    """POST the channel's payload: a 2xx is sent; 429, 5xx, a timeout or a network failure
    are retried up to `settings.attempts`; any other 4xx fails at once."""
    payload = _PAYLOADS[channel.name](msg)
    detail = ""
    attempt = 0
    with httpx.Client(transport=transport, timeout=settings.timeout_seconds,
                      follow_redirects=False) as client:
        while attempt < settings.attempts:
            attempt += 1
            response: httpx.Response | None = None
            try:
                response = client.post(channel.url, json=payload)
            except httpx.TimeoutException:
                detail = f"timed out after {settings.timeout_seconds:g} s"
            except httpx.HTTPError as exc:
                detail = f"network error ({type(exc).__name__})"
            else:
                if response.is_success:
                    return ChatDelivery(channel.name, msg.kind, msg.subject, "sent", attempt,
                                        "", now)
                detail = f"HTTP {response.status_code}"
                if not _retryable(response.status_code):
                    break
            if attempt < settings.attempts:
                sleep(_wait(response, attempt, settings.retry_wait_seconds))
    safe = scrub(detail, [channel.url])
    return ChatDelivery(channel.name, msg.kind, msg.subject, "failed", attempt,
                        f"{safe} after {attempt} attempt{'s' if attempt > 1 else ''}", now)


def deliver(msg: ChatMessage, settings: ChatSection, environ: Mapping[str, str], *,
            now: datetime, transport: httpx.BaseTransport | None = None,
            sleep: Sleeper = time.sleep) -> Sequence[ChatDelivery]:
    """Send `msg` to every configured channel; one delivery outcome per channel."""
    return [post(c, msg, settings, now=now, transport=transport, sleep=sleep)
            for c in channels(settings, environ)]
