"""Cycles as pure functions: which cycle is current, which one an ended epic ran in, how rules
and explicit labels map in a cycle, and what the planner does at a rollover (issue 24)."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import date, timedelta

import pytest

from core.cycles import Cycle, current_cycle, cycle_notes, cycle_on, ended_in, gaps, overlaps
from core.errors import ConfigError
from core.model import Catalog, Objective, Ticket, TicketState, WriteBackKind
from mappings.rules import map_ticket, parse_rules
from syncer.catalog import parse_catalog
from syncer.plan import Plan
from tests.helpers.plan_helpers import (
    NOW,
    kr,
    label_rule,
    rules,
    run_plan,
    ticket,
)
from tests.helpers.store_apply import StoreApplier

Q3 = Cycle("Q3", date(2026, 7, 1), date(2026, 9, 30))
Q4 = Cycle("Q4", date(2026, 10, 1), date(2026, 12, 31))
Q1 = Cycle("Q1", date(2027, 1, 5), date(2027, 3, 31))


def test_current_is_marked_else_containing_today_else_last_started() -> None:
    assert current_cycle((Q3, Q4), date(2026, 11, 1)) == Q4
    assert current_cycle((Q3, replace(Q4, current=True)), date(2026, 8, 1)).id == "Q4"
    assert current_cycle((Q4, Q1), date(2027, 1, 2)) == Q4  # the gap: Q4 stays
    assert current_cycle((Q4, Q1), date(2025, 1, 1)) == Q4  # before every cycle: the first
    assert current_cycle((), date(2026, 11, 1)) is None


def test_overlaps_gaps_and_notes() -> None:
    wide = Cycle("Q4x", date(2026, 9, 15), date(2026, 12, 31))
    assert overlaps((Q3, wide)) == [(Q3, wide)] and overlaps((Q3, Q4, Q1)) == []
    assert gaps((Q3, Q4, Q1)) == [(Q4, Q1, 4)]
    notes = cycle_notes((Q4, Q1), date(2027, 1, 2))
    assert any("4 days between Q4" in n for n in notes)
    assert any("no cycle contains today" in n for n in notes)


def test_an_epic_ended_before_the_current_cycle_ran_in_its_own() -> None:
    assert ended_in((Q3, Q4), "Q4", date(2026, 9, 2)) == "Q3"
    assert ended_in((Q3, Q4), "Q4", date(2026, 10, 2)) is None
    assert ended_in((Q3, Q4), None, date(2026, 9, 2)) is None
    assert cycle_on((Q3, Q4), date(2026, 9, 30)) == Q3


def _catalog(current: str = "Q4") -> Catalog:
    objectives = (Objective("O-3", "Old", "Ana", "Q3"), Objective("O-4", "New", "Ana", "Q4"))
    return Catalog(objectives, (kr("KR-OLD", "O-3"), kr("KR-NEW", "O-4")), cycles=(Q3, Q4),
                   current_cycle=current)


def _old_rule() -> object:
    return replace(label_rule("r-old", "checkout", "KR-OLD"), cycles=("Q3",))


def _new_rule() -> object:
    return replace(label_rule("r-new", "checkout", "KR-NEW"), cycles=("Q4",))


def _shipped(key: str, labels: tuple[str, ...], day: date) -> object:
    t = ticket(key, labels, state=TicketState.DONE)
    when = NOW.replace(year=day.year, month=day.month, day=day.day)
    return replace(t, resolved=when, updated=when)  # type: ignore[type-var]


def test_open_and_ended_epics_map_in_their_cycles() -> None:
    cat = _catalog()
    ruleset = rules(_old_rule(), _new_rule())  # type: ignore[arg-type]
    open_epic = ticket("WEB-1", ("checkout",))
    assert [lk.kr_id for lk in map_ticket(open_epic, ruleset, cat).links] == ["KR-NEW"]
    ended = _shipped("WEB-2", ("checkout",), date(2026, 9, 1))
    assert [lk.kr_id for lk in map_ticket(ended, ruleset, cat).links] == ["KR-OLD"]  # type: ignore[arg-type]
    explicit = ticket("WEB-3", ("okr:KR-OLD",))
    mapping = map_ticket(explicit, ruleset, cat)
    assert mapping.links == () and mapping.broken == ()  # history, not broken
    why = {e.rule_id: e for e in mapping.explanations}
    assert why["r-old"].failed == "cycles" and not why["r-old"].matched


def test_rollover_plan_freezes_ended_epics_and_moves_open_ones() -> None:
    before = Catalog((Objective("O-3", "Old", "Ana", "Q3"),), (kr("KR-OLD", "O-3"),))
    tickets = [ticket("WEB-1", ("checkout",)), ticket("WEB-2", ("checkout", "legacy")),
               _shipped("WEB-3", ("checkout",), date(2026, 9, 1)),
               ticket("WEB-4", ("search",))]
    old_rules = rules(label_rule("r-old", "checkout", "KR-OLD"),
                      label_rule("r-search", "search", "KR-OLD"))
    first = run_plan(tickets, before, old_rules)  # type: ignore[arg-type]
    store = StoreApplier()
    try:
        _rollover(store, tickets, first)  # type: ignore[arg-type]
    finally:
        store.close()


def _rollover(store: StoreApplier, tickets: list[Ticket], first: Plan) -> None:
    tickets, applied = store.apply(tickets, first.writebacks, now=NOW)
    cat = _catalog()
    ruleset = rules(_old_rule(), replace(_new_rule(), labels_none=("legacy",)))  # type: ignore[arg-type]
    rolled = run_plan(tickets, cat, ruleset, applied, prior_bets=first.bets)
    kinds: dict[str, list[WriteBackKind]] = {}
    for wb in rolled.writebacks:
        kinds.setdefault(wb.ticket_key, []).append(wb.kind)
    assert "WEB-3" not in kinds  # ended in Q3: frozen, no write-back
    assert kinds["WEB-1"] == [WriteBackKind.ADD_LABEL, WriteBackKind.REMOVE_LABEL,
                              WriteBackKind.SET_GOAL_LINKS]
    moved = next(wb for wb in rolled.writebacks if wb.ticket_key == "WEB-1"
                 and wb.kind is WriteBackKind.SET_GOAL_LINKS)
    assert moved.previous == ("KR-OLD",) and moved.remote_ref == "ref-WEB-1"  # edited in place
    assert rolled.needs_kr == {"jira:WEB-2": ("KR-OLD",), "jira:WEB-4": ("KR-OLD",)}
    assert [lk.kr_id for lk in rolled.links if lk.ticket_key == "WEB-3"] == ["KR-OLD"]
    assert not [b for b in rolled.bets if b.ticket_key == "WEB-3"]  # its bet is unchanged
    tickets, applied = store.apply(tickets, rolled.writebacks, now=NOW)
    assert run_plan(tickets, cat, ruleset, applied).writebacks == ()


def test_a_frozen_epic_keeps_its_links_when_its_rules_are_gone() -> None:
    from core.model import AppliedGoalLinks, AppliedState

    cat = _catalog()
    ended = _shipped("WEB-3", (), date(2026, 9, 1))
    applied = AppliedState(goal_links={("jira", "WEB-3"): AppliedGoalLinks(("KR-OLD",), "c1")})
    result = run_plan([ended], cat, rules(_new_rule()), applied)  # type: ignore[list-item,arg-type]
    assert [lk.kr_id for lk in result.links] == ["KR-OLD"]
    assert result.links[0].rule_id == "cycle:Q3" and result.writebacks == ()


TEXT = """
[[cycle]]
id = "Q3"
start = 2026-07-01
end = 2026-09-30

