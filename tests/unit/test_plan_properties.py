"""Property tests of the planner: random catalogs, rules, tickets and ledgers, real rule engine.

The promises checked here are the ones people rely on: a second sync writes nothing, the
service only removes what it applied (never an `okr:` label), an overridden label is never
re-added, explicit labels always link, and an unhealthy source is never written to.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.rules import RuleSet
from syncer.model import (
    AppliedGoalLinks,
    AppliedState,
    Catalog,
    Ticket,
    TicketState,
    WriteBack,
    WriteBackKind,
)
from syncer.plan import Plan, goal_ref, goals_digest
from tests.helpers.plan_helpers import (
    LATER,
    catalog,
    label_rule,
    merge_bets,
    rules,
    run_plan,
    simulate_apply,
    ticket,
)

KRS = ("KR-1", "KR-2", "KR-3")
RULE_LABELS = ("checkout", "search", "billing")
SOURCES = ("jira", "github")
KEYS = ("WEB-1", "WEB-2", "WEB-3", "acme/app#4")
VOCABULARY = (
    *(f"okr:{k}" for k in KRS),
    "okr:kr-2",
    "OKR:KR-404",
    *(f"goal:{k}" for k in KRS),
    "goal:kr-1",
    "goal:KR-404",
    *RULE_LABELS,
    "ktlo",
    "KTLO-infra",
    "misc",
)
LEDGER_LABELS = (*(f"goal:{k}" for k in KRS), "goal:KR-404", "okr:KR-1")


@dataclass(frozen=True)
class World:
    tickets: list[Ticket]
    catalog: Catalog
    rules: RuleSet
    applied: AppliedState
    healthy: frozenset[str]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    cat = catalog(*draw(st.lists(st.sampled_from(KRS), unique=True)))
    rule_list = draw(
        st.lists(
            st.tuples(
                st.sampled_from(RULE_LABELS),
                st.sampled_from((*KRS, "KR-404")),
                st.integers(0, 2),
            ),
            max_size=4,
        )
    )
    ruleset = rules(*(label_rule(f"r{i}", lb, k, p) for i, (lb, k, p) in enumerate(rule_list)))
    idents = draw(
        st.lists(
            st.tuples(st.sampled_from(SOURCES), st.sampled_from(KEYS)), unique=True, max_size=5
        )
    )
    tickets = [
        ticket(
            key,
            draw(st.lists(st.sampled_from(VOCABULARY), unique=True, max_size=5)),
            source=source,
            state=draw(st.sampled_from(TicketState)),
            hypothesis=draw(st.sampled_from((None, "faster checkout"))),
        )
        for source, key in idents
    ]
    ledger = [(s, k, lb) for s, k in idents for lb in LEDGER_LABELS]
    labels = draw(st.sets(st.sampled_from(ledger))) if ledger else set()
    overrides = draw(st.sets(st.sampled_from(ledger))) if ledger else set()
    goal_links: dict[tuple[str, str], AppliedGoalLinks] = {}
    for ident in idents:
        if draw(st.booleans()):
            kr_ids = tuple(draw(st.lists(st.sampled_from(KRS), unique=True)))
            refs = [goal_ref(k, cat) for k in cat.key_results if k.id in kr_ids]
            digest = draw(st.sampled_from(("", "stale", goals_digest(refs))))
            goal_links[ident] = AppliedGoalLinks(kr_ids, "ref", digest)
    possible = [
        WriteBack(s, k, kind, label=lb if kind is not WriteBackKind.SET_GOAL_LINKS else "").key
        for s, k in idents
        for lb in LEDGER_LABELS
        for kind in WriteBackKind
    ]
    pending = draw(st.sets(st.sampled_from(possible), max_size=3)) if possible else set()
    applied = AppliedState(
        labels=frozenset(labels),
        goal_links=goal_links,
        overrides=frozenset(overrides),
        pending=frozenset(pending),
    )
    healthy = frozenset(draw(st.sets(st.sampled_from(SOURCES))))
    return World(tickets, cat, ruleset, applied, healthy)


def plan_of(world: World) -> Plan:
    return run_plan(world.tickets, world.catalog, world.rules, world.applied, healthy=world.healthy)


FAST = settings(max_examples=150, deadline=None)


@FAST
@given(worlds())
def test_applying_a_plan_then_planning_again_writes_nothing(world: World) -> None:
    first = plan_of(world)
    tickets, applied = simulate_apply(
        world.tickets, world.applied, first.writebacks, first.overrides
    )
    again = run_plan(
        tickets,
        world.catalog,
        world.rules,
        applied,
        healthy=world.healthy,
        prior_bets=merge_bets((), first.bets),
        now=LATER,
    )
    assert again.writebacks == ()
    assert again.overrides == ()
    assert again.bets == ()
    assert again.links == first.links
    assert again.untraceable == first.untraceable


@FAST
@given(worlds())
def test_only_labels_the_service_applied_are_removed_and_never_okr_labels(world: World) -> None:
    result = plan_of(world)
    on_ticket = {(t.source, t.key, lb.casefold()) for t in world.tickets for lb in t.labels}
    overridden = {(s, k, lb.casefold()) for s, k, lb in world.applied.overrides}
    for wb in result.writebacks:
        if wb.kind is WriteBackKind.REMOVE_LABEL:
            assert (wb.source, wb.ticket_key, wb.label) in world.applied.labels
            assert (wb.source, wb.ticket_key, wb.label.casefold()) not in overridden
            assert not wb.label.casefold().startswith("okr:")
            assert (wb.source, wb.ticket_key, wb.label.casefold()) in on_ticket


@FAST
@given(worlds())
def test_an_overridden_label_is_never_re_added(world: World) -> None:
    result = plan_of(world)
    overridden = {(s, k, lb.casefold()) for s, k, lb in world.applied.overrides}
    overridden |= {(o.source, o.ticket_key, o.label.casefold()) for o in result.overrides}
    on_ticket = {(t.source, t.key, lb.casefold()) for t in world.tickets for lb in t.labels}
    for wb in result.writebacks:
        if wb.kind is WriteBackKind.ADD_LABEL:
            ident = (wb.source, wb.ticket_key, wb.label.casefold())
            assert ident not in overridden
            assert ident not in on_ticket
            assert (wb.source, wb.ticket_key, wb.label) not in world.applied.labels


@FAST
@given(worlds())
def test_explicit_labels_naming_catalog_krs_always_link(world: World) -> None:
    result = plan_of(world)
    linked = {(lk.source, lk.ticket_key, lk.kr_id) for lk in result.links}
    by_fold = {kr.id.casefold(): kr.id for kr in world.catalog.key_results}
    for t in world.tickets:
        for label in t.labels:
            if label.casefold().startswith("okr:") and label[4:].casefold() in by_fold:
                assert (t.source, t.key, by_fold[label[4:].casefold()]) in linked


@FAST
@given(worlds())
def test_unhealthy_sources_get_no_writes_overrides_or_untraceable_flags(world: World) -> None:
    result = plan_of(world)
    assert all(wb.source in world.healthy for wb in result.writebacks)
    assert all(o.source in world.healthy for o in result.overrides)
    assert all(uid.split(":", 1)[0] in world.healthy for uid in result.untraceable)


@FAST
@given(worlds())
def test_write_backs_have_unique_keys_skip_pending_and_come_sorted(world: World) -> None:
    result = plan_of(world)
    keys = [wb.key for wb in result.writebacks]
    assert len(keys) == len(set(keys))
    assert not set(keys) & world.applied.pending
    order = [(wb.source, wb.ticket_key) for wb in result.writebacks]
    assert order == sorted(order)


@FAST
@given(worlds())
def test_every_healthy_ticket_is_linked_ktlo_dropped_or_untraceable(world: World) -> None:
    result = plan_of(world)
    linked = {f"{lk.source}:{lk.ticket_key}" for lk in result.links}
    for t in world.tickets:
        if t.source not in world.healthy:
            continue
        excused = t.uid in linked or t.uid in result.ktlo or t.state is TicketState.WONT_DO
        assert (t.uid in result.untraceable) is not excused


@FAST
@given(worlds())
def test_goal_links_written_match_the_links(world: World) -> None:
    result = plan_of(world)
    for wb in result.writebacks:
        if wb.kind is WriteBackKind.SET_GOAL_LINKS:
            want = [
                lk.kr_id
                for lk in result.links
                if (lk.source, lk.ticket_key) == (wb.source, wb.ticket_key)
            ]
            assert [g.kr_id for g in wb.goals] == want
