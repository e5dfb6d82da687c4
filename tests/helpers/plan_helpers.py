"""Builders for planner tests. "Apply, then plan again" goes through the real store
(`tests.helpers.store_apply`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from core.model import (
    AppliedState,
    Bet,
    Catalog,
    Direction,
    KeyResult,
    Objective,
    Ticket,
    TicketState,
)
from mappings.rules import Rule, RuleSet
from syncer.plan import Plan, PlanSettings, plan

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


def merge_bets(prior: Sequence[Bet], changed: Sequence[Bet]) -> list[Bet]:
    """What the store's bet table holds after upserting a plan's bets."""
    merged = {(b.source, b.ticket_key, b.kr_id): b for b in prior}
    merged.update({(b.source, b.ticket_key, b.kr_id): b for b in changed})
    return list(merged.values())
