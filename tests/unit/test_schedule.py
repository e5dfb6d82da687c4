from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from syncer.schedule import cron_fires, next_sync_delay

MONDAY_8 = "0 8 * * 1"


def test_weekly_report_fires_once_when_a_schedule_crosses_its_time() -> None:
    # 2026-11-23 is a Monday. Checks every 7 minutes from Sunday evening to Monday noon, Berlin.
    start = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
    checks = [start + timedelta(minutes=7 * i) for i in range(160)]
    fired = []
    for before, now in zip(checks, checks[1:], strict=False):
        fired += cron_fires(MONDAY_8, "Europe/Berlin", before, now)
    assert len(fired) == 1
    assert fired[0].isoformat() == "2026-11-23T08:00:00+01:00"


def test_no_fire_outside_the_window_and_for_empty_windows() -> None:
    t = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert cron_fires(MONDAY_8, "UTC", t, t + timedelta(days=5)) == []
    assert cron_fires(MONDAY_8, "UTC", t, t) == []
    assert cron_fires(MONDAY_8, "UTC", t, t - timedelta(hours=1)) == []


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)),
    st.lists(st.integers(min_value=1, max_value=6 * 3600), min_size=1, max_size=60),
)
def test_windows_partition_time_so_each_fire_is_seen_exactly_once(
    start: datetime, steps: list[int]
) -> None:
    t0 = start.replace(tzinfo=UTC)
    times = [t0]
    for s in steps:
        times.append(times[-1] + timedelta(seconds=s))
    pairs = zip(times, times[1:], strict=False)
    seen = [f for a, b in pairs for f in cron_fires("0 * * * *", "UTC", a, b)]
    whole = cron_fires("0 * * * *", "UTC", times[0], times[-1])
    assert seen == whole
    assert len(set(seen)) == len(seen)


def test_sync_delay_backs_off_after_failures_and_caps() -> None:
    rng = random.Random(1)
    assert next_sync_delay(60, 0, 0, rng) == 60
    assert next_sync_delay(60, 0, 1, rng) == 120
    assert next_sync_delay(60, 0, 2, rng) == 240
    assert next_sync_delay(60, 0, 10, rng) == 480
    jittered = [next_sync_delay(60, 30, 0, rng) for _ in range(200)]
    assert all(60 <= d <= 90 for d in jittered)
    assert max(jittered) - min(jittered) > 10


def test_seconds_until_next_fire_respects_time_zone() -> None:
    now = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # 07:30 in Berlin
    first = cron_fires(MONDAY_8, "Europe/Berlin", now, now + timedelta(days=8))[0]
    assert (first - now).total_seconds() == 30 * 60
