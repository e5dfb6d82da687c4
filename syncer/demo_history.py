"""The demo's simulated past: twelve weeks of check-ins, bets that ran and ended, and the
weekly snapshots the trend charts read, so a first look shows trends, confidence and verdicts
instead of a wall of "unknown". Used only by `okrsync demo`; a real store earns its history
week by week.

`plan_history` is pure (seeded, deterministic); `write_history` stores it through the same
store methods `okrsync checkin`, a sync and a weekly report use.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.model import Bet, BetStatus, Catalog, CheckIn, KeyResult, Ticket, TicketState
from syncer.bets import verdict
from syncer.reports.model import AT_RISK_CONFIDENCE
from syncer.reports.weeks import IsoWeek, week_of
from syncer.store_rows import ts

if TYPE_CHECKING:
    from syncer.store import Store

WEEKS = 12

# How far each demo KR gets by now (share of the way from baseline to target) and how its owner
# feels about it; a KR not listed moves a little and its owner is unsure.
_STORY: Mapping[str, tuple[float, float, float]] = {
    # kr_id: (progress now, confidence 12 weeks ago, confidence now)
    "KR-CHK-1": (0.55, 0.6, 0.8),
    "KR-CHK-2": (0.35, 0.5, 0.6),
    "KR-ONB-1": (0.15, 0.7, 0.35),
    "KR-ONB-2": (0.6, 0.5, 0.75),
    "KR-SRCH-1": (-0.05, 0.6, 0.3),
    "KR-REL-1": (0.7, 0.7, 0.85),
    "KR-REL-2": (0.4, 0.5, 0.55),
    "KR-DATA-1": (0.5, 0.4, 0.7),
}


@dataclass(frozen=True)
class History:
    checkins: tuple[CheckIn, ...]
    bets: tuple[Bet, ...]
    snapshots: tuple[tuple[str, dict[str, Any]], ...]
    """(week, snapshot data) for the weeks before this one, as a weekly report keeps them."""
    since: dict[str, datetime]
    """When each untraceable epic became untraceable in the simulated past."""


def _checkins(kr: KeyResult, now: datetime, rng: random.Random) -> list[CheckIn]:
    progress, conf_then, conf_now = _STORY.get(kr.id, (0.2, 0.5, 0.5))
    span = kr.target - kr.baseline
    out = []
    for back in range(WEEKS, -1, -1):
        share = (WEEKS - back) / WEEKS
        wobble = rng.uniform(-0.04, 0.04) if 0 < back < WEEKS else 0.0
        value = kr.baseline + span * (progress * share + wobble * progress)
        confidence = conf_then + (conf_now - conf_then) * share + rng.uniform(-0.03, 0.03)
        at = now - timedelta(weeks=back, hours=1)
        out.append(CheckIn(kr.id, round(value, 2), at,
                           round(min(0.95, max(0.05, confidence)), 2), "demo history"))
    return out


def _value_at(checkins: Sequence[CheckIn], at: datetime) -> float | None:
    value = None
    for c in checkins:
        if c.at <= at:
            value = c.value
    return value


def _backdate(bet: Bet, kr: KeyResult | None, now: datetime, values: Sequence[CheckIn],
              rng: random.Random) -> Bet:
    opened = now - timedelta(weeks=WEEKS, days=rng.randint(0, 20))
    if bet.status is BetStatus.PLANNED or kr is None:
        return replace(bet, opened_at=opened)
    active = now - timedelta(weeks=rng.randint(2, WEEKS - 1), days=rng.randint(0, 6))
    start = _value_at(values, active)
    if bet.status is BetStatus.ACTIVE:
        return replace(bet, opened_at=opened, active_at=active, kr_start=start)
    span = max(11, (now - active).days - 1)
    ended = active + timedelta(days=rng.randint(10, span))
    return replace(bet, opened_at=opened, active_at=active, ended_at=ended, kr_start=start,
                   kr_end=_value_at(values, ended))


def plan_history(
    *,
    catalog: Catalog,
    bets: Sequence[Bet],
    tickets: Sequence[Ticket],
    untraceable: Mapping[str, datetime],
    team_of: Mapping[str, str | None],
    linked: Collection[str],
    now: datetime,
    timezone: str = "UTC",
    seed: int = 7,
) -> History:
    """Twelve weeks that end in the store's present: KR values drift towards (or away from)
    their targets, bets went active and ended along the way, untraceable work shrank."""
    rng = random.Random(seed)
    values = {kr.id: _checkins(kr, now, rng) for kr in catalog.key_results}
    dated = tuple(_backdate(b, catalog.kr(b.kr_id), now, values.get(b.kr_id, ()), rng)
                  for b in bets)
    by_uid = {t.uid: t for t in tickets}
    start = now - timedelta(weeks=WEEKS)
    since = {uid: max(start, by_uid[uid].created or start) if uid in by_uid else start
             for uid in untraceable}
    # Some of today's untraceable epics only lost their link a few weeks ago (rescoped).
    this_week = week_of(now, timezone)
    monday = this_week.start(timezone)
    for n, uid in enumerate(sorted(since)[::9]):
        since[uid] = monday + (now - monday) / 2 if n % 4 == 0 else (
            now - timedelta(weeks=rng.randint(1, 4)))
    scope = [t for t in tickets if t.state is not TicketState.WONT_DO]
    snapshots = []
    for back in range(WEEKS, 0, -1):
        wk: IsoWeek = this_week.shifted(-back)
        end = wk.end(timezone)
        snapshots.append((str(wk), {"summary": _summary(
            str(wk), end, scope, since, team_of, set(linked), dated, catalog, values, back)}))
    checkins = tuple(c for cs in values.values() for c in cs)
    return History(checkins, dated, tuple(snapshots), since)


def _summary(week: str, end: datetime, scope: Sequence[Ticket], since: Mapping[str, datetime],
             team_of: Mapping[str, str | None], linked: set[str], bets: Sequence[Bet],
             catalog: Catalog, values: Mapping[str, Sequence[CheckIn]],
             back: int) -> dict[str, Any]:
    """What that week's report would have kept: counts of epics that existed by its end."""
    existing = [t for t in scope if (t.created or end) <= end]
    # Before the cleanup of the last weeks, more work was untraceable: a share of today's
    # linked epics counts as untraceable in older weeks.
    extra = {t.uid for i, t in enumerate(existing) if t.uid in linked and i % 17 < (back + 1) // 2}
    flagged = {t.uid for t in existing if t.uid in since and since[t.uid] <= end} | extra
    teams: dict[str, dict[str, int]] = {}
    for t in existing:
        name = team_of.get(t.uid)
        if name is None:
            continue
        entry = teams.setdefault(name, {"untraceable": 0, "total": 0, "new": 0, "linked": 0})
        entry["total"] += 1
        entry["untraceable"] += t.uid in flagged
        entry["linked"] += t.uid in linked and t.uid not in flagged
    counts = dict.fromkeys(("moved", "flat", "unknown", "killed"), 0)
    for bet in bets:
        kr = catalog.kr(bet.kr_id)
        if kr is not None and bet.ended_at is not None and bet.ended_at <= end:
            counts[verdict(bet, kr).value] += 1
    at_risk = 0
    for cs in values.values():
        conf = [c.confidence for c in cs if c.at <= end and c.confidence is not None]
        at_risk += bool(conf) and conf[-1] < AT_RISK_CONFIDENCE
    return {
        "week": week, "untraceable": len(flagged), "total": len(existing),
        "linked": sum(1 for t in existing if t.uid in linked and t.uid not in flagged),
        "new": 0, "teams": teams,
        "verdicts": counts, "krs_at_risk": at_risk,
    }


def write_history(store: Store, history: History, *, now: datetime) -> None:
    """Store the simulated past through the store's own methods (and backdate when each
    untraceable epic was first flagged, which only the demo may do)."""
    for c in history.checkins:
        store.add_checkin(c)
    store.save_plan_outcome([], [], history.bets, [], [], sources=[], now=now)
    for week, data in history.snapshots:
        store.save_report_snapshot(week, "weekly-all", data, now=now)
    with store.transaction() as db:
        db.conn.executemany("update untraceable set since = ? where uid = ?",
                            [(ts(at), uid) for uid, at in history.since.items()])
