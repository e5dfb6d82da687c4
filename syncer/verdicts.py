"""Bet verdicts a statistician would sign: did the key result move after the epic shipped?

Pure: the inputs are plain values (the KR's weekly series, the ship date, the settings), the
output a `BetVerdict` that says what it found and why. The method (docs/verdicts.md) is an
interrupted time series: a segmented regression with a level and a slope change at the ship
date, Newey–West (HAC) errors because weekly KR values are autocorrelated, and the effect at
the end of the evaluation window with a 95 % interval, compared with the smallest change that
matters (δ). A placebo check at fake ship dates inside the pre-period keeps a noisy or trending
series from claiming a move. statsmodels does the statistics; nothing here is hand-rolled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from core.model import Direction, VerdictSettings

DEFAULT_MIN_MOVE_SHARE = VerdictSettings().min_move_share
"""δ when a KR sets no `min_move`: a tenth of |target − baseline|."""

WEEK = timedelta(weeks=1)


class Outcome(StrEnum):
    MOVED = "MOVED"
    MOVED_WRONG_WAY = "MOVED_WRONG_WAY"
    NO_EFFECT = "NO_EFFECT"
    INCONCLUSIVE = "INCONCLUSIVE"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
    KILLED = "KILLED"


__all__ = ["BetFacts", "BetVerdict", "Outcome", "Point", "VerdictSettings", "judge", "min_move"]


@dataclass(frozen=True)
class Point:
    """One weekly value of a KR."""

    at: datetime
    value: float


@dataclass(frozen=True)
class Estimate:
    """The effect at the end of the window (KR units, signed) and its interval."""

    effect: float
    low: float
    high: float


@dataclass(frozen=True)
class BetVerdict:
    outcome: Outcome
    reason: str
    effect: float | None = None
    low: float | None = None
    high: float | None = None
    delta: float | None = None
    pre_points: int = 0
    post_points: int = 0
    placebo_runs: int = 0
    placebo_moved: int = 0
    shared_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class BetFacts:
    """What a verdict needs to know about one bet, as plain values."""

    uid: str
    killed: bool
    shipped_at: datetime | None


def min_move(baseline: float, target: float, explicit: float | None,
             share: float = DEFAULT_MIN_MOVE_SHARE) -> float:
    """δ: the KR's own `min_move` when set, else `share` of |target − baseline|."""
    if explicit is not None and explicit > 0:
        return explicit
    return share * abs(target - baseline)


def weekly(points: Sequence[Point]) -> list[Point]:
    """One value per ISO week (UTC): the week's latest point, at its own time, oldest first."""
    buckets: dict[tuple[int, int], Point] = {}
    for p in sorted(points, key=lambda p: p.at):
        year, week, _ = p.at.isocalendar()
        buckets[(year, week)] = p
    return [buckets[k] for k in sorted(buckets)]


def estimate(series: Sequence[Point], ship: datetime, window_weeks: int,
             confidence: float = 0.95) -> Estimate | None:
    """Segmented OLS `y = b0 + b1·t + b2·post + b3·(t − t0)·post` with HAC errors; the effect
    `b2 + b3·W` at the end of the window. None when the fit is degenerate."""
    import numpy as np  # imported here: statsmodels takes seconds, most commands never fit
    import statsmodels.api as sm

    t = np.array([(p.at - ship) / WEEK for p in series], dtype=float)
    y = np.array([p.value for p in series], dtype=float)
    post = (t >= 0).astype(float)
    x = np.column_stack([np.ones_like(t), t, post, t * post])
    if np.linalg.matrix_rank(x) < 4:
        return None
    lags = max(1, math.floor(4 * (len(y) / 100) ** (2 / 9)))
    fit = sm.OLS(y, x).fit(cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True)
    test = fit.t_test(np.array([[0.0, 0.0, 1.0, float(window_weeks)]]))
    effect = float(np.asarray(test.effect).ravel()[0])
    low, high = (float(v) for v in np.asarray(test.conf_int(alpha=1 - confidence)).ravel())
    if not all(math.isfinite(v) for v in (effect, low, high)):
        return None
    return Estimate(effect, low, high)


def classify(est: Estimate, direction: Direction, delta: float) -> Outcome:
    """MOVED: the whole interval beyond +δ in the KR's direction; MOVED_WRONG_WAY: beyond −δ;
    NO_EFFECT: inside ±δ; INCONCLUSIVE otherwise."""
    sign = -1.0 if direction is Direction.DOWN else 1.0
    low, high = sorted((sign * est.low, sign * est.high))
    if low > delta:
        return Outcome.MOVED
    if high < -delta:
        return Outcome.MOVED_WRONG_WAY
    if -delta <= low and high <= delta:
        return Outcome.NO_EFFECT
    return Outcome.INCONCLUSIVE


