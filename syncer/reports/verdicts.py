"""The verdicts section: each ended bet judged by `syncer.verdicts` (effect, 95 % interval,
reason), the portfolio's hit rate per cycle, and the effort (summed epic size) behind each
verdict class. Pure: built from the stored bets, tickets and KR values.

The ship date is the tracker's resolution time of the epic (`Ticket.resolved`); only when the
tracker gave none is okrsync's first sight of the ended bet used, and the reason says so.
Hit rate = MOVED / bets judged (every verdict except INSUFFICIENT_DATA and KILLED).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.model import Bet, BetStatus, Catalog, CheckIn, Ticket
from syncer.verdicts import BetFacts, Outcome, Point, judge, min_move

_ENDED = (BetStatus.SHIPPED, BetStatus.KILLED)
_NOT_JUDGED = (Outcome.INSUFFICIENT_DATA, Outcome.KILLED)


@dataclass(frozen=True)
class VerdictItem:
    source: str
    key: str
    title: str
    kr_id: str
    cycle: str
    outcome: str
    reason: str
    effect: float | None
    low: float | None
    high: float | None
    delta: float | None
    shipped_at: datetime | None
    size: float | None
    shared_with: tuple[str, ...]


@dataclass(frozen=True)
class CycleHitRate:
    cycle: str
    judged: int
    moved: int
    rate: float | None


@dataclass(frozen=True)
class EffortItem:
    outcome: str
    bets: int
    size: float


@dataclass(frozen=True)
class VerdictsSection:
    items: tuple[VerdictItem, ...]
    hit_rate: tuple[CycleHitRate, ...]
    effort: tuple[EffortItem, ...]


def _facts(bet: Bet, ticket: Ticket | None) -> BetFacts:
    shipped = ticket.resolved if ticket is not None and ticket.resolved else bet.ended_at
    return BetFacts(f"{bet.source}:{bet.ticket_key}", bet.status is BetStatus.KILLED,
                    shipped if bet.status is BetStatus.SHIPPED else None)


def build_verdicts(*, catalog: Catalog, bets: Sequence[Bet], tickets: Mapping[str, Ticket],
                   checkins: Sequence[CheckIn], now: datetime) -> VerdictsSection:
    """Judge every ended bet whose KR is in the catalog, as of `now`."""
    series: dict[str, list[Point]] = {}
    for c in checkins:
        series.setdefault(c.kr_id, []).append(Point(c.at, c.value))
    ended = [b for b in bets if b.status in _ENDED]
    facts = {id(b): _facts(b, tickets.get(f"{b.source}:{b.ticket_key}")) for b in ended}
    items: list[VerdictItem] = []
    for bet in sorted(ended, key=lambda b: (b.kr_id, b.source, b.ticket_key)):
        kr = catalog.kr(bet.kr_id)
        if kr is None:
            continue
        objective = catalog.objective(kr.objective_id)
        ticket = tickets.get(f"{bet.source}:{bet.ticket_key}")
        fact = facts[id(bet)]
        others = [facts[id(o)] for o in ended if o.kr_id == bet.kr_id and o is not bet]
        delta = min_move(kr.baseline, kr.target, kr.min_move, catalog.verdicts.min_move_share)
        verdict = judge(fact, series.get(kr.id, []), direction=kr.direction, delta=delta,
                        now=now, settings=catalog.verdicts, others=others)
        reason = verdict.reason
        if fact.shipped_at is not None and (ticket is None or ticket.resolved is None):
            reason += " (ship date: when okrsync first saw it done; the tracker gave none)"
        items.append(VerdictItem(
            source=bet.source, key=bet.ticket_key, title=ticket.title if ticket else "",
            kr_id=kr.id, cycle=objective.cycle if objective else "",
            outcome=verdict.outcome.value, reason=reason, effect=verdict.effect,
            low=verdict.low, high=verdict.high, delta=verdict.delta,
            shipped_at=fact.shipped_at, size=ticket.size if ticket else None,
            shared_with=verdict.shared_with,
        ))
    return VerdictsSection(tuple(items), _hit_rates(items), _effort(items))


def _hit_rates(items: Sequence[VerdictItem]) -> tuple[CycleHitRate, ...]:
    out = []
    for cycle in sorted({i.cycle for i in items}):
        judged = [i for i in items if i.cycle == cycle and Outcome(i.outcome) not in _NOT_JUDGED]
        moved = sum(1 for i in judged if i.outcome == Outcome.MOVED.value)
        out.append(CycleHitRate(cycle, len(judged), moved,
                                round(moved / len(judged), 4) if judged else None))
    return tuple(out)


def _effort(items: Sequence[VerdictItem]) -> tuple[EffortItem, ...]:
    return tuple(
        EffortItem(o.value, sum(1 for i in items if i.outcome == o.value),
                   sum(i.size or 0.0 for i in items if i.outcome == o.value))
        for o in Outcome if any(i.outcome == o.value for i in items)
    )
