"""What confirmed write-backs do to the ledger and the stored tickets' labels, as a pure
function over plain rows: `Store.mark_done_many` reads the rows a batch touches in a few
queries, runs every write-back through `record` in order (one ticket's label before its goal
links), and writes back only the rows that changed. The same steps one statement at a time
were a dozen round trips per write-back on PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core.model import ApplyResult, WriteBack, WriteBackKind
from syncer.plan import goals_digest

LEDGER_COLUMNS = ("source", "ticket_key", "kind", "label", "kr_ids", "remote_ref", "digest",
                  "applied_at", "removed_at", "run_id")
LedgerKey = tuple[str, str, str, str]
"""(source, ticket_key, kind, label): the ledger's primary key."""
_KR_IDS, _REF, _DIGEST, _APPLIED, _REMOVED, _RUN = range(4, 10)


@dataclass
class Rows:
    """The ledger rows and stored labels a batch touches; `record` changes them in place."""

    ledger: dict[LedgerKey, list[Any]]
    labels: dict[tuple[str, str], list[str]]
    """Stored labels of the tickets the store has (a ticket it lacks has no entry)."""
    changed_ledger: set[LedgerKey] = field(default_factory=set)
    changed_labels: set[tuple[str, str]] = field(default_factory=set)


def record(rows: Rows, wb: WriteBack, result: ApplyResult, run_id: int | None,
           stamp: str) -> dict[str, Any]:
    """Apply one confirmed write-back to `rows`; return the state before it (the journal's
    `before`, which `revert` restores)."""
    if wb.kind in (WriteBackKind.ADD_LABEL, WriteBackKind.REMOVE_LABEL):
        return _label(rows, wb, run_id, stamp)
    key = (wb.source, wb.ticket_key, "goal_links", "")
    old = rows.ledger.get(key)
    before: dict[str, Any] = {"goal_links": None}
    if old is not None:
        before["goal_links"] = {"kr_ids": json.loads(old[_KR_IDS]), "remote_ref": old[_REF],
                                "digest": old[_DIGEST], "active": old[_REMOVED] is None}
    if wb.kind is WriteBackKind.SET_GOAL_LINKS:
        ref = result.remote_ref
        if ref is None:
            ref = old[_REF] if old is not None else wb.remote_ref
        kr_ids = json.dumps([g.kr_id for g in wb.goals])
        digest = goals_digest(wb.goals)  # what the planner compares the goal text with
        rows.ledger[key] = [*key, kr_ids, ref, digest, stamp, None, run_id]
        rows.changed_ledger.add(key)
    elif old is not None:  # REMOVE_GOAL_LINKS: the service's goal links are gone
        old[_REMOVED], old[_KR_IDS], old[_REF], old[_RUN] = stamp, "[]", result.remote_ref, run_id
        rows.changed_ledger.add(key)
    return before


def _label(rows: Rows, wb: WriteBack, run_id: int | None, stamp: str) -> dict[str, Any]:
    ticket = (wb.source, wb.ticket_key)
    labels = rows.labels.get(ticket)
    key = (wb.source, wb.ticket_key, "label", wb.label)
    old = rows.ledger.get(key)
    wanted = wb.label.casefold()  # GitHub labels are case-insensitive; the planner too
    present = labels is not None and wanted in {lb.casefold() for lb in labels}
    before = {"label": wb.label, "label_present": None if labels is None else present,
              "ledger_active": old is not None and old[_REMOVED] is None}
    if wb.kind is WriteBackKind.ADD_LABEL:
        rows.ledger[key] = [*key, "[]", None, wb.digest, stamp, None, run_id]
        rows.changed_ledger.add(key)
        new_labels = labels if labels is None or present else [*labels, wb.label]
    else:
        if old is not None and old[_REMOVED] is None:
            old[_REMOVED], old[_RUN] = stamp, run_id
            rows.changed_ledger.add(key)
        new_labels = None if labels is None else [lb for lb in labels if lb.casefold() != wanted]
    if new_labels is not None and new_labels != labels:
        rows.labels[ticket] = new_labels
        rows.changed_labels.add(ticket)
    return before
