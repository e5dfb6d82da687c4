from __future__ import annotations

from dataclasses import replace

import pytest

from core.model import (
    AppliedGoalLinks,
    AppliedState,
    BrokenLink,
    Link,
    Origin,
    Ticket,
    TicketState,
    WriteBack,
    WriteBackKind,
)
from syncer.plan import goal_ref, goals_digest, plan
from tests.helpers.plan_helpers import (
    NOW,
    SETTINGS,
    catalog,
    kr,
    label_rule,
    rules,
    run_plan,
    ticket,
)
from tests.helpers.store_apply import StoreApplier

ADD, REMOVE, SET = (
    WriteBackKind.ADD_LABEL,
    WriteBackKind.REMOVE_LABEL,
    WriteBackKind.SET_GOAL_LINKS,
)
CAT = catalog("KR-1", "KR-2")
RULES = rules(label_rule("checkout", "checkout", "KR-1"), label_rule("search", "search", "KR-2"))


def kinds(writebacks: tuple[WriteBack, ...]) -> list[tuple[str, str, str]]:
    return [(wb.ticket_key, wb.kind.value, wb.label) for wb in writebacks]


def linked(ticket_key: str, *kr_ids: str) -> AppliedState:
    """The ledger after the service linked `ticket_key` to `kr_ids` (labels + goal links)."""
    goals = tuple(goal_ref(kr(k), CAT, SETTINGS.link_url_template) for k in kr_ids)
    return AppliedState(
        labels=frozenset(("jira", ticket_key, f"goal:{k}") for k in kr_ids),
        goal_links={("jira", ticket_key): AppliedGoalLinks(kr_ids, "ref-1", goals_digest(goals))},
    )


def test_a_rule_link_gets_its_managed_label_and_one_goal_links_write() -> None:
    result = run_plan([ticket("WEB-1", ["checkout"])], CAT, RULES)
    assert [(lk.kr_id, lk.origin, lk.rule_id) for lk in result.links] == [
        ("KR-1", Origin.RULE, "checkout")
    ]
    assert kinds(result.writebacks) == [("WEB-1", "add_label", "goal:KR-1"), ("WEB-1", SET, "")]
    goals = result.writebacks[1].goals
    assert len(goals) == 1
    assert goals[0].kr_id == "KR-1"
    assert goals[0].objective_title == "Grow revenue"
    assert goals[0].owner == "Dana Lee"
    assert goals[0].target == "40 → 60 %"
    assert goals[0].url == "https://okrs.example/O-1#KR-1"
    assert result.writebacks[1].previous == ()
    assert result.writebacks[1].ticket_title == "Epic WEB-1"
    assert result.untraceable == frozenset()


def test_second_plan_after_applying_makes_no_writes() -> None:
    tickets = [ticket("WEB-1", ["checkout"]), ticket("WEB-2", ["okr:kr-2"])]
    first = run_plan(tickets, CAT, RULES)
    assert len(first.writebacks) == 4
    applier = StoreApplier()
    try:
        tickets2, applied = applier.apply(tickets, first.writebacks, now=NOW)
    finally:
        applier.close()
    again = run_plan(tickets2, CAT, RULES, applied)
    assert again.writebacks == ()
    assert again.links == first.links


def test_explicit_label_wins_over_rules_and_uses_the_catalog_spelling() -> None:
    result = run_plan([ticket("WEB-1", ["checkout", "OKR:kr-2"])], CAT, RULES)
    assert [(lk.kr_id, lk.origin) for lk in result.links] == [("KR-2", Origin.LABEL)]
    assert ("WEB-1", "add_label", "goal:KR-2") in kinds(result.writebacks)


def test_a_kr_leaving_the_catalog_removes_our_label_and_ends_the_goal_links() -> None:
    t = ticket("WEB-1", ["search", "goal:KR-2"])
    result = run_plan([t], catalog("KR-1"), RULES, linked("WEB-1", "KR-2"))
    assert kinds(result.writebacks) == [("WEB-1", "remove_label", "goal:KR-2"), ("WEB-1", SET, "")]
    ended = result.writebacks[1]
    assert ended.goals == ()
    assert ended.previous == ("KR-2",)
    assert ended.remote_ref == "ref-1"
    assert result.untraceable == {"jira:WEB-1"}


def test_a_rule_change_moves_the_link_and_cleans_up_the_old_one() -> None:
    t = ticket("WEB-1", ["checkout", "goal:KR-1"])
    moved = rules(label_rule("checkout", "checkout", "KR-2"))
    result = run_plan([t], CAT, moved, linked("WEB-1", "KR-1"))
    assert kinds(result.writebacks) == [
        ("WEB-1", "add_label", "goal:KR-2"),
        ("WEB-1", "remove_label", "goal:KR-1"),
        ("WEB-1", SET, ""),
    ]
    assert [g.kr_id for g in result.writebacks[2].goals] == ["KR-2"]
    assert result.writebacks[2].previous == ("KR-1",)


