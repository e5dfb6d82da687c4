from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.model import Bet, BetStatus, Direction, TicketState, Verdict
from syncer.bets import advance_bet, end_unlinked_bet, is_stale, open_bet, tolerance, verdict
from tests.helpers.plan_helpers import (
    LATER,
    NOW,
    catalog,
    kr,
    label_rule,
    merge_bets,
    rules,
    run_plan,
    ticket,
)

T0, T1 = NOW, LATER
KR_UP = kr("KR-1")  # 40 → 60, up: tolerance 0.2
KR_DOWN = kr("KR-2", baseline=500.0, target=300.0, direction=Direction.DOWN)  # tolerance 2


def bet(status: BetStatus, **kw: object) -> Bet:
    fields: dict[str, object] = {"hypothesis": None, "opened_at": T0}
    fields.update(kw)
    return Bet("jira", "WEB-1", "KR-1", status, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "status", "active_at", "kr_start", "ended_at", "kr_end"),
    [
        (TicketState.TODO, BetStatus.PLANNED, None, None, None, None),
        (TicketState.IN_PROGRESS, BetStatus.ACTIVE, T0, 45.0, None, None),
        (TicketState.DONE, BetStatus.SHIPPED, None, None, T0, 45.0),
        (TicketState.WONT_DO, BetStatus.KILLED, None, None, T0, 45.0),
    ],
)
def test_a_new_link_opens_a_bet_whose_status_follows_the_ticket(
    state: TicketState,
    status: BetStatus,
    active_at: object,
    kr_start: object,
    ended_at: object,
    kr_end: object,
) -> None:
    new = open_bet(ticket(state=state, hypothesis="h"), "KR-1", now=T0, kr_value=45.0)
    assert (new.status, new.active_at, new.kr_start, new.ended_at, new.kr_end) == (
        status,
        active_at,
        kr_start,
        ended_at,
        kr_end,
    )
    assert new.hypothesis == "h"
    assert new.opened_at == T0


def test_planned_to_active_to_shipped_records_the_kr_at_both_ends() -> None:
    planned = bet(BetStatus.PLANNED)
    active = advance_bet(
        planned, ticket(state=TicketState.IN_PROGRESS), "KR-1", now=T1, kr_value=41.0
    )
    assert (active.status, active.active_at, active.kr_start) == (BetStatus.ACTIVE, T1, 41.0)
    later = T1 + timedelta(weeks=3)
    shipped = advance_bet(active, ticket(state=TicketState.DONE), "KR-1", now=later, kr_value=50.0)
    assert (shipped.status, shipped.ended_at, shipped.kr_start, shipped.kr_end) == (
        BetStatus.SHIPPED,
        later,
        41.0,
        50.0,
    )
    assert verdict(shipped, KR_UP) is Verdict.MOVED


def test_jumping_from_planned_to_done_leaves_the_start_unknown() -> None:
    shipped = advance_bet(
        bet(BetStatus.PLANNED), ticket(state=TicketState.DONE), "KR-1", now=T1, kr_value=50.0
    )
    assert shipped.kr_start is None
    assert shipped.kr_end == 50.0
    assert verdict(shipped, KR_UP) is Verdict.UNKNOWN


def test_an_unchanged_ticket_returns_the_same_bet() -> None:
    active = bet(BetStatus.ACTIVE, active_at=T0, kr_start=40.0, hypothesis="h")
    t = ticket(state=TicketState.IN_PROGRESS, hypothesis="h")
    assert advance_bet(active, t, "KR-1", now=T1, kr_value=55.0) == active


def test_hypothesis_follows_the_ticket() -> None:
    active = bet(BetStatus.ACTIVE, active_at=T0, hypothesis="old")
    t = ticket(state=TicketState.IN_PROGRESS, hypothesis="new")
    assert advance_bet(active, t, "KR-1", now=T1, kr_value=None).hypothesis == "new"
    t_none = ticket(state=TicketState.IN_PROGRESS)
    assert advance_bet(active, t_none, "KR-1", now=T1, kr_value=None).hypothesis is None


def test_an_active_bet_stays_active_when_the_ticket_goes_back_to_do() -> None:
    active = bet(BetStatus.ACTIVE, active_at=T0, kr_start=40.0)
    assert advance_bet(active, ticket(state=TicketState.TODO), "KR-1", now=T1, kr_value=1.0) == (
        active
    )


def test_an_ended_bet_reopens_as_active_with_a_new_start() -> None:
    shipped = bet(BetStatus.SHIPPED, active_at=T0, kr_start=40.0, ended_at=T0, kr_end=42.0)
    reopened = advance_bet(shipped, ticket(state=TicketState.TODO), "KR-1", now=T1, kr_value=43.0)
    assert (reopened.status, reopened.active_at, reopened.kr_start) == (BetStatus.ACTIVE, T1, 43.0)
    assert (reopened.ended_at, reopened.kr_end) == (None, None)


def test_an_ended_bet_follows_a_changed_resolution_but_keeps_its_end() -> None:
    shipped = bet(BetStatus.SHIPPED, active_at=T0, kr_start=40.0, ended_at=T0, kr_end=42.0)
    killed = advance_bet(shipped, ticket(state=TicketState.WONT_DO), "KR-1", now=T1, kr_value=9.0)
    assert (killed.status, killed.ended_at, killed.kr_end) == (BetStatus.KILLED, T0, 42.0)


