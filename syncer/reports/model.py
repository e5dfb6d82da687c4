"""The weekly report as plain data: built once, then rendered to every format and mailed.

Nothing here knows about the store, the config or any output format. `WeeklyReport.to_json()`
is the documented JSON shape (`docs/report.schema.json`); the other renderers read the same
values, so every format says the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from syncer.reports.verdicts import VerdictsSection

SCHEMA_VERSION = 1
AT_RISK_CONFIDENCE = 0.5


class ReportKind(StrEnum):
    UNTRACEABLE = "untraceable"
    BETS = "bets"
    ALL = "all"


@dataclass(frozen=True)
class Suggestion:
    """A KR an untraceable epic probably serves, why, and the exact label that would link it."""

    kr_id: str
    why: str
    label: str
    confidence: float | None = None
    nearest: tuple[str, ...] = ()
    """Keys of the closest linked epics of that KR (learned suggestions only)."""
    words: tuple[str, ...] = ()
    near_miss: str = ""


@dataclass(frozen=True)
class UntraceableItem:
    """An epic linked to no key result and not declared run/maintenance work."""

    source: str
    key: str
    title: str
    url: str
    project: str
    state: str
    team: str | None
    owner: str | None
    assignee: str | None
    size: float | None
    since: datetime | None
    age_days: int | None
    new: bool
    suggestions: tuple[Suggestion, ...] = ()
    created: datetime | None = None
    past_krs: tuple[str, ...] = ()
    """Past cycles' KRs this open epic was linked to: it **needs a new KR** (issue 24)."""

    @property
    def in_flight(self) -> bool:
        """Work still to do or under way: what a leader can still steer (done work is history)."""
        return self.state in ("todo", "in_progress")


@dataclass(frozen=True)
class KtloItem:
    """Declared run/maintenance work (a `ktlo` label): shown apart, never untraceable."""

    source: str
    key: str
    title: str
    url: str
    project: str
    state: str
    team: str | None
    assignee: str | None
    size: float | None


@dataclass(frozen=True)
class BrokenItem:
    """A ticket label naming a key result the catalog does not have."""

    source: str
    key: str
    title: str
    url: str
    team: str | None
    label: str
    kr_id: str


@dataclass(frozen=True)
class OverrideItem:
    """A person removed a label the service applied; it stays removed."""

    source: str
    key: str
    title: str
    url: str
    team: str | None
    label: str
    kr_id: str
    at: datetime


@dataclass(frozen=True)
class Share:
    """Untraceable share of the epics in scope, by count and by size (None: nothing to divide)."""

    untraceable: int
    total: int
    by_count: float | None
    untraceable_size: float
    total_size: float
    by_size: float | None


@dataclass(frozen=True)
class TrendPoint:
    """One week of the trend, from that week's stored snapshot (or this week's numbers)."""

    week: str
    untraceable: int
    total: int
    by_count: float | None


@dataclass(frozen=True)
class TeamSummary:
    name: str
    owner: str
    email: str
    untraceable: int
    new: int
    ktlo: int
    share: Share
    trend: tuple[TrendPoint, ...] = ()
    linked: int = 0


@dataclass(frozen=True)
class UntraceableSection:
    items: tuple[UntraceableItem, ...]
    ktlo: tuple[KtloItem, ...]
    share: Share
    new: int
    teams: tuple[TeamSummary, ...]
    trend: tuple[TrendPoint, ...]
    broken: tuple[BrokenItem, ...]
    overrides: tuple[OverrideItem, ...]
    linked: int = 0
    """Epics in scope linked to at least one key result."""

    @property
    def in_flight(self) -> tuple[UntraceableItem, ...]:
        return tuple(i for i in self.items if i.in_flight)

    @property
    def done(self) -> tuple[UntraceableItem, ...]:
        """Finished work nobody can trace to a goal: history to learn from, not to steer."""
        return tuple(i for i in self.items if not i.in_flight)


@dataclass(frozen=True)
class BetItem:
    """One bet on one KR, with what the KR did while it ran."""

    source: str
    key: str
    title: str
    url: str
    team: str | None
    kr_id: str
    status: str
    hypothesis: str | None
    hypothesis_present: bool
    linked: bool
    active_at: datetime | None
    ended_at: datetime | None
    days_active: int | None
    kr_start: float | None
    kr_end: float | None
    movement: float | None
    verdict: str
    stale: bool


@dataclass(frozen=True)
class KrPoint:
    """A KR at the end of one week: its latest check-in value and stated confidence then."""

    week: str
    value: float | None
    confidence: float | None


