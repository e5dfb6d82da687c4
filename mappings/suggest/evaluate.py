"""Leave-one-out figures a user can read before trusting suggestions on their organisation.

Every linked epic is asked for a suggestion with itself left out of the model and its own
labels and links hidden. precision@1: share of answered epics whose top KR is the one the
organisation chose; precision@3: share whose top three hold it; coverage: share answered at
the threshold. The confidence model is cross-fitted: the epics are split into `FOLDS`
groups by position and each group is scored by a confidence model fitted on the others, so
no epic's own answer ever shapes its confidence (its labels and links are hidden from its
similarities already).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from core.model import Ticket
from mappings.suggest.model import TOP, Suggester

OldMethod = Callable[[Ticket], Sequence[str]]
"""The previous suggestion method: KR ids best first for an epic (its labels withheld)."""

OLD_SAMPLE = 5000
"""The previous method looks at every rule for every epic (~0.5 ms each); above this many
linked epics it is measured on an evenly spaced sample of them, which the output says."""
CURVE = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
FOLDS = 10


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
    counts: dict[str | None, list[int]] = {_ALL: [0, 0, 0, 0]}
    for team, answered, hit1, hit3 in outcomes:
        for key in (_ALL, team):
            c = counts.setdefault(key, [0, 0, 0, 0])
            c[0] += 1
            if answered:
                c[1] += 1
                c[2] += hit1
                c[3] += hit3
    out = {k: Figures(*c) for k, c in counts.items()}
    return dict(sorted(out.items(), key=lambda kv: (kv[0] != _ALL, kv[0] is None, kv[0] or "")))


def cross_fitted(model: Suggester) -> npt.NDArray[np.float64]:
    """(examples, KRs): each example's KR probabilities from a confidence model fitted on the
    other folds' leave-one-out similarities."""
    loo = model.leave_one_out()
    probs = np.zeros(loo.scores.shape)
    fold = np.arange(len(loo.truth)) % FOLDS
    for f in range(FOLDS):
        mine = np.flatnonzero(fold == f)
        if len(mine):
            stacker = model.stacker(np.flatnonzero(fold != f))
            probs[mine] = stacker.probabilities(loo.scores[mine])
    probs[loo.scores.max(axis=1, initial=0.0) <= 0] = 0.0
    return probs


def evaluate(model: Suggester, *, min_confidence: float,
             old_method: OldMethod | None = None) -> Evaluation:
    loo = model.leave_one_out()
    probs = cross_fitted(model)
    ranked = np.argsort(-probs, axis=1, kind="stable")[:, :TOP]
    conf = probs.max(axis=1, initial=0.0)

    truth = loo.truth
    hit1 = (ranked[:, 0] == truth).tolist() if len(truth) else []
    hit3 = (ranked == truth[:, None]).any(axis=1).tolist() if len(truth) else []
    teams = [ex.team for ex in model.examples]
    confs = conf.tolist()

    def learned(threshold: float) -> list[tuple[str | None, bool, bool, bool]]:
        return [(team, c > 0 and c >= threshold, h1, h3)
                for team, c, h1, h3 in zip(teams, confs, hit1, hit3, strict=True)]

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
