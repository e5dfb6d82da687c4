"""The sync engine: the imperative shell around the pure planner.

lock → pull every source concurrently into the store → safety stop → identities and adoption
(`syncer.owning`) → plan, re-planning the write-backs earlier runs left pending against the
fresh pull (`syncer.replan`) → outbox (one transaction) → apply concurrently → record the run.

The order is what makes a run safe to kill at any point: cursors move only with the pages they
describe, write-backs are in the outbox before any remote call, and the ledger changes only
when a write-back is confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.base import Connector, PullOptions, SourceConfig, create
from connectors.scope import scope_change
from core.errors import ConfigError, ExitCode, OkrsyncError, RemoteError, StoreError
from core.model import Catalog, Ticket, WriteBack
from mappings.rules import RuleSet, load_rules
from syncer import owning
from syncer.backlog import backlog_json, write_budget
from syncer.catalog import load_catalog
from syncer.config import Config
from syncer.decided import accepted_of, with_accepted
from syncer.lock import run_lock
from syncer.outbox import apply_pending
from syncer.parking import RetryPolicy
from syncer.plan import Plan, PlanSettings, goal_ref, plan, rule_mapper
from syncer.replan import ReviewContext, removed_after_lost, review
from syncer.store import Store
from syncer.store_rows import KeyRange, TicketId

PLANNED_SHOWN = 1000
"""A real run keeps the first write-backs it planned for its summary; a dry run keeps all."""

Progress = Callable[[str, str, int], None]
"""Called with (source, phase, count): phase is pull, pulled, failed, apply or done."""


@dataclass
class SourceOutcome:
    """How one source's pull went; `healthy` sources may be written to and flagged."""

    name: str
    pulled: int = 0
    skipped: int = 0
    stored_before: int = 0
    complete: bool = False
    retired: int = 0
    healthy: bool = True
    reason: str = ""
    warning: str = ""
    notice: str = ""
    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    rate_limit_wait: float = 0.0


@dataclass
class RunSummary:
    """What a run did, as the CLI prints it and the store records it."""

    run_id: int
    dry_run: bool
    sources: list[SourceOutcome] = field(default_factory=list)
    tickets: int = 0
    linked: int = 0
    untraceable: int = 0
    ktlo: int = 0
    broken: int = 0
    new_overrides: int = 0
    planned: list[WriteBack] = field(default_factory=list)
    planned_count: int = 0
    applied: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    pending: int = 0
    parked: int = 0
    waiting: int = 0
    due: int = 0
    deferred: list[dict[str, Any]] = field(default_factory=list)
    write_budget: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    duration: float = 0.0
    pull_seconds: float = 0.0
    apply_seconds: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        """1 when a source was unhealthy, a write-back failed in this run, or pending ones
        that were due were left; parked ones, ones waiting out a backoff, ones a rate limit
        deferred (all shown by `status`) and dropped ones (journalled) do not fail the run."""
        unhealthy = any(not s.healthy for s in self.sources)
        if unhealthy or self.failed or (self.due > 0 and not self.dry_run):
            return ExitCode.FAILURES
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["planned"] = [wb.to_json() for wb in self.planned]
        data["failed"] = [{"writeback": k, "error": e} for k, e in self.failed]
        data["dropped"] = [{"writeback": k, "reason": r} for k, r in self.dropped]
        data["exit_code"] = int(self.exit_code)
        return data


def load_inputs(config: Config) -> tuple[Catalog, RuleSet]:
    """Catalog and rules, validated together (a rule naming an unknown KR is a ConfigError)."""
    catalog = load_catalog(config.catalog_path)
    rules = load_rules(config.rules_path, catalog, explicit_prefix=config.labels.explicit_prefix)
    return catalog, rules


def plan_settings(config: Config) -> PlanSettings:
    """Each source's goal links use its own `link_url_template`, taken from every configured
    source (not only those synced now), so `sync --source X` plans the same links as `sync`."""
    return PlanSettings(
        explicit_prefix=config.labels.explicit_prefix,
        managed_prefix=config.labels.managed_prefix,
        ktlo=tuple(config.labels.ktlo),
        source_link_templates=link_templates(config),
    )


def link_templates(config: Config) -> dict[str, str]:
    return {n: s.link_url_template for n, s in config.sources.items() if s.link_url_template}


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
    store: Store, names: Iterable[str], every_hours: float, now: datetime
) -> frozenset[str]:
    """The sources whose last complete pull is older than `every_hours` (0: never due)."""
    if every_hours <= 0:
        return frozenset()
    every = timedelta(hours=every_hours)
    return frozenset(
        name for name in names
        if (last := store.last_complete_pull(name)) is None or now - last >= every
    )


