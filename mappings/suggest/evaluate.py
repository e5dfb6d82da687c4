"""Leave-one-out figures a user can read before trusting suggestions on their organisation.

Every linked epic is asked for a suggestion with itself left out of the model and its own
labels and links hidden. precision@1: share of answered epics whose top KR is the one the
organisation chose; precision@3: share whose top three hold it; coverage: share answered at
the threshold. The confidence used here is calibrated on the other half of the epics (by
position), never on the epic being scored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.model import Ticket
from mappings.suggest.model import Suggester

OldMethod = Callable[[Ticket], Sequence[str]]
"""The previous suggestion method: KR ids best first for an epic (its labels withheld)."""

OLD_SAMPLE = 5000
"""The previous method looks at every rule for every epic (~0.5 ms each); above this many
linked epics it is measured on an evenly spaced sample of them, which the output says."""
CURVE = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class Figures:
    epics: int
    answered: int
    top1: int
    top3: int

    @property
    def precision_at_1(self) -> float | None:
        return round(self.top1 / self.answered, 3) if self.answered else None

    @property
    def precision_at_3(self) -> float | None:
        return round(self.top3 / self.answered, 3) if self.answered else None

    @property
    def coverage(self) -> float | None:
        return round(self.answered / self.epics, 3) if self.epics else None

    def to_json(self) -> dict[str, float | int | None]:
        return {"epics": self.epics, "answered": self.answered,
                "precision_at_1": self.precision_at_1, "precision_at_3": self.precision_at_3,
                "coverage": self.coverage}


@dataclass(frozen=True)
class Evaluation:
    """`learned` and `previous` figures, overall and per team (`None` = no team)."""

    min_confidence: float
    learned: dict[str | None, Figures]
    previous: dict[str | None, Figures]
    curve: tuple[tuple[float, Figures], ...] = ()
    """Overall learned figures if `min_confidence` were each of `CURVE`."""

    def to_json(self) -> dict[str, Any]:
        def table(figs: dict[str | None, Figures]) -> dict[str, Any]:
            return {("(no team)" if k is None else k): v.to_json()
                    for k, v in figs.items() if k != _ALL}
        return {"min_confidence": self.min_confidence,
                "overall": {"learned": self.learned[_ALL].to_json(),
                            "previous": self.previous[_ALL].to_json()},
                "teams": {"learned": table(self.learned), "previous": table(self.previous)},
                "curve": [{"min_confidence": t, **f.to_json()} for t, f in self.curve]}


_ALL = "\0all"


def _tally(outcomes: Sequence[tuple[str | None, bool, bool, bool]]) -> dict[str | None, Figures]:
    """(team, answered, top1, top3) per epic -> figures per team and overall."""
    out: dict[str | None, Figures] = {}
    for team, answered, hit1, hit3 in outcomes:
        for key in (_ALL, team):
            f = out.get(key, Figures(0, 0, 0, 0))
            out[key] = replace(f, epics=f.epics + 1, answered=f.answered + answered,
                               top1=f.top1 + (answered and hit1), top3=f.top3 + (answered and hit3))
    out.setdefault(_ALL, Figures(0, 0, 0, 0))
    return dict(sorted(out.items(), key=lambda kv: (kv[0] != _ALL, kv[0] is None, kv[0] or "")))


def cross_fitted_confidence(model: Suggester) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out hits and confidences, each half calibrated on the other half."""
    loo = model.leave_one_out()
    hits = np.array([1.0 if r and r[0] == t else 0.0 for r, t in zip(loo.ranked, loo.truth,
                                                                    strict=True)])
    conf = np.zeros(len(hits))
    idx = np.arange(len(hits))
    for part in (0, 1):
        mine, other = idx[idx % 2 == part], idx[idx % 2 != part]
        if len(mine):
            conf[mine] = model.calibrate(loo.signals[other], hits[other]).predict(
                loo.signals[mine])
    return hits, conf


def evaluate(model: Suggester, *, min_confidence: float,
             old_method: OldMethod | None = None) -> Evaluation:
    loo = model.leave_one_out()
    _, conf = cross_fitted_confidence(model)
    def learned(threshold: float) -> list[tuple[str | None, bool, bool, bool]]:
        return [(ex.team, bool(conf[i] >= threshold), bool(r and r[0] == t), t in r)
                for i, (ex, r, t) in enumerate(zip(model.examples, loo.ranked, loo.truth,
                                                   strict=True))]

    previous = []
    n = len(model.examples)
    step = max(1, -(-n // OLD_SAMPLE))
    for ex in model.examples[::step]:
        if old_method is None:
            break
        old = list(old_method(replace(ex.ticket, labels=())))
        previous.append((ex.team, bool(old), bool(old and old[0] == ex.kr_id),
                         ex.kr_id in old[:3]))
    curve = tuple((t, _tally(learned(t))[_ALL]) for t in CURVE)
    return Evaluation(min_confidence, _tally(learned(min_confidence)), _tally(previous), curve)
