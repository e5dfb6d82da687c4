"""The three reviews of the rhythm, as plain values: weekly per team (KRs, confidence, pace,
blockers from check-in notes, open escalations), monthly for leadership (confidence trend per
objective, lagging teams, escalations, the traceable trend) and quarterly (bet verdicts and
hit rate, killed bets, KR outcomes against targets, what changed). Pure; the shell gathers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from core.model import Catalog, CheckIn
from syncer.rhythm.assess import Assessment
from syncer.rhythm.krstatus import DayOf
from syncer.rhythm.pace import progress
from syncer.store_rhythm import EscalationRow


class ReviewKind(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


@dataclass(frozen=True)
class KrLine:
    kr_id: str
    title: str
    objective_id: str
    owner: str
    team: str
    value: float | None
    target: float
    unit: str
    progress: float | None
    confidence: float | None
    confidence_status: str
    pace: str
    due: str
    missing: bool


@dataclass(frozen=True)
class Blocker:
    kr_id: str
    at: str
    note: str


@dataclass(frozen=True)
class Trend:
    """One line of a chart: a name and a value per week label (None: no data)."""

    name: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Review:
    kind: ReviewKind
    period: str
    """The period it covers and is sent for once: an ISO week, a month `2024-02`, a cycle."""
    team: str | None
    generated_at: str
    cycle: str
    krs: tuple[KrLine, ...]
    scorecard: tuple[dict[str, Any], ...]
    escalations: tuple[dict[str, Any], ...]
    blockers: tuple[Blocker, ...] = ()
    weeks: tuple[str, ...] = ()
    confidence_trend: tuple[Trend, ...] = ()
    traceable_trend: tuple[Trend, ...] = ()
    traceable_weeks: tuple[str, ...] = ()
    lagging: tuple[str, ...] = ()
    verdicts: dict[str, Any] = field(default_factory=dict)
    changes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "period": self.period, "team": self.team,
            "generated_at": self.generated_at, "cycle": self.cycle,
            "krs": [k.__dict__ for k in self.krs],
            "scorecard": list(self.scorecard), "escalations": list(self.escalations),
            "blockers": [b.__dict__ for b in self.blockers],
            "weeks": list(self.weeks),
            "confidence_trend": [{"name": t.name, "values": list(t.values)}
                                 for t in self.confidence_trend],
            "traceable_trend": [{"name": t.name, "values": list(t.values)}
                                for t in self.traceable_trend],
            "traceable_weeks": list(self.traceable_weeks),
            "lagging": list(self.lagging), "verdicts": self.verdicts,
            "changes": list(self.changes),
        }


def period_of(kind: ReviewKind, found: Assessment) -> str:
    if kind is ReviewKind.WEEKLY:
        return found.week
    if kind is ReviewKind.MONTHLY:
        return f"{found.today:%Y-%m}"
    return found.window.label


def escalation_json(e: EscalationRow) -> dict[str, Any]:
    return {"rule": e.rule, "subject": e.subject, "week": e.week, "notify": e.notify,
            "detail": e.detail, "opened_at": e.opened_at.isoformat(),
            "closed_at": e.closed_at.isoformat() if e.closed_at else None, "open": e.open}


def week_ends(start: date, today: date) -> list[date]:
    """The Sunday of every week from `start`'s to `today`'s (today for the current week)."""
    out = []
    day = start + timedelta(days=6 - start.weekday())
    while day < today:
        out.append(day)
        day += timedelta(days=7)
    out.append(today)
    return out


def confidence_trend(catalog: Catalog, checkins: Sequence[CheckIn], days: Sequence[date],
                     day_of: DayOf) -> list[Trend]:
    """Per objective and week, the mean of its KRs' latest stated confidence by that day."""
    stated = sorted((c for c in checkins if not c.measured and c.confidence is not None),
                    key=lambda c: c.at)
    out = []
    for obj in catalog.objectives:
        krs = {k.id for k in catalog.key_results if k.objective_id == obj.id}
        values: list[float | None] = []
        for day in days:
            latest: dict[str, float] = {}
            for c in stated:
                if c.kr_id in krs and day_of(c) <= day and c.confidence is not None:
                    latest[c.kr_id] = c.confidence
            values.append(sum(latest.values()) / len(latest) if latest else None)
        out.append(Trend(f"{obj.id} {obj.title}", tuple(values)))
    return out