def retry_policy(config: Config) -> RetryPolicy:
    return RetryPolicy(park_after=config.sync.park_after,
                       backoff_seconds=config.sync.retry_backoff_seconds)


def lock_path(config: Config) -> Path:
    return Path(str(config.store_path) + ".lock")


def per_source_scope(config: Config, sources: Iterable[str]) -> list[str] | None:
    """The sources a run locks one by one (a PostgreSQL store: workers per source run side by
    side), or None when the whole store is locked at once (the SQLite file)."""
    return sorted(sources) if config.store_url else None


async def _pull_source(
    name: str,
    conn: Connector,
    store: Store,
    run_id: int,
    outcome: SourceOutcome,
    *,
    full: bool,
    scheduled: bool = False,
    hypothesis_pattern: str | None,
    min_ratio: float,
    progress: Progress | None,
) -> None:
    """Pull one source into the store. A complete pull that returns far fewer epics than the
    store holds is a safety stop: asked for (`--full`, a lost cursor), the source is unhealthy
    for the run; when only the schedule made it complete, the source syncs as usual and
    nothing is forgotten, with a warning, and the schedule tries again next period."""
    cursor = None if full else store.get_cursor(name)
    rescoped = scope_change(conn, cursor)
    if rescoped:
        cursor, scheduled = None, True
        outcome.notice = f"complete pull because {rescoped}"
    complete_pull = outcome.complete = cursor is None
    outcome.stored_before = store.ticket_count(name)
    if progress:
        progress(name, "pull", 0)
    try:
        options = PullOptions(full=full, hypothesis_pattern=hypothesis_pattern)
        async for page in conn.pull(cursor, options):
            store.store_page(name, page, run_id, now=datetime.now(UTC))
            outcome.pulled += len(page.tickets)
            outcome.skipped += len(page.skipped)
            if progress:
                progress(name, "pulled", outcome.pulled)
    except RemoteError as exc:
        outcome.healthy = False
        outcome.reason = f"pull failed: {exc}"
    except (OSError, ValueError) as exc:
        outcome.healthy = False
        outcome.reason = f"pull failed: {type(exc).__name__}: {exc}"
    else:
        if complete_pull:
            _end_complete_pull(name, store, run_id, outcome, scheduled=scheduled,
                               min_ratio=min_ratio)
    stats = conn.stats()
    outcome.requests = stats.requests
    outcome.not_modified = stats.not_modified
    outcome.retries = stats.retries
    outcome.rate_limit_wait = round(stats.rate_limit_waits, 3)
    if progress:
        progress(name, "failed" if not outcome.healthy else "done", outcome.pulled)


def _end_complete_pull(
    name: str, store: Store, run_id: int, outcome: SourceOutcome, *, scheduled: bool,
    min_ratio: float,
) -> None:
    """After a complete pull: forget what it no longer returned, unless it shrank below
    `min_ratio` of the store (a warning when only the schedule asked for it, else a safety
    stop that makes the source unhealthy for the run)."""
    returned = outcome.pulled + outcome.skipped
    shrunk = bool(outcome.stored_before) and returned < min_ratio * outcome.stored_before
    if shrunk and scheduled:
        outcome.warning = (
            f"the scheduled complete pull returned {returned} epics but the store holds "
            f"{outcome.stored_before} (below min_epics_ratio {min_ratio}); nothing "
            "forgotten. If the scope was narrowed on purpose, run `okrsync sync --full` "
            "once with a lower min_epics_ratio"
        )
    elif shrunk:
        outcome.healthy = False
        outcome.reason = (
            f"safety stop: a full pull returned {returned} epics but the store holds "
            f"{outcome.stored_before} (below min_epics_ratio {min_ratio}); nothing removed "
            "or flagged for this source"
        )
        return
    else:
        outcome.retired = store.retire_unseen(name, run_id)
    store.note_complete_pull(name, run_id, now=datetime.now(UTC))


PLAN_BATCH = 2000
"""Tickets planned at a time. The planner decides each ticket on its own, so planning in
batches gives the same plan while only one batch of tickets is held in memory."""


@dataclass
class PlanTotals:
    """What a run reports of its whole plan: counts only, so memory stays flat."""

    linked: int = 0
    untraceable: int = 0
    ktlo: int = 0
    broken: int = 0
    overrides: int = 0
    writebacks: int = 0


