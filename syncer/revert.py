"""Undoing one run: the inverse of its journal, applied through the same outbox.

The inverse is computed from the journal's `before` state and what the ledger says now, so a
revert never fights people: a label the run added that a person has since removed is left
alone, as is a label a person re-added after the run removed it. Reverting after a bad rule
change is the intended use.

A revert stays reverted: each ticket it touched is held, so the next syncs plan nothing for it
until a rule or the ticket changes what it maps to (then the sync plans it as usual), or
`okrsync revert --release RUN_ID` lifts the holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import ExitCode, UserError
from core.model import AppliedState, Catalog, WriteBack, WriteBackKind
from syncer.config import Config
from syncer.inputs import resolve_inputs
from syncer.outbox import apply_pending
from syncer.plan import Mapper, goal_ref, rule_mapper
from syncer.run_context import (
    RunDeps,
    locked_store,
    open_connectors,
    per_source_scope,
    recorded_run,
)
from syncer.store import JournalRow, Store


@dataclass
class RevertOutcome:
    run_id: int
    dry_run: bool
    planned: list[WriteBack] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    applied: int = 0
    pending: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    held: int = 0

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILURES if (self.failed or self.pending) else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "dry_run": self.dry_run,
            "planned": [wb.to_json() for wb in self.planned], "left_alone": self.left_alone,
            "applied": self.applied, "pending": self.pending,
            "failed": [{"writeback": k, "error": e} for k, e in self.failed],
            "held": self.held,
            "exit_code": int(self.exit_code),
        }


def inverse_writebacks(
    journal: list[JournalRow], applied: AppliedState, catalog: Catalog, *,
    link_templates: Mapping[str, str] | None = None,
) -> tuple[list[WriteBack], list[str]]:
    """Pure: the write-backs that undo a run, newest first, and what is left alone and why."""
    undo: list[WriteBack] = []
    left_alone: list[str] = []
    seen_goal_tickets: set[tuple[str, str]] = set()
    for row in reversed(journal):
        wb, before = row.writeback, row.before
        if row.result.status.value != "applied":
            continue
        where = f"{wb.source} {wb.ticket_key}"
        if wb.kind is WriteBackKind.ADD_LABEL:
            if before.get("label_present"):
                continue
            if (wb.source, wb.ticket_key, wb.label) in applied.overrides:
                left_alone.append(f"{where}: {wb.label} was already removed by a person")
            elif (wb.source, wb.ticket_key, wb.label) in applied.labels:
                undo.append(WriteBack(wb.source, wb.ticket_key, WriteBackKind.REMOVE_LABEL,
                                      label=wb.label, ticket_title=wb.ticket_title))
        elif wb.kind is WriteBackKind.REMOVE_LABEL:
            if before.get("label_present") is False:
                continue
            undo.append(WriteBack(wb.source, wb.ticket_key, WriteBackKind.ADD_LABEL,
                                  label=wb.label, ticket_title=wb.ticket_title))
        else:
            ticket = (wb.source, wb.ticket_key)
            if ticket in seen_goal_tickets:
                continue  # the oldest goal-links write of the run holds the state before it
            earlier = [r for r in journal if (r.writeback.source, r.writeback.ticket_key) == ticket
                       and r.writeback.kind in (WriteBackKind.SET_GOAL_LINKS,
                                                WriteBackKind.REMOVE_GOAL_LINKS)]
            seen_goal_tickets.add(ticket)
            first_before = earlier[0].before.get("goal_links") if earlier else None
            now = applied.goal_links.get(ticket)
            current = now.kr_ids if now else ()
            ref = now.remote_ref if now else wb.remote_ref
            if not first_before or not first_before.get("active"):
                undo.append(WriteBack(wb.source, wb.ticket_key, WriteBackKind.REMOVE_GOAL_LINKS,
                                      previous=tuple(current), remote_ref=ref,
                                      ticket_title=wb.ticket_title))
                continue
            goals = []
            for kr_id in first_before.get("kr_ids", []):
                kr = catalog.kr(kr_id)
                if kr is None:
                    left_alone.append(f"{where}: {kr_id} is no longer in the catalog")
                    continue
                goals.append(goal_ref(kr, catalog, (link_templates or {}).get(wb.source, "")))
            undo.append(WriteBack(wb.source, wb.ticket_key, WriteBackKind.SET_GOAL_LINKS,
                                  goals=tuple(goals), previous=tuple(current), remote_ref=ref,
                                  ticket_title=wb.ticket_title,
                                  hypothesis_found=wb.hypothesis_found))
    return undo, left_alone


def revert_run(config: Config, run_id: int, *, dry_run: bool = False,
               deps: RunDeps | None = None) -> RevertOutcome:
    """Plan the inverse of a run; unless dry, queue it in the outbox and apply it."""
    deps = deps or RunDeps()
    inputs = resolve_inputs(config)
    catalog, settings = inputs.catalog, inputs.plan_settings
    outcome = RevertOutcome(run_id=run_id, dry_run=dry_run)
    scope = per_source_scope(config, config.sources)
    with locked_store(config, "revert", scope) as store:
        if store.run(run_id) is None:
            raise UserError(f"there is no run {run_id}; see `okrsync runs`", key="RUN_ID")
        outcome.planned, outcome.left_alone = inverse_writebacks(
            store.journal(run_id), store.applied_state(), catalog,
            link_templates=settings.source_link_templates,
        )
        holds = _holds(store, outcome.planned, rule_mapper(
            inputs.rules, catalog, managed_prefix=settings.managed_prefix))
        outcome.held = len(holds)
        if dry_run:
            return outcome
        with recorded_run(store, "revert", dry_run=False, clock=deps.clock,
                          scope=scope) as row:
            _queue_and_apply(config, store, outcome, row.id, holds, deps=deps)
            row.finish("ok" if outcome.exit_code == 0 else "failures",
                       {"reverted_run": run_id, **outcome.to_json()})
        return outcome


def _queue_and_apply(
    config: Config, store: Store, outcome: RevertOutcome, revert_id: int,
    holds: list[tuple[str, str, frozenset[str]]], *, deps: RunDeps,
) -> None:
    """Queue the inverse with the holds in one transaction, then apply it."""
    now = deps.clock()
    with store.transaction():
        store.enqueue(revert_id, outcome.planned, now=now)
        store.hold_links(outcome.run_id, revert_id, holds, now=now)
    involved = {wb.source for wb in outcome.planned}
    sources = {name: src for name, src in config.sources.items() if name in involved}

    async def go() -> None:
        async with open_connectors(sources, deps.connect) as connectors:
            result = await apply_pending(
                store, connectors, revert_id,
                concurrency={n: config.sources[n].max_concurrency for n in connectors},
                clock=deps.clock,
            )
            outcome.applied = result.applied + result.unchanged
            outcome.failed = result.failed
            outcome.pending = result.left_pending

    asyncio.run(go())


def _holds(
    store: Store, undo: list[WriteBack], mapper: Mapper
) -> list[tuple[str, str, frozenset[str]]]:
    """Each ticket the revert touches, with the KRs its mapping gives now: the sync leaves it
    alone for as long as the mapping gives exactly these."""
    holds = []
    for source, key in sorted({(wb.source, wb.ticket_key) for wb in undo}):
        ticket = store.ticket(source, key)
        if ticket is not None:
            links, _ = mapper(ticket)
            holds.append((source, key, frozenset(link.kr_id for link in links)))
    return holds


def release_holds(config: Config, run_id: int) -> int:
    """`okrsync revert --release RUN_ID`: let the next sync re-apply what the revert undid."""
    with Store.open(config.store_target, busy_timeout=config.store_busy_timeout) as store:
        if store.run(run_id) is None:
            raise UserError(f"there is no run {run_id}; see `okrsync runs`", key="RUN_ID")
        return store.release_run(run_id)
