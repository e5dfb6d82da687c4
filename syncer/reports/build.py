"""`build_weekly_report`: the whole weekly report from plain values. Pure — the shell
(`syncer.reports.load`) reads the store and config and calls this."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.model import Bet, BrokenLink, Catalog, CheckIn, Link, Override, Ticket
from core.teams import team_of
from syncer.cycles import needs_new_kr
from syncer.reports.bets import build_portfolio
from syncer.reports.figures import previous_figures
from syncer.reports.kr_history import kr_history, week_ends
from syncer.reports.model import ReportKind, WeeklyReport
from syncer.reports.untraceable import (
    Suggester,
    TeamLike,
    UntraceableInputs,
    build_untraceable,
)
from syncer.reports.weeks import IsoWeek


@dataclass(frozen=True)
class ReportSettings:
    """The config values a report depends on (from `[report]` and `[labels]`)."""

    timezone: str = "UTC"
    stale_weeks: int = 6
    trend_weeks: int = 8
    ktlo: tuple[str, ...] = ("ktlo",)
    explicit_prefix: str = "okr:"


def _past_krs(tickets: Sequence[Ticket], bets: Sequence[Bet], catalog: Catalog,
              explicit_prefix: str) -> dict[str, tuple[str, ...]]:
    """Open epics on a past cycle's KR nothing current links (the report lists them
    untraceable, as needing a new KR); empty without cycles."""
    if catalog.current_cycle is None:
        return {}
    by_uid: dict[str, list[str]] = {}
    for bet in bets:
        by_uid.setdefault(f"{bet.source}:{bet.ticket_key}", []).append(bet.kr_id)
    found = {t.uid: needs_new_kr(t, (), by_uid.get(t.uid, ()), catalog, explicit_prefix)
             for t in tickets}
    return {uid: krs for uid, krs in found.items() if krs}


def build_weekly_report(
    *,
    tickets: Sequence[Ticket],
    links: Sequence[Link],
    broken: Sequence[BrokenLink],
    bets: Sequence[Bet],
    overrides: Sequence[Override],
    untraceable_since: Mapping[str, datetime],
    checkins: Sequence[CheckIn],
    catalog: Catalog,
    teams: Mapping[str, TeamLike],
    week: IsoWeek,
    now: datetime,
    trend: Sequence[Mapping[str, Any]],
    settings: ReportSettings,
    kind: ReportKind = ReportKind.ALL,
    suggest: Suggester | None = None,
    kr_values: Mapping[str, float] | None = None,
) -> WeeklyReport:
    """The report for `week`. `trend` holds earlier weeks' snapshot summaries; values are
    read as of `now`, or the end of `week` when that week is over."""
    start, end = week.start(settings.timezone), week.end(settings.timezone)
    as_of = min(now, end)
    untraceable = None
    if kind in (ReportKind.UNTRACEABLE, ReportKind.ALL):
        untraceable = build_untraceable(
            UntraceableInputs(tickets, broken, overrides, untraceable_since, teams, trend,
                              {f"{lk.source}:{lk.ticket_key}" for lk in links},
                              _past_krs(tickets, bets, catalog, settings.explicit_prefix)),
            week=week,
            timezone=settings.timezone,
            as_of=as_of,
            ktlo_patterns=settings.ktlo,
            explicit_prefix=settings.explicit_prefix,
            trend_weeks=settings.trend_weeks,
            suggest=suggest,
        )
    portfolio = None
    if kind in (ReportKind.BETS, ReportKind.ALL):

        def team_name(project: str) -> str | None:
            team = team_of(project, teams)
            return team.name if team else None

        portfolio = build_portfolio(
            catalog=catalog,
            bets=bets,
            links=links,
            tickets=tickets,
            checkins=checkins,
            as_of=as_of,
            stale_weeks=settings.stale_weeks,
            team_of_project=team_name,
            kr_values=kr_values,
            history=kr_history(
                checkins, week_ends(week, settings.trend_weeks, settings.timezone, as_of)
            ),
        )
    return WeeklyReport(
        week=str(week),
        kind=kind,
        timezone=settings.timezone,
        week_start=start,
        week_end=end,
        as_of=as_of,
        generated_at=now,
        untraceable=untraceable,
        bets=portfolio,
        previous=previous_figures(trend, str(week.shifted(-1))),
        team_previous={
            name: found for name in teams
            if (found := previous_figures(trend, str(week.shifted(-1)), name)) is not None
        },
    )
