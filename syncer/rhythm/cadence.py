"""When a key result's check-in is due, and how many working days it is overdue.

A check-in is due one cadence interval after the owner's last one (after the cycle's start
when there is none yet). Only people's check-ins count: a measured value is data, while a
check-in carries the owner's confidence and note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from syncer.rhythm.period import Window

CADENCES = ("weekly", "biweekly", "monthly")


def add_interval(day: date, cadence: str) -> date:
    """`day` plus one cadence interval (a calendar month for monthly, clamped to month end)."""
    if cadence == "weekly":
        return day + timedelta(days=7)
    if cadence == "biweekly":
        return day + timedelta(days=14)
    if cadence == "monthly":
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        for d in (day.day, 30, 29, 28):
            try:
                return date(year, month, d)
            except ValueError:
                continue
    raise ValueError(f"unknown cadence {cadence!r}")


def working_days_after(start: date, end: date, working: frozenset[int]) -> int:
    """Working days in (start, end]: how late something due on `start` is on `end`."""
    if end <= start:
        return 0
    return sum(1 for n in range(1, (end - start).days + 1)
               if (start + timedelta(days=n)).weekday() in working)


@dataclass(frozen=True)
class Due:
    """A KR's check-in state on a day: when the next one is due and how late it is."""

    kr_id: str
    due: date
    last: date | None
    overdue_working_days: int
    missing: bool


def due_state(kr_id: str, cadence: str, last: date | None, window: Window, today: date,
              working: frozenset[int]) -> Due:
    """Due one interval after `last` (or after the cycle start); missing once that day came."""
    base = last if last is not None and last >= window.start else window.start
    due = add_interval(base, cadence)
    return Due(kr_id, due, last, working_days_after(due, today, working), today >= due)

