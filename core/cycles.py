"""OKR cycles (`[[cycle]]` in okrs.toml): which quarter is current, and which cycle an epic
ran in. Pure functions over plain values; no clock (callers pass `today`).

A catalog without `[[cycle]]` has no cycles: every key result is current and nothing here
changes what okrsync does. With cycles, the current one is the one marked `current = true`,
else the one containing today; between cycles (a gap) the last one that started stays current,
before the first one the first one is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Cycle:
    """One OKR cycle: `start` and `end` are both inclusive days."""

    id: str
    start: date
    end: date
    current: bool = False
    """Marked `current = true` in the catalog (a rollover before the start date)."""

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def current_cycle(cycles: Sequence[Cycle], today: date) -> Cycle | None:
    """The current cycle (see the module docstring); None when there are no cycles."""
    marked = [c for c in cycles if c.current]
    if marked:
        return marked[0]
    return cycle_on(cycles, today)


def cycle_on(cycles: Sequence[Cycle], day: date) -> Cycle | None:
    """The cycle `day` falls in: the one containing it, else the last one started before it
    (a gap), else the first one."""
    ordered = sorted(cycles, key=lambda c: (c.start, c.id))
    if not ordered:
        return None
    started = [c for c in ordered if c.start <= day]
    containing = [c for c in started if c.contains(day)]
    if containing:
        return containing[-1]
    return started[-1] if started else ordered[0]


def overlaps(cycles: Sequence[Cycle]) -> list[tuple[Cycle, Cycle]]:
    """Pairs of cycles sharing at least one day, in start order."""
    ordered = sorted(cycles, key=lambda c: (c.start, c.id))
    found: list[tuple[Cycle, Cycle]] = []
    for i, first in enumerate(ordered):
        for second in ordered[i + 1:]:
            if second.start <= first.end:
                found.append((first, second))
    return found


def gaps(cycles: Sequence[Cycle]) -> list[tuple[Cycle, Cycle, int]]:
    """Consecutive cycles with days between them no cycle covers: (before, after, days)."""
    ordered = sorted(cycles, key=lambda c: (c.start, c.id))
    found: list[tuple[Cycle, Cycle, int]] = []
    for first, second in zip(ordered, ordered[1:], strict=False):
        missing = (second.start - first.end).days - 1
        if missing > 0:
            found.append((first, second, missing))
    return found


def cycle_notes(cycles: Sequence[Cycle], today: date) -> list[str]:
    """What `validate` explains about cycles that is not an error: gaps, and a today no
    cycle covers (which cycle counts as current then)."""
    notes = [f"no cycle covers the {days} day{'s' if days != 1 else ''} between {a.id} "
             f"(ends {a.end}) and {b.id} (starts {b.start}); {a.id} stays current until then"
             for a, b, days in gaps(cycles)]
    current = current_cycle(cycles, today)
    if current is not None and not current.current and not current.contains(today):
        notes.append(f"no cycle contains today ({today}); {current.id} counts as current "
                     "(mark one `current = true` or add a [[cycle]] for today)")
    return notes


def ended_in(cycles: Sequence[Cycle], current_id: str | None, ended_on: date | None
             ) -> str | None:
    """The past cycle an epic that ended on `ended_on` ran in, or None when it belongs to the
    current cycle (it ended on or after the current cycle's start, or there are no cycles).
    Its links stay those of that cycle: history is frozen."""
    current = next((c for c in cycles if c.id == current_id), None)
    if current is None or ended_on is None or ended_on >= current.start:
        return None
    past = cycle_on([c for c in cycles if c.start < current.start], ended_on)
    return past.id if past is not None else None
