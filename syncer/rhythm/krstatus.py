"""Each key result on one day: its value, the owner's latest word, when the next check-in is
due, and its confidence and pace statuses. The base every rule and review reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from core.model import Catalog, CheckIn, KeyResult
from syncer.rhythm.cadence import Due, due_state
from syncer.rhythm.pace import Status, confidence_status, disagrees, pace_status, progress
from syncer.rhythm.people import Org
from syncer.rhythm.period import Window

DayOf = Callable[[CheckIn], date]


@dataclass(frozen=True)
class KrStatus:
    kr: KeyResult
    team: str
    due: Due
    value: float | None
    """The latest value of any origin (a measured value is data too)."""
    confidence: float | None
    """From the owner's latest check-in; None when it stated none."""
    previous_confidence: float | None
    note: str
    lag_days: int
    """Days since the owner's last check-in (since the cycle start when none)."""
    confidence_status: Status | None
    pace: Status | None

    @property
    def disagreement(self) -> bool:
        """Owner says on track, numbers say off track; judged only on a current check-in
        (a stale confidence is the overdue rules' business)."""
        return not self.due.missing and disagrees(self.confidence_status, self.pace)


def kr_statuses(catalog: Catalog, checkins: Sequence[CheckIn], org: Org, window: Window,
                today: date, working: frozenset[int], day_of: DayOf) -> list[KrStatus]:
    """Every KR of the catalog as it stood at the end of `today`."""
    known = [c for c in checkins if day_of(c) <= today]
    known.sort(key=lambda c: c.at)
    out = []
    for kr in catalog.key_results:
        own = [c for c in known if c.kr_id == kr.id]
        people = [c for c in own if not c.measured]
        last = day_of(people[-1]) if people else None
        stated = [c.confidence for c in people if c.confidence is not None]
        latest_conf = people[-1].confidence if people else None
        previous = stated[-2] if latest_conf is not None and len(stated) >= 2 else None
        value = own[-1].value if own else None
        since = last if last is not None and last >= window.start else window.start
        out.append(KrStatus(
            kr=kr, team=org.team(kr.owner),
            due=due_state(kr.id, kr.checkin, last, window, today, working),
            value=value, confidence=latest_conf, previous_confidence=previous,
            note=people[-1].note if people else "",
            lag_days=max(0, (today - since).days),
            confidence_status=confidence_status(latest_conf),
            pace=pace_status(progress(kr, value), window.elapsed(today)),
        ))
    return out
