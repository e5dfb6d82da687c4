"""The portfolio section: per objective and key result, where the KR stands, which bets are
placed on it, and what the KR did while each ended bet ran. Pure.

Verdicts and staleness come from `syncer.bets` (the one place the rules live, documented in
docs/reports.md): killed → killed; not ended, or a start/end value unknown → unknown; moved in
the KR's direction by more than 1 % of |target − baseline| → moved; otherwise flat. A stale bet
is active for more than `report.stale_weeks` weeks while its KR has not moved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.model import Bet, BetStatus, Catalog, CheckIn, KeyResult, Link, Ticket
from syncer.bets import is_stale, verdict
from syncer.reports.model import BetItem, BetsSection, KrItem, KrPoint, ObjectiveItem

_STATUS_ORDER = {
    BetStatus.ACTIVE: 0,
    BetStatus.PLANNED: 1,
    BetStatus.SHIPPED: 2,
    BetStatus.KILLED: 3,
}


@dataclass(frozen=True)
class KrReading:
    """The KR's latest value and confidence known at the report's moment."""

    value: float | None
    confidence: float | None
    confidence_at: datetime | None


def readings(
    checkins: Sequence[CheckIn], as_of: datetime, fallback: Mapping[str, float] | None = None
) -> dict[str, KrReading]:
    """Latest check-in value (and latest stated confidence) per KR at or before `as_of`."""
    value: dict[str, tuple[datetime, float]] = {}
    conf: dict[str, tuple[datetime, float]] = {}
    for c in checkins:
        if c.at > as_of:
            continue
        if c.kr_id not in value or c.at >= value[c.kr_id][0]:
            value[c.kr_id] = (c.at, c.value)
        if c.confidence is not None and (c.kr_id not in conf or c.at >= conf[c.kr_id][0]):
            conf[c.kr_id] = (c.at, c.confidence)
    out: dict[str, KrReading] = {}
    for kr_id in set(value) | set(conf) | set(fallback or {}):
        v = value[kr_id][1] if kr_id in value else (fallback or {}).get(kr_id)
        stated = conf.get(kr_id)
        out[kr_id] = KrReading(v, stated[1] if stated else None, stated[0] if stated else None)
    return out


def _progress(kr: KeyResult, current: float | None) -> float | None:
    span = kr.target - kr.baseline
    if current is None or span == 0:
        return None
    return round((current - kr.baseline) / span, 4)


def build_portfolio(
    *,
    catalog: Catalog,
    bets: Sequence[Bet],
    links: Sequence[Link],
    tickets: Sequence[Ticket],
    checkins: Sequence[CheckIn],
    as_of: datetime,
    stale_weeks: int,
    team_of_project: Callable[[str], str | None],
    kr_values: Mapping[str, float] | None = None,
    history: Mapping[str, tuple[KrPoint, ...]] | None = None,
) -> BetsSection:
    """Objectives → KRs → bets, with verdicts, KRs nobody bets on, and stale bets; with
    cycles, of the current cycle only."""
    by_uid = {t.uid: t for t in tickets}
    linked = {(link.source, link.ticket_key, link.kr_id) for link in links}
    reading = readings(checkins, as_of, kr_values)
    bets_by_kr: dict[str, list[Bet]] = {}
    for bet in bets:
        bets_by_kr.setdefault(bet.kr_id, []).append(bet)
    counts = dict.fromkeys(("moved", "flat", "unknown", "killed"), 0)
    stale: list[BetItem] = []
    without: list[str] = []
    objectives = []
    for obj in catalog.objectives:
        if catalog.current_cycle is not None and obj.cycle != catalog.current_cycle:
            continue  # a past cycle: its bets and verdicts stay in the verdicts section
        krs = []
        for kr in (k for k in catalog.key_results if k.objective_id == obj.id):
            now = reading.get(kr.id, KrReading(None, None, None))
            items = []
            for bet in sorted(
                bets_by_kr.get(kr.id, []),
                key=lambda b: (_STATUS_ORDER[b.status], b.source, b.ticket_key),
            ):
                item = _bet_item(bet, kr, by_uid.get(f"{bet.source}:{bet.ticket_key}"),
                                 (bet.source, bet.ticket_key, bet.kr_id) in linked,
                                 now.value, as_of, stale_weeks, team_of_project)
                items.append(item)
                if bet.status in (BetStatus.SHIPPED, BetStatus.KILLED):
                    counts[item.verdict] += 1
                if item.stale:
                    stale.append(item)
            active = sum(1 for b in items if b.status == BetStatus.ACTIVE.value)
            if not active:
                without.append(kr.id)
            krs.append(
                KrItem(
                    id=kr.id, title=kr.title, owner=kr.owner, metric=kr.metric, unit=kr.unit,
                    direction=kr.direction.value, baseline=kr.baseline, current=now.value,
                    target=kr.target, progress=_progress(kr, now.value),
                    confidence=now.confidence, confidence_at=now.confidence_at,
                    bets=tuple(items), active_bets=active,
                    history=(history or {}).get(kr.id, ()),
                )
            )
        objectives.append(ObjectiveItem(obj.id, obj.title, obj.owner, obj.cycle, tuple(krs)))
    return BetsSection(
        objectives=tuple(objectives),
        krs_without_active_bet=tuple(without),
        stale=tuple(stale),
        verdicts=counts,
    )


def _bet_item(
    bet: Bet,
    kr: KeyResult,
    ticket: Ticket | None,
    linked: bool,
    current: float | None,
    as_of: datetime,
    stale_weeks: int,
    team_of_project: Callable[[str], str | None],
) -> BetItem:
    ended = bet.status in (BetStatus.SHIPPED, BetStatus.KILLED)
    days = None
    if bet.active_at is not None:
        days = max(0, ((bet.ended_at or as_of) - bet.active_at).days)
    movement = None
    if ended and bet.kr_start is not None and bet.kr_end is not None:
        movement = round(bet.kr_end - bet.kr_start, 6)
    return BetItem(
        source=bet.source,
        key=bet.ticket_key,
        title=ticket.title if ticket else "",
        url=ticket.url if ticket else "",
        team=team_of_project(ticket.project) if ticket else None,
        kr_id=bet.kr_id,
        status=bet.status.value,
        hypothesis=bet.hypothesis,
        hypothesis_present=bool(bet.hypothesis and bet.hypothesis.strip()),
        linked=linked,
        active_at=bet.active_at,
        ended_at=bet.ended_at,
        days_active=days,
        kr_start=bet.kr_start,
        kr_end=bet.kr_end,
        movement=movement,
        verdict=verdict(bet, kr).value,
        stale=is_stale(bet, kr, current, now=as_of, weeks=stale_weeks),
    )
