"""Planning the store, the shell half: read each batch's inputs, plan it (`syncer.batch_plan`,
pure), and apply the resulting value. No callbacks: `plan_batches` yields one `BatchPlan` at a
time and the caller decides what to do with it (queue and save it, or keep it for a dry run)
before the next batch is read, so only one batch of tickets is held in memory.

A batch is a range of (source, key): it reads only its own slice of the ledger, bets and
pending write-backs. The last batch covers the range after the last ticket, so what tickets
no longer stored had goes too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from core.model import Catalog, Ticket
from mappings.rules import RuleSet
from syncer.batch_plan import PLAN_BATCH, BatchInputs, BatchPlan, Planner, plan_batch
from syncer.decided import accepted_of, with_accepted
from syncer.plan import PlanSettings, goal_ref, rule_mapper
from syncer.store import Store
from syncer.store_ports import PlanReads, PlanWrites
from syncer.store_rows import KeyRange, TicketId


def make_planner(
    store: Store, catalog: Catalog, rules: RuleSet, settings: PlanSettings, *,
    healthy: frozenset[str], now: datetime, replan: bool,
) -> Planner:
    """The run-wide planning values: the rule mapper with accepted suggestions, KR values
    now, and (for re-planning) each healthy source's goal links."""
    mapper = with_accepted(rule_mapper(rules, catalog, managed_prefix=settings.managed_prefix),
                           accepted_of(store.decisions()))
    goals = {name: {kr.id: goal_ref(kr, catalog, settings.link_template(name))
                    for kr in catalog.key_results} for name in healthy} if replan else {}
    return Planner(catalog=catalog, rules=rules, settings=settings, mapper=mapper,
                   healthy=healthy, kr_values=store.kr_values(now), now=now, replan=replan,
                   goals=goals)


def read_batch(store: PlanReads, within: KeyRange, tickets: Sequence[Ticket], *,
               replan: bool) -> BatchInputs:
    """What planning `within` needs from the store."""
    return BatchInputs(
        within=within, tickets=tickets, applied=store.applied_state(within),
        prior_bets=store.bets(within) if tickets else (),
        pending=store.pending_within(within) if replan else (),
        held=store.held_tickets(within) if replan else frozenset(),
    )


def plan_batches(store: PlanReads, planner: Planner, *,
                 size: int = PLAN_BATCH) -> Iterator[BatchPlan]:
    """Every stored ticket's plan, one batch at a time, then the range after the last."""
    after: TicketId | None = None
    for batch in store.ticket_batches(size):
        within: KeyRange = (after, (batch[-1].source, batch[-1].key))
        yield plan_batch(read_batch(store, within, batch, replan=planner.replan), planner)
        after = within[1]
    yield plan_batch(read_batch(store, (after, None), (), replan=planner.replan), planner)


def apply_batch(store: PlanWrites, batch: BatchPlan, *, run_id: int,
                sources: frozenset[str], now: datetime) -> None:
    """Make a batch's plan the store's: drop what it no longer wants (journalled), queue its
    write-backs, replace its range's links, flags and bets for `sources`, release holds."""
    for drop in batch.drops:
        store.mark_dropped(drop.item_id, drop.reason, run_id, now=now)
    part = batch.plan
    store.enqueue(run_id, part.writebacks, now=now)
    store.save_plan_outcome(part.links, part.broken, part.bets, part.untraceable,
                            part.overrides, sources=sources, now=now, within=batch.within)
    if part.released_holds:
        store.release_holds(part.released_holds)
