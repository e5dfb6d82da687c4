"""The adoption scorecard: per team and week, how well it keeps goals and work connected.

Shares are None when there is nothing to count (a team without epics is not judged on
traceability); a team below any configured threshold is lagging, with the reasons."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from syncer.rhythm.krstatus import KrStatus
from syncer.rhythm.settings import ScorecardSection


@dataclass(frozen=True)
class Epic:
    """One epic as the scorecard sees it: whose it is, whether it is linked to a KR, and
    whether that link states a hypothesis."""

    team: str
    linked: bool
    hypothesis: bool


@dataclass(frozen=True)
class Scorecard:
    team: str
    epics: int
    krs: int
    traceable: float | None
    hypothesis: float | None
    fresh_checkins: float | None
    median_lag_days: float | None
    confidence_stated: float | None
    lagging: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "team": self.team, "epics": self.epics, "krs": self.krs,
            "traceable": self.traceable, "hypothesis": self.hypothesis,
            "fresh_checkins": self.fresh_checkins, "median_lag_days": self.median_lag_days,
            "confidence_stated": self.confidence_stated, "lagging": self.lagging,
            "reasons": list(self.reasons),
        }


def _share(hits: int, of: int) -> float | None:
    return None if of == 0 else hits / of


def scorecard(team: str, epics: Sequence[Epic], krs: Sequence[KrStatus],
              settings: ScorecardSection) -> Scorecard:
    mine = [e for e in epics if e.team == team]
    linked = [e for e in mine if e.linked]
    own = [k for k in krs if k.team == team]
    traceable = _share(len(linked), len(mine))
    hypothesis = _share(sum(e.hypothesis for e in linked), len(linked))
    fresh = _share(sum(not k.due.missing for k in own), len(own))
    lag = float(statistics.median(k.lag_days for k in own)) if own else None
    stated = _share(sum(k.confidence is not None for k in own), len(own))
    reasons = []
    s = settings
    for name, value, floor in (("traceable", traceable, s.min_traceable),
                               ("hypothesis", hypothesis, s.min_hypothesis),
                               ("fresh check-ins", fresh, s.min_fresh_checkins),
                               ("confidence stated", stated, s.min_confidence_stated)):
        if value is not None and value < floor:
            reasons.append(f"{name} {value:.0%} < {floor:.0%}")
    if lag is not None and lag > s.max_median_lag_days:
        reasons.append(f"median check-in lag {lag:g} d > {s.max_median_lag_days:g} d")
    return Scorecard(team, len(mine), len(own), traceable, hypothesis, fresh, lag, stated,
                     bool(reasons), tuple(reasons))


def scorecards(teams: Sequence[str], epics: Sequence[Epic], krs: Sequence[KrStatus],
               settings: ScorecardSection) -> list[Scorecard]:
    return [scorecard(t, epics, krs, settings) for t in teams]
