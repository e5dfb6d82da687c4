"""The untraceable-work section: which epics serve no key result, whose they are, since when,
and what label would fix each one. Pure: built from plain values the shell loaded.

Scope: every stored epic except those closed as won't-do. Of those, the store's `untraceable`
table (written by the planner, which never flags epics of a source whose pull failed) says
which are untraceable and since when; epics carrying a `ktlo` label are listed apart.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from core.model import BrokenLink, Override, Ticket, TicketState
from core.teams import team_of
from mappings.labels import is_ktlo
from syncer.reports.model import (
    BrokenItem,
    KtloItem,
    OverrideItem,
    Share,
    Suggestion,
    TeamSummary,
    TrendPoint,
    UntraceableItem,
    UntraceableSection,
)
from syncer.reports.weeks import IsoWeek

Suggester = Callable[[Ticket], Sequence[tuple[str, str] | Suggestion]]
"""Suggested KRs for an epic: (kr_id, why) or a full `Suggestion`, best first."""

MAX_SUGGESTIONS = 2


class TeamLike(Protocol):
    """What the report needs of a configured team (`syncer.config.Team`)."""

    @property
    def name(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def projects(self) -> list[str]: ...


@dataclass(frozen=True)
class UntraceableInputs:
    tickets: Sequence[Ticket]
    broken: Sequence[BrokenLink]
    overrides: Sequence[Override]
    untraceable_since: Mapping[str, datetime]
    teams: Mapping[str, TeamLike]
    history: Sequence[Mapping[str, Any]]
    """Summaries of earlier weeks' snapshots (`snapshot_summary` output), any order."""
    linked: Collection[str] = ()
    """Uids of epics linked to at least one key result."""
    past_krs: Mapping[str, tuple[str, ...]] | None = None
    """Uid -> past cycles' KRs of open epics that need a new KR (`syncer.cycles`)."""


def _share(items: Sequence[Ticket], flagged: set[str]) -> Share:
    total = len(items)
    hit = [t for t in items if t.uid in flagged]
    sized = [t for t in items if t.size is not None]
    total_size = float(sum(t.size or 0.0 for t in sized))
    hit_size = float(sum(t.size or 0.0 for t in sized if t.uid in flagged))
    return Share(
        untraceable=len(hit),
        total=total,
        by_count=round(len(hit) / total, 4) if total else None,
        untraceable_size=hit_size,
        total_size=total_size,
        by_size=round(hit_size / total_size, 4) if total_size else None,
    )


def _kept(
    share: Share, history: Sequence[Mapping[str, Any]], week: IsoWeek, over: bool,
    team: str | None,
) -> Share:
    """For a week that is over, the counts its snapshot kept (what the trend chart shows for
    that week), not today's links replayed into the past; today's share otherwise."""
    if not over:
        return share
    for summary in history:
        if str(summary.get("week", "")) != str(week):
            continue
        data = summary if team is None else summary.get("teams", {}).get(team)
        if not isinstance(data, Mapping) or "untraceable" not in data:
            return share
        untr, total = int(data.get("untraceable", 0)), int(data.get("total", 0))
        untr_size = float(data.get("untraceable_size", share.untraceable_size))
        total_size = float(data.get("total_size", share.total_size))
        return Share(untr, total, round(untr / total, 4) if total else None, untr_size,
                     total_size, round(untr_size / total_size, 4) if total_size else None)
    return share


def _trend(
    history: Sequence[Mapping[str, Any]], week: IsoWeek, weeks: int, now: Share, team: str | None
) -> tuple[TrendPoint, ...]:
    first = str(week.shifted(-(weeks - 1)))
    points: dict[str, TrendPoint] = {}
    for summary in history:
        wk = str(summary.get("week", ""))
        if not first <= wk < str(week):
            continue
        data = summary if team is None else summary.get("teams", {}).get(team)
        if not isinstance(data, Mapping):
            continue
        untr, total = int(data.get("untraceable", 0)), int(data.get("total", 0))
        points[wk] = TrendPoint(wk, untr, total, round(untr / total, 4) if total else None)
    points[str(week)] = TrendPoint(str(week), now.untraceable, now.total, now.by_count)
    return tuple(points[k] for k in sorted(points))


