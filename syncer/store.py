"""The central store: one SQLite file (via sqlite-utils) holding everything a run needs to
resume and everything the reports read.

Why it is shaped this way:

- Every multi-row change is one transaction (a page of tickets and its cursor; an outbox batch;
  a confirmed write-back with its ledger, ticket and journal rows), so a kill at any point
  leaves a state the next run can continue from.
- The ledger is the service's memory of what it wrote; `applied_state()` hands it to the pure
  planner as plain values, so the planner never removes what a person added.
- SQLite errors never escape as tracebacks: they become `StoreError` naming the file.

Tables and columns: docs/store.md. Schema versions: `syncer.migrations`.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlite_utils import Database

from syncer import migrations
from syncer.errors import StoreError
from syncer.model import (
    AppliedGoalLinks,
    AppliedState,
    ApplyResult,
    Bet,
    BrokenLink,
    CheckIn,
    Link,
    Origin,
    Override,
    Page,
    Ticket,
    WriteBack,
    WriteBackKind,
)
from syncer.plan import goals_digest
from syncer.store_rows import (
    BET_COLUMNS,
    TICKET_COLUMNS,
    JournalRow,
    OutboxItem,
    ReportSnapshot,
    RunRow,
    SentReport,
    SkippedRow,
    bet_of,
    bet_params,
    dt,
    dumps,
    outbox_of,
    result_json,
    result_of,
    run_of,
    ticket_of,
    ticket_params,
    ts,
)

__all__ = [
    "JournalRow", "OutboxItem", "ReportSnapshot", "RunRow", "SentReport", "SkippedRow", "Store",
]

P = ParamSpec("P")
R = TypeVar("R")

MAX_ERROR_CHARS = 2000
_TICKET_COLS = ", ".join(TICKET_COLUMNS)
_UPSERT_TICKET = (
    f"insert into tickets ({_TICKET_COLS}, first_seen, last_seen, run_id) "
    f"values ({', '.join('?' * (len(TICKET_COLUMNS) + 3))}) "
    "on conflict (source, key) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in TICKET_COLUMNS[2:])
    + ", last_seen = excluded.last_seen, run_id = excluded.run_id"
)
_BET_COLS = ", ".join(BET_COLUMNS)
_LEDGER_UPSERT = (
    "insert into ledger (source, ticket_key, kind, label, kr_ids, remote_ref, digest, "
    "applied_at, removed_at, run_id) values (?, ?, ?, ?, ?, ?, ?, ?, null, ?) "
    "on conflict (source, ticket_key, kind, label) do update set kr_ids = excluded.kr_ids, "
    "remote_ref = excluded.remote_ref, digest = excluded.digest, "
    "applied_at = excluded.applied_at, removed_at = null, run_id = excluded.run_id"
)


def _guarded(fn: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """Turn any SQLite failure inside a store method into a StoreError naming the file."""

    @functools.wraps(fn)
    def wrapper(self: Store, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from exc

    return wrapper


def store_error(path: Path, exc: BaseException) -> StoreError:
    """What the user reads when SQLite refuses: the file, and what probably happened."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreError(
            f"{path}: the store is locked by another program ({text})",
            hint="wait for the other okrsync run or program using the file, then retry",
        )
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return StoreError(
            f"{path}: not a usable okrsync store ({text})",
            hint="point [store].path at another file, or restore this one from a backup",
        )
    return StoreError(f"{path}: store error: {text}")


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite touches it; tighten an existing looser file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            os.close(fd)
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if not candidate.exists():
                continue
            mode = candidate.stat().st_mode
            if not stat.S_ISREG(mode):
                raise StoreError(f"{candidate}: not a regular file, cannot hold the store")
            if mode & 0o077:
                os.chmod(candidate, 0o600)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the store: {exc.strerror or exc}") from exc


def _in(values: Sequence[str]) -> str:
    return ", ".join("?" * len(values))


