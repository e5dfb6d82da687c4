"""Builders for planner tests and `simulate_apply`: what the outbox + store do with a plan,
as a pure function, so "apply, then plan again" can be checked without a database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from core.model import (
    AppliedGoalLinks,
    AppliedState,
    Bet,
    Catalog,
    Direction,
    KeyResult,
    Objective,
    Override,
    Ticket,
    TicketState,
    WriteBack,
    WriteBackKind,
)
from mappings.rules import Rule, RuleSet
from syncer.plan import Plan, PlanSettings, goals_digest, plan

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SETTINGS = PlanSettings(link_url_template="https://okrs.example/{objective_id}#{kr_id}")


def kr(kr_id: str, objective_id: str = "O-1", **kw: object) -> KeyResult:
    fields: dict[str, object] = {
        "title": f"{kr_id} title",
        "owner": "Dana Lee",
        "metric": "conversion",
        "unit": "%",
        "baseline": 40.0,
        "target": 60.0,
        "direction": Direction.UP,
    }
    fields.update(kw)
    return KeyResult(id=kr_id, objective_id=objective_id, **fields)  # type: ignore[arg-type]


def catalog(*kr_ids: str) -> Catalog:
    objectives = (Objective("O-1", "Grow revenue", "Ana", "2026-Q4"),)
    return Catalog(objectives, tuple(kr(k) for k in kr_ids))


def ticket(
    key: str = "WEB-1",
    labels: Iterable[str] = (),
    *,
    source: str = "jira",
    state: TicketState = TicketState.TODO,
    hypothesis: str | None = None,
    project: str = "WEB",
) -> Ticket:
    return Ticket(
        source=source,
        key=key,
        remote_id=f"id-{key}",
        url=f"https://tracker.example/{key}",
        title=f"Epic {key}",
        project=project,
        issue_type="Epic",
        labels=tuple(labels),
        state=state,
        updated=NOW,
        hypothesis=hypothesis,
    )


def label_rule(rule_id: str, label: str, kr_id: str, priority: int = 0) -> Rule:
    return Rule(id=rule_id, kr_id=kr_id, priority=priority, labels_any=(label,))


def rules(*items: Rule) -> RuleSet:
    return RuleSet(rules=tuple(items))


def run_plan(
    tickets: Sequence[Ticket],
    cat: Catalog,
    ruleset: RuleSet,
    applied: AppliedState | None = None,
    *,
    healthy: Iterable[str] = ("jira", "github"),
    kr_values: dict[str, float] | None = None,
    prior_bets: Sequence[Bet] = (),
    now: datetime = NOW,
    settings: PlanSettings = SETTINGS,
) -> Plan:
    return plan(
        tickets,
        cat,
        ruleset,
        applied or AppliedState(),
        now=now,
        healthy_sources=frozenset(healthy),
        kr_values=kr_values or {},
        prior_bets=prior_bets,
        settings=settings,
    )


def simulate_apply(
    tickets: Sequence[Ticket],
    applied: AppliedState,
    writebacks: Iterable[WriteBack],
    overrides: Iterable[Override] = (),
    *,
    forget_overridden: bool = False,
) -> tuple[list[Ticket], AppliedState]:
    """Apply write-backs the way connectors + `Store.mark_done` do, and record new overrides
    the way `Store.save_plan_outcome` does: the ledger label stays (the override wins), or,
    with `forget_overridden`, leaves the ledger — the planner must be right either way.

    Pending write-backs stay pending (they belong to an earlier run and are not re-applied).
    """
    labels_by_uid = {(t.source, t.key): list(t.labels) for t in tickets}
    ledger = set(applied.labels)
    goal_links = dict(applied.goal_links)
    for wb in writebacks:
        ident = (wb.source, wb.ticket_key)
        current = labels_by_uid.setdefault(ident, [])
        folded = {label.casefold() for label in current}
        if wb.kind is WriteBackKind.ADD_LABEL:
            if wb.label.casefold() not in folded:
                current.append(wb.label)
            ledger.add((*ident, wb.label))
        elif wb.kind is WriteBackKind.REMOVE_LABEL:
            labels_by_uid[ident] = [x for x in current if x.casefold() != wb.label.casefold()]
            ledger.discard((*ident, wb.label))
        else:
            goal_links[ident] = AppliedGoalLinks(
                kr_ids=tuple(g.kr_id for g in wb.goals),
                remote_ref=wb.remote_ref or f"ref-{wb.ticket_key}",
                digest=goals_digest(wb.goals),
            )
    new_tickets = [replace(t, labels=tuple(labels_by_uid[(t.source, t.key)])) for t in tickets]
    new_overrides = applied.overrides | {(o.source, o.ticket_key, o.label) for o in overrides}
    if forget_overridden:
        ledger -= new_overrides
    state = AppliedState(
        labels=frozenset(ledger),
        goal_links=goal_links,
        overrides=frozenset(new_overrides),
        pending=applied.pending,
    )
    return new_tickets, state


def merge_bets(prior: Sequence[Bet], changed: Sequence[Bet]) -> list[Bet]:
    """What the store's bet table holds after upserting a plan's bets."""
    merged = {(b.source, b.ticket_key, b.kr_id): b for b in prior}
    merged.update({(b.source, b.ticket_key, b.kr_id): b for b in changed})
    return list(merged.values())
