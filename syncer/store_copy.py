"""Moving a SQLite store into PostgreSQL (`okrsync store migrate --to URL`).

Every table of the file (ledger, outbox, journal, history ...) is copied row for row with
PostgreSQL's COPY in one transaction into an empty PostgreSQL store of the same schema
version, the identity counters are moved past the copied ids, and the rows of every table are
counted on both sides: the move is refused or rolled back unless every count matches, so
nothing is lost, and the first sync after it has nothing to write.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.clock import SYSTEM
from core.errors import StoreError, UserError
from syncer.store import Store
from syncer.store_pg import PgDatabase

SKIPPED_TABLES = frozenset({"sqlite_sequence", "schema_version"})
"""SQLite's own bookkeeping, and the versions the target already recorded for itself."""


@dataclass
class CopyReport:
    """Rows per table on each side, and how long the copy took."""

    source: str
    target: str
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def matches(self) -> bool:
        return all(a == b for a, b in self.rows.values())

    def to_json(self) -> dict[str, object]:
        return {
            "from": self.source, "to": self.target, "seconds": round(self.seconds, 3),
            "verified": self.matches,
            "tables": {t: {"sqlite": a, "postgresql": b} for t, (a, b) in self.rows.items()},
        }


REFERENCED_FIRST = ("outbox",)
"""Tables other tables' foreign keys point at (`journal.outbox_id`): copied before them."""


def _tables(store: Store) -> list[str]:
    rows = store.db.execute(
        "select name from sqlite_master where type = 'table' order by name").fetchall()
    names = [str(r[0]) for r in rows if str(r[0]) not in SKIPPED_TABLES]
    return sorted(names, key=lambda t: (t not in REFERENCED_FIRST, t))


def _columns(store: Store, table: str) -> list[str]:
    return [str(r[1]) for r in store.db.execute(f"pragma table_info({table})").fetchall()]


def _count(store: Store, table: str) -> int:
    return int(store.db.execute(f"select count(*) from {table}").fetchone()[0])


def copy_store(source: Store, target: Store) -> CopyReport:
    """Copy every row of the SQLite `source` into the empty PostgreSQL `target`."""
    if source.url is not None or not isinstance(target.db, PgDatabase):
        raise UserError("store migrate copies a SQLite store into a PostgreSQL one")
    if source.version != target.version:
        raise StoreError(f"{source.location} has schema version {source.version} but "
                         f"{target.location} has {target.version}")
    report = CopyReport(source.location, target.location)
    tables = _tables(source)
    busy = [t for t in tables if _count(target, t)]
    if busy:
        raise UserError(
            f"{target.location} already holds okrsync data (in {', '.join(busy)})",
            hint="migrate into an empty database or schema; nothing was copied",
        )
    started = SYSTEM.monotonic()
    raw = target.db.conn.raw
    with raw.transaction():
        for table in tables:
            columns = _columns(source, table)
            names = ", ".join(columns)
            cursor = source.db.conn.execute(f"select {names} from {table}")
            with raw.cursor() as cur, cur.copy(f"copy {table} ({names}) from stdin") as copy:
                while batch := cursor.fetchmany(5000):
                    for row in batch:
                        copy.write_row(row)
            if "id" in columns:
                raw.execute(
                    f"select setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce((select max(id) from {table}), 0) + 1, false)")
        report.rows = {t: (_count(source, t), _count(target, t)) for t in tables}
        if not report.matches:
            wrong = [t for t, (a, b) in report.rows.items() if a != b]
            raise StoreError(f"row counts differ after copying {', '.join(wrong)}; "
                             "the copy was rolled back")
    report.seconds = SYSTEM.monotonic() - started
    return report
