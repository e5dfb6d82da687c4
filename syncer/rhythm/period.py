"""The cycle window that pace and the quarterly review measure against.

One function on purpose: `cycle_window` is the catalog's current `[[cycle]]` (the one marked
`current = true`, else the one `today` falls in; `core.cycles`), or the calendar quarter for a
catalog without cycles, and every caller follows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from core.cycles import current_cycle
from core.model import Catalog


@dataclass(frozen=True)
class Window:
    """A cycle: `start` to `end` inclusive (dates in the report time zone)."""

    label: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def elapsed(self, today: date) -> float:
        """Share of the cycle gone by the end of `today`, 0..1."""
        if today < self.start:
            return 0.0
        return min(1.0, ((today - self.start).days + 1) / self.days)


def cycle_window(catalog: Catalog, today: date) -> Window:
    """The current cycle's window; the calendar quarter `today` falls in without cycles."""
    cycle = current_cycle(catalog.cycles, today)
    if cycle is not None:
        return Window(cycle.id, cycle.start, cycle.end)
    first_month = 3 * ((today.month - 1) // 3) + 1
    start = date(today.year, first_month, 1)
    nxt = date(today.year + 1, 1, 1) if first_month == 10 else date(today.year, first_month + 3, 1)
    return Window(f"{today.year}-Q{(first_month - 1) // 3 + 1}", start, nxt - timedelta(days=1))
