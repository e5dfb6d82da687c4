"""Property tests of the planner: random catalogs, rules, tickets and ledgers, real rule engine.

The promises checked here are the ones people rely on: a second sync writes nothing, the
service only removes what it applied (never an `okr:` label), an overridden label is never
re-added, explicit labels always link, and an unhealthy source is never written to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from core.model import (
    AppliedGoalLinks,
    AppliedState,
    Bet,
    Catalog,
    Origin,
    Ticket,
    TicketState,
    WriteBack,
    WriteBackKind,
)
from mappings.rules import RuleSet
from syncer.plan import Plan, goal_ref, goals_digest
from tests.helpers.plan_helpers import (
    LATER,
    NOW,
    catalog,
    label_rule,
    merge_bets,
    rules,
    run_plan,
    ticket,
)
from tests.helpers.store_apply import StoreApplier

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
    pending: tuple[WriteBack, ...] = ()
    """The write-backs behind `applied.pending`, queued by an earlier run."""


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
    possible = {
        wb.key: wb for wb in (
            WriteBack(s, k, kind, label=lb if kind is not WriteBackKind.SET_GOAL_LINKS else "")
            for s, k in idents
            for lb in LEDGER_LABELS
            for kind in WriteBackKind
        )
    }
    pending = draw(st.sets(st.sampled_from(sorted(possible)), max_size=3)) if possible else set()
    applied = AppliedState(
        labels=frozenset(labels),
        goal_links=goal_links,
        overrides=frozenset(overrides),
        pending=frozenset(pending),
    )
    healthy = frozenset(draw(st.sets(st.sampled_from(SOURCES))))
    return World(tickets, cat, ruleset, applied, healthy,
                 tuple(possible[key] for key in sorted(pending)))


def plan_of(world: World) -> Plan:
    return run_plan(world.tickets, world.catalog, world.rules, world.applied, healthy=world.healthy)


FAST = settings(max_examples=150, deadline=None)


@FAST
@given(worlds(), st.booleans())
def test_applying_a_plan_then_planning_again_writes_nothing(world: World, forget: bool) -> None:
    first = plan_of(world)
    applier = StoreApplier()
    try:
        applier.seed(world.applied, world.pending, now=NOW)
        tickets, applied = applier.apply(world.tickets, first.writebacks, first.overrides,
                                         now=NOW, forget_overridden=forget)
    finally:
        applier.close()
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


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_every_plan_keeps_every_promise(world: World) -> None:
    """One generated world, every single-plan promise (each `check_*` names one)."""
    result = plan_of(world)
    check_only_labels_the_service_applied_are_removed_and_never_okr_labels(world, result)
    check_an_overridden_label_is_never_re_added(world, result)
    check_explicit_labels_naming_catalog_krs_always_link(world, result)
    check_unhealthy_sources_get_no_writes_overrides_or_untraceable_flags(world, result)
    check_write_backs_have_unique_keys_skip_pending_and_come_sorted(world, result)
    check_every_healthy_ticket_is_linked_ktlo_dropped_or_untraceable(world, result)
    check_goal_links_written_match_the_links(world, result)


def check_only_labels_the_service_applied_are_removed_and_never_okr_labels(
    world: World, result: Plan
) -> None:
    on_ticket = {(t.source, t.key, lb.casefold()) for t in world.tickets for lb in t.labels}
    overridden = {(s, k, lb.casefold()) for s, k, lb in world.applied.overrides}
    for wb in result.writebacks:
        if wb.kind is WriteBackKind.REMOVE_LABEL:
            assert (wb.source, wb.ticket_key, wb.label) in world.applied.labels
            assert (wb.source, wb.ticket_key, wb.label.casefold()) not in overridden
            assert not wb.label.casefold().startswith("okr:")
            assert (wb.source, wb.ticket_key, wb.label.casefold()) in on_ticket


def check_an_overridden_label_is_never_re_added(world: World, result: Plan) -> None:
    overridden = {(s, k, lb.casefold()) for s, k, lb in world.applied.overrides}
    overridden |= {(o.source, o.ticket_key, o.label.casefold()) for o in result.overrides}
    on_ticket = {(t.source, t.key, lb.casefold()) for t in world.tickets for lb in t.labels}
    for wb in result.writebacks:
        if wb.kind is WriteBackKind.ADD_LABEL:
            ident = (wb.source, wb.ticket_key, wb.label.casefold())
            assert ident not in overridden
            assert ident not in on_ticket
            assert (wb.source, wb.ticket_key, wb.label) not in world.applied.labels


def check_explicit_labels_naming_catalog_krs_always_link(world: World, result: Plan) -> None:
    linked = {(lk.source, lk.ticket_key, lk.kr_id) for lk in result.links}
    by_fold = {kr.id.casefold(): kr.id for kr in world.catalog.key_results}
    for t in world.tickets:
        for label in t.labels:
            if label.casefold().startswith("okr:") and label[4:].casefold() in by_fold:
                assert (t.source, t.key, by_fold[label[4:].casefold()]) in linked


def check_unhealthy_sources_get_no_writes_overrides_or_untraceable_flags(
    world: World, result: Plan
) -> None:
    assert all(wb.source in world.healthy for wb in result.writebacks)
    assert all(o.source in world.healthy for o in result.overrides)
    assert all(uid.split(":", 1)[0] in world.healthy for uid in result.untraceable)


def check_write_backs_have_unique_keys_skip_pending_and_come_sorted(
    world: World, result: Plan
) -> None:
    keys = [wb.key for wb in result.writebacks]
    assert len(keys) == len(set(keys))
    assert not set(keys) & world.applied.pending
    order = [(wb.source, wb.ticket_key) for wb in result.writebacks]
    assert order == sorted(order)


def check_every_healthy_ticket_is_linked_ktlo_dropped_or_untraceable(
    world: World, result: Plan
) -> None:
    linked = {f"{lk.source}:{lk.ticket_key}" for lk in result.links}
    for t in world.tickets:
        if t.source not in world.healthy:
            continue
        excused = t.uid in linked or t.uid in result.ktlo or t.state is TicketState.WONT_DO
        assert (t.uid in result.untraceable) is not excused


def check_goal_links_written_match_the_links(world: World, result: Plan) -> None:
    for wb in result.writebacks:
        if wb.kind is WriteBackKind.SET_GOAL_LINKS:
            want = [
                lk.kr_id
                for lk in result.links
                if (lk.source, lk.ticket_key) == (wb.source, wb.ticket_key)
            ]
            assert [g.kr_id for g in wb.goals] == want


class SyncMachine(RuleBasedStateMachine):
    """Many syncs in a row, with people editing labels, rules and the catalog changing and
    sources failing in between. Checks promises that only show over time."""

    def __init__(self) -> None:
        super().__init__()
        self.idents = [("jira", "WEB-1"), ("jira", "WEB-2"), ("github", "acme/app#4")]
        starting = (("checkout",), ("okr:KR-2", "billing"), ("search",))
        self.tickets = {
            ident: ticket(ident[1], labels, source=ident[0])
            for ident, labels in zip(self.idents, starting, strict=True)
        }
        self.catalog = catalog(*KRS)
        self.rules = rules(*(label_rule(lb, lb, k) for lb, k in zip(RULE_LABELS, KRS, strict=True)))
        self.applied = AppliedState()
        self.bets: list[Bet] = []
        self.healthy = frozenset(SOURCES)
        self.ever_added: set[tuple[str, str, str]] = set()
        self.ever_overridden: set[tuple[str, str, str]] = set()
        self.forget_overridden = False
        self.applier = StoreApplier()

    def teardown(self) -> None:
        self.applier.close()

    @initialize(forget=st.booleans())
    def ledger_policy(self, forget: bool) -> None:
        self.forget_overridden = forget

    @rule(ident=st.integers(0, 2), label=st.sampled_from(VOCABULARY))
    def person_adds_label(self, ident: int, label: str) -> None:
        t = self.tickets[self.idents[ident]]
        if label not in t.labels:
            self.tickets[self.idents[ident]] = replace(t, labels=(*t.labels, label))

    @rule(ident=st.integers(0, 2), data=st.data())
    def person_removes_label(self, ident: int, data: st.DataObject) -> None:
        t = self.tickets[self.idents[ident]]
        if t.labels:
            gone = data.draw(st.sampled_from(t.labels))
            self.tickets[self.idents[ident]] = replace(
                t, labels=tuple(lb for lb in t.labels if lb != gone)
            )

    @rule(ident=st.integers(0, 2))
    def person_removes_a_managed_label(self, ident: int) -> None:
        t = self.tickets[self.idents[ident]]
        managed = [lb for lb in t.labels if lb.casefold().startswith("goal:")]
        if managed:
            labels = tuple(lb for lb in t.labels if lb != managed[0])
            self.tickets[self.idents[ident]] = replace(t, labels=labels)

    @rule(ident=st.integers(0, 2), state=st.sampled_from(TicketState))
    def ticket_moves(self, ident: int, state: TicketState) -> None:
        self.tickets[self.idents[ident]] = replace(self.tickets[self.idents[ident]], state=state)

    @rule(krs=st.lists(st.sampled_from(KRS), unique=True))
    def catalog_changes(self, krs: list[str]) -> None:
        self.catalog = catalog(*krs)

    @rule(kr_ids=st.lists(st.sampled_from((*KRS, "KR-404")), min_size=3, max_size=3))
    def rules_change(self, kr_ids: list[str]) -> None:
        self.rules = rules(
            *(label_rule(lb, lb, k) for lb, k in zip(RULE_LABELS, kr_ids, strict=True))
        )

    @rule(healthy=st.sets(st.sampled_from(SOURCES)))
    def sources_health(self, healthy: set[str]) -> None:
        self.healthy = frozenset(healthy)

    @rule()
    def sync(self) -> None:
        tickets = list(self.tickets.values())
        result = run_plan(
            tickets,
            self.catalog,
            self.rules,
            self.applied,
            healthy=self.healthy,
            prior_bets=self.bets,
        )
        on_ticket = {(t.source, t.key, lb.casefold()) for t in tickets for lb in t.labels}
        known = {(s, k, lb.casefold()) for s, k, lb in self.applied.overrides}
        expected = {
            (s, k, lb)
            for s, k, lb in self.applied.labels
            if s in self.healthy and (s, k, lb.casefold()) not in on_ticket | known
        }
        assert {(o.source, o.ticket_key, o.label) for o in result.overrides} == expected
        self.ever_overridden |= expected
        for link in result.links:  # an override ends the service's own (rule) link for good
            label = (link.source, link.ticket_key, f"goal:{link.kr_id}")
            assert link.origin is Origin.LABEL or label not in self.ever_overridden
        for wb in result.writebacks:
            ident = (wb.source, wb.ticket_key, wb.label)
            if wb.kind is WriteBackKind.ADD_LABEL:
                assert ident not in self.ever_overridden, "re-added a label a person removed"
                self.ever_added.add(ident)
            elif wb.kind is WriteBackKind.REMOVE_LABEL:
                assert ident in self.ever_added, "removed a label the service never added"
        new_tickets, self.applied = self.applier.apply(
            tickets,
            result.writebacks,
            result.overrides,
            now=NOW,
            forget_overridden=self.forget_overridden,
        )
        self.tickets = {(t.source, t.key): t for t in new_tickets}
        self.bets = merge_bets(self.bets, result.bets)
        again = run_plan(
            new_tickets,
            self.catalog,
            self.rules,
            self.applied,
            healthy=self.healthy,
            prior_bets=self.bets,
            now=LATER,
        )
        assert again.writebacks == ()
        assert again.overrides == ()
        assert again.bets == ()


TestSyncMachine = SyncMachine.TestCase
TestSyncMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
