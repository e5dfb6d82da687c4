"""One look at the rhythm on a day: every KR's status, each team's scorecard, the escalation
findings and the reminders due. Pure: the shell passes what it read from the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.model import Catalog, CheckIn
from syncer.reports.weeks import week_of
from syncer.rhythm.escalation import Finding, findings
from syncer.rhythm.krstatus import DayOf, KrStatus, kr_statuses
from syncer.rhythm.people import Org
from syncer.rhythm.period import Window, cycle_window
from syncer.rhythm.reminders import Reminder, due_reminders
from syncer.rhythm.scorecard import Epic, Scorecard, scorecards
from syncer.rhythm.settings import RhythmConfig


@dataclass(frozen=True)
class Assessment:
    now: datetime
    today: date
    week: str
    window: Window
    krs: tuple[KrStatus, ...]
    cards: tuple[Scorecard, ...]
    findings: tuple[Finding, ...]
    reminders: tuple[Reminder, ...]

    @property
    def lagging(self) -> frozenset[str]:
        return frozenset(c.team for c in self.cards if c.lagging)


def day_in(timezone: str) -> DayOf:
    zone = ZoneInfo(timezone)
    return lambda c: c.at.astimezone(zone).date()


def assess(
    catalog: Catalog,
    checkins: Sequence[CheckIn],
    epics: Sequence[Epic],
    teams: Sequence[str],
    org: Org,
    rhythm: RhythmConfig,
    timezone: str,
    now: datetime,
    lagging_before: Sequence[frozenset[str]] = (),
) -> Assessment:
    """The rhythm at `now` (aware). `lagging_before[i]`: teams lagging i + 1 weeks ago."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    window = cycle_window(catalog, today)
    working = rhythm.cadence.weekday_numbers()
    day_of = day_in(timezone)
    krs = kr_statuses(catalog, checkins, org, window, today, working, day_of)
    back = max(rhythm.escalation.disagreement_weeks - 1, 0)
    before = [kr_statuses(catalog, checkins, org, cycle_window(catalog, d), d, working, day_of)
              for d in (today - timedelta(weeks=i + 1) for i in range(back))]
    cards = scorecards(teams, epics, krs, rhythm.scorecard)
    found = findings(krs, before, cards, lagging_before, org, rhythm.escalation)
    return Assessment(now, today, str(week_of(now, timezone)), window, tuple(krs),
                      tuple(cards), tuple(found), tuple(due_reminders(krs)))
