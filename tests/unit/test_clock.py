"""The clock seam's fakes: sleeps return at once and move their time by what was asked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from connectors.pacing import Lane, Limit, Pace, Pacer
from core.clock import SYSTEM, FakeClock, SkippingClock


def test_a_fake_clock_stands_still_until_slept_on() -> None:
    clock = FakeClock(start=1_800_000_000.0)
    assert clock.time() == clock.time() == 1_800_000_000.0
    asyncio.run(clock.sleep(2.5))
    clock.block(0.5)
    assert clock.time() == 1_800_000_003.0 and clock.monotonic() == 3.0
    assert clock.now() == datetime.fromtimestamp(1_800_000_003.0, UTC)
    assert clock.slept == [2.5, 0.5] and clock.total_slept == 3.0


def test_a_skipping_clock_keeps_real_time_plus_what_it_skipped() -> None:
    clock = SkippingClock()
    asyncio.run(clock.sleep(3600))
    assert abs(clock.time() - SYSTEM.time() - 3600) < 1
    assert abs(clock.monotonic() - SYSTEM.monotonic() - 3600) < 1
    assert abs((clock.now() - SYSTEM.now()).total_seconds() - 3600) < 1
    assert clock.slept == [3600]


def test_pacing_on_a_fake_clock_spends_no_real_time() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock.time, sleep=clock.sleep, margin=0.0)
    pace = Pace(lanes=(Lane("w", (Limit(2, 60),)),))

    async def send(n: int) -> None:
        for _ in range(n):
            async with pacer.slot(pace, max_wait=600):
                pass

    started = SYSTEM.monotonic()
    asyncio.run(send(5))
    assert clock.total_slept == 120  # two windows of 60 s waited, virtually
    assert SYSTEM.monotonic() - started < 60