[[cycle]]
id = "Q4"
start = 2026-10-01
end = 2026-12-31

[[objective]]
id = "O-3"
title = "Old"
owner = "Ana"
cycle = "Q3"
  [[objective.key_result]]
  id = "KR-OLD"
  title = "t"
  owner = "Ana"
  metric = "m"
  baseline = 1
  target = 2

[[objective]]
id = "O-4"
title = "New"
owner = "Ana"
cycle = "Q4"
  [[objective.key_result]]
  id = "KR-NEW"
  title = "t"
  owner = "Ana"
  metric = "m"
  baseline = 1
  target = 2
"""


def test_catalog_resolves_the_current_cycle_and_rules_default_to_it() -> None:
    cat = parse_catalog(tomllib.loads(TEXT), TEXT, today=date(2026, 11, 2))
    assert cat.current_cycle == "Q4" and cat.is_current("KR-NEW") and not cat.is_current("KR-OLD")
    text = '[[rule]]\nid = "r"\nkr = "KR-NEW"\nlabels_any = ["x"]\n'
    assert parse_rules(tomllib.loads(text), cat, text=text).rules[0].cycles == ("Q4",)
    earlier = parse_catalog(tomllib.loads(TEXT), TEXT, today=date(2026, 8, 2))
    with pytest.raises(ConfigError) as err:
        parse_rules(tomllib.loads(text), earlier, text=text)
    assert err.value.key == "rule[0].kr"


def test_a_catalog_without_cycles_behaves_as_before() -> None:
    plain = TEXT.split("[[objective]]", 1)[1]
    cat = parse_catalog(tomllib.loads("[[objective]]" + plain.replace('cycle = "Q4"',
                                                                      'cycle = "Q3"')))
    assert cat.current_cycle is None and cat.is_current("KR-OLD") and cat.is_current("KR-NEW")
    text = '[[rule]]\nid = "r"\nkr = "KR-OLD"\nlabels_any = ["x"]\n'
    assert parse_rules(tomllib.loads(text), cat).rules[0].cycles == ()
    late = replace(ticket("WEB-9", ("x",), state=TicketState.DONE),
                   updated=NOW - timedelta(days=400))
    assert [lk.kr_id for lk in map_ticket(late, parse_rules(tomllib.loads(text), cat),
                                          cat).links] == ["KR-OLD"]


def test_the_review_window_is_the_current_cycle() -> None:
    from syncer.rhythm.period import cycle_window

    window = cycle_window(_catalog(), date(2026, 11, 2))
    assert (window.label, window.start, window.end) == ("Q4", Q4.start, Q4.end)
    marked = replace(_catalog(), cycles=(Q3, replace(Q4, current=True)))
    assert cycle_window(marked, date(2026, 8, 2)).label == "Q4"  # an early rollover
    plain = Catalog((Objective("O-1", "t", "Ana", "2026-Q3"),), (kr("KR-1"),))
    assert cycle_window(plain, date(2026, 8, 2)).label == "2026-Q3"  # the calendar quarter