@dataclass(frozen=True)
class KrItem:
    id: str
    title: str
    owner: str
    metric: str
    unit: str
    direction: str
    baseline: float
    current: float | None
    target: float
    progress: float | None
    confidence: float | None
    confidence_at: datetime | None
    bets: tuple[BetItem, ...]
    active_bets: int
    history: tuple[KrPoint, ...] = ()

    @property
    def no_active_bet(self) -> bool:
        return self.active_bets == 0

    @property
    def at_risk(self) -> bool:
        """Stated confidence below one half: the KR owner doubts the target."""
        return self.confidence is not None and self.confidence < AT_RISK_CONFIDENCE


@dataclass(frozen=True)
class ObjectiveItem:
    id: str
    title: str
    owner: str
    cycle: str
    krs: tuple[KrItem, ...]


@dataclass(frozen=True)
class BetsSection:
    objectives: tuple[ObjectiveItem, ...]
    krs_without_active_bet: tuple[str, ...]
    stale: tuple[BetItem, ...]
    verdicts: dict[str, int]


@dataclass(frozen=True)
class ParkedItem:
    """A write-back okrsync stopped trying after repeated refusals (`okrsync resume`)."""

    key: str
    source: str
    kind: str
    reason: str
    attempts: int
    since: datetime | None


@dataclass(frozen=True)
class WeekFigures:
    """A week's headline numbers, as the tiles compare them week over week (None: not known)."""

    week: str
    untraceable: int | None = None
    total: int | None = None
    by_count: float | None = None
    linked: int | None = None
    verdicts: dict[str, int] | None = None
    krs_at_risk: int | None = None


@dataclass(frozen=True)
class WeeklyReport:
    """Everything one weekly report says. `team` is set for a team's part of the report."""

    week: str
    kind: ReportKind
    timezone: str
    week_start: datetime
    week_end: datetime
    as_of: datetime
    generated_at: datetime
    untraceable: UntraceableSection | None
    bets: BetsSection | None
    team: str | None = None
    backlog: tuple[str, ...] = ()
    """The footer's note on write-backs a tracker's rate limit defers, one line per source."""
    previous: WeekFigures | None = None
    """The week before's figures, from its kept snapshot (None when okrsync has none)."""
    team_previous: dict[str, WeekFigures] = field(default_factory=dict)
    """The same per team, for each team's part (`for_team`)."""
    attention: tuple[str, ...] = ()
    """Needs attention: look-alikes of okrsync's artifacts, sources no longer configured."""
    stale_sources: tuple[str, ...] = ()
    """One sentence per source whose data is older than its sync schedule: the banner."""
    parked: tuple[ParkedItem, ...] = ()
    verdicts: VerdictsSection | None = None

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape (`docs/report.schema.json`)."""
        data = _jsonable(self)
        assert isinstance(data, dict)
        data["schema_version"] = SCHEMA_VERSION
        if self.bets is not None:
            for obj in data["bets"]["objectives"]:
                for kr in obj["krs"]:
                    kr["no_active_bet"] = kr["active_bets"] == 0
        return data

    def for_team(self, name: str) -> WeeklyReport:
        """This report cut down to one team's epics and bets (for the team owner's mail)."""
        untraceable = self.untraceable
        if untraceable is not None:
            summary = next((t for t in untraceable.teams if t.name == name), None)
            items = tuple(i for i in untraceable.items if i.team == name)
            untraceable = replace(
                untraceable,
                items=items,
                ktlo=tuple(i for i in untraceable.ktlo if i.team == name),
                share=summary.share if summary else untraceable.share,
                new=sum(1 for i in items if i.new),
                linked=summary.linked if summary else untraceable.linked,
                teams=(summary,) if summary else (),
                trend=summary.trend if summary else (),
                broken=tuple(i for i in untraceable.broken if i.team == name),
                overrides=tuple(i for i in untraceable.overrides if i.team == name),
            )
        bets = self.bets
        if bets is not None:
            objectives = []
            for obj in bets.objectives:
                krs = tuple(
                    replace(kr, bets=tuple(b for b in kr.bets if b.team == name))
                    for kr in obj.krs
                    if any(b.team == name for b in kr.bets)
                )
                if krs:
                    objectives.append(replace(obj, krs=krs))
            bets = replace(
                bets,
                objectives=tuple(objectives),
                stale=tuple(b for b in bets.stale if b.team == name),
            )
        return replace(self, untraceable=untraceable, bets=bets, team=name,
                       previous=self.team_previous.get(name), team_previous={}, parked=())


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
