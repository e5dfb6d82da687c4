"""When a refused write-back is tried again, and when okrsync stops trying (parks it).

A refusal (a 403 on one repo or project, a redirect, another 4xx) will not go away by itself
on the next run, so trying it every run only spends requests and fails every run. Each refusal
doubles the wait before the next attempt; after `park_after` refusals the item is parked: it
stays in the outbox (status `pending`), `status` and the report show it with its reason, and
only `okrsync resume` makes it due again. Transient failures (5xx, timeouts, rate limits) are
not refusals: they are retried on the next run, as before. Pure: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_BACKOFF = timedelta(days=1)


@dataclass(frozen=True)
class RetryPolicy:
    """`[sync] park_after` and `[sync] retry_backoff_seconds`; 0 seconds retries every run."""

    park_after: int = 5
    backoff_seconds: float = 900.0


@dataclass(frozen=True)
class Refused:
    """What to record after one more refusal: when to try next, or that the item is parked."""

    next_attempt_at: datetime | None
    park: bool


def after_refusal(attempts: int, now: datetime, policy: RetryPolicy) -> Refused:
    """The outcome of the `attempts`-th refusal of one item (counted from 1)."""
    if attempts >= policy.park_after:
        return Refused(None, park=True)
    if policy.backoff_seconds <= 0:
        return Refused(None, park=False)
    seconds = policy.backoff_seconds * 2.0 ** min(max(0, attempts - 1), 32)
    return Refused(now + min(timedelta(seconds=seconds), MAX_BACKOFF), park=False)
