"""The central store: one SQLite file (via sqlite-utils), or one PostgreSQL database that
several workers share (`[store] url`, `syncer.store_pg`), holding everything a run needs to
resume and everything the reports read.

Why it is shaped this way:

- Every multi-row change is one transaction (a page of tickets and its cursor; an outbox batch;
  a confirmed write-back with its ledger, ticket and journal rows), so a kill at any point
  leaves a state the next run can continue from.
- The ledger is the service's memory of what it wrote; `applied_state()` hands it to the pure
  planner as plain values, so the planner never removes what a person added.
- Database errors never escape as tracebacks: they become `StoreError` naming the file (or
  the server, without its password).
- Both backends run the same SQL and migrations; what differs is in `syncer.store_dialect`.

Tables and columns: docs/store.md. Schema versions: `syncer.migrations`.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

import psycopg
from sqlite_utils import Database

from core.errors import StoreError
from core.model import (
    Bet,
    BrokenLink,
    Link,
    Origin,
    Override,
    Page,
    Ticket,
)
from syncer import migrations, store_pg
from syncer.store_base import SqlDatabase, WriterDatabase, guarded, in_list, store_error
from syncer.store_decisions import DecisionsStore
from syncer.store_deferral import DeferralStore
from syncer.store_health import HealthStore
from syncer.store_measured import MeasuredStore
from syncer.store_ownership import OwnershipStore
from syncer.store_parking import ParkingStore
from syncer.store_records import RecordsStore
from syncer.store_rhythm import RhythmStore
from syncer.store_rows import (
    BET_COLUMNS,
    TICKET_COLUMNS,
    JournalRow,
    KeyRange,
    OutboxItem,
    ReportSnapshot,
    RunRow,
    SentReport,
    SkippedRow,
    bet_of,
    bet_params,
    dt,
    in_range,
    ticket_of,
    ticket_params,
    ts,
)
from syncer.store_suggest import SuggestInputsStore
from syncer.store_views import ensure_views

__all__ = [
    "JournalRow", "KeyRange", "OutboxItem", "ReportSnapshot", "RunRow", "SentReport",
    "SkippedRow", "Store",
]

_TICKET_COLS = ", ".join(TICKET_COLUMNS)
_UPSERT_TICKET = (
    f"insert into tickets ({_TICKET_COLS}, first_seen, last_seen, run_id) "
    f"values ({', '.join('?' * (len(TICKET_COLUMNS) + 3))}) "
    "on conflict (source, key) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in TICKET_COLUMNS[2:])
    + ", last_seen = excluded.last_seen, run_id = excluded.run_id"
)
_BET_COLS = ", ".join(BET_COLUMNS)
_UPSERT_BET = (
    f"insert into bets ({_BET_COLS}, updated_at) values ({in_list(BET_COLUMNS)}, ?) "
    "on conflict (source, ticket_key, kr_id) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in BET_COLUMNS[3:])
    + ", updated_at = excluded.updated_at"
)


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite touches it. An existing file is only checked here:
    its mode is tightened by `_tighten` once it has proven to be an okrsync store."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            os.close(fd)
        for candidate in _store_files(path):
            if candidate.exists() and not stat.S_ISREG(candidate.stat().st_mode):
                raise StoreError(f"{candidate}: not a regular file, cannot hold the store")
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the store: {exc.strerror or exc}") from exc


def _store_files(path: Path) -> tuple[Path, ...]:
    return (path, Path(f"{path}-wal"), Path(f"{path}-shm"))


def _tighten(path: Path) -> None:
    """Make the store and its WAL files private (SQLite gives them the main file's mode)."""
    try:
        for candidate in _store_files(path):
            if candidate.exists() and candidate.stat().st_mode & 0o077:
                os.chmod(candidate, 0o600)
    except OSError as exc:
        raise StoreError(f"{path}: cannot make the store private: {exc.strerror or exc}") from exc


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """A SQLite file with tables but no `schema_version` belongs to another program: refuse it
    before any write (a migration, or the switch to WAL) changes it."""
    names = {str(r[0]) for r in conn.execute("select name from sqlite_master where type = 'table'")}
    if names and "schema_version" not in names:
        raise StoreError(
            f"{path}: not an okrsync store (a SQLite file of another program)",
            hint="point [store].path at a new file; okrsync leaves this one alone",
        )


def store_exists(target: Path | str) -> bool:
    """A store is there to read: the SQLite file exists, or a PostgreSQL URL is configured
    (the server is asked when the store is opened)."""
    return store_pg.is_url(target) or Path(target).exists()


def store_label(target: Path | str) -> str:
    """How messages name a store: its file, or its URL without a password."""
    return store_pg.display_url(str(target)) if store_pg.is_url(target) else str(target)


BUSY_TIMEOUT = 30.0
"""Seconds a write waits for another connection's transaction (a sync plans in one) before
giving up: a check-in during a large sync's planning waits instead of failing."""


MIGRATION_LOCK = 0x6F6B7273
"""The PostgreSQL advisory lock two workers opening a new store at once migrate under."""


def _refuse_foreign_pg(db: store_pg.PgDatabase, url: str) -> None:
    names = store_pg.table_names(db)
    if names and "schema_version" not in names:
        raise StoreError(
            f"{store_pg.display_url(url)}: not an okrsync store (a database of another "
            "program holds tables in its schema)",
            hint="point [store].url at an empty database; okrsync leaves this one alone",
        )


class Store(ParkingStore, RecordsStore, HealthStore, OwnershipStore, DeferralStore,
            DecisionsStore, MeasuredStore, RhythmStore, SuggestInputsStore):
    """The store. Open with `Store.open(path or url)`; use as a context manager or `close()`."""

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT) -> Store:
        """Open (creating if needed) the store, migrated to the current schema: a SQLite
        file, or a PostgreSQL database when `path` is a `postgresql://` URL.

        `busy_timeout` is how long a write waits for another connection before giving up
        with a StoreError.
        """
        if store_pg.is_url(path):
            return cls._open_postgres(str(path))
        path = Path(path).expanduser().absolute()
        _create_private(path)
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(str(path), timeout=busy_timeout)
            conn.execute(f"pragma busy_timeout = {int(busy_timeout * 1000)}")
            _refuse_foreign(conn, path)
            conn.execute("pragma journal_mode = wal").fetchone()
            conn.execute("pragma synchronous = normal")
            conn.execute("pragma foreign_keys = on")
            db = WriterDatabase(conn)
            version = migrations.migrate(db, path)
            ensure_views(db, postgres=False)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise store_error(path, exc) from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        _tighten(path)
        return cls(db, path, version)

    @classmethod
    def _open_postgres(cls, url: str) -> Store:
        db = store_pg.connect(url)
        raw = db.conn.raw
        try:
            raw.execute("select pg_advisory_lock(%s)", [MIGRATION_LOCK])
            try:
                _refuse_foreign_pg(db, url)
                version = migrations.migrate(db, Path(store_pg.display_url(url)))
                ensure_views(db, postgres=True)
            finally:
                raw.execute("select pg_advisory_unlock(%s)", [MIGRATION_LOCK])
        except psycopg.Error as exc:
            db.close()
            raise store_pg.pg_error(url, exc) from exc
        except BaseException:
            db.close()
            raise
        return cls(db, Path("postgresql"), version, url=url)

    @classmethod
    def open_read_only(cls, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT) -> Store:
        """Open an existing store only to read it: nothing is created, chmod-ed or migrated,
        so `status`, reports and the daemon's health work on a full disk or a read-only
        volume, and never change a file that is not a store. A store of an older schema is
        migrated through `open` once it has shown to be okrsync's. A PostgreSQL store is
        opened (and migrated) as by `open`, then its session refuses writes: the server
        enforces what the SQLite file's read-only mode does."""
        if store_pg.is_url(path):
            store = cls.open(path, busy_timeout=busy_timeout)
            assert isinstance(store.db, store_pg.PgDatabase)
            try:
                store.db.conn.make_read_only()
            except psycopg.Error as exc:
                store.close()
                raise store_pg.pg_error(str(path), exc) from exc
            return store
        path = Path(path).expanduser().absolute()
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=busy_timeout)
            conn.execute(f"pragma busy_timeout = {int(busy_timeout * 1000)}")
            _refuse_foreign(conn, path)
            row = conn.execute("select max(version) from schema_version").fetchone()
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise store_error(path, exc) from exc
        version = int(row[0] or 0)
        if version != len(migrations.MIGRATIONS):
            conn.close()
            return cls.open(path, busy_timeout=busy_timeout)
        return cls(Database(conn), path, version)

    # -- tickets, skipped payloads, cursors ---------------------------------------------

    @guarded
    def get_cursor(self, source: str) -> str | None:
        row = self._one("select cursor from cursors where source = ?", [source])
        return None if row is None else str(row[0])

    @guarded
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

    @guarded
    def last_complete_pull(self, source: str) -> datetime | None:
        row = self._one("select at from complete_pulls where source = ?", [source])
        return None if row is None else dt(row[0])

    @guarded
    def retire_unseen(self, source: str, run_id: int) -> int:
        """After a complete pull of `source` in run `run_id`, forget the tickets it no longer
        returned (deleted, moved out of the scope, in a repo no longer synced), with their
        bets and skip records; return how many were forgotten. Ledger and overrides stay, so
        a ticket that comes back is neither written twice nor fought over."""
        gone = ("source = ? and coalesce(run_id, -1) != ? and key not in "
                "(select key from skipped where source = ? and run_id = ?)")
        params = [source, run_id, source, run_id]
        conn = self.db.conn
        with self.db.atomic():
            conn.execute(
                f"delete from bets where source = ? and ticket_key in "
                f"(select key from tickets where {gone})", [source, *params],
            )
            retired = conn.execute(f"delete from tickets where {gone}", params).rowcount
            conn.execute("delete from skipped where source = ? and coalesce(run_id, -1) != ?",
                         [source, run_id])
        return int(retired)

    @guarded
    def note_complete_pull(self, source: str, run_id: int, *, now: datetime) -> None:
        """Remember when `source` was last pulled completely (the schedule's clock)."""
        self.db.execute("insert or replace into complete_pulls (source, at, run_id) "
                        "values (?, ?, ?)", [source, ts(now), run_id])

    @guarded
    def ticket_count(self, source: str | None = None) -> int:
        if source is None:
            return int(self._one("select count(*) from tickets")[0])
        return int(self._one("select count(*) from tickets where source = ?", [source])[0])

    @guarded
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
        except (sqlite3.Error, psycopg.Error) as exc:
            raise self.error(exc) from exc

    def tickets(self, source: str | None = None) -> list[Ticket]:
        return list(self.iter_tickets(source))

    def transaction(self) -> AbstractContextManager[SqlDatabase]:
        """One transaction around several calls (nested calls become savepoints): the engine
        queues a whole plan's write-backs all or nothing. Like every write transaction of
        the store it holds the write lock from its start (`WriterDatabase`)."""
        context: AbstractContextManager[SqlDatabase] = self.db.atomic()
        return context

    @guarded
    def ticket_batches(self, size: int = 2000) -> Iterator[list[Ticket]]:
        """Every ticket in (source, key) order, one query per batch, so that the caller may
        write to the store between batches and hold only one batch in memory."""
        after: tuple[str, str] = ("", "")
        while True:
            rows = self._rows(
                f"select {_TICKET_COLS} from tickets where (source, key) > (?, ?) "
                "order by source, key limit ?",
                [*after, size],
            )
            if not rows:
                return
            batch = [ticket_of(row) for row in rows]
            yield batch
            after = (batch[-1].source, batch[-1].key)

    @guarded
    def ticket(self, source: str, key: str) -> Ticket | None:
        row = self._one(
            f"select {_TICKET_COLS} from tickets where source = ? and key = ?", [source, key]
        )
        return None if row is None else ticket_of(row)

    @guarded
    def find_ticket(self, key: str) -> Ticket | None:
        """A ticket by key in whichever source has it (the first source by name on a tie)."""
        row = self._one(
            f"select {_TICKET_COLS} from tickets where key = ? order by source limit 1", [key]
        )
        return None if row is None else ticket_of(row)

    @guarded
    def skipped(self, source: str | None = None) -> list[SkippedRow]:
        where, params = ("where source = ?", [source]) if source is not None else ("", [])
        rows = self._rows(
            f"select source, key, reason, run_id, at from skipped {where} order by source, key",
            params,
        )
        return [SkippedRow(s, k, r, run, dt(at)) for s, k, r, run, at in rows]

    # -- plan outcome --------------------------------------------------------------------

    @guarded
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
        within: KeyRange | None = None,
    ) -> None:
        """Replace links, broken links and untraceable flags of `sources` (others keep what
        they had: a failed source's picture stays as last seen); upsert bets and overrides.
        An untraceable ticket keeps the `since` of when it was first flagged. `within`
        limits the replacement to the tickets of one planning batch."""
        srcs = sorted(set(sources))
        stamp = ts(now)
        conn = self.db.conn
        cond, params = in_range(within)
        scope = f"source in ({in_list(srcs)}) and {cond}"
        uid_cond, uid_params = in_range(within, key="substr(uid, length(source) + 2)")
        with self.db.atomic():
            conn.execute(f"delete from links where {scope}", [*srcs, *params])
            conn.execute(f"delete from broken_links where {scope}", [*srcs, *params])
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
            known = self._rows(
                f"select uid from untraceable where source in ({in_list(srcs)}) and {uid_cond}",
                [*srcs, *uid_params],
            )
            conn.executemany(
                "delete from untraceable where uid = ?",
                [(uid,) for (uid,) in known if uid not in flagged],
            )
            conn.executemany(
                "insert or ignore into untraceable (uid, source, since) values (?, ?, ?)",
                [(uid, src, stamp) for uid, src in flagged.items()],
            )
            conn.executemany(
                _UPSERT_BET,
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

    @guarded
    def links(self) -> list[Link]:
        rows = self._rows(
            "select source, ticket_key, kr_id, origin, rule_id, reason from links "
            "order by source, ticket_key, kr_id"
        )
        return [Link(s, k, kr, Origin(o), rule, reason) for s, k, kr, o, rule, reason in rows]

    @guarded
    def broken_links(self) -> list[BrokenLink]:
        rows = self._rows(
            "select source, ticket_key, label, kr_id from broken_links "
            "order by source, ticket_key, label"
        )
        return [BrokenLink(*r) for r in rows]

    @guarded
    def bets(self, within: KeyRange | None = None) -> list[Bet]:
        cond, params = in_range(within)
        rows = self._rows(
            f"select {_BET_COLS} from bets where {cond} order by source, ticket_key, kr_id",
            params,
        )
        return [bet_of(r) for r in rows]

    @guarded
    def overrides(self) -> list[Override]:
        rows = self._rows(
            "select source, ticket_key, label, kr_id, at from overrides "
            "order by source, ticket_key, label"
        )
        return [Override(s, k, lb, kr, dt(at)) for s, k, lb, kr, at in rows]

    @guarded
    def untraceable(self) -> dict[str, datetime]:
        """Untraceable ticket uids and since when they have been untraceable."""
        return {uid: dt(since) for uid, since in self._rows(
            "select uid, since from untraceable order by uid"
        )}

    # -- health --------------------------------------------------------------------------

    @guarded
    def counts(self) -> dict[str, int]:
        """Row counts `okrsync status` shows."""
        tables = ("tickets", "skipped", "links", "broken_links", "bets", "overrides",
                  "untraceable", "checkins", "runs")
        out = {t: int(self._one(f"select count(*) from {t}")[0]) for t in tables}
        out["pending"] = int(self._one("select count(*) from outbox where status = 'pending'")[0])
        return out

    @guarded
    def integrity_check(self) -> str:
        """SQLite's own check: "ok", or the problems it found, one per line (PostgreSQL
        keeps its own consistency: always "ok" once it answers)."""
        return "\n".join(str(r[0]) for r in self._rows("pragma integrity_check"))


def _source_of(uid: str, sources: Sequence[str]) -> str | None:
    """Which of `sources` a `source:key` uid belongs to (the longest matching name)."""
    matches = [s for s in sources if uid.startswith(f"{s}:")]
    return max(matches, key=len) if matches else None