def test_an_unlinked_bet_is_killed_only_when_its_ticket_is_dropped() -> None:
    active = bet(BetStatus.ACTIVE, active_at=T0, kr_start=40.0)
    kept = end_unlinked_bet(active, ticket(state=TicketState.IN_PROGRESS), now=T1, kr_value=44.0)
    assert kept == active
    assert end_unlinked_bet(active, None, now=T1, kr_value=44.0) == active
    killed = end_unlinked_bet(active, ticket(state=TicketState.WONT_DO), now=T1, kr_value=44.0)
    assert (killed.status, killed.ended_at, killed.kr_end) == (BetStatus.KILLED, T1, 44.0)
    shipped = bet(BetStatus.SHIPPED, ended_at=T0)
    assert end_unlinked_bet(shipped, ticket(state=TicketState.WONT_DO), now=T1, kr_value=1.0) == (
        shipped
    )


@pytest.mark.parametrize(
    ("kr_", "status", "start", "end", "expected"),
    [
        (KR_UP, BetStatus.KILLED, 40.0, 60.0, Verdict.KILLED),
        (KR_UP, BetStatus.ACTIVE, 40.0, 60.0, Verdict.UNKNOWN),
        (KR_UP, BetStatus.PLANNED, None, None, Verdict.UNKNOWN),
        (KR_UP, BetStatus.SHIPPED, None, 60.0, Verdict.UNKNOWN),
        (KR_UP, BetStatus.SHIPPED, 40.0, None, Verdict.UNKNOWN),
        (KR_UP, BetStatus.SHIPPED, 40.0, 40.3, Verdict.MOVED),
        (KR_UP, BetStatus.SHIPPED, 40.0, 40.1, Verdict.FLAT),  # within 1 % of the 20-point span
        (KR_UP, BetStatus.SHIPPED, 40.0, 30.0, Verdict.FLAT),  # the wrong way is not a move
        (KR_DOWN, BetStatus.SHIPPED, 500.0, 480.0, Verdict.MOVED),
        (KR_DOWN, BetStatus.SHIPPED, 500.0, 499.0, Verdict.FLAT),
        (KR_DOWN, BetStatus.SHIPPED, 500.0, 520.0, Verdict.FLAT),
    ],
)
def test_verdict_rules(
    kr_: object, status: BetStatus, start: float | None, end: float | None, expected: Verdict
) -> None:
    b = bet(status, kr_start=start, kr_end=end, ended_at=T1)
    assert verdict(b, kr_, min_move=0.0) is expected  # type: ignore[arg-type]


def test_min_move_overrides_the_default_tolerance() -> None:
    b = bet(BetStatus.SHIPPED, kr_start=40.0, kr_end=41.0, ended_at=T1)
    assert verdict(b, KR_UP) is Verdict.MOVED
    assert verdict(b, KR_UP, min_move=2.0) is Verdict.FLAT
    assert tolerance(KR_UP) == pytest.approx(0.2)


@given(
    start=st.floats(-1e6, 1e6),
    delta=st.floats(-1e6, 1e6),
    direction=st.sampled_from(Direction),
)
def test_moved_is_exactly_a_move_in_the_krs_direction_beyond_tolerance(
    start: float, delta: float, direction: Direction
) -> None:
    k = replace(KR_UP, direction=direction)
    b = bet(BetStatus.SHIPPED, kr_start=start, kr_end=start + delta, ended_at=T1)
    gain = (b.kr_end or 0.0) - start if direction is Direction.UP else start - (b.kr_end or 0.0)
    expected = Verdict.MOVED if gain > tolerance(k) else Verdict.FLAT
    assert verdict(b, k) is expected


def test_stale_means_active_for_longer_than_n_weeks_without_a_move() -> None:
    old = bet(BetStatus.ACTIVE, active_at=T0, kr_start=40.0)
    much_later = T0 + timedelta(weeks=7)
    assert is_stale(old, KR_UP, 40.1, now=much_later, weeks=6)
    assert not is_stale(old, KR_UP, 45.0, now=much_later, weeks=6)
    assert not is_stale(old, KR_UP, 40.0, now=T0 + timedelta(weeks=5), weeks=6)
    assert is_stale(old, KR_UP, None, now=much_later, weeks=6)
    assert is_stale(replace(old, kr_start=None), KR_UP, 45.0, now=much_later, weeks=6)
    shipped = replace(old, status=BetStatus.SHIPPED)
    assert not is_stale(shipped, KR_UP, 40.0, now=much_later, weeks=6)


def test_the_planner_opens_advances_and_reports_only_changed_bets() -> None:
    cat = catalog("KR-1", "KR-2")
    ruleset = rules(label_rule("checkout", "checkout", "KR-1"))
    todo = ticket("WEB-1", ["checkout"], hypothesis="h")
    first = run_plan([todo], cat, ruleset, kr_values={"KR-1": 40.0})
    assert [(b.kr_id, b.status) for b in first.bets] == [("KR-1", BetStatus.PLANNED)]

    same = run_plan([todo], cat, ruleset, prior_bets=first.bets, now=T1)
    assert same.bets == ()

    started = replace(todo, state=TicketState.IN_PROGRESS)
    second = run_plan(
        [started], cat, ruleset, prior_bets=first.bets, now=T1, kr_values={"KR-1": 41.0}
    )
    assert [(b.status, b.active_at, b.kr_start) for b in second.bets] == [
        (BetStatus.ACTIVE, T1, 41.0)
    ]

    dropped = replace(todo, labels=(), state=TicketState.WONT_DO)  # link ended and ticket dropped
    bets = merge_bets(first.bets, second.bets)
    third = run_plan([dropped], cat, ruleset, prior_bets=bets, now=T1, kr_values={"KR-1": 42.0})
    assert [(b.status, b.kr_end) for b in third.bets] == [(BetStatus.KILLED, 42.0)]
