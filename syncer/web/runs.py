"""What the Runs page reads from the store: recent runs, epics per source, the backlog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncer.store import Store

RUNS_SHOWN = 20


def load_runs(store: Store) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, int]]:
    """(recent runs newest first, stored epics per source, write-back backlog by state)."""
    runs = [
        {"id": r.id, "kind": r.kind, "started_at": r.started_at.isoformat(),
         "finished_at": r.finished_at.isoformat() if r.finished_at else None,
         "status": r.status, "dry_run": r.dry_run, "duration": r.duration,
         "summary": r.summary}
        for r in store.runs(RUNS_SHOWN)
    ]
    counts = getattr(store, "outbox_counts", None)
    backlog = dict(counts()) if callable(counts) else {"pending": store.counts()["pending"]}
    return runs, store.tickets_per_source(), backlog