def build_review(
    kind: ReviewKind,
    found: Assessment,
    catalog: Catalog,
    checkins: Sequence[CheckIn],
    escalations: Sequence[EscalationRow],
    day_of: DayOf,
    *,
    team: str | None = None,
    traceable_weeks: Sequence[tuple[str, dict[str, float | None]]] = (),
    verdicts: dict[str, Any] | None = None,
) -> Review:
    """One review. `traceable_weeks`: (ISO week, team → traceable share) from stored
    scorecards, oldest first; `verdicts`: the quarterly bet verdict summary."""
    krs = [k for k in found.krs if team is None or k.team == team]
    lines = tuple(KrLine(
        k.kr.id, k.kr.title, k.kr.objective_id, k.kr.owner, k.team, k.value, k.kr.target,
        k.kr.unit, progress(k.kr, k.value), k.confidence,
        k.confidence_status.label if k.confidence_status is not None else "not stated",
        k.pace.label if k.pace is not None else "no value", k.due.due.isoformat(),
        k.due.missing) for k in krs)
    ids = {k.kr.id for k in krs}
    cards = tuple(c.to_json() for c in found.cards if team is None or c.team == team)
    subjects = ids | ({team} if team else set())
    period = period_of(kind, found)
    start = found.window.start
    if kind is ReviewKind.WEEKLY:
        start = found.today - timedelta(days=found.today.weekday())
    elif kind is ReviewKind.MONTHLY:
        start = found.today.replace(day=1)
    shown = [e for e in escalations
             if (team is None or e.subject in subjects)
             and (e.open or (e.closed_at is not None and day_of_dt(e, day_of) >= start))]
    blockers = tuple(Blocker(c.kr_id, c.at.isoformat(timespec="minutes"), c.note)
                     for c in sorted(checkins, key=lambda c: c.at)
                     if not c.measured and c.note and c.kr_id in ids and day_of(c) >= start
                     and day_of(c) <= found.today)
    review = Review(kind, period, team, found.now.isoformat(timespec="seconds"),
                    found.window.label, lines, cards,
                    tuple(escalation_json(e) for e in shown), blockers,
                    lagging=tuple(sorted(found.lagging if team is None
                                         else found.lagging & {team})))
    if kind is ReviewKind.WEEKLY:
        return review
    days = week_ends(found.window.start, found.today)
    labels = tuple(f"W{d.isocalendar()[1]:02d}" for d in days)
    teams = sorted({t for _, shares in traceable_weeks for t in shares})
    trace = tuple(Trend(t, tuple(shares.get(t) for _, shares in traceable_weeks))
                  for t in teams)
    changes = tuple(f"{e['rule']} {e['subject']}: opened {e['opened_at'][:10]}"
                    + (f", closed {e['closed_at'][:10]}" if e["closed_at"] else ", open")
                    for e in review.escalations)
    return Review(kind, period, team, review.generated_at, review.cycle, lines, cards,
                  review.escalations, review.blockers, labels,
                  tuple(confidence_trend(catalog, checkins, days, day_of)), trace,
                  tuple(w for w, _ in traceable_weeks), review.lagging, verdicts or {},
                  changes if kind is ReviewKind.QUARTERLY else ())


def day_of_dt(e: EscalationRow, day_of: DayOf) -> date:
    """The day (report zone) an escalation closed, via the same zone function as check-ins."""
    assert e.closed_at is not None
    return day_of(CheckIn("", 0.0, e.closed_at))
