"""When the daemon should act: sync intervals with jitter and backoff, and weekly-report cron
fires. Pure functions of times passed in, so the schedule is testable without a clock."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

MAX_BACKOFF_FACTOR = 8


def next_sync_delay(
    interval: float, jitter: float, consecutive_failures: int, rng: random.Random
) -> float:
    """Seconds until the next sync: the interval plus up to `jitter` seconds, multiplied by
    2**failures (capped at 8x) after failed runs so a broken tracker is not hammered."""
    factor = min(2**consecutive_failures, MAX_BACKOFF_FACTOR)
    spread = float(rng.uniform(0, jitter)) if jitter > 0 else 0.0
    return float(interval * factor + spread)


def cron_fires(expression: str, timezone: str, after: datetime, until: datetime) -> list[datetime]:
    """Every fire time of `expression` (read in `timezone`) in the window (after, until].

    Both bounds are aware datetimes. The daemon calls this with the previous check time as
    `after`, so a fire time is seen by exactly one window: a report fires once, not twice.
    """
    if until <= after:
        return []
    tz = ZoneInfo(timezone)
    it = croniter(expression, after.astimezone(tz))
    fires: list[datetime] = []
    while True:
        nxt = it.get_next(datetime)
        if nxt > until.astimezone(tz):
            return fires
        fires.append(nxt)
        if len(fires) > 10_000:
            return fires


def validate_cron(expression: str) -> bool:
    return bool(croniter.is_valid(expression))


def window_start(now: datetime, lookback: timedelta) -> datetime:
    """Where the first report window starts when the daemon boots: a little in the past, so a
    daemon restarted a minute after the fire time still sends (the store refuses duplicates)."""
    return now - lookback