def plan_store(
    config: Config,
    store: Store,
    catalog: Catalog,
    rules: RuleSet,
    healthy: frozenset[str],
    sources: Iterable[SourceConfig],
    now: datetime,
    on_writebacks: Callable[[tuple[WriteBack, ...]], None],
    on_outcome: Callable[[Plan, KeyRange], None] | None = None,
    revise: Callable[[Plan, KeyRange, Sequence[Ticket]], Plan] | None = None,
) -> PlanTotals:
    """Plan every stored ticket one batch at a time. A batch is a range of (source, key): it
    reads only its own slice of the ledger and bets, and hands its write-backs to
    `on_writebacks` (the outbox, or a dry run's list) and its links, flags and bets to
    `on_outcome` with the range they replace, before the next batch is read. A last call
    covers the range after the last ticket, so what tickets no longer stored had goes too.
    With `revise`, each batch is planned with its pending write-backs included and `revise`
    turns that plan into the one to keep (re-planning the pending ones)."""
    kr_values = store.kr_values(now)
    settings = plan_settings(config)
    mapper = with_accepted(rule_mapper(rules, catalog, managed_prefix=settings.managed_prefix),
                           accepted_of(store.decisions()))
    totals = PlanTotals()
    after: TicketId | None = None
    for batch in store.ticket_batches(PLAN_BATCH):
        within: KeyRange = (after, (batch[-1].source, batch[-1].key))
        part: Plan = plan(
            batch, catalog, rules, store.applied_state(within), now=now,
            healthy_sources=healthy, kr_values=kr_values, prior_bets=store.bets(within),
            settings=settings, mapper=mapper, keep_pending=revise is not None,
        )
        if revise is not None:
            part = revise(part, within, batch)
        totals.linked += len({(lk.source, lk.ticket_key) for lk in part.links})
        totals.untraceable += len(part.untraceable)
        totals.ktlo += len(part.ktlo)
        totals.broken += len(part.broken)
        totals.overrides += len(part.overrides)
        totals.writebacks += len(part.writebacks)
        on_writebacks(part.writebacks)
        if on_outcome:
            on_outcome(part, within)
        after = within[1]
    tail: KeyRange = (after, None)
    last = revise(Plan(), tail, ()) if revise is not None else Plan()
    totals.overrides += len(last.overrides)
    totals.writebacks += len(last.writebacks)
    on_writebacks(last.writebacks)
    if on_outcome:
        on_outcome(last, tail)
    return totals


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


def pending_reviser(
    config: Config, store: Store, catalog: Catalog, healthy: frozenset[str], run_id: int,
    now: datetime, dropped: list[tuple[str, str]],
) -> Callable[[Plan, KeyRange, Sequence[Ticket]], Plan]:
    """`plan_store`'s `revise` for a real run: re-plan each batch's pending write-backs
    (`syncer.replan`), drop the ones no longer wanted (journalled, appended to `dropped`)."""
    settings = plan_settings(config)
    goals = {name: {kr.id: goal_ref(kr, catalog, settings.link_template(name))
                    for kr in catalog.key_results} for name in healthy}

    def revise(part: Plan, within: KeyRange, batch: Sequence[Ticket]) -> Plan:
        items = store.pending_within(within)
        held = store.held_tickets(within)
        if not items and not held:
            return part
        ctx = ReviewContext(
            tickets={(t.source, t.key): t for t in batch},
            ledger_goals={k: (v.kr_ids, v.remote_ref)
                          for k, v in store.applied_state(within).goal_links.items()},
            healthy=healthy, held=held, goals=goals,
            managed_prefix=config.labels.managed_prefix, now=now,
        )
        verdict = review(part, items, ctx)
        keys = {item.id: item.writeback.key for item in items}
        for item_id, reason in verdict.drop:
            store.mark_dropped(item_id, reason, run_id, now=now)
            dropped.append((keys[item_id], reason))
        return replace(part, writebacks=verdict.enqueue, overrides=verdict.overrides)

    return revise


