"""A batch's plan is a value: built from plain inputs without a store, and it says every
store change it implies (queue, drop, replace the range), so a dry run and `plan --json` show
exactly what a real run applies."""

from __future__ import annotations

import json

from core.model import AppliedState, WriteBackKind
from syncer.batch_plan import BatchInputs, Planner, PlanTotals, RunPlan, plan_batch
from syncer.plan import rule_mapper
from syncer.pull_verdict import PullVerdict
from syncer.store_rows import OutboxItem
from tests.helpers.plan_helpers import NOW, SETTINGS, catalog, label_rule, rules, ticket
from tests.helpers.store_helpers import add_label

CAT = catalog("KR-1", "KR-2")
RULES = rules(label_rule("r1", "checkout", "KR-1"))


def planner(*, replan: bool) -> Planner:
    return Planner(catalog=CAT, rules=RULES, settings=SETTINGS,
                   mapper=rule_mapper(RULES, CAT), healthy=frozenset({"jira"}),
                   kr_values={}, now=NOW, replan=replan)


def test_a_batch_plans_the_write_backs_and_links_of_its_tickets() -> None:
    inputs = BatchInputs(within=(None, ("jira", "WEB-2")),
                         tickets=(ticket("WEB-1", ["checkout"]), ticket("WEB-2")),
                         applied=AppliedState())
    batch = plan_batch(inputs, planner(replan=False))
    assert batch.within == inputs.within and batch.drops == ()
    kinds = [(wb.ticket_key, wb.kind) for wb in batch.plan.writebacks]
    assert kinds == [("WEB-1", WriteBackKind.ADD_LABEL), ("WEB-1", WriteBackKind.SET_GOAL_LINKS)]
    assert [(lk.ticket_key, lk.kr_id) for lk in batch.plan.links] == [("WEB-1", "KR-1")]
    assert batch.plan.untraceable == {"jira:WEB-2"}


def test_re_planning_drops_a_pending_write_back_the_fresh_plan_no_longer_wants() -> None:
    stale = OutboxItem(id=7, writeback=add_label("goal:KR-2", key="WEB-9"), attempts=1)
    inputs = BatchInputs(within=(("jira", "WEB-2"), None), tickets=(),
                         applied=AppliedState(), pending=(stale,))
    batch = plan_batch(inputs, planner(replan=True))
    assert [(d.item_id, d.key) for d in batch.drops] == [(7, stale.writeback.key)]
    assert "no longer in the source's scope" in batch.drops[0].reason
    assert batch.plan.writebacks == ()
    kept = plan_batch(inputs, planner(replan=False))
    assert kept.drops == (), "a dry run re-plans nothing"


def test_the_run_plan_json_is_plain_stable_and_counts_agree_with_the_totals() -> None:
    inputs = BatchInputs(within=(None, None),
                         tickets=(ticket("WEB-1", ["checkout", "ktlo"]), ticket("WEB-2")),
                         applied=AppliedState())
    batch = plan_batch(inputs, planner(replan=False))
    run = RunPlan({"jira": PullVerdict(healthy=True)}, (batch,))
    data = run.to_json()
    assert json.loads(json.dumps(data)) == data, "only JSON values"
    assert list(data) == ["sources", "writebacks", "links", "broken", "untraceable", "ktlo",
                          "overrides", "bets", "released_holds", "dropped"]
    assert data["sources"]["jira"] == {"healthy": True, "reason": "", "warning": "",
                                       "forget_unseen": False, "complete_pull_done": False}
    assert data["links"][0] | {"origin": "rule"} == data["links"][0]
    assert data["untraceable"] == ["jira:WEB-2"] and data["ktlo"] == ["jira:WEB-1"]
    totals = PlanTotals()
    totals.add(batch)
    assert totals.writebacks == len(data["writebacks"]) == 2
    assert RunPlan({"jira": PullVerdict(healthy=True)}, (plan_batch(inputs, planner(
        replan=False)),)).to_json() == data, "the same inputs give the same JSON"
