"""Bet verdicts (syncer.verdicts): the data gate, the four fitted outcomes, the placebo cap,
shared credit. Series are built by hand so each expected outcome is unmistakable; only a few
tests fit a model (statsmodels fits are the slow part)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.model import Direction, VerdictSettings
from syncer.verdicts import BetFacts, Outcome, Point, judge, min_move, shared_credit, weekly

SHIP = datetime(2026, 6, 3, 12, tzinfo=UTC)
S = VerdictSettings()
AFTER = SHIP + timedelta(weeks=5)


def series(values_pre: list[float], values_post: list[float]) -> list[Point]:
    pre = [Point(SHIP - timedelta(weeks=len(values_pre) - i, hours=-6), v)
           for i, v in enumerate(values_pre)]
    post = [Point(SHIP + timedelta(weeks=i, hours=6), v) for i, v in enumerate(values_post)]
    return pre + post


def noisy(n: int, level: float, seed: int, sd: float = 0.2) -> list[float]:
    rng = np.random.default_rng(seed)
    return [level + float(e) for e in rng.normal(0, sd, n)]


def bet(uid: str = "jira:WEB-1", shipped: datetime | None = SHIP, killed: bool = False
        ) -> BetFacts:
    return BetFacts(uid, killed, shipped)


def test_too_few_points_is_insufficient_data_naming_what_is_missing() -> None:
    v = judge(bet(), series(noisy(5, 40, 1), noisy(2, 45, 2)), direction=Direction.UP,
              delta=2, now=AFTER, settings=S)
    assert v.outcome is Outcome.INSUFFICIENT_DATA
    assert "5 weekly points before shipping, needs 8" in v.reason
    assert "2 weekly points after shipping, needs 4" in v.reason
    assert v.effect is None


def test_a_window_still_running_is_insufficient_data_with_its_end() -> None:
    v = judge(bet(), series(noisy(12, 40, 1), noisy(5, 45, 2)), direction=Direction.UP,
              delta=2, now=SHIP + timedelta(weeks=2), settings=S)
    assert v.outcome is Outcome.INSUFFICIENT_DATA
    assert "ends 2026-07-01" in v.reason


def test_killed_stays_killed_and_no_ship_date_is_said() -> None:
    assert judge(bet(killed=True), [], direction=Direction.UP, delta=1, now=AFTER,
                 settings=S).outcome is Outcome.KILLED
    v = judge(bet(shipped=None), [], direction=Direction.UP, delta=1, now=AFTER, settings=S)
    assert (v.outcome, v.reason) == (Outcome.INSUFFICIENT_DATA, "the epic has no ship date")


def test_a_clear_step_in_the_krs_direction_moved_with_interval_beyond_delta() -> None:
    v = judge(bet(), series(noisy(12, 40, 3), noisy(5, 46, 4)), direction=Direction.UP,
              delta=2, now=AFTER, settings=S)
    assert v.outcome is Outcome.MOVED, v.reason
    assert v.low is not None and v.high is not None and v.effect is not None
    assert 2 < v.low < v.effect < v.high
    assert "consistent with the bet" in v.reason
    assert v.placebo_runs >= 3 and v.placebo_moved == 0


def test_direction_down_counts_a_drop_as_moved_and_a_rise_as_wrong_way() -> None:
    drop = judge(bet(), series(noisy(12, 40, 5), noisy(5, 34, 6)), direction=Direction.DOWN,
                 delta=2, now=AFTER, settings=S)
    rise = judge(bet(), series(noisy(12, 40, 5), noisy(5, 46, 6)), direction=Direction.DOWN,
                 delta=2, now=AFTER, settings=S)
    assert drop.outcome is Outcome.MOVED, drop.reason
    assert rise.outcome is Outcome.MOVED_WRONG_WAY, rise.reason


def test_a_steady_series_is_no_effect() -> None:
    v = judge(bet(), series(noisy(12, 40, 7, sd=0.1), noisy(5, 40, 8, sd=0.1)),
              direction=Direction.UP, delta=2, now=AFTER, settings=S)
    assert v.outcome is Outcome.NO_EFFECT, v.reason
    assert v.low is not None and v.high is not None and v.low >= -2 and v.high <= 2


def test_placebo_moves_in_the_pre_period_cap_the_verdict_at_inconclusive() -> None:
    curve = [40 + 0.08 * i ** 2 for i in range(17)]  # accelerating: no line fits any window
    v = judge(bet(), series(curve[:12], curve[12:]), direction=Direction.UP, delta=0.5,
              now=AFTER, settings=S)
    assert v.outcome is Outcome.INCONCLUSIVE
    assert v.placebo_moved * 5 > v.placebo_runs > 0
    assert "placebo" in v.reason


def test_shared_credit_names_other_shipped_bets_within_the_window() -> None:
    me = bet("jira:A")
    near = bet("jira:B", SHIP + timedelta(weeks=3))
    far = bet("jira:C", SHIP + timedelta(weeks=9))
    killed = bet("jira:D", None, killed=True)
    assert shared_credit(me, [me, near, far, killed], 4) == ("jira:B",)


def test_min_move_defaults_to_a_tenth_of_the_target_gap() -> None:
    assert min_move(40, 60, None) == pytest.approx(2.0)
    assert min_move(40, 60, 0.5) == 0.5
    assert min_move(60, 40, None, 0.25) == pytest.approx(5.0)


def test_weekly_keeps_the_latest_point_of_each_iso_week() -> None:
    monday = datetime(2026, 11, 2, 9, tzinfo=UTC)
    pts = [Point(monday, 1), Point(monday + timedelta(days=3), 2),
           Point(monday + timedelta(days=7), 3)]
    assert weekly(pts) == [pts[1], pts[2]]
