"""ISO weeks in the report's time zone: what "this week" means for a report and its email.

A report week runs from Monday 00:00 to the next Monday 00:00 *local time* in
`report.timezone`; "new this week" and "sent once per week" both use that window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.errors import UserError

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, order=True)
class IsoWeek:
    """One ISO week, e.g. `2026-W14`."""

    year: int
    week: int

    def __str__(self) -> str:
        return f"{self.year:04d}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    def start(self, tz: str) -> datetime:
        """Monday 00:00 local time, as a UTC-aware datetime."""
        return datetime.combine(self.monday, time(0), ZoneInfo(tz)).astimezone(UTC)

    def end(self, tz: str) -> datetime:
        """The next Monday 00:00 local time (exclusive), as a UTC-aware datetime."""
        return self.shifted(1).start(tz)

    def shifted(self, weeks: int) -> IsoWeek:
        """The week `weeks` later (negative: earlier)."""
        year, week, _ = (self.monday + timedelta(weeks=weeks)).isocalendar()
        return IsoWeek(year, week)

    def contains(self, moment: datetime, tz: str) -> bool:
        return self.start(tz) <= moment < self.end(tz)


def parse_week(text: str) -> IsoWeek:
    """`2026-W14` → IsoWeek; anything else is a UserError naming the expected form."""
    match = _WEEK.match(text.strip())
    if match:
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            pass
        else:
            return IsoWeek(year, week)
    raise UserError(
        f"not an ISO week: {text!r}", key="--week", hint="use the form YYYY-Www, e.g. 2026-W14"
    )


def week_of(moment: datetime, tz: str) -> IsoWeek:
    """The ISO week `moment` falls in, in time zone `tz`."""
    year, week, _ = moment.astimezone(ZoneInfo(tz)).isocalendar()
    return IsoWeek(year, week)
