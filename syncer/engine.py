"""The sync engine: a thin loop over steps that return values (docs/architecture.md).

lock and run row (`syncer.run_context`) → pull every source concurrently into the store and
judge each pull (`syncer.pull_verdict`) → identities and adoption (`syncer.owning`) → plan
batch by batch (`syncer.planning` over the pure `syncer.batch_plan`, re-planning pending
write-backs against the fresh pull) and apply each batch's plan in one transaction → apply
the outbox concurrently (`syncer.outbox`) → record the run (`syncer.run_summary`).

The order is what makes a run safe to kill at any point: cursors move only with the pages they
describe, write-backs are in the outbox before any remote call, and the ledger changes only
when a write-back is confirmed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from connectors.base import Connector, PullOptions, SourceConfig
from connectors.scope import scope_change
from core.errors import ConfigError, ExitCode, RemoteError
from core.model import Catalog
from mappings.rules import RuleSet
from syncer import owning
from syncer.backlog import backlog_json, write_budget
from syncer.batch_plan import PLAN_BATCH, Planner, PlanTotals, RunPlan
from syncer.config import Config
from syncer.inputs import Inputs, link_templates, plan_settings, resolve_inputs
from syncer.outbox import apply_pending
from syncer.parking import RetryPolicy
from syncer.planning import apply_batch, make_planner, plan_batches
from syncer.pull_verdict import PullFacts, due_complete_pulls, judge_pull
from syncer.replan import removed_after_lost
from syncer.run_context import (
    LOCKED_RUN_KINDS,
    RunDeps,
    close_failed_run,
    lock_path,
    locked_store,
    open_connectors,
    per_source_scope,
    recorded_run,
)
from syncer.run_summary import RunSummary, SourceOutcome
from syncer.store import Store
from syncer.store_ports import PullStore

__all__ = ["LOCKED_RUN_KINDS", "PLAN_BATCH", "PlanTotals", "RunDeps", "RunSummary",
           "SourceOutcome", "close_failed_run", "link_templates", "lock_path", "plan_settings"]

PLANNED_SHOWN = 1000
"""A real run keeps the first write-backs it planned for its summary; a dry run keeps all."""

Progress = Callable[[str, str, int], None]
"""Called with (source, phase, count): phase is pull, pulled, failed, apply or done."""


def load_inputs(config: Config) -> tuple[Catalog, RuleSet]:
    """Catalog and rules, validated together (`syncer.inputs.resolve_inputs`)."""
    inputs = resolve_inputs(config)
    return inputs.catalog, inputs.rules


def selected_sources(config: Config, only: Iterable[str] | None) -> dict[str, SourceConfig]:
    wanted = set(only or ())
    unknown = wanted - set(config.sources)
    if unknown:
        raise ConfigError(
            f"no source named {', '.join(sorted(unknown))}; configured: "
            f"{', '.join(sorted(config.sources)) or 'none'}",
            file=str(config.path),
            key="sources",
        )
    return {
        name: src
        for name, src in config.sources.items()
        if src.enabled and (not wanted or name in wanted)
    }


def complete_pulls_due(
    store: PullStore, names: Iterable[str], every_hours: float, now: datetime
) -> frozenset[str]:
    """The sources whose last complete pull is older than `every_hours` (0: never due)."""
    return due_complete_pulls({name: store.last_complete_pull(name) for name in names},
                              every_hours, now)


def retry_policy(config: Config) -> RetryPolicy:
    return RetryPolicy(park_after=config.sync.park_after,
                       backoff_seconds=config.sync.retry_backoff_seconds)


async def _pull_source(
    name: str,
    conn: Connector,
    store: PullStore,
    run_id: int,
    *,
    full: bool,
    scheduled: bool = False,
    hypothesis_pattern: str | None,
    min_ratio: float,
    progress: Progress | None,
    deps: RunDeps,
) -> SourceOutcome:
    """Pull one source into the store, judge the pull (`syncer.pull_verdict`), and apply the
    verdict: forget what a complete pull no longer returned, record the complete pull."""
    outcome = SourceOutcome(name)
    cursor = None if full else store.get_cursor(name)
    rescoped = scope_change(conn, cursor)
    if rescoped:
        cursor, scheduled = None, True
        outcome.notice = f"complete pull because {rescoped}"
    outcome.complete = cursor is None
    outcome.stored_before = store.ticket_count(name)
    if progress:
        progress(name, "pull", 0)
    failure = ""
    try:
        options = PullOptions(full=full, hypothesis_pattern=hypothesis_pattern)
        async for page in conn.pull(cursor, options):
            store.store_page(name, page, run_id, now=deps.clock())
            outcome.pulled += len(page.tickets)
            outcome.skipped += len(page.skipped)
            if progress:
                progress(name, "pulled", outcome.pulled)
    except RemoteError as exc:
        failure = f"pull failed: {exc}"
    except (OSError, ValueError) as exc:
        failure = f"pull failed: {type(exc).__name__}: {exc}"
    verdict = judge_pull(PullFacts(
        returned=outcome.pulled + outcome.skipped, stored_before=outcome.stored_before,
        complete=outcome.complete, scheduled=scheduled, min_ratio=min_ratio, failure=failure,
    ))
    outcome.verdict = verdict
    outcome.healthy, outcome.reason, outcome.warning = (
        verdict.healthy, verdict.reason, verdict.warning)
    if verdict.forget_unseen:
        outcome.retired = store.retire_unseen(name, run_id)
    if verdict.complete_pull_done:
        store.note_complete_pull(name, run_id, now=deps.clock())
    stats = conn.stats()
    outcome.requests = stats.requests
    outcome.not_modified = stats.not_modified
    outcome.retries = stats.retries
    outcome.rate_limit_wait = round(stats.rate_limit_waits, 3)
    if progress:
        progress(name, "failed" if not outcome.healthy else "done", outcome.pulled)
    return outcome


def _removed_after_lost(store: Store, healthy: frozenset[str], config: Config, run_id: int,
                        now: datetime, dropped: list[tuple[str, str]]) -> int:
    """Record as overrides the labels people removed after an add whose answer was lost,
    and drop those adds (journalled), before planning sees the tickets; returns how many."""
    lost = [i for i in store.pending() if i.outcome_unknown]
    if not lost:
        return 0
    tickets = {(i.writeback.source, i.writeback.ticket_key): t for i in lost
               if (t := store.ticket(i.writeback.source, i.writeback.ticket_key)) is not None}
    found = removed_after_lost(lost, tickets, healthy=healthy, held=store.held_tickets(),
                               managed_prefix=config.labels.managed_prefix, now=now)
    store.record_overrides([o for _, o in found])
    for item, override in found:
        reason = (f"dropped: a person removed {override.label} after an attempt whose answer "
                  "was lost")
        store.mark_dropped(item.id, reason, run_id, now=now)
        dropped.append((item.writeback.key, reason))
    return len(found)


def _plan_run(store: Store, planner: Planner, summary: RunSummary, *, run_id: int,
              dry_run: bool) -> PlanTotals:
    """Plan every batch. A dry run keeps the plan (`summary.plan`); a real run applies each
    batch's plan to the store in one transaction and keeps only the first write-backs."""
    totals = PlanTotals()
    if dry_run:
        batches = tuple(plan_batches(store, planner, size=PLAN_BATCH))
        for batch in batches:
            totals.add(batch)
            summary.planned.extend(batch.plan.writebacks)
        summary.plan = RunPlan({s.name: s.verdict for s in summary.sources}, batches)
        return totals
    with store.transaction():
        for batch in plan_batches(store, planner, size=PLAN_BATCH):
            totals.add(batch)
            room = max(0, PLANNED_SHOWN - len(summary.planned))
            summary.planned.extend(batch.plan.writebacks[:room])
            summary.dropped.extend((d.key, d.reason) for d in batch.drops)
            apply_batch(store, batch, run_id=run_id, sources=planner.healthy,
                        now=planner.now)
    return totals