def test_a_managed_label_removed_by_a_person_is_an_override_never_re_added() -> None:
    t = ticket("WEB-1", ["checkout"])  # goal:KR-1 was ours; a person took it off
    result = run_plan([t], CAT, RULES, linked("WEB-1", "KR-1"))
    assert [(o.label, o.kr_id, o.at) for o in result.overrides] == [("goal:KR-1", "KR-1", NOW)]
    assert result.links == ()
    assert kinds(result.writebacks) == [("WEB-1", SET, "")]
    assert result.writebacks[0].goals == ()
    assert result.untraceable == {"jira:WEB-1"}

    applier = StoreApplier()
    try:
        applier.seed(linked("WEB-1", "KR-1"), (), now=NOW)
        tickets, applied = applier.apply([t], result.writebacks, result.overrides, now=NOW)
    finally:
        applier.close()
    again = run_plan(tickets, CAT, RULES, applied)
    assert again.writebacks == ()
    assert again.overrides == ()


def test_an_override_keeps_other_goal_links_and_explicit_labels_still_link() -> None:
    # Linked to KR-1 and KR-2 explicitly; a person removed goal:KR-1.
    t = ticket("WEB-1", ["okr:KR-1", "okr:KR-2", "goal:KR-2"])
    result = run_plan([t], CAT, RULES, linked("WEB-1", "KR-1", "KR-2"))
    assert [o.label for o in result.overrides] == ["goal:KR-1"]
    assert [lk.kr_id for lk in result.links] == ["KR-1", "KR-2"]  # explicit labels win
    assert all(wb.kind is not ADD for wb in result.writebacks)
    assert result.writebacks == ()  # goal links already show both


def test_an_overridden_kr_stays_off_after_the_rule_changes_and_back() -> None:
    applied = replace(
        linked("WEB-1", "KR-1"),
        overrides=frozenset({("jira", "WEB-1", "goal:KR-1")}),
        labels=frozenset(),
    )
    t = ticket("WEB-1", ["checkout"])
    result = run_plan([t], CAT, RULES, applied)
    assert all(wb.label != "goal:KR-1" for wb in result.writebacks)
    assert result.overrides == ()


def test_a_label_a_person_put_back_after_an_override_is_theirs_not_ours() -> None:
    applied = replace(
        linked("WEB-1", "KR-1"), overrides=frozenset({("jira", "WEB-1", "goal:KR-1")})
    )
    t = ticket("WEB-1", ["search", "goal:KR-1"])  # re-added by hand; the rule now says KR-2
    result = run_plan([t], CAT, RULES, applied)
    assert ("WEB-1", "remove_label", "goal:KR-1") not in kinds(result.writebacks)
    assert ("WEB-1", "add_label", "goal:KR-2") in kinds(result.writebacks)


def test_a_managed_label_a_person_added_is_neither_added_nor_claimed_nor_removed() -> None:
    t = ticket("WEB-1", ["checkout", "goal:KR-1", "goal:KR-2"])
    result = run_plan([t], CAT, RULES)
    assert kinds(result.writebacks) == [("WEB-1", SET, "")]  # no add, no remove of KR-2


def test_labels_outside_the_ledger_and_explicit_labels_are_never_removed() -> None:
    # A ledger wrongly claiming an okr: label must still not remove it; goal:KR-2 is not ours.
    t = ticket("WEB-1", ["okr:KR-9", "goal:KR-2"])
    applied = AppliedState(labels=frozenset({("jira", "WEB-1", "okr:KR-9")}))
    result = run_plan([t], CAT, RULES, applied)
    assert all(wb.kind is not REMOVE for wb in result.writebacks)
    assert result.broken == (BrokenLink("jira", "WEB-1", "okr:KR-9", "KR-9"),)
    gone = run_plan([ticket("WEB-1", [])], CAT, RULES, applied)
    assert gone.overrides == ()  # a person removing their own okr: label is no override


def test_pending_write_backs_are_not_planned_twice() -> None:
    t = ticket("WEB-1", ["checkout"])
    first = run_plan([t], CAT, RULES)
    pending = frozenset(wb.key for wb in first.writebacks)
    result = run_plan([t], CAT, RULES, AppliedState(pending=pending))
    assert result.writebacks == ()
    assert [lk.kr_id for lk in result.links] == ["KR-1"]


def test_our_own_pending_removal_is_not_mistaken_for_an_override() -> None:
    t = ticket("WEB-1", [])  # goal:KR-1 removed by our write-back, not marked done yet
    remove = WriteBack("jira", "WEB-1", REMOVE, label="goal:KR-1")
    applied = replace(linked("WEB-1", "KR-1"), pending=frozenset({remove.key}))
    result = run_plan([t], CAT, RULES, applied)
    assert result.overrides == ()


def test_unhealthy_sources_are_linked_but_get_no_writes_overrides_or_flags() -> None:
    tickets = [
        ticket("acme/app#1", ["search"], source="github"),
        ticket("acme/app#2", [], source="github"),  # would be untraceable
        ticket("acme/app#3", ["checkout"], source="github"),  # goal:KR-1 "removed"
    ]
    applied = replace(
        linked("WEB-9", "KR-9"), labels=frozenset({("github", "acme/app#3", "goal:KR-1")})
    )
    result = run_plan(tickets, CAT, RULES, applied, healthy={"jira"})
    assert [lk.kr_id for lk in result.links] == ["KR-2", "KR-1"]
    assert result.writebacks == ()
    assert result.overrides == ()
    assert result.untraceable == frozenset()


