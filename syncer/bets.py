"""The bet lifecycle: how a link seen over time becomes a bet, and what the KR did meanwhile.

Pure functions of values passed in (the ticket, the prior bet, the KR's current value, `now`);
the planner calls `advance_bet` for every (ticket, KR) link and reports quote `verdict`.

Status follows the ticket's state:

    TODO → PLANNED · IN_PROGRESS → ACTIVE · DONE → SHIPPED · WONT_DO → KILLED

Transitions of an existing bet:

- PLANNED → ACTIVE sets `active_at = now` and `kr_start` = the KR's current value.
- PLANNED/ACTIVE → SHIPPED/KILLED sets `ended_at = now` and `kr_end` = the KR's current value.
  `kr_start` is only ever the value seen when the bet went active: a bet that jumps from
  PLANNED straight to an end (the epic went active and ended between two syncs) keeps
  `kr_start = None`, so its verdict is UNKNOWN rather than a made-up FLAT.
- ACTIVE stays ACTIVE when the ticket moves back to to-do: the bet has started; work paused.
- An ended bet stays ended, except: the ticket reopens (to-do or in progress) → ACTIVE again,
  with a new `active_at`, `kr_start` = the current value, and `ended_at` / `kr_end` cleared;
  or the ticket's final resolution changes (done ↔ won't do) → the status follows, keeping
  `ended_at` and `kr_end`.
- The hypothesis follows the ticket's (including its removal).

A link that ends (the KR is no longer linked) leaves its bet as it is — it is reported as
unlinked — unless the ticket is WONT_DO, in which case an open bet is KILLED (`ended_at`,
`kr_end` set). Keeping the rest is deliberate: a link that a rule change moves away says
nothing about whether the work moved the KR.

Verdict rules (`verdict`), which the reports cite:

1. status KILLED → KILLED;
2. the bet has not ended (PLANNED or ACTIVE) → UNKNOWN;
3. `kr_start` or `kr_end` unknown → UNKNOWN;
4. the KR moved in its direction (up: end > start; down: end < start) by more than the
   tolerance → MOVED; otherwise (no move, a small move, or a move the wrong way) → FLAT.

The tolerance is `min_move` when positive, else 1 % of |target − baseline| of the KR.
`is_stale` flags ACTIVE bets open longer than N weeks whose KR has not moved by that rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from core.model import Bet, BetStatus, Direction, KeyResult, Ticket, TicketState, Verdict

DEFAULT_TOLERANCE_SHARE = 0.01

_STATUS_OF: Mapping[TicketState, BetStatus] = {
    TicketState.TODO: BetStatus.PLANNED,
    TicketState.IN_PROGRESS: BetStatus.ACTIVE,
    TicketState.DONE: BetStatus.SHIPPED,
    TicketState.WONT_DO: BetStatus.KILLED,
}
_ENDED = frozenset({BetStatus.SHIPPED, BetStatus.KILLED})


def bet_status_of(state: TicketState) -> BetStatus:
    """The status a bet on a ticket in `state` should have."""
    return _STATUS_OF[state]


def is_ended(bet: Bet) -> bool:
    """Shipped or killed: the bet's outcome can be judged."""
    return bet.status in _ENDED


def open_bet(ticket: Ticket, kr_id: str, *, now: datetime, kr_value: float | None) -> Bet:
    """A new bet for a link seen for the first time."""
    status = bet_status_of(ticket.state)
    bet = Bet(
        source=ticket.source,
        ticket_key=ticket.key,
        kr_id=kr_id,
        status=status,
        hypothesis=ticket.hypothesis,
        opened_at=now,
    )
    if status is BetStatus.ACTIVE:
        return replace(bet, active_at=now, kr_start=kr_value)
    if status in _ENDED:
        return replace(bet, ended_at=now, kr_end=kr_value)
    return bet


def advance_bet(
    prior: Bet | None, ticket: Ticket, kr_id: str, *, now: datetime, kr_value: float | None
) -> Bet:
    """The bet for a current (ticket, KR) link: `prior` moved along the ticket's state.

    Returns `prior` itself (same value) when nothing changed, so callers can compare.
    """
    if prior is None:
        return open_bet(ticket, kr_id, now=now, kr_value=kr_value)
    bet = prior
    if bet.hypothesis != ticket.hypothesis:
        bet = replace(bet, hypothesis=ticket.hypothesis)
    target = bet_status_of(ticket.state)
    if target is bet.status:
        return bet
    if bet.status in _ENDED:
        if target in _ENDED:
            return replace(bet, status=target)
        return replace(
            bet,
            status=BetStatus.ACTIVE,
            active_at=now,
            kr_start=kr_value,
            ended_at=None,
            kr_end=None,
        )
    if target is BetStatus.PLANNED:  # ACTIVE → back to to-do: the bet stays active
        return bet
    if target is BetStatus.ACTIVE:
        return replace(bet, status=BetStatus.ACTIVE, active_at=now, kr_start=kr_value)
    return replace(bet, status=target, ended_at=now, kr_end=kr_value)


def end_unlinked_bet(
    prior: Bet, ticket: Ticket | None, *, now: datetime, kr_value: float | None
) -> Bet:
    """A bet whose link ended: killed if its ticket was dropped (WONT_DO), otherwise kept."""
    if ticket is None or ticket.state is not TicketState.WONT_DO or is_ended(prior):
        return prior
    return replace(prior, status=BetStatus.KILLED, ended_at=now, kr_end=kr_value)


def tolerance(kr: KeyResult, min_move: float = 0.0) -> float:
    """How far the KR must move to count: `min_move` if positive, else 1 % of its span."""
    if min_move > 0:
        return min_move
    return DEFAULT_TOLERANCE_SHARE * abs(kr.target - kr.baseline)


def moved(kr: KeyResult, start: float, end: float, min_move: float = 0.0) -> bool:
    """Whether the KR went from `start` to `end` in its direction by more than the tolerance."""
    gain = start - end if kr.direction is Direction.DOWN else end - start
    return gain > tolerance(kr, min_move)


def verdict(bet: Bet, kr: KeyResult, *, min_move: float = 0.0) -> Verdict:
    """What the KR did while the bet ran (rules in the module docstring)."""
    if bet.status is BetStatus.KILLED:
        return Verdict.KILLED
    if not is_ended(bet):
        return Verdict.UNKNOWN
    if bet.kr_start is None or bet.kr_end is None:
        return Verdict.UNKNOWN
    return Verdict.MOVED if moved(kr, bet.kr_start, bet.kr_end, min_move) else Verdict.FLAT


def is_stale(
    bet: Bet,
    kr: KeyResult,
    current: float | None,
    *,
    now: datetime,
    weeks: int,
    min_move: float = 0.0,
) -> bool:
    """An ACTIVE bet open more than `weeks` weeks whose KR has not moved since it started.

    An unknown start or current value counts as "not moved": a long-running bet nobody can
    show progress for is exactly what the weekly report should point at.
    """
    if bet.status is not BetStatus.ACTIVE or bet.active_at is None:
        return False
    if now - bet.active_at <= timedelta(weeks=weeks):
        return False
    if bet.kr_start is None or current is None:
        return True
    return not moved(kr, bet.kr_start, current, min_move)
