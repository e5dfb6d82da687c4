"""A run's plan as values: what one batch of stored tickets needs (`BatchInputs`), what is
the same for every batch of a run (`Planner`), and what planning the batch decided
(`BatchPlan`): the write-backs to queue, the links, flags, bets and overrides that replace the
batch's range, the holds to release and the pending items to drop. Pure: the engine reads the
inputs from the store and applies each `BatchPlan` (`syncer.planning`); a dry run and
`okrsync plan --json` keep them (`RunPlan`) instead.

With `replan`, a real run's batch is planned with its pending write-backs included and
`syncer.replan.review` turns that plan into the one to keep (pull first, then decide).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from core.model import AppliedState, Bet, Catalog, GoalRef, Ticket
from mappings.rules import RuleSet
from syncer.plan import Mapper, Plan, PlanSettings, plan
from syncer.pull_verdict import PullVerdict
from syncer.replan import ReviewContext, review
from syncer.store_rows import KeyRange, OutboxItem, TicketId

PLAN_BATCH = 2000
"""Tickets planned at a time. The planner decides each ticket on its own, so planning in
batches gives the same plan while only one batch of tickets is held in memory."""


@dataclass(frozen=True)
class Planner:
    """What every batch of one run is planned with."""

    catalog: Catalog
    rules: RuleSet
    settings: PlanSettings
    mapper: Mapper
    healthy: frozenset[str]
    kr_values: Mapping[str, float]
    now: datetime
    replan: bool = False
    """Plan with the pending write-backs and re-plan them (a real run; a dry run does not)."""
    goals: Mapping[str, Mapping[str, GoalRef]] = field(default_factory=dict)
    """Per healthy source, the goal link of each KR (what re-planning compares against)."""


@dataclass(frozen=True)
class BatchInputs:
    """What the store holds for one range of tickets. The range after the last stored
    ticket has no tickets: planning it clears what tickets no longer stored had."""

    within: KeyRange
    tickets: Sequence[Ticket]
    applied: AppliedState
    prior_bets: Sequence[Bet] = ()
    pending: Sequence[OutboxItem] = ()
    held: frozenset[TicketId] = frozenset()


@dataclass(frozen=True)
class Drop:
    """A pending write-back the fresh plan no longer wants (journalled when applied)."""

    item_id: int
    key: str
    reason: str


@dataclass(frozen=True)
class BatchPlan:
    within: KeyRange
    plan: Plan
    drops: tuple[Drop, ...] = ()


def plan_batch(inputs: BatchInputs, planner: Planner) -> BatchPlan:
    """Plan one range of tickets; see the module docstring."""
    part = Plan() if not inputs.tickets else plan(
        inputs.tickets, planner.catalog, planner.rules, inputs.applied, now=planner.now,
        healthy_sources=planner.healthy, kr_values=planner.kr_values,
        prior_bets=inputs.prior_bets, settings=planner.settings, mapper=planner.mapper,
        keep_pending=planner.replan,
    )
    if not planner.replan or (not inputs.pending and not inputs.held):
        return BatchPlan(inputs.within, part)
    ctx = ReviewContext(
        tickets={(t.source, t.key): t for t in inputs.tickets},
        ledger_goals={k: (v.kr_ids, v.remote_ref) for k, v in inputs.applied.goal_links.items()},
        healthy=planner.healthy, held=inputs.held, goals=planner.goals,
        managed_prefix=planner.settings.managed_prefix, now=planner.now,
    )
    verdict = review(part, inputs.pending, ctx)
    keys = {item.id: item.writeback.key for item in inputs.pending}
    return BatchPlan(
        inputs.within,
        replace(part, writebacks=verdict.enqueue, overrides=verdict.overrides),
        tuple(Drop(item_id, keys[item_id], reason) for item_id, reason in verdict.drop),
    )


@dataclass
class PlanTotals:
    """What a run reports of its whole plan: counts only, so memory stays flat."""

    linked: int = 0
    untraceable: int = 0
    ktlo: int = 0
    broken: int = 0
    overrides: int = 0
    writebacks: int = 0

    def add(self, batch: BatchPlan) -> None:
        part = batch.plan
        self.linked += len({(lk.source, lk.ticket_key) for lk in part.links})
        self.untraceable += len(part.untraceable)
        self.ktlo += len(part.ktlo)
        self.broken += len(part.broken)
        self.overrides += len(part.overrides)
        self.writebacks += len(part.writebacks)


@dataclass(frozen=True)
class RunPlan:
    """A whole run's plan as one value: each source's pull verdict and every batch's plan.
    `to_json` is what `okrsync plan --json` prints (keys documented in docs/cli.md)."""

    sources: Mapping[str, PullVerdict]
    batches: tuple[BatchPlan, ...]

    def to_json(self) -> dict[str, Any]:
        parts = [b.plan for b in self.batches]
        return {
            "sources": {name: _plain(v) for name, v in sorted(self.sources.items())},
            "writebacks": [_json(wb.to_json()) for p in parts for wb in p.writebacks],
            "links": [_plain(lk) for p in parts for lk in p.links],
            "broken": [_plain(b) for p in parts for b in p.broken],
            "untraceable": sorted(u for p in parts for u in p.untraceable),
            "ktlo": sorted(u for p in parts for u in p.ktlo),
            "overrides": [_plain(o) for p in parts for o in p.overrides],
            "bets": [_plain(b) for p in parts for b in p.bets],
            "released_holds": [list(t) for p in parts for t in p.released_holds],
            "dropped": [{"writeback": d.key, "reason": d.reason}
                        for b in self.batches for d in b.drops],
        }


def _plain(value: Any) -> Any:
    """A dataclass as JSON-ready values: enums by value, datetimes in ISO form."""
    return _json(asdict(value))


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_scalar))


def _scalar(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(type(value).__name__)
