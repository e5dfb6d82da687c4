"""The store's plumbing shared by its parts: the connection (SQLite, or PostgreSQL through
`syncer.store_pg`), small query helpers, and the translation of database failures into
`StoreError` naming the file or server (never a traceback)."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import psycopg
from sqlite_utils import Database

from core.errors import StoreError, StoreUnavailable
from syncer.store_dialect import POSTGRES, SQLITE, Dialect
from syncer.store_pg import PgDatabase, display_url, pg_error

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="StoreBase")


def guarded(fn: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Turn any database failure inside a store method into a StoreError naming the store."""

    @functools.wraps(fn)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(self, *args, **kwargs)
        except (sqlite3.Error, psycopg.Error) as exc:
            raise self.error(exc) from exc

    return wrapper


def store_error(path: Path, exc: BaseException) -> StoreError:
    """What the user reads when SQLite refuses: the file, and what probably happened."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreUnavailable(
            f"{path}: the store is locked by another program ({text})",
            hint="wait for the other okrsync run or program using the file, then retry",
        )
    if "full" in text:
        return StoreUnavailable(
            f"{path}: the disk holding the store is full ({text})",
            hint="free space on that volume and run again; what was stored is intact and "
                 "the next run continues from it",
        )
    if "readonly" in text or "read-only" in text:
        return StoreUnavailable(
            f"{path}: the store is on a read-only volume or file ({text})",
            hint="`okrsync status` and reports still read it; writing needs a writable store",
        )
    if "disk I/O" in text:
        return StoreUnavailable(f"{path}: the disk holding the store failed ({text})",
                                hint="check the volume and its free space, then run again")
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return StoreError(
            f"{path}: not a usable okrsync store ({text})",
            hint="point [store].path at another file, or restore this one from a backup",
        )
    return StoreError(f"{path}: store error: {text}")


class WriterDatabase(Database):
    """sqlite-utils' `Database` whose outermost `atomic()` is `BEGIN IMMEDIATE`: it takes the
    write lock at its start, waiting up to the busy timeout. A deferred transaction that
    reads, then writes (marking a write-back done, planning) fails outright instead when
    another connection committed in between, since SQLite cannot wait for a stale snapshot:
    an `okrsync checkin` during a sync would fail the sync. Nested calls stay savepoints."""

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def in_list(values: Sequence[str]) -> str:
    """Placeholders for `in (...)`."""
    return ", ".join("?" * len(values))


SqlDatabase = Database | PgDatabase
"""What the store's parts query: sqlite-utils' `Database`, or its PostgreSQL counterpart."""


class StoreBase:
    """The open database and where it is; the parts of `Store` build on these helpers.

    `path` is the SQLite file; for PostgreSQL `url` is set and `path` is only a label."""

    def __init__(self, db: SqlDatabase, path: Path, version: int, *,
                 url: str | None = None) -> None:
        self.db = db
        self.path = path
        self.version = version
        self.url = url
        self.dialect: Dialect = SQLITE if url is None else POSTGRES

    @property
    def location(self) -> str:
        """The file, or the server URL without its password: what messages name."""
        return str(self.path) if self.url is None else display_url(self.url)

    def error(self, exc: BaseException) -> StoreError:
        if self.url is not None:
            return pg_error(self.url, exc)
        return store_error(self.path, exc)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
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