def test_ktlo_and_wont_do_tickets_are_not_untraceable() -> None:
    tickets = [
        ticket("WEB-1", ["KTLO"]),
        ticket("WEB-2", ["ops"], state=TicketState.WONT_DO),
        ticket("WEB-3", ["ops"]),
        ticket("WEB-4", ["Maintenance", "checkout"]),  # linked and ktlo: both
    ]
    settings = replace(SETTINGS, ktlo=("ktlo", "maint*"))
    result = run_plan(tickets, CAT, RULES, settings=settings)
    assert result.ktlo == {"jira:WEB-1", "jira:WEB-4"}
    assert [lk.ticket_key for lk in result.links] == ["WEB-4"]
    assert result.untraceable == {"jira:WEB-3"}


def test_goal_text_change_rewrites_goal_links_but_an_unknown_digest_does_not() -> None:
    t = ticket("WEB-1", ["checkout", "goal:KR-1"])
    retargeted = catalog("KR-2")
    retargeted = replace(retargeted, key_results=(kr("KR-1", target=70.0), kr("KR-2")))
    result = run_plan([t], retargeted, RULES, linked("WEB-1", "KR-1"))
    assert kinds(result.writebacks) == [("WEB-1", SET, "")]
    assert result.writebacks[0].goals[0].target == "40 → 70 %"

    unknown = replace(
        linked("WEB-1", "KR-1"),
        goal_links={("jira", "WEB-1"): AppliedGoalLinks(("KR-1",), "ref-1", "")},
    )
    assert run_plan([t], retargeted, RULES, unknown).writebacks == ()


def test_never_linked_and_still_unlinked_tickets_get_no_write_back() -> None:
    result = run_plan([ticket("WEB-1", ["ops"])], CAT, RULES)
    assert result.writebacks == ()
    empty = AppliedState(goal_links={("jira", "WEB-1"): AppliedGoalLinks(())})
    assert run_plan([ticket("WEB-1", ["ops"])], CAT, RULES, empty).writebacks == ()


def test_output_is_deterministic_and_duplicates_collapse_to_the_latest_ticket() -> None:
    a = ticket("WEB-2", ["checkout"])
    b = ticket("WEB-1", ["search"])
    c = ticket("acme/app#1", ["okr:KR-1"], source="github")
    stale = replace(a, labels=("search",), updated=NOW.replace(year=2025))
    forward = run_plan([a, b, c, stale], CAT, RULES)
    backward = run_plan([stale, c, b, a], CAT, RULES)
    assert forward == backward
    keys = [(wb.source, wb.ticket_key) for wb in forward.writebacks]
    assert keys == sorted(keys)
    assert [lk.kr_id for lk in forward.links if lk.ticket_key == "WEB-2"] == ["KR-1"]


def test_broken_explicit_labels_are_reported_not_linked() -> None:
    result = run_plan([ticket("WEB-1", ["okr:KR-404"])], CAT, RULES)
    assert result.broken == (BrokenLink("jira", "WEB-1", "okr:KR-404", "KR-404"),)
    assert result.links == ()
    assert result.untraceable == {"jira:WEB-1"}


def test_a_custom_mapper_replaces_the_rule_engine() -> None:
    def mapper(t: Ticket) -> tuple[tuple[Link, ...], tuple[BrokenLink, ...]]:
        links = (
            Link(t.source, t.key, "KR-2", Origin.RULE, rule_id="stub"),
            Link(t.source, t.key, "KR-77", Origin.RULE, rule_id="stub"),
        )
        return links, ()

    result = plan(
        [ticket("WEB-1")],
        CAT,
        None,
        AppliedState(),
        now=NOW,
        healthy_sources=frozenset(),
        kr_values={},
        prior_bets=(),
        settings=SETTINGS,
        mapper=mapper,
    )
    assert [lk.kr_id for lk in result.links] == ["KR-2"]
    assert result.broken == (BrokenLink("jira", "WEB-1", "", "KR-77"),)


def test_plan_needs_rules_or_a_mapper() -> None:
    with pytest.raises(ValueError, match="rules or a mapper"):
        plan(
            [],
            CAT,
            None,
            AppliedState(),
            now=NOW,
            healthy_sources=frozenset(),
            kr_values={},
            prior_bets=(),
        )


def test_url_templates_keep_unknown_placeholders() -> None:
    ref = goal_ref(kr("KR-1"), CAT, "https://x/{objective_id}/{kr_id}?c={cycle}")
    assert ref.url == "https://x/O-1/KR-1?c={cycle}"
    assert goal_ref(kr("KR-1"), CAT).url == ""


def test_goals_digest_ignores_order_but_not_text() -> None:
    one, two = goal_ref(kr("KR-1"), CAT), goal_ref(kr("KR-2"), CAT)
    assert goals_digest([one, two]) == goals_digest([two, one])
    assert goals_digest([one]) != goals_digest([replace(one, target="1 → 2")])