async def _run(
    config: Config,
    store: Store,
    run_id: int,
    *,
    dry_run: bool,
    full: bool,
    only_sources: Iterable[str] | None,
    progress: Progress | None,
) -> RunSummary:
    started = time.monotonic()
    catalog, rules = load_inputs(config)
    sources = selected_sources(config, only_sources)
    summary = RunSummary(run_id=run_id, dry_run=dry_run)
    connectors: dict[str, Connector] = {name: create(src) for name, src in sources.items()}
    concurrency = {name: src.max_concurrency for name, src in sources.items()}
    try:
        outcomes = {name: SourceOutcome(name) for name in connectors}
        pattern = config.sync.hypothesis_pattern or None
        due = complete_pulls_due(store, connectors, config.sync.full_pull_every_hours,
                                 datetime.now(UTC))
        pull_started = time.monotonic()
        await asyncio.gather(
            *(
                _pull_source(
                    name, conn, store, run_id, outcomes[name],
                    full=full or name in due, scheduled=not full and name in due,
                    hypothesis_pattern=pattern,
                    min_ratio=sources[name].min_epics_ratio, progress=progress,
                )
                for name, conn in connectors.items()
            )
        )
        summary.pull_seconds = round(time.monotonic() - pull_started, 3)
        summary.sources = list(outcomes.values())
        healthy = frozenset(name for name, o in outcomes.items() if o.healthy)
        now = datetime.now(UTC)
        if not dry_run:
            prepared = await owning.prepare(
                store, connectors, healthy, managed_prefix=config.labels.managed_prefix,
                concurrency=concurrency, run_id=run_id, now=now,
            )
            for name, reason in prepared.failed.items():
                outcomes[name].healthy, outcomes[name].reason = False, reason
            healthy = healthy - frozenset(prepared.failed)
            summary.notices += prepared.notices
        else:
            summary.notices += owning.adoption_pending(
                store, connectors, healthy, config.labels.managed_prefix)
        if not dry_run:
            summary.new_overrides += _removed_after_lost(store, healthy, config, run_id, now,
                                                         summary.dropped)
        carried_over = store.pending_keys()

        def take(writebacks: tuple[WriteBack, ...]) -> None:
            if dry_run:
                summary.planned.extend(writebacks)
            else:
                room = max(0, PLANNED_SHOWN - len(summary.planned))
                summary.planned.extend(writebacks[:room])
                store.enqueue(run_id, writebacks, now=now)

        def save(part: Plan, within: KeyRange) -> None:
            store.save_plan_outcome(
                part.links, part.broken, part.bets, part.untraceable, part.overrides,
                sources=healthy, now=now, within=within,
            )
            if part.released_holds:
                store.release_holds(part.released_holds)

        if dry_run:
            totals = plan_store(config, store, catalog, rules, healthy, sources.values(), now,
                                take)
        else:
            revise = pending_reviser(config, store, catalog, healthy, run_id, now,
                                     summary.dropped)
            with store.transaction():
                totals = plan_store(config, store, catalog, rules, healthy, sources.values(),
                                    now, take, save, revise)
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
            apply_started = time.monotonic()
            applied = await apply_pending(
                store, writable, run_id, concurrency=concurrency,
                progress=(lambda s, k: progress(s, "apply", 1)) if progress else None,
                carried_over=carried_over, policy=retry_policy(config),
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
            summary.due = store.due_count(datetime.now(UTC), sources=own)
            summary.deferred = backlog_json(applied.deferred, sources)
            summary.apply_seconds = round(time.monotonic() - apply_started, 3)
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
    finally:
        await asyncio.gather(*(c.aclose() for c in connectors.values()), return_exceptions=True)
    summary.duration = round(time.monotonic() - started, 3)
    return summary


def _outbox_counts(store: Store, sources: Iterable[str] | None) -> dict[str, int]:
    """The outbox counts a run reports: of the whole store, or of the run's own sources
    (a worker per source does not report, nor fail for, another worker's write-backs)."""
    if sources is None:
        return store.outbox_counts()
    total: Counter[str] = Counter()
    for name in sources:
        total.update(store.outbox_counts(name))
    return total


LOCKED_RUN_KINDS = ("sync", "revert")
"""Runs that hold the run lock: one still `running` when the lock is free was interrupted."""


def close_failed_run(store: Store, run_id: int, exc: BaseException) -> None:
    """Record why a run ended early. On a full disk this last write can fail too; the next
    run then closes the row (`close_interrupted_runs`), and the original error is shown."""
    error = str(exc) if isinstance(exc, OkrsyncError) else type(exc).__name__
    with contextlib.suppress(StoreError):
        store.finish_run(run_id, status="error", summary={"error": error},
                         now=datetime.now(UTC))


def run_sync(
    config: Config,
    *,
    dry_run: bool = False,
    full: bool = False,
    only_sources: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """One sync run under the lock; the run is recorded whatever happens."""
    load_inputs(config)  # fail fast with exit 2 before taking the lock or touching the store
    store = Store.open(config.store_target)
    locked = per_source_scope(config, selected_sources(config, only_sources))
    try:
        with run_lock(config.store_target, locked or (), command="sync"):
            store.close_interrupted_runs(LOCKED_RUN_KINDS, now=datetime.now(UTC),
                                         sources=locked)
            run_id = store.start_run("sync", dry_run=dry_run, now=datetime.now(UTC),
                                     sources=locked)
            try:
                summary = asyncio.run(
                    _run(config, store, run_id, dry_run=dry_run, full=full,
                         only_sources=only_sources, progress=progress)
                )
            except BaseException as exc:
                close_failed_run(store, run_id, exc)
                raise
            status = "ok" if summary.exit_code is ExitCode.OK else "failures"
            record = summary.to_json()
            record["planned"] = record["planned"][:PLANNED_SHOWN]
            store.finish_run(run_id, status=status, summary=record, now=datetime.now(UTC))
            return summary
    finally:
        store.close()
