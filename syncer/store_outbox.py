"""The outbox, the ledger and the journal: write-backs recorded before any remote call, and
what the service knows it applied once they are confirmed.

`mark_done` is the one place the ledger changes, in the same transaction as the outbox row,
the stored ticket's labels (so the next plan sees the label the service added) and the journal
row that lets `revert` undo a run. `applied_state()` hands all of it to the pure planner.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from core.model import (
    AppliedGoalLinks,
    AppliedState,
    ApplyResult,
    WriteBack,
)
from syncer import ledger_effects
from syncer.store_base import guarded
from syncer.store_holds import HoldsStore
from syncer.store_rows import (
    OUTBOX_COLUMNS,
    Confirmed,
    JournalRow,
    KeyRange,
    OutboxItem,
    dt,
    dumps,
    in_range,
    outbox_of,
    result_json,
    result_of,
    tryable,
    ts,
    ts_opt,
)

MAX_ERROR_CHARS = 2000
_IDS_PER_QUERY = 500
_JOURNAL_INSERT = (
    "insert into journal (run_id, outbox_id, source, ticket_key, kind, writeback, result, "
    "before, at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LEDGER_UPSERT = (
    "insert into ledger (source, ticket_key, kind, label, kr_ids, remote_ref, digest, "
    "applied_at, removed_at, run_id) values (?, ?, ?, ?, ?, ?, ?, ?, null, ?) "
    "on conflict (source, ticket_key, kind, label) do update set kr_ids = excluded.kr_ids, "
    "remote_ref = excluded.remote_ref, digest = excluded.digest, "
    "applied_at = excluded.applied_at, removed_at = null, run_id = excluded.run_id"
)
_LEDGER_PUT = (
    f"insert into ledger ({', '.join(ledger_effects.LEDGER_COLUMNS)}) "
    "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "on conflict (source, ticket_key, kind, label) do update set kr_ids = excluded.kr_ids, "
    "remote_ref = excluded.remote_ref, digest = excluded.digest, "
    "applied_at = excluded.applied_at, removed_at = excluded.removed_at, "
    "run_id = excluded.run_id"
)



class OutboxStore(HoldsStore):
    """Outbox, ledger and journal methods of `Store`."""

    # -- what the service applied -------------------------------------------------------

    @guarded
    def applied_state(self, within: KeyRange | None = None) -> AppliedState:
        """The ledger, overrides and pending keys as plain values for the planner; `within`
        limits them to the tickets of one planning batch."""
        cond, params = in_range(within)
        labels = frozenset(
            (s, k, lb) for s, k, lb in self._rows(
                "select source, ticket_key, label from ledger "
                f"where kind = 'label' and removed_at is null and {cond}", params,
            )
        )
        goal_links = {
            (s, k): AppliedGoalLinks(tuple(json.loads(krs)), ref, digest)
            for s, k, krs, ref, digest in self._rows(
                "select source, ticket_key, kr_ids, remote_ref, digest from ledger "
                f"where kind = 'goal_links' and removed_at is null and {cond}", params,
            )
        }
        overrides = frozenset(
            (s, k, lb) for s, k, lb in self._rows(
                f"select source, ticket_key, label from overrides where {cond}", params)
        )
        return AppliedState(labels, goal_links, overrides, self.pending_keys(within),
                            self.held(within))

    # -- outbox, ledger, journal ---------------------------------------------------------

    @guarded
    def enqueue(self, run_id: int | None, writebacks: Iterable[WriteBack], *, now: datetime) -> int:
        """Queue write-backs in one transaction; a pending item with the same key is replaced
        (its attempts, backoff and parking carry over when the content is the same). The
        pending items they replace are read a few hundred keys per query."""
        stamp = ts(now)
        count = 0
        chunk: list[WriteBack] = []
        with self.db.atomic():
            for wb in writebacks:
                chunk.append(wb)
                if len(chunk) == _IDS_PER_QUERY:
                    count += self._enqueue_chunk(run_id, chunk, stamp)
                    chunk = []
            if chunk:
                count += self._enqueue_chunk(run_id, chunk, stamp)
        return count

    def _enqueue_chunk(self, run_id: int | None, chunk: list[WriteBack], stamp: str) -> int:
        keys = [wb.key for wb in chunk]
        if len(set(keys)) < len(keys):  # a key twice: each replaces the one before, in order
            for wb in chunk:
                self._enqueue_chunk(run_id, [wb], stamp)
            return len(chunk)
        marks = ", ".join("?" * len(keys))
        old = {str(r[0]): r[1:] for r in self._rows(
            "select key, id, digest, attempts, last_error, next_attempt_at, parked_at, "
            f"outcome_unknown from outbox where status = 'pending' and key in ({marks})", keys)}
        replaced: list[list[Any]] = []
        rows: list[list[Any]] = []
        for wb in chunk:
            carried: list[Any] = [0, None, None, None, 0]
            if (was := old.get(wb.key)) is not None:
                if was[1] == wb.digest:
                    carried = list(was[2:])
                replaced.append([stamp, was[0]])
            rows.append([wb.key, wb.source, wb.ticket_key, wb.kind.value, dumps(wb.to_json()),
                         wb.digest, *carried, run_id, stamp, stamp])
        conn = self.db.conn
        if replaced:  # before the inserts: one pending row per key
            conn.executemany("update outbox set status = 'replaced', updated_at = ? "
                             "where id = ?", replaced)
        conn.executemany(
            "insert into outbox (key, source, ticket_key, kind, writeback, digest, status, "
            "attempts, last_error, next_attempt_at, parked_at, outcome_unknown, run_id, "
            "created_at, updated_at) "
            "values (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    @guarded
    def pending(self, *, after_id: int = 0, limit: int | None = None,
                due: datetime | None = None) -> list[OutboxItem]:
        """Pending write-backs in the order they were queued; `after_id`/`limit` page through
        them so a large outbox never has to be held in memory at once. With `due`, only the
        ones to try at that time: not parked, and past their backoff."""
        cond, params = "", []
        if due is not None:
            cond = f" and {tryable()}"
            params = [ts(due)]
        rows = self._rows(
            f"select {OUTBOX_COLUMNS} from outbox "
            f"where status = 'pending' and id > ?{cond} order by id limit ?",
            [after_id, *params, -1 if limit is None else limit],
        )
        return [outbox_of(r) for r in rows]

    @guarded
    def pending_keys(self, within: KeyRange | None = None) -> frozenset[str]:
        """The keys of pending write-backs (usually few: what earlier runs left)."""
        cond, params = in_range(within)
        return frozenset(r[0] for r in self._rows(
            f"select key from outbox where status = 'pending' and {cond}", params))

    @guarded
    def pending_count(self) -> int:
        row = self._one("select count(*) from outbox where status = 'pending'")
        return int(row[0])

    @guarded
    def mark_done(
        self, item_id: int, result: ApplyResult, run_id: int | None, *, now: datetime
    ) -> None:
        """Record one confirmed write-back (see `mark_done_many`)."""
        self.mark_done_many([Confirmed(item_id, result, now)], run_id)

    @guarded
    def mark_done_many(self, confirmed: Sequence[Confirmed], run_id: int | None) -> None:
        """Record confirmed write-backs, in the order given, in one transaction: outbox rows
        done, ledger, the stored tickets' labels and a journal row each with the state
        before it. One transaction for many saves a commit (and, on PostgreSQL, a dozen
        round trips) per write-back; if it fails, none of them is recorded and all stay
        pending, which the next run re-applies idempotently."""
        if not confirmed:
            return
        conn = self.db.conn
        with self.db.atomic():
            writebacks = self._pending_writebacks([c.item_id for c in confirmed])
            rows = self._touched_rows(writebacks.values())
            journal: list[list[Any]] = []
            for c in confirmed:
                wb, stamp = writebacks[c.item_id], ts(c.at)
                before = ledger_effects.record(rows, wb, c.result, run_id, stamp)
                journal.append([run_id, c.item_id, wb.source, wb.ticket_key, wb.kind.value,
                                dumps(wb.to_json()), dumps(result_json(c.result)),
                                dumps(before), stamp])
            if rows.changed_ledger:
                conn.executemany(_LEDGER_PUT, [rows.ledger[k] for k in sorted(rows.changed_ledger)])
            if rows.changed_labels:
                conn.executemany(
                    "update tickets set labels = ? where source = ? and key = ?",
                    [[json.dumps(rows.labels[t], ensure_ascii=False), *t]
                     for t in sorted(rows.changed_labels)])
            conn.executemany(
                "update outbox set status = 'done', done_at = ?, done_run_id = ?, "
                "updated_at = ? where id = ?",
                [[ts(c.at), run_id, ts(c.at), c.item_id] for c in confirmed],
            )
            conn.executemany(_JOURNAL_INSERT, journal)

    def _touched_rows(self, writebacks: Iterable[WriteBack]) -> ledger_effects.Rows:
        """The ledger rows and stored labels of the tickets `writebacks` touch, a few queries
        per source."""
        by_source: dict[str, set[str]] = defaultdict(set)
        for wb in writebacks:
            by_source[wb.source].add(wb.ticket_key)
        rows = ledger_effects.Rows({}, {})
        columns = ", ".join(ledger_effects.LEDGER_COLUMNS)
        for source, keys in by_source.items():
            ordered = sorted(keys)
            for start in range(0, len(ordered), _IDS_PER_QUERY):
                chunk = ordered[start:start + _IDS_PER_QUERY]
                marks = ", ".join("?" * len(chunk))
                for row in self._rows(f"select {columns} from ledger where source = ? and "
                                      f"ticket_key in ({marks})", [source, *chunk]):
                    rows.ledger[(row[0], row[1], row[2], row[3])] = list(row)
                for key, labels in self._rows(f"select key, labels from tickets where "
                                              f"source = ? and key in ({marks})",
                                              [source, *chunk]):
                    rows.labels[(source, key)] = json.loads(labels)
        return rows

    def _pending_writeback(self, item_id: int) -> WriteBack:
        return self._pending_writebacks([item_id])[item_id]

    def _pending_writebacks(self, item_ids: Sequence[int]) -> dict[int, WriteBack]:
        """The write-backs of pending outbox items, read in one query; ValueError when one
        is not pending (already done, or unknown) or named twice."""
        found: dict[int, WriteBack] = {}
        for start in range(0, len(item_ids), _IDS_PER_QUERY):
            chunk = item_ids[start:start + _IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            for item_id, writeback, status in self._rows(
                    f"select id, writeback, status from outbox where id in ({marks})", chunk):
                if status == "pending":
                    found[int(item_id)] = WriteBack.from_json(json.loads(writeback))
        missing = [i for i in item_ids if i not in found]
        if missing or len(set(item_ids)) < len(item_ids):
            named = missing[0] if missing else item_ids[-1]
            raise ValueError(f"outbox item {named} is not pending")
        return found

    def _journal(self, run_id: int | None, item_id: int, wb: WriteBack, result: ApplyResult,
                 before: dict[str, Any], stamp: str) -> None:
        self.db.execute(_JOURNAL_INSERT, [
            run_id, item_id, wb.source, wb.ticket_key, wb.kind.value, dumps(wb.to_json()),
            dumps(result_json(result)), dumps(before), stamp])

    @guarded
    def mark_failed(self, item_id: int, error: str, *, now: datetime,
                    next_attempt_at: datetime | None = None, park: bool = False,
                    unknown: bool = False) -> None:
        """Count a failed attempt; the item stays pending. `error` is the caller's safe text.
        `next_attempt_at` delays the next try, `park` stops trying until `resume`, and
        `unknown` says the attempt may have landed (its answer was lost)."""
        self.db.execute(
            "update outbox set attempts = attempts + 1, last_error = ?, updated_at = ?, "
            "next_attempt_at = ?, parked_at = ?, outcome_unknown = ? "
            "where id = ? and status = 'pending'",
            [error[:MAX_ERROR_CHARS], ts(now), ts_opt(next_attempt_at),
             ts(now) if park else None, int(unknown), item_id],
        )

    @guarded
    def prune(self, before: datetime) -> dict[str, int]:
        """Delete history older than `before`: finished outbox rows (done, replaced or
        dropped; never a pending one), journal rows (so runs before it can no longer be
        reverted) and finished runs. Keeps a daemon's store from growing with every
        write-back it ever made."""
        stamp = ts(before)
        conn = self.db.conn
        with self.db.atomic():
            outbox = conn.execute(
                "delete from outbox where status in ('done', 'replaced', 'dropped') "
                "and updated_at < ?",
                [stamp]).rowcount
            journal = conn.execute("delete from journal where at < ?", [stamp]).rowcount
            runs = conn.execute(
                "delete from runs where finished_at is not null and finished_at < ?",
                [stamp]).rowcount
        return {"outbox": int(outbox), "journal": int(journal), "runs": int(runs)}

    @guarded
    def journal(self, run_id: int) -> list[JournalRow]:
        """The write-backs a run confirmed, oldest first."""
        rows = self._rows(
            "select id, run_id, writeback, result, before, at from journal where run_id = ? "
            "order by id",
            [run_id],
        )
        return [
            JournalRow(int(i), run, WriteBack.from_json(json.loads(wb)),
                       result_of(json.loads(res)), json.loads(before), dt(at))
            for i, run, wb, res, before, at in rows
        ]