async def _run(
    inputs: Inputs,
    store: Store,
    run_id: int,
    *,
    dry_run: bool,
    full: bool,
    only_sources: Iterable[str] | None,
    progress: Progress | None,
    deps: RunDeps,
) -> RunSummary:
    """lock held, run row open: pull → judge → prepare → plan → apply → record."""
    started = deps.monotonic()
    config = inputs.config
    sources = selected_sources(config, only_sources)
    summary = RunSummary(run_id=run_id, dry_run=dry_run)
    concurrency = {name: src.max_concurrency for name, src in sources.items()}
    async with open_connectors(sources, deps.connect) as connectors:
        due = complete_pulls_due(store, connectors, config.sync.full_pull_every_hours,
                                 deps.clock())
        pull_started = deps.monotonic()
        summary.sources = list(await asyncio.gather(*(
            _pull_source(
                name, conn, store, run_id,
                full=full or name in due, scheduled=not full and name in due,
                hypothesis_pattern=config.sync.hypothesis_pattern or None,
                min_ratio=sources[name].min_epics_ratio, progress=progress, deps=deps,
            )
            for name, conn in connectors.items()
        )))
        summary.pull_seconds = round(deps.monotonic() - pull_started, 3)
        outcomes = {o.name: o for o in summary.sources}
        healthy = frozenset(name for name, o in outcomes.items() if o.healthy)
        now = deps.clock()
        if not dry_run:
            prepared = await owning.prepare(
                store, connectors, healthy, managed_prefix=config.labels.managed_prefix,
                concurrency=concurrency, run_id=run_id, now=now,
            )
            for name, reason in prepared.failed.items():
                outcomes[name].healthy, outcomes[name].reason = False, reason
            healthy = healthy - frozenset(prepared.failed)
            summary.notices += prepared.notices
            summary.new_overrides += _removed_after_lost(store, healthy, config, run_id, now,
                                                         summary.dropped)
        else:
            summary.notices += owning.adoption_pending(
                store, connectors, healthy, config.labels.managed_prefix)
        carried_over = store.pending_keys()
        planner = make_planner(store, inputs.catalog, inputs.rules, inputs.plan_settings,
                               healthy=healthy,
                               now=now, replan=not dry_run)
        totals = _plan_run(store, planner, summary, run_id=run_id, dry_run=dry_run)
        summary.planned_count = totals.writebacks
        summary.tickets = store.ticket_count(None)
        summary.linked = totals.linked
        summary.untraceable = totals.untraceable
        summary.ktlo = totals.ktlo
        summary.broken = totals.broken
        summary.new_overrides += totals.overrides
        if not dry_run:
            store.snapshot_kr_values(store.kr_values(now), now=now)
            writable = {name: c for name, c in connectors.items() if name in healthy}
            apply_started = deps.monotonic()
            applied = await apply_pending(
                store, writable, run_id, concurrency=concurrency,
                progress=(lambda s, k: progress(s, "apply", 1)) if progress else None,
                carried_over=carried_over, policy=retry_policy(config), clock=deps.clock,
            )
            summary.applied = applied.applied
            summary.unchanged = applied.unchanged
            summary.failed = applied.failed
            summary.dropped.extend(applied.dropped)
            own = list(sources) if only_sources else None
            counts = _outbox_counts(store, own)
            summary.pending = counts["pending"] - counts["deferred"]
            summary.parked = counts["parked"]
            summary.waiting = counts["waiting"]
            summary.due = store.due_count(deps.clock(), sources=own)
            summary.deferred = backlog_json(applied.deferred, sources)
            summary.apply_seconds = round(deps.monotonic() - apply_started, 3)
            owning.record_inspections(store, connectors, now=now)
            if config.store_keep_days:
                store.prune(now - timedelta(days=config.store_keep_days))
        else:
            summary.pending = store.pending_count()
            summary.write_budget = [
                {"source": b.source, "by_kind": dict(b.by_kind), "content": b.content,
                 "label_creations": b.label_creations, "seconds": round(b.seconds, 1),
                 "limits": [str(lim) for lim in b.limits], "message": b.line()}
                for b in write_budget(summary.planned, sources)
            ]
        summary.notices += owning.attention(store, config.sources)
    summary.duration = round(deps.monotonic() - started, 3)
    return summary


