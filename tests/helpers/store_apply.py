"""Applying a plan through the real store, as the outbox does after each connector confirms:
`Store.mark_done` updates the ledger and the stored ticket's labels, `save_plan_outcome`
records the plan's overrides. Property tests plan again from what the store then holds, so
they check the planner against the store's real semantics, not a copy of them."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from core.model import (
    AppliedState,
    ApplyResult,
    ApplyStatus,
    Override,
    Page,
    Ticket,
    WriteBack,
    WriteBackKind,
)
from syncer.store import Store
from syncer.store_rows import ts


class StoreApplier:
    """A real store in its own folder; `close` removes it."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="okrsync-prop-"))
        self.store = Store.open(self.folder / "okrsync.db")

    def close(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def seed(self, applied: AppliedState, pending: Iterable[WriteBack], *,
             now: datetime) -> None:
        """Start from `applied`: its ledger and overrides as rows, `pending` queued by an
        earlier run (they stay pending: this run does not apply them)."""
        stamp = ts(now)
        with self.store.transaction() as db:
            for source, key, label in applied.labels:
                db.execute("insert into ledger (source, ticket_key, kind, label, kr_ids, "
                           "remote_ref, digest, applied_at, run_id) "
                           "values (?, ?, 'label', ?, '[]', null, '', ?, null)",
                           [source, key, label, stamp])
            for (source, key), links in applied.goal_links.items():
                db.execute("insert into ledger (source, ticket_key, kind, label, kr_ids, "
                           "remote_ref, digest, applied_at, run_id) "
                           "values (?, ?, 'goal_links', '', ?, ?, ?, ?, null)",
                           [source, key, json.dumps(list(links.kr_ids)), links.remote_ref,
                            links.digest, stamp])
        self.store.save_plan_outcome(
            [], [], [], [],
            [Override(s, k, lb, lb, now) for s, k, lb in applied.overrides],
            sources=(), now=now)
        self.store.enqueue(None, list(pending), now=now)

    def apply(
        self, tickets: Sequence[Ticket], writebacks: Iterable[WriteBack],
        overrides: Iterable[Override] = (), *, now: datetime, forget_overridden: bool = False,
    ) -> tuple[list[Ticket], AppliedState]:
        """Store `tickets` as pulled, record `overrides`, queue and confirm `writebacks`;
        with `forget_overridden`, overridden labels also leave the ledger (the planner must
        be right either way). Returns what the store then holds."""
        for source in sorted({t.source for t in tickets}):
            self.store.store_page(source, Page(tuple(t for t in tickets if t.source == source)),
                                  None, now=now)
        self.store.save_plan_outcome([], [], [], [], overrides, sources=(), now=now)
        run_id = self.store.start_run("sync", dry_run=False, now=now)
        self.store.enqueue(run_id, list(writebacks), now=now)
        for item in self.store.pending():
            if item.run_id != run_id:
                continue
            wb = item.writeback
            ref = (wb.remote_ref or f"ref-{wb.ticket_key}"
                   if wb.kind is WriteBackKind.SET_GOAL_LINKS else None)
            self.store.mark_done(item.id, ApplyResult(ApplyStatus.APPLIED, ref), run_id,
                                 now=now)
        if forget_overridden:
            with self.store.transaction() as db:
                db.execute("update ledger set removed_at = ? where kind = 'label' and "
                           "(source, ticket_key, label) in "
                           "(select source, ticket_key, label from overrides)",
                           [ts(now)])
        return self.store.tickets(), self.store.applied_state()
