"""Applying the outbox: every pending write-back goes through its source's connector.

Write-backs are already in the store before any remote call, so a crash or kill here loses
nothing: what was not marked done stays pending and the next run applies it again (each
connector's apply is idempotent, and an item from an earlier run is read before it is
written). Confirmed write-backs are recorded a few dozen per transaction (`DONE_BATCH`, at
most `DONE_WAIT` apart, and whatever is left when a batch ends or fails), not one by one:
a commit per write-back was most of a sync's store time, and on PostgreSQL each statement is
a round trip that holds up the event loop. One ticket's write-backs run in order (labels before goal
links); different tickets run concurrently within each source's concurrency limit. The outbox
is read in batches, one finished before the next starts, so memory does not grow with it,
in drain order (active epics first, then planned, then done; see `store_deferral`).

When a tracker's limit blocks a source longer than it may wait (`Deferred`), the source's
apply phase ends there: its remaining rows stay pending, deferred until the limit allows
more, and later runs before that time do not send into the block.

Failures are told apart (`core.errors`): a refused token (AuthError) stops the source; a
ticket that is gone (404/410) drops its write-back with a journal entry and does not fail the
run; a refusal scoped to one repo, project or ticket (Forbidden, a redirect, another 4xx) fails
only that item, which then backs off and is parked after `park_after` refusals
(`syncer.parking`); anything transient stays pending for the next run, marked as possibly
landed when the answer was lost.

An item is *fresh* when this run queued it after its own pull, it was never tried, and it did
not replace one pending from before: nothing can have half-applied it, so its connector may
trust what the pull saw and skip reading the ticket first. Anything else is read first.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connectors.base import Connector
from connectors.pacing import Deferred
from core.errors import AuthError, NotFound, RemoteError, Unavailable
from core.model import ApplyResult, ApplyStatus
from syncer.parking import RetryPolicy, after_refusal
from syncer.run_context import utc_now
from syncer.store_deferral import Deferral
from syncer.store_ports import OutboxPort
from syncer.store_rows import Confirmed, OutboxItem

BATCH = 2000
"""Outbox items read and applied per batch: bounds memory and the number of tasks."""
DONE_BATCH = 64
"""Confirmed write-backs recorded per store transaction."""
DONE_WAIT = timedelta(seconds=1)
"""The longest a confirmed write-back waits for others to be recorded with."""

ApplyProgress = Callable[[str, str], None]
"""Called with (source, outcome) after each write-back: applied, unchanged, failed or dropped."""


@dataclass
class ApplyOutcome:
    """What one pass over the outbox did."""

    applied: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    parked: int = 0
    left_pending: int = 0
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    deferred: dict[str, Deferral] = field(default_factory=dict)

    def count(self, source: str, outcome: str) -> None:
        per = self.by_source.setdefault(source, {"applied": 0, "unchanged": 0, "failed": 0})
        per[outcome] = per.get(outcome, 0) + 1


def is_fresh(item: OutboxItem, run_id: int, carried_over: Set[str] | None) -> bool:
    """Whether `item` may skip its read (see the module docstring). `carried_over` is None
    when this run did not just plan from its own pull: then nothing is fresh."""
    return (carried_over is not None and item.run_id == run_id and item.attempts == 0
            and item.writeback.key not in carried_over)


def _is_refusal(exc: BaseException) -> bool:
    """A failure the next run would meet again (a scoped 403, a redirect, another 4xx)."""
    return isinstance(exc, RemoteError) and not exc.retryable and not isinstance(exc, AuthError)


def _safe_error(exc: BaseException) -> str:
    """The text stored as an item's last error: the error's own message, bounded."""
    text = str(exc) if isinstance(exc, RemoteError) else f"{type(exc).__name__}: {exc}"
    return text[:500]


async def apply_pending(
    store: OutboxPort,
    connectors: Mapping[str, Connector],
    run_id: int,
    *,
    concurrency: Mapping[str, int],
    progress: ApplyProgress | None = None,
    carried_over: Set[str] | None = None,
    policy: RetryPolicy | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> ApplyOutcome:
    """Apply every pending outbox item whose source has a connector in this run.

    `carried_over` is given only right after this run planned from its pull: the keys that
    were pending before it planned. Items of this run that replace none of them and were never
    tried go to their connector as fresh. Without it (earlier items, revert) nothing is fresh.

    Items of sources not configured (or not healthy enough to write) stay pending, and so do
    parked items and those still backing off (`policy`).
    A source whose credentials are refused stops after the first AuthError instead of
    failing every item against the same wall.
    """
    policy = policy or RetryPolicy()
    outcome = ApplyOutcome()
    limits = {name: asyncio.Semaphore(max(1, concurrency.get(name, 8))) for name in connectors}
    refused: set[str] = set()
    blocked = {s: d for s, d in store.deferrals(clock()).items() if s in connectors}
    stopped: dict[str, Deferred] = {}

    async def one_ticket(source: str, items: list[OutboxItem]) -> None:
        async with limits[source]:
            for position, item in enumerate(items):
                if source in refused or source in stopped:
                    return
                try:
                    result = await connectors[source].apply(
                        item.writeback, fresh=is_fresh(item, run_id, carried_over))
                except Deferred as exc:
                    if source not in stopped or stopped[source].until < exc.until:
                        stopped[source] = exc
                    return
                except AuthError as exc:
                    refused.add(source)
                    _fail(item, exc)
                    return
                except NotFound as exc:
                    _drop(item, exc)
                    continue  # the ticket is gone: its later write-backs find the same
                except (RemoteError, OSError, ValueError, KeyError, TypeError) as exc:
                    _fail(item, exc)
                    if _is_refusal(exc):  # the rest of the ticket would meet the same refusal
                        for later in items[position + 1:]:
                            _fail(later, exc)
                    return  # keep this ticket's later write-backs in order for the next run
                _confirm(item, result)
                kind = "applied" if result.status is ApplyStatus.APPLIED else "unchanged"
                if kind == "applied":
                    outcome.applied += 1
                else:
                    outcome.unchanged += 1
                outcome.count(source, kind)
                if progress:
                    progress(source, kind)

    confirmed: list[Confirmed] = []

    def _confirm(item: OutboxItem, result: ApplyResult) -> None:
        confirmed.append(Confirmed(item.id, result, clock()))
        if len(confirmed) >= DONE_BATCH or confirmed[-1].at - confirmed[0].at >= DONE_WAIT:
            _record_confirmed()

    def _record_confirmed() -> None:
        batch = confirmed[:]
        confirmed.clear()
        store.mark_done_many(batch, run_id)

    def _fail(item: OutboxItem, exc: BaseException) -> None:
        message = _safe_error(exc)
        now = clock()
        if _is_refusal(exc):
            then = after_refusal(item.attempts + 1, now, policy)
            store.mark_failed(item.id, message, now=now, next_attempt_at=then.next_attempt_at,
                              park=then.park)
            if then.park:
                outcome.parked += 1
        else:
            store.mark_failed(item.id, message, now=now, unknown=isinstance(exc, Unavailable))
        outcome.failed.append((item.writeback.key, message))
        outcome.count(item.writeback.source, "failed")
        if progress:
            progress(item.writeback.source, "failed")

    def _drop(item: OutboxItem, exc: BaseException) -> None:
        reason = f"the ticket is gone: {_safe_error(exc)}"
        store.mark_dropped(item.id, reason, run_id, now=clock())
        outcome.dropped.append((item.writeback.key, reason))
        outcome.count(item.writeback.source, "dropped")
        if progress:
            progress(item.writeback.source, "dropped")

    started = clock()
    ids = store.pending_drain_ids(sorted(set(connectors) - set(blocked)), due=started)
    for start in range(0, len(ids), BATCH):
        by_ticket: dict[tuple[str, str], list[OutboxItem]] = defaultdict(list)
        for item in store.pending_items(ids[start:start + BATCH]):
            wb = item.writeback
            if wb.source not in stopped:
                by_ticket[(wb.source, wb.ticket_key)].append(item)
        try:
            await asyncio.gather(*(one_ticket(src, items)
                                   for (src, _), items in by_ticket.items()))
        finally:
            _record_confirmed()
    now = clock()
    for source, exc in stopped.items():
        until = datetime.fromtimestamp(exc.until, UTC)
        count = store.defer_source(source, until, exc.limit, now=now)
        outcome.deferred[source] = Deferral(source, count, until, exc.limit)
    for source, held in blocked.items():  # rows this run queued wait with the older ones
        count = store.defer_source(source, held.until, held.reason, now=now)
        outcome.deferred[source] = Deferral(source, count, held.until, held.reason)
    outcome.left_pending = store.pending_count() - sum(
        d.count for d in outcome.deferred.values())
    return outcome