class Store:
    """The SQLite store. Open with `Store.open(path)`; use as a context manager or `close()`."""

    def __init__(self, db: Database, path: Path, version: int) -> None:
        self.db = db
        self.path = path
        self.version = version

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout: float = 5.0) -> Store:
        """Open (creating if needed) the store, migrated to the current schema.

        `busy_timeout` is how long a write waits for another connection before giving up
        with a StoreError.
        """
        path = Path(path).expanduser().absolute()
        _create_private(path)
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(str(path), timeout=busy_timeout)
            conn.execute(f"pragma busy_timeout = {int(busy_timeout * 1000)}")
            conn.execute("pragma journal_mode = wal").fetchone()
            conn.execute("pragma synchronous = normal")
            conn.execute("pragma foreign_keys = on")
            db = Database(conn)
            version = migrations.migrate(db, path)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise store_error(path, exc) from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        _create_private(path)  # the WAL files now exist; SQLite gives them the file's mode
        return cls(db, path, version)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.db.execute(sql, list(params)).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql, list(params)).fetchone()

    # -- runs ---------------------------------------------------------------------------

    @_guarded
    def start_run(self, kind: str, *, dry_run: bool, now: datetime) -> int:
        cur = self.db.execute(
            "insert into runs (kind, started_at, status, dry_run, summary) "
            "values (?, ?, 'running', ?, '{}')",
            [kind, ts(now), int(dry_run)],
        )
        return int(cur.lastrowid or 0)

    @_guarded
    def finish_run(
        self, run_id: int, *, status: str, summary: Mapping[str, Any], now: datetime
    ) -> None:
        self.db.execute(
            "update runs set finished_at = ?, status = ?, summary = ? where id = ?",
            [ts(now), status, dumps(dict(summary)), run_id],
        )

    _RUN = "select id, kind, started_at, finished_at, status, dry_run, summary from runs"

    @_guarded
    def runs(self, limit: int = 20) -> list[RunRow]:
        """The latest runs, newest first."""
        return [run_of(r) for r in self._rows(f"{self._RUN} order by id desc limit ?", [limit])]

    @_guarded
    def run(self, run_id: int) -> RunRow | None:
        row = self._one(f"{self._RUN} where id = ?", [run_id])
        return None if row is None else run_of(row)

    @_guarded
    def last_runs(self) -> dict[str, RunRow]:
        """The latest run of each kind (`sync`, `report` ...), for `okrsync status`."""
        rows = self._rows(f"{self._RUN} where id in (select max(id) from runs group by kind)")
        return {r.kind: r for r in map(run_of, rows)}

    # -- tickets, skipped payloads, cursors ---------------------------------------------

    @_guarded
    def get_cursor(self, source: str) -> str | None:
        row = self._one("select cursor from cursors where source = ?", [source])
        return None if row is None else str(row[0])

    @_guarded
    def store_page(self, source: str, page: Page, run_id: int | None, *, now: datetime) -> None:
        """Store a page's tickets and skipped payloads, then its cursor, in one transaction."""
        stamp = ts(now)
        rows = []
        for t in page.tickets:
            if t.source != source:
                raise ValueError(f"ticket {t.uid} in a page of source {source!r}")
            rows.append((*ticket_params(t), stamp, stamp, run_id))
        with self.db.atomic():
            conn = self.db.conn
            conn.executemany(_UPSERT_TICKET, rows)
            conn.executemany(
                "delete from skipped where source = ? and key = ?",
                [(source, t.key) for t in page.tickets],
            )
            conn.executemany(
                "insert or replace into skipped (source, key, reason, run_id, at) "
                "values (?, ?, ?, ?, ?)",
                [(source, s.key, s.reason, run_id, stamp) for s in page.skipped],
            )
            if page.cursor is not None:
                conn.execute(
                    "insert or replace into cursors (source, cursor, updated_at, run_id) "
                    "values (?, ?, ?, ?)",
                    [source, page.cursor, stamp, run_id],
                )

    @_guarded
    def ticket_count(self, source: str | None = None) -> int:
        if source is None:
            return int(self._one("select count(*) from tickets")[0])
        return int(self._one("select count(*) from tickets where source = ?", [source])[0])

    @_guarded
    def tickets_per_source(self) -> dict[str, int]:
        rows = self._rows("select source, count(*) from tickets group by source order by source")
        return {str(s): int(n) for s, n in rows}

    def iter_tickets(self, source: str | None = None) -> Iterator[Ticket]:
        """Every stored ticket (of one source), ordered by source and key, read in batches."""
        where, params = ("where source = ?", [source]) if source is not None else ("", [])
        try:
            cur = self.db.conn.execute(
                f"select {_TICKET_COLS} from tickets {where} order by source, key", params
            )
            while batch := cur.fetchmany(500):
                yield from map(ticket_of, batch)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from exc

    def tickets(self, source: str | None = None) -> list[Ticket]:
        return list(self.iter_tickets(source))

    @_guarded
    def ticket(self, source: str, key: str) -> Ticket | None:
        row = self._one(
            f"select {_TICKET_COLS} from tickets where source = ? and key = ?", [source, key]
        )
        return None if row is None else ticket_of(row)

    @_guarded
    def find_ticket(self, key: str) -> Ticket | None:
        """A ticket by key in whichever source has it (the first source by name on a tie)."""
        row = self._one(
            f"select {_TICKET_COLS} from tickets where key = ? order by source limit 1", [key]
        )
        return None if row is None else ticket_of(row)

    @_guarded
    def skipped(self, source: str | None = None) -> list[SkippedRow]:
        where, params = ("where source = ?", [source]) if source is not None else ("", [])
        rows = self._rows(
            f"select source, key, reason, run_id, at from skipped {where} order by source, key",
            params,
        )
        return [SkippedRow(s, k, r, run, dt(at)) for s, k, r, run, at in rows]

    # -- what the service applied -------------------------------------------------------

    @_guarded
    def applied_state(self) -> AppliedState:
        """The ledger, overrides and pending keys as plain values for the planner."""
        labels = frozenset(
            (s, k, lb) for s, k, lb in self._rows(
                "select source, ticket_key, label from ledger "
                "where kind = 'label' and removed_at is null"
            )
        )
        goal_links = {
            (s, k): AppliedGoalLinks(tuple(json.loads(krs)), ref, digest)
            for s, k, krs, ref, digest in self._rows(
                "select source, ticket_key, kr_ids, remote_ref, digest from ledger "
                "where kind = 'goal_links' and removed_at is null"
            )
        }
        overrides = frozenset(
            (s, k, lb) for s, k, lb in self._rows("select source, ticket_key, label from overrides")
        )
        pending = frozenset(r[0] for r in self._rows(
            "select key from outbox where status = 'pending'"
        ))
        return AppliedState(labels, goal_links, overrides, pending)

    # -- outbox, ledger, journal ---------------------------------------------------------

    @_guarded
    def enqueue(self, run_id: int | None, writebacks: Iterable[WriteBack], *, now: datetime) -> int:
        """Queue write-backs in one transaction; a pending item with the same key is replaced
        (its attempts carry over when the content is the same)."""
        stamp = ts(now)
        count = 0
        with self.db.atomic():
            for wb in writebacks:
                old = self._one(
                    "select id, digest, attempts, last_error from outbox "
                    "where key = ? and status = 'pending'",
                    [wb.key],
                )
                attempts, last_error = 0, None
                if old is not None:
                    if old[1] == wb.digest:
                        attempts, last_error = old[2], old[3]
                    self.db.execute(
                        "update outbox set status = 'replaced', updated_at = ? where id = ?",
                        [stamp, old[0]],
                    )
                self.db.execute(
                    "insert into outbox (key, source, ticket_key, kind, writeback, digest, "
                    "status, attempts, last_error, run_id, created_at, updated_at) "
                    "values (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
                    [wb.key, wb.source, wb.ticket_key, wb.kind.value, dumps(wb.to_json()),
                     wb.digest, attempts, last_error, run_id, stamp, stamp],
                )
                count += 1
        return count

    @_guarded
    def pending(self) -> list[OutboxItem]:
        """Pending write-backs in the order they were queued."""
        rows = self._rows(
            "select id, writeback, attempts, last_error, run_id, created_at from outbox "
            "where status = 'pending' order by id"
        )
        return [outbox_of(r) for r in rows]

    @_guarded
    def mark_done(
        self, item_id: int, result: ApplyResult, run_id: int | None, *, now: datetime
    ) -> None:
        """Record a confirmed write-back: outbox row done, ledger, the stored ticket's labels
        and a journal row with the state before it, all in one transaction."""
        stamp = ts(now)
        with self.db.atomic():
            row = self._one("select writeback, status from outbox where id = ?", [item_id])
            if row is None or row[1] != "pending":
                raise ValueError(f"outbox item {item_id} is not pending")
            wb = WriteBack.from_json(json.loads(row[0]))
            before = self._record_effect(wb, result, run_id, stamp)
            self.db.execute(
                "update outbox set status = 'done', done_at = ?, done_run_id = ?, "
                "updated_at = ? where id = ?",
                [stamp, run_id, stamp, item_id],
            )
            self.db.execute(
                "insert into journal (run_id, outbox_id, source, ticket_key, kind, writeback, "
                "result, before, at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, item_id, wb.source, wb.ticket_key, wb.kind.value, dumps(wb.to_json()),
                 dumps(result_json(result)), dumps(before), stamp],
            )

    def _record_effect(
        self, wb: WriteBack, result: ApplyResult, run_id: int | None, stamp: str
    ) -> dict[str, Any]:
        """Update the ledger and the stored ticket for one write-back; return the `before`."""
        if wb.kind in (WriteBackKind.ADD_LABEL, WriteBackKind.REMOVE_LABEL):
            return self._record_label(wb, run_id, stamp)
        old = self._one(
            "select kr_ids, remote_ref, digest, removed_at from ledger where source = ? and "
            "ticket_key = ? and kind = 'goal_links' and label = ''",
            [wb.source, wb.ticket_key],
        )
        before: dict[str, Any] = {"goal_links": None}
        if old is not None:
            before["goal_links"] = {
                "kr_ids": json.loads(old[0]), "remote_ref": old[1], "digest": old[2],
                "active": old[3] is None,
            }
        if wb.kind is WriteBackKind.SET_GOAL_LINKS:
            ref = result.remote_ref
            if ref is None:
                ref = old[1] if old is not None else wb.remote_ref
            kr_ids = json.dumps([g.kr_id for g in wb.goals])
            digest = goals_digest(wb.goals)  # what the planner compares the goal text with
            self.db.execute(
                _LEDGER_UPSERT,
                [wb.source, wb.ticket_key, "goal_links", "", kr_ids, ref, digest, stamp, run_id],
            )
        else:  # REMOVE_GOAL_LINKS: the service's goal links are gone from the ticket
            self.db.execute(
                "update ledger set removed_at = ?, kr_ids = '[]', remote_ref = ?, run_id = ? "
                "where source = ? and ticket_key = ? and kind = 'goal_links' and label = ''",
                [stamp, result.remote_ref, run_id, wb.source, wb.ticket_key],
            )
        return before

    def _record_label(self, wb: WriteBack, run_id: int | None, stamp: str) -> dict[str, Any]:
        ticket_row = self._one(
            "select labels from tickets where source = ? and key = ?", [wb.source, wb.ticket_key]
        )
        labels: list[str] | None = None if ticket_row is None else json.loads(ticket_row[0])
        ledger_row = self._one(
            "select removed_at from ledger where source = ? and ticket_key = ? and "
            "kind = 'label' and label = ?",
            [wb.source, wb.ticket_key, wb.label],
        )
        wanted = wb.label.casefold()  # GitHub labels are case-insensitive; the planner too
        before = {
            "label": wb.label,
            "label_present": None if labels is None else wanted in {
                lb.casefold() for lb in labels
            },
            "ledger_active": ledger_row is not None and ledger_row[0] is None,
        }
        if wb.kind is WriteBackKind.ADD_LABEL:
            self.db.execute(
                _LEDGER_UPSERT,
                [wb.source, wb.ticket_key, "label", wb.label, "[]", None, wb.digest, stamp,
                 run_id],
            )
            present = labels is not None and wanted in {lb.casefold() for lb in labels}
            new_labels = labels if labels is None or present else [*labels, wb.label]
        else:
            self.db.execute(
                "update ledger set removed_at = ?, run_id = ? where source = ? and "
                "ticket_key = ? and kind = 'label' and label = ? and removed_at is null",
                [stamp, run_id, wb.source, wb.ticket_key, wb.label],
            )
            new_labels = None if labels is None else [
                lb for lb in labels if lb.casefold() != wanted
            ]
        if new_labels is not None and new_labels != labels:
            self.db.execute(
                "update tickets set labels = ? where source = ? and key = ?",
                [json.dumps(new_labels, ensure_ascii=False), wb.source, wb.ticket_key],
            )
        return before

    @_guarded
    def mark_failed(self, item_id: int, error: str, *, now: datetime) -> None:
        """Count a failed attempt; the item stays pending. `error` is the caller's safe text."""
        self.db.execute(
            "update outbox set attempts = attempts + 1, last_error = ?, updated_at = ? "
            "where id = ? and status = 'pending'",
            [error[:MAX_ERROR_CHARS], ts(now), item_id],
        )

    @_guarded
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

    # -- plan outcome --------------------------------------------------------------------

    @_guarded
    def save_plan_outcome(
        self,
        links: Iterable[Link],
        broken: Iterable[BrokenLink],
        bets: Iterable[Bet],
        untraceable_uids: Iterable[str],
        new_overrides: Iterable[Override],
        *,
        sources: Iterable[str],
        now: datetime,
    ) -> None:
        """Replace links, broken links and untraceable flags of `sources` (others keep what
        they had: a failed source's picture stays as last seen); upsert bets and overrides.
        An untraceable ticket keeps the `since` of when it was first flagged."""
        srcs = sorted(set(sources))
        stamp = ts(now)
        conn = self.db.conn
        with self.db.atomic():
            conn.execute(f"delete from links where source in ({_in(srcs)})", srcs)
            conn.execute(f"delete from broken_links where source in ({_in(srcs)})", srcs)
            conn.executemany(
                "insert or replace into links (source, ticket_key, kr_id, origin, rule_id, "
                "reason) values (?, ?, ?, ?, ?, ?)",
                [(lk.source, lk.ticket_key, lk.kr_id, lk.origin.value, lk.rule_id, lk.reason)
                 for lk in links if lk.source in srcs],
            )
            conn.executemany(
                "insert or replace into broken_links (source, ticket_key, label, kr_id) "
                "values (?, ?, ?, ?)",
                [(b.source, b.ticket_key, b.label, b.kr_id) for b in broken if b.source in srcs],
            )
            flagged = {uid: src for uid in untraceable_uids if (src := _source_of(uid, srcs))}
            known = self._rows(f"select uid from untraceable where source in ({_in(srcs)})", srcs)
            conn.executemany(
                "delete from untraceable where uid = ?",
                [(uid,) for (uid,) in known if uid not in flagged],
            )
            conn.executemany(
                "insert or ignore into untraceable (uid, source, since) values (?, ?, ?)",
                [(uid, src, stamp) for uid, src in flagged.items()],
            )
            conn.executemany(
                f"insert into bets ({_BET_COLS}, updated_at) values "
                f"({_in(BET_COLUMNS)}, ?) on conflict (source, ticket_key, kr_id) do update set "
                + ", ".join(f"{c} = excluded.{c}" for c in BET_COLUMNS[3:])
                + ", updated_at = excluded.updated_at",
                [(*bet_params(b), stamp) for b in bets],
            )
            for o in new_overrides:
                conn.execute(
                    "insert or ignore into overrides (source, ticket_key, label, kr_id, at) "
                    "values (?, ?, ?, ?, ?)",
                    [o.source, o.ticket_key, o.label, o.kr_id, ts(o.at)],
                )
                conn.execute(
                    "update ledger set removed_at = ? where source = ? and ticket_key = ? and "
                    "kind = 'label' and label = ? and removed_at is null",
                    [ts(o.at), o.source, o.ticket_key, o.label],
                )

    @_guarded
    def links(self) -> list[Link]:
        rows = self._rows(
            "select source, ticket_key, kr_id, origin, rule_id, reason from links "
            "order by source, ticket_key, kr_id"
        )
        return [Link(s, k, kr, Origin(o), rule, reason) for s, k, kr, o, rule, reason in rows]

    @_guarded
    def broken_links(self) -> list[BrokenLink]:
        rows = self._rows(
            "select source, ticket_key, label, kr_id from broken_links "
            "order by source, ticket_key, label"
        )
        return [BrokenLink(*r) for r in rows]

    @_guarded
    def bets(self) -> list[Bet]:
        rows = self._rows(f"select {_BET_COLS} from bets order by source, ticket_key, kr_id")
        return [bet_of(r) for r in rows]

    @_guarded
    def overrides(self) -> list[Override]:
        rows = self._rows(
            "select source, ticket_key, label, kr_id, at from overrides "
            "order by source, ticket_key, label"
        )
        return [Override(s, k, lb, kr, dt(at)) for s, k, lb, kr, at in rows]

    @_guarded
    def untraceable(self) -> dict[str, datetime]:
        """Untraceable ticket uids and since when they have been untraceable."""
        return {uid: dt(since) for uid, since in self._rows(
            "select uid, since from untraceable order by uid"
        )}

    # -- key-result values -----------------------------------------------------------------

    @_guarded
    def add_checkin(self, checkin: CheckIn) -> int:
        cur = self.db.execute(
            "insert into checkins (kr_id, value, at, confidence, note) values (?, ?, ?, ?, ?)",
            [checkin.kr_id, checkin.value, ts(checkin.at), checkin.confidence, checkin.note],
        )
        return int(cur.lastrowid or 0)

    @_guarded
    def checkins(self, kr_id: str | None = None) -> list[CheckIn]:
        """Check-ins (of one KR), oldest first."""
        where, params = ("where kr_id = ?", [kr_id]) if kr_id is not None else ("", [])
        rows = self._rows(
            f"select kr_id, value, at, confidence, note from checkins {where} order by at, id",
            params,
        )
        return [CheckIn(kr, value, dt(at), conf, note) for kr, value, at, conf, note in rows]

    @_guarded
    def snapshot_kr_values(self, values: Mapping[str, float], *, now: datetime) -> None:
        """Remember KR values seen at `now`; a value equal to the KR's latest snapshot adds no
        row, so a daemon syncing every few minutes does not grow the table."""
        latest = self._latest("kr_snapshots", "at desc", ts(now))
        rows = [(kr, ts(now), float(v)) for kr, v in values.items() if latest.get(kr) != v]
        with self.db.atomic():
            self.db.conn.executemany(
                "insert or replace into kr_snapshots (kr_id, at, value) values (?, ?, ?)", rows
            )

    @_guarded
    def kr_values(self, at: datetime) -> dict[str, float]:
        """Each KR's value at `at`: its latest check-in at or before `at`, else its latest
        snapshot at or before `at`. KRs with neither are absent."""
        stamp = ts(at)
        values = self._latest("kr_snapshots", "at desc", stamp)
        values.update(self._latest("checkins", "at desc, id desc", stamp))
        return values

    def _latest(self, table: str, newest_first: str, stamp: str) -> dict[str, float]:
        """Per KR, the value of the newest row of `table` at or before `stamp`."""
        rows = self._rows(
            f"select kr_id, value from (select kr_id, value, row_number() over (partition by "
            f"kr_id order by {newest_first}) as n from {table} where at <= ?) where n = 1",
            [stamp],
        )
        return {str(kr): float(v) for kr, v in rows}

    # -- reports ---------------------------------------------------------------------------

    @_guarded
    def sent_report(self, week: str, kind: str, recipient: str) -> SentReport | None:
        """The record of a report already mailed for this ISO week, if any."""
        row = self._one(
            "select week, kind, recipient, sent_at, message_id, times from sent_reports "
            "where week = ? and kind = ? and recipient = ?",
            [week, kind, recipient],
        )
        if row is None:
            return None
        return SentReport(row[0], row[1], row[2], dt(row[3]), row[4], int(row[5]))

    @_guarded
    def record_sent_report(
        self, week: str, kind: str, recipient: str, *, now: datetime, message_id: str = ""
    ) -> None:
        self.db.execute(
            "insert into sent_reports (week, kind, recipient, sent_at, message_id) "
            "values (?, ?, ?, ?, ?) on conflict (week, kind, recipient) do update set "
            "sent_at = excluded.sent_at, message_id = excluded.message_id, times = times + 1",
            [week, kind, recipient, ts(now), message_id],
        )

    @_guarded
    def save_report_snapshot(
        self, week: str, kind: str, data: Mapping[str, Any], *, now: datetime
    ) -> None:
        """Keep (replace) one week's report data for trend lines."""
        self.db.execute(
            "insert or replace into report_snapshots (week, kind, data, created_at) "
            "values (?, ?, ?, ?)",
            [week, kind, dumps(dict(data)), ts(now)],
        )

    @_guarded
    def report_snapshots(self, kind: str, weeks: int | Iterable[str]) -> list[ReportSnapshot]:
        """Snapshots of one kind, oldest week first: the latest `weeks` of them (an int), or
        those of the given ISO weeks."""
        sql = "select week, kind, data, created_at from report_snapshots where kind = ?"
        if isinstance(weeks, int):
            rows = self._rows(f"{sql} order by week desc limit ?", [kind, max(weeks, 0)])
        else:
            wanted = sorted(set(weeks))
            rows = self._rows(f"{sql} and week in ({_in(wanted)})", [kind, *wanted])
        snaps = [ReportSnapshot(w, k, json.loads(d), dt(c)) for w, k, d, c in rows]
        return sorted(snaps, key=lambda s: s.week)

    # -- health --------------------------------------------------------------------------

    @_guarded
    def counts(self) -> dict[str, int]:
        """Row counts `okrsync status` shows."""
        tables = ("tickets", "skipped", "links", "broken_links", "bets", "overrides",
                  "untraceable", "checkins", "runs")
        out = {t: int(self._one(f"select count(*) from {t}")[0]) for t in tables}
        out["pending"] = int(self._one("select count(*) from outbox where status = 'pending'")[0])
        return out

    @_guarded
    def integrity_check(self) -> str:
        """SQLite's own check: "ok", or the problems it found, one per line."""
        return "\n".join(str(r[0]) for r in self._rows("pragma integrity_check"))


def _source_of(uid: str, sources: Sequence[str]) -> str | None:
    """Which of `sources` a `source:key` uid belongs to (the longest matching name)."""
    matches = [s for s in sources if uid.startswith(f"{s}:")]
    return max(matches, key=len) if matches else None
