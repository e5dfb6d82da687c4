"""Re-planning pending write-backs against the fresh pull (`syncer.replan`), as pure functions:
the planner's output with pending keys kept, then the verdict on each pending item."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from core.model import AppliedGoalLinks, AppliedState, Ticket, WriteBack, WriteBackKind
from syncer.parking import RetryPolicy, after_refusal
from syncer.plan import Plan, goal_ref, plan
from syncer.replan import Review, ReviewContext, removed_after_lost, review
from syncer.store_rows import OutboxItem
from tests.helpers.plan_helpers import NOW, SETTINGS, catalog, label_rule, rules, ticket

CAT = catalog("KR-1", "KR-2")
RULES = rules(label_rule("r1", "checkout", "KR-1"), label_rule("r2", "search", "KR-2"))
GOALS = {k.id: goal_ref(k, CAT, SETTINGS.link_url_template) for k in CAT.key_results}


def add(label: str, key: str = "WEB-1") -> WriteBack:
    return WriteBack("jira", key, WriteBackKind.ADD_LABEL, label=label)


def item(wb: WriteBack, item_id: int = 1, **kw: object) -> OutboxItem:
    fields: dict[str, object] = {"attempts": 1, "updated_at": NOW}
    fields.update(kw)
    return OutboxItem(id=item_id, writeback=wb, **fields)  # type: ignore[arg-type]


def verdict(tickets: list[Ticket], pending: list[OutboxItem],
            applied: AppliedState | None = None, *, held: frozenset[tuple[str, str]] = frozenset(),
            healthy: frozenset[str] = frozenset({"jira"})) -> tuple[Plan, Review]:
    state = applied or AppliedState()
    state = replace(state, pending=frozenset(p.writeback.key for p in pending))
    part = plan(tickets, CAT, RULES, state, now=NOW, healthy_sources=healthy, kr_values={},
                prior_bets=(), settings=SETTINGS, keep_pending=True)
    ctx = ReviewContext(
        tickets={(t.source, t.key): t for t in tickets},
        ledger_goals={k: (v.kr_ids, v.remote_ref) for k, v in state.goal_links.items()},
        healthy=healthy, held=held, goals={"jira": GOALS}, managed_prefix="goal:", now=NOW,
    )
    return part, review(part, pending, ctx)


def test_a_pending_write_the_plan_still_wants_is_kept_and_not_queued_twice() -> None:
    part, out = verdict([ticket(labels=["checkout"])], [item(add("goal:KR-1"))])
    assert add("goal:KR-1") in part.writebacks  # the plan wants it ...
    assert out.drop == () and add("goal:KR-1") not in out.enqueue  # ... the pending one stays
    assert [w.kind for w in out.enqueue] == [WriteBackKind.SET_GOAL_LINKS]


def test_a_pending_add_the_plan_no_longer_wants_is_dropped() -> None:
    _, out = verdict([ticket(labels=["search"])], [item(add("goal:KR-1"), 7)])
    assert out.drop == ((7, "dropped: the fresh plan no longer adds this label"),)
    assert add("goal:KR-1") not in out.enqueue


def test_a_pending_add_whose_label_is_already_there_is_kept_to_confirm_it() -> None:
    _, out = verdict([ticket(labels=["checkout", "goal:KR-1"])], [item(add("goal:KR-1"))])
    assert out.drop == () and out.overrides == ()


def test_a_person_removing_the_label_after_a_lost_answer_is_their_override() -> None:
    changed = replace(ticket(labels=["checkout"]), updated=NOW + timedelta(minutes=5))
    lost = item(add("goal:KR-1"), 3, outcome_unknown=True)

    def found(t: Ticket, i: OutboxItem, **kw: object) -> list[tuple[int, str, str]]:
        options: dict[str, object] = {"healthy": {"jira"}, "held": set()}
        options.update(kw)
        return [(it.id, o.label, o.kr_id) for it, o in removed_after_lost(
            [i], {("jira", t.key): t}, managed_prefix="goal:", now=NOW,
            **options)]  # type: ignore[arg-type]

    assert found(changed, lost) == [(3, "goal:KR-1", "KR-1")]
    # ... but not when the ticket has not changed since, the answer was not lost, the label
    # is there, the source is unhealthy or the ticket is held:
    assert found(ticket(labels=["checkout"]), lost) == []
    assert found(changed, item(add("goal:KR-1"))) == []
    assert found(replace(changed, labels=("checkout", "goal:KR-1")), lost) == []
    assert found(changed, lost, healthy=set()) == []
    assert found(changed, lost, held={("jira", "WEB-1")}) == []


def test_a_pending_remove_is_kept_when_done_and_dropped_when_the_label_is_wanted_again() -> None:
    remove = WriteBack("jira", "WEB-1", WriteBackKind.REMOVE_LABEL, label="goal:KR-1")
    ours = AppliedState(labels=frozenset({("jira", "WEB-1", "goal:KR-1")}))
    assert verdict([ticket(labels=[])], [item(remove)], ours)[1].drop == ()
    wanted_again = verdict([ticket(labels=["checkout", "goal:KR-1"])], [item(remove, 4)], ours)
    assert wanted_again[1].drop == ((4, "dropped: the fresh plan keeps this label"),)


def test_a_stale_goal_links_write_is_rederived_and_ends_what_it_may_have_written() -> None:
    stale = WriteBack("jira", "WEB-1", WriteBackKind.SET_GOAL_LINKS,
                      goals=(GOALS["KR-1"], GOALS["KR-2"]), remote_ref="c-9")
    ledger = AppliedState(
        labels=frozenset({("jira", "WEB-1", "goal:KR-2")}),
        goal_links={("jira", "WEB-1"): AppliedGoalLinks(("KR-2",), None, "")})
    _, out = verdict([ticket(labels=["search", "goal:KR-2"])], [item(stale)], ledger)
    rederived = [w for w in out.enqueue if w.kind is WriteBackKind.SET_GOAL_LINKS]
    assert len(rederived) == 1 and out.drop == ()
    assert [g.kr_id for g in rederived[0].goals] == ["KR-2"]
    assert set(rederived[0].previous) == {"KR-1", "KR-2"} and rederived[0].remote_ref == "c-9"
    assert rederived[0].key == stale.key and rederived[0].digest != stale.digest


def test_a_ticket_no_longer_stored_drops_its_pending_items() -> None:
    _, out = verdict([], [item(add("goal:KR-1", "WEB-9"), 5)])
    assert out.drop == ((5, "dropped: the ticket is no longer in the source's scope"),)


def test_held_tickets_unhealthy_sources_and_revert_items_are_left_alone() -> None:
    held = frozenset({("jira", "WEB-1")})
    part, out = verdict([ticket(labels=["search"])], [item(add("goal:KR-1"))], held=held)
    assert part.writebacks and out.enqueue == () and out.drop == ()
    assert verdict([], [item(add("goal:KR-1"))], healthy=frozenset())[1].drop == ()
    revert = WriteBack("jira", "WEB-1", WriteBackKind.REMOVE_GOAL_LINKS, previous=("KR-1",))
    assert verdict([ticket(labels=["search"])], [item(revert)])[1].drop == ()


def test_held_tickets_record_no_override() -> None:
    ours = AppliedState(labels=frozenset({("jira", "WEB-1", "goal:KR-1")}))
    part, out = verdict([ticket(labels=[])], [], ours, held=frozenset({("jira", "WEB-1")}))
    assert part.overrides and out.overrides == () and out.enqueue == ()


def test_refusals_back_off_doubling_then_park() -> None:
    policy = RetryPolicy(park_after=3, backoff_seconds=60)
    assert after_refusal(1, NOW, policy).next_attempt_at == NOW + timedelta(seconds=60)
    assert after_refusal(2, NOW, policy).next_attempt_at == NOW + timedelta(seconds=120)
    assert after_refusal(3, NOW, policy).park
    assert after_refusal(1, NOW, RetryPolicy(backoff_seconds=0)).next_attempt_at is None
    long = after_refusal(40, NOW, RetryPolicy(park_after=99, backoff_seconds=900))
    assert long.next_attempt_at == NOW + timedelta(days=1)
