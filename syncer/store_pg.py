"""The PostgreSQL backend under `Store`: a psycopg 3 connection from a per-process pool, shaped
like the SQLite connection the store's parts use (`execute`, `executemany`, `atomic`, cursors
with `rowcount` and `lastrowid`), every statement rewritten by `syncer.store_dialect`.

The password never travels in a URL okrsync keeps: it comes from `OKRSYNC_STORE__PASSWORD`
(or libpq's own `PGPASSWORD`), and every URL okrsync shows is `display_url`'s, without it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool, PoolTimeout

from core.errors import StoreError, StoreUnavailable
from core.redact import scrub
from syncer.store_dialect import PRIMARY_KEYS_SQL, to_postgres

PASSWORD_ENV = "OKRSYNC_STORE__PASSWORD"
SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
POOL_MAX = 4


def is_url(target: object) -> bool:
    """A `[store] url` (PostgreSQL) rather than a SQLite path."""
    return isinstance(target, str) and target.startswith(SCHEMES)


def display_url(url: str) -> str:
    """The URL without its password (and without a SQLAlchemy driver suffix)."""
    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def conninfo(url: str) -> tuple[str, dict[str, Any]]:
    """The libpq URL and connection keywords: the password from the environment."""
    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": 10}
    if password := os.environ.get(PASSWORD_ENV, "").strip():
        kwargs["password"] = password
    return url, kwargs


def secrets_of(url: str) -> list[str]:
    found = [p for p in (os.environ.get(PASSWORD_ENV, "").strip(),
                         os.environ.get("PGPASSWORD", "").strip(),
                         urlsplit(url).password or "") if p]
    return found


def pg_error(url: str, exc: BaseException) -> StoreError:
    """What the user reads when PostgreSQL refuses: the server (no password), and why."""
    text = scrub(str(exc).strip(), secrets_of(url)) or type(exc).__name__
    where = display_url(url)
    if isinstance(exc, psycopg.OperationalError | PoolTimeout):
        return StoreUnavailable(
            f"{where}: cannot reach the PostgreSQL store ({text})",
            hint=f"check [store].url, that the server runs, and {PASSWORD_ENV}",
        )
    refused = psycopg.errors.InsufficientPrivilege | psycopg.errors.ReadOnlySqlTransaction
    if isinstance(exc, refused):
        return StoreUnavailable(f"{where}: the store refused a write ({text})",
                                hint="writing needs a role with write access to the tables")
    return StoreError(f"{where}: store error: {text}")


_pools: dict[tuple[str, str], ConnectionPool[psycopg.Connection[Any]]] = {}
_pools_lock = threading.Lock()


def _pool_key(info: str, kwargs: dict[str, Any]) -> tuple[str, str]:
    return info, str(kwargs.get("password", ""))


def _pool(url: str) -> ConnectionPool[psycopg.Connection[Any]]:
    """One small pool per store URL and password in this process (the dashboard and the
    daemon open the store per request)."""
    info, kwargs = conninfo(url)
    key = _pool_key(info, kwargs)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            # One direct connection first: a refused password or an unknown host fails now,
            # instead of the pool retrying in the background until its timeout.
            psycopg.connect(info, **kwargs).close()
            pool = ConnectionPool(info, kwargs=kwargs, min_size=0, max_size=POOL_MAX,
                                  open=True, timeout=30, name="okrsync-store")
            _pools[key] = pool
        return pool


@atexit.register
def close_pools() -> None:
    with _pools_lock:
        for pool in _pools.values():
            with contextlib.suppress(Exception):
                pool.close(timeout=1)
        _pools.clear()


class PgCursor:
    """The parts of a sqlite3 cursor the store reads."""

    def __init__(self, cur: psycopg.Cursor[Any], lastrowid: int | None = None) -> None:
        self._cur = cur
        self.lastrowid = lastrowid
        self.rowcount = cur.rowcount

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self._cur.description else []

    def fetchmany(self, size: int) -> list[Any]:
        return self._cur.fetchmany(size) if self._cur.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


def _params(values: Sequence[Any]) -> list[Any]:
    """SQLite stores booleans as integers; so does the PostgreSQL schema."""
    return [int(v) if isinstance(v, bool) else v for v in values]


class PgConnection:
    """A pooled psycopg connection that takes SQLite-spelled SQL."""

    def __init__(self, conn: psycopg.Connection[Any], url: str) -> None:
        self.raw = conn
        self.url = url
        self.read_only = False
        self._sql: dict[str, str] = {}
        self._primary: dict[str, tuple[str, ...]] | None = None
        self._identity: frozenset[str] = frozenset()

    def _keys(self) -> dict[str, tuple[str, ...]]:
        if self._primary is None:
            keys: dict[str, list[str]] = {}
            for table, column in self.raw.execute(PRIMARY_KEYS_SQL).fetchall():
                keys.setdefault(str(table), []).append(str(column))
            self._primary = {t: tuple(c) for t, c in keys.items()}
            self._identity = frozenset(
                str(t) for (t,) in self.raw.execute(
                    "select table_name from information_schema.columns where "
                    "table_schema = current_schema() and column_name = 'id' and "
                    "is_identity = 'YES'").fetchall())
        return self._primary

    def schema_changed(self) -> None:
        """Forget the primary keys and translations read before a migration."""
        self._primary = None
        self._sql.clear()

    def translate(self, sql: str) -> str:
        done = self._sql.get(sql)
        if done is None:
            done = to_postgres(sql, self._keys())
            head = done.lstrip().lower()
            if head.startswith("insert into") and " returning " not in head:
                table = head.split()[2].split("(")[0]
                if table in self._identity:
                    done += " returning id"
            self._sql[sql] = done
        return done

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        if sql.lstrip().lower().startswith(("create ", "alter ", "drop ")):
            self.schema_changed()
            cur = self.raw.execute(to_postgres(sql, {}), _params(params))
            return PgCursor(cur)
        query = self.translate(sql)
        cur = self.raw.execute(query, _params(params))
        lastrowid = None
        if query.endswith(" returning id"):
            row = cur.fetchone()
            lastrowid = None if row is None else int(row[0])
        return PgCursor(cur, lastrowid)

    def executemany(self, sql: str, rows: Any) -> PgCursor:
        query = self.translate(sql).removesuffix(" returning id")
        cur = self.raw.cursor()
        cur.executemany(query, [_params(r) for r in rows])
        return PgCursor(cur)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def make_read_only(self) -> None:
        """Every later transaction of this session refuses writes (the server enforces it)."""
        self.raw.execute("set session characteristics as transaction read only")
        self.read_only = True

    def close(self) -> None:
        """Hand the connection back to the pool (rolled back by the pool if it was mid-way),
        writable again: a connection that cannot be made so is closed, never handed on."""
        if self.read_only:
            try:
                if self.in_transaction:
                    self.raw.rollback()
                self.raw.execute("set session characteristics as transaction read write")
            except psycopg.Error:
                self.raw.close()
        with _pools_lock:
            pool = _pools.get(_pool_key(*conninfo(self.url)))
        with contextlib.suppress(Exception):
            if pool is None:  # the pools were closed meanwhile
                self.raw.close()
            else:
                pool.putconn(self.raw)


class PgDatabase:
    """The PostgreSQL counterpart of sqlite-utils' `Database` as the store uses it."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        return self.conn.execute(sql, params)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[PgDatabase]:
        """One transaction; nested calls are savepoints, as in SQLite."""
        with self.conn.raw.transaction():
            yield self

    def close(self) -> None:
        self.conn.close()


def connect(url: str) -> PgDatabase:
    """A connection from this process's pool for `url` (StoreError when unreachable)."""
    try:
        raw = _pool(url).getconn()
    except Exception as exc:
        raise pg_error(url, exc) from exc
    return PgDatabase(PgConnection(raw, url))


def change_stamp(url: str) -> str:
    """What changes whenever any transaction that wrote commits on the server: the current
    snapshot (`xmin:xmax:running xids`). One query, nothing read from the store's tables; the
    server is shared, so a write elsewhere changes it too (a needless rebuild, never a stale
    answer)."""
    db = connect(url)
    try:
        row = db.conn.raw.execute("select pg_current_snapshot()::text").fetchone()
    except psycopg.Error as exc:
        raise pg_error(url, exc) from exc
    finally:
        db.close()
    return str(row[0]) if row else ""


def table_names(db: PgDatabase) -> set[str]:
    rows = db.conn.raw.execute(
        "select table_name from information_schema.tables where "
        "table_schema = current_schema()").fetchall()
    return {str(r[0]) for r in rows}