def build_untraceable(
    inputs: UntraceableInputs,
    *,
    week: IsoWeek,
    timezone: str,
    as_of: datetime,
    ktlo_patterns: Sequence[str],
    explicit_prefix: str,
    trend_weeks: int,
    suggest: Suggester | None,
) -> UntraceableSection:
    """The section for `week`, with ages counted at `as_of`."""
    tickets = {t.uid: t for t in inputs.tickets}
    scope = [t for t in tickets.values() if t.state is not TicketState.WONT_DO]
    flagged = {uid for uid in inputs.untraceable_since if uid in tickets}
    start, end = week.start(timezone), week.end(timezone)

    owners: dict[str, TeamLike | None] = {}

    def team(t: Ticket) -> TeamLike | None:
        if t.project not in owners:
            owners[t.project] = team_of(t.project, inputs.teams)
        return owners[t.project]

    watched_before = any(str(h.get("week", "")) < str(week) for h in inputs.history)
    items = []
    for uid in flagged:
        t = tickets[uid]
        since = inputs.untraceable_since[uid]
        owner = team(t)
        suggestions = tuple(
            s if isinstance(s, Suggestion) else Suggestion(s[0], s[1], f"{explicit_prefix}{s[0]}")
            for s in (suggest(t) if suggest else ())[:MAX_SUGGESTIONS]
        )
        born = t.created or since
        items.append(
            UntraceableItem(
                source=t.source, key=t.key, title=t.title, url=t.url, project=t.project,
                state=t.state.value, team=owner.name if owner else None,
                owner=owner.owner if owner else None, assignee=t.assignee, size=t.size,
                since=since, age_days=max(0, (as_of - born).days),
                new=is_new(t.created, since, start, end, watched_before=watched_before),
                suggestions=suggestions, created=t.created,
                past_krs=(inputs.past_krs or {}).get(uid, ()),
            )
        )
    items.sort(key=rank)
    ktlo = [
        KtloItem(
            source=t.source, key=t.key, title=t.title, url=t.url, project=t.project,
            state=t.state.value, team=_name(team(t)), assignee=t.assignee, size=t.size,
        )
        for t in sorted(scope, key=lambda t: (t.source, t.key))
        if t.uid not in flagged and is_ktlo(t.labels, ktlo_patterns)
    ]
    share = _kept(_share(scope, flagged), inputs.history, week, as_of >= end, None)
    linked = set(inputs.linked)
    summaries = []
    by_team: dict[str | None, list[Ticket]] = {}
    for t in scope:
        by_team.setdefault(_name(team(t)), []).append(t)
    for name, cfg in inputs.teams.items():
        mine = by_team.get(name, [])
        team_share = _kept(_share(mine, flagged), inputs.history, week, as_of >= end, name)
        summaries.append(
            TeamSummary(
                name=name, owner=cfg.owner, email=cfg.email,
                untraceable=team_share.untraceable,
                new=sum(1 for i in items if i.team == name and i.new),
                ktlo=sum(1 for k in ktlo if k.team == name), share=team_share,
                trend=_trend(inputs.history, week, trend_weeks, team_share, name),
                linked=sum(1 for t in mine if t.uid in linked),
            )
        )

    def describe(source: str, key: str) -> tuple[str, str, str | None]:
        t = tickets.get(f"{source}:{key}")
        return (t.title, t.url, _name(team(t))) if t else ("", "", None)

    broken = [
        BrokenItem(b.source, b.ticket_key, *describe(b.source, b.ticket_key), b.label, b.kr_id)
        for b in sorted(inputs.broken, key=lambda b: (b.source, b.ticket_key, b.label, b.kr_id))
    ]
    overrides = [
        OverrideItem(o.source, o.ticket_key, *describe(o.source, o.ticket_key), o.label, o.kr_id,
                     o.at)
        for o in sorted(inputs.overrides, key=lambda o: (o.source, o.ticket_key, o.label))
    ]
    return UntraceableSection(
        linked=sum(1 for t in scope if t.uid in linked),
        items=tuple(items),
        ktlo=tuple(ktlo),
        share=share,
        new=sum(1 for i in items if i.new),
        teams=tuple(summaries),
        trend=_trend(inputs.history, week, trend_weeks, share, None),
        broken=tuple(broken),
        overrides=tuple(overrides),
    )


def is_new(
    created: datetime | None, since: datetime, start: datetime, end: datetime, *,
    watched_before: bool,
) -> bool:
    """New this week: created this week, or rescoped (untraceable since this week while okrsync
    already watched earlier weeks). On the first week every epic is old work, not news."""
    if created is not None and start <= created < end:
        return True
    return watched_before and start <= since < end


def rank(item: UntraceableItem) -> tuple[bool, float, int, str, str]:
    """What a leader acts on first: in-flight before done, then bigger, then older."""
    return (not item.in_flight, -(item.size or 0.0), -(item.age_days or 0), item.source,
            item.key)


def _name(team: TeamLike | None) -> str | None:
    return team.name if team else None


def snapshot_summary(section: UntraceableSection, week: str) -> dict[str, Any]:
    """What the week's snapshot keeps for future trends (survives later rule changes)."""
    return {
        "week": week,
        "untraceable": section.share.untraceable,
        "total": section.share.total,
        "untraceable_size": section.share.untraceable_size,
        "total_size": section.share.total_size,
        "new": section.new,
        "linked": section.linked,
        "ktlo": len(section.ktlo),
        "broken": len(section.broken),
        "teams": {
            t.name: {"untraceable": t.untraceable, "total": t.share.total, "new": t.new,
                     "linked": t.linked}
            for t in section.teams
        },
    }