def _split(series: Sequence[Point], ship: datetime, window_weeks: int,
           max_pre_weeks: int) -> tuple[list[Point], list[Point]]:
    end = ship + window_weeks * WEEK
    first = ship - max_pre_weeks * WEEK
    pre = [p for p in series if first <= p.at < ship]
    post = [p for p in series if ship <= p.at <= end]
    return pre, post


def placebo(pre: Sequence[Point], direction: Direction, delta: float,
            settings: VerdictSettings) -> tuple[int, int]:
    """The same test at fake ship dates inside the pre-period: (runs, how many moved)."""
    w = settings.evaluate_after_weeks
    least = max(4, settings.min_pre // 2)
    candidates = list(range(least, len(pre) - w))
    if not candidates:
        return 0, 0
    count = min(settings.placebos, len(candidates))
    picks = sorted({candidates[round(i * (len(candidates) - 1) / max(count - 1, 1))]
                    for i in range(count)})
    moved = 0
    for k in picks:
        fake = pre[k].at
        est = estimate([p for p in pre if p.at <= fake + w * WEEK], fake, w,
                       settings.confidence)
        if est is not None and classify(est, direction, delta) in (
                Outcome.MOVED, Outcome.MOVED_WRONG_WAY):
            moved += 1
    return len(picks), moved


def shared_credit(bet: BetFacts, others: Sequence[BetFacts], window_weeks: int) -> tuple[str, ...]:
    """Other shipped bets on the same KR whose ship date falls within ± the window."""
    if bet.shipped_at is None:
        return ()
    span = window_weeks * WEEK
    return tuple(sorted(
        o.uid for o in others
        if o.uid != bet.uid and not o.killed and o.shipped_at is not None
        and abs(o.shipped_at - bet.shipped_at) <= span
    ))


def judge(bet: BetFacts, series: Sequence[Point], *, direction: Direction, delta: float,
          now: datetime, settings: VerdictSettings,
          others: Sequence[BetFacts] = ()) -> BetVerdict:
    """The verdict on one ended bet (rules in docs/verdicts.md)."""
    if bet.killed:
        return BetVerdict(Outcome.KILLED, "the epic was closed as won't do")
    if bet.shipped_at is None:
        return BetVerdict(Outcome.INSUFFICIENT_DATA, "the epic has no ship date")
    ship, w = bet.shipped_at, settings.evaluate_after_weeks
    shared = shared_credit(bet, others, w)
    window_end = ship + w * WEEK
    points = weekly([p for p in series if p.at <= now])
    pre, post = _split(points, ship, w, settings.max_pre_weeks)
    missing = []
    if now < window_end:
        missing.append(f"the {w}-week window after shipping ends {window_end:%Y-%m-%d}")
    if len(pre) < settings.min_pre:
        missing.append(f"{len(pre)} weekly points before shipping, needs {settings.min_pre}")
    if len(post) < settings.min_post:
        missing.append(f"{len(post)} weekly points after shipping, needs {settings.min_post}")
    base = BetVerdict(Outcome.INSUFFICIENT_DATA, "; ".join(missing), delta=delta,
                      pre_points=len(pre), post_points=len(post), shared_with=shared)
    if missing:
        return base
    est = estimate([*pre, *post], ship, w, settings.confidence)
    if est is None:
        return replace(base, outcome=Outcome.INCONCLUSIVE,
                       reason="the series cannot be fitted (too few distinct weeks)")
    outcome = classify(est, direction, delta)
    runs, moved = (0, 0) if outcome is Outcome.INCONCLUSIVE else placebo(pre, direction,
                                                                         delta, settings)
    reason = _reason(outcome, est, delta, w)
    if runs and moved * 5 > runs:
        reason = (f"{_reason(outcome, est, delta, w)}, but {moved} of {runs} placebo ship "
                  "dates before the real one also moved: the series is too noisy or trending "
                  "to tell")
        outcome = Outcome.INCONCLUSIVE
    if shared:
        reason += f"; shared credit with {', '.join(shared)}"
    return BetVerdict(outcome, reason, est.effect, est.low, est.high, delta, len(pre),
                      len(post), runs, moved, shared)


def _reason(outcome: Outcome, est: Estimate, delta: float, weeks: int) -> str:
    interval = f"{est.effect:+.3g} (95 % CI {est.low:+.3g} to {est.high:+.3g})"
    what = f"{weeks} weeks after shipping the KR is {interval} off its pre-ship trend"
    verdicts = {
        Outcome.MOVED: f"{what}: beyond the {delta:.3g} that matters, consistent with the bet",
        Outcome.MOVED_WRONG_WAY: f"{what}: beyond {delta:.3g} the wrong way",
        Outcome.NO_EFFECT: f"{what}: inside ±{delta:.3g}, no change that matters",
        Outcome.INCONCLUSIVE: f"{what}: the interval straddles ±{delta:.3g}",
    }
    return verdicts[outcome]
