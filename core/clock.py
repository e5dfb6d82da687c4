"""Time as a value passed in: the one seam through which okrsync reads the clock or waits.

Product code never calls `time.time`, `time.monotonic`, `datetime.now` or a sleep directly
(a test scans for it): it takes a `Clock`, defaulting to `SYSTEM`. Tests hand in a
`FakeClock`, whose sleeps return at once and move its time forward by what was asked, so
retries, backoff, `Retry-After`, pacing, lock probes and daemon intervals are exercised
without waiting.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time, elapsed time and waiting, as one injectable bundle."""

    def time(self) -> float:
        """Wall-clock epoch seconds (HTTP dates, rate-limit resets, token expiry)."""
        ...

    def now(self) -> datetime:
        """The wall clock as an aware UTC datetime (what the store and reports record)."""
        ...

    def monotonic(self) -> float:
        """Seconds for measuring durations; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` without blocking the event loop."""
        ...

    def block(self, seconds: float) -> None:
        """Wait `seconds` in synchronous code (lock probes, a foreground server)."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def block(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


SYSTEM: Clock = SystemClock()
"""The clock of everything not handed another one."""


@dataclass
class FakeClock:
    """A clock for tests: it stands still until slept on, and a sleep returns at once after
    advancing it by the seconds asked. `slept` lists every wait, for assertions."""

    start: float = 1_800_000_000.0
    elapsed: float = 0.0
    slept: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.start + self.elapsed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def monotonic(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        """Move time forward without a sleep (time passing elsewhere)."""
        self.elapsed += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.block(seconds)
        await asyncio.sleep(0)

    def block(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    @property
    def total_slept(self) -> float:
        return sum(self.slept)


class SkippingClock(SystemClock):
    """The real clock, except that sleeps return at once and move this clock's time ahead
    by what was asked: for tests against real servers (the sandboxes), which keep real time
    but do not enforce the waits they ask for."""

    def __init__(self) -> None:
        self.skipped = 0.0
        self.slept: list[float] = []

    def time(self) -> float:
        return super().time() + self.skipped

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def monotonic(self) -> float:
        return super().monotonic() + self.skipped

    async def sleep(self, seconds: float) -> None:
        self.block(seconds)
        await asyncio.sleep(0)

    def block(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.skipped += max(0.0, seconds)