def _outbox_counts(store: Store, sources: Iterable[str] | None) -> Mapping[str, int]:
    """The outbox counts a run reports: of the whole store, or of the run's own sources
    (a worker per source does not report, nor fail for, another worker's write-backs)."""
    if sources is None:
        return store.outbox_counts()
    total: Counter[str] = Counter()
    for name in sources:
        total.update(store.outbox_counts(name))
    return total


def run_sync(
    config: Config,
    *,
    dry_run: bool = False,
    full: bool = False,
    only_sources: Iterable[str] | None = None,
    progress: Progress | None = None,
    deps: RunDeps | None = None,
) -> RunSummary:
    """One sync run under the lock; the run is recorded whatever happens."""
    deps = deps or RunDeps()
    inputs = resolve_inputs(config)  # exit 2 before taking the lock or touching the store
    scope = per_source_scope(config, selected_sources(config, only_sources))
    with locked_store(config, "sync", scope) as store, \
            recorded_run(store, "sync", dry_run=dry_run, clock=deps.clock, scope=scope) as row:
        summary = asyncio.run(
            _run(inputs, store, row.id, dry_run=dry_run, full=full,
                 only_sources=only_sources, progress=progress, deps=deps)
        )
        record = summary.to_json()
        record["planned"] = record["planned"][:PLANNED_SHOWN]
        row.finish("ok" if summary.exit_code is ExitCode.OK else "failures", record)
        return summary
