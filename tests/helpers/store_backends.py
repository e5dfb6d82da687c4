"""The store under test on both backends: `store_target` is a SQLite file in `tmp_path` or a
PostgreSQL URL naming a fresh schema on the session's real server (`tests.helpers.postgres`),
with the password in `OKRSYNC_STORE__PASSWORD` as a deployment passes it.

`store_backend_env` also points the config at it (`OKRSYNC_STORE__URL`), for end-to-end tests
whose CLI runs and in-process `load_config` calls read the environment. `--store-backend
sqlite|postgresql` runs one of them only (default: both).

The fixtures are registered for every test in `tests/conftest.py`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from syncer import store_pg
from syncer.store import Store
from tests.helpers.config_helpers import clear_okrsync_env
from tests.helpers.postgres import PostgresServer, postgres_server

__all__ = ["BACKENDS", "clear_env_but_store", "fresh_schema", "lose_store", "module_store",
           "postgres_server", "postgresql_only", "refuse_inserts", "sqlite_store",
           "store_backend_env", "store_dump", "store_env", "store_target"]

BACKENDS = ("sqlite", "postgresql")

postgresql_only = pytest.mark.parametrize("store_target", ["postgresql"], indirect=True)
"""For a module whose tests exist only on PostgreSQL: its tests take that backend alone,
instead of a SQLite variant that would be skipped."""


def schema_url(server: PostgresServer, schema: str, database: str = "postgres") -> str:
    """A libpq URL (no password) whose connections use `schema`."""
    return (f"postgresql://{server.user}@{server.host}:{server.port}/{database}"
            f"?options=-csearch_path%3D{schema}")


def wanted(config: pytest.Config, backend: str) -> None:
    """Skip `backend` when `--store-backend` names the other one."""
    choice = config.getoption("--store-backend")
    if choice not in ("both", backend):
        pytest.skip(f"--store-backend {choice}")


@contextlib.contextmanager
def fresh_schema(server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new schema on `server` and its URL, the password in the environment; dropped after."""
    schema = f"t_{secrets.token_hex(6)}"
    with server.connect() as conn:
        conn.execute(f"create schema {schema}")
    monkeypatch.setenv(store_pg.PASSWORD_ENV, server.password)
    try:
        yield schema_url(server, schema)
    finally:
        store_pg.close_pools()
        with server.connect() as conn:
            conn.execute(f"drop schema if exists {schema} cascade")


@pytest.fixture(params=BACKENDS)
def store_target(request: pytest.FixtureRequest, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Path | str]:
    backend = str(request.param)
    wanted(request.config, backend)
    if backend == "sqlite":
        yield tmp_path / "okrsync.db"
        return
    with fresh_schema(request.getfixturevalue("postgres_server"), monkeypatch) as url:
        yield url


@contextlib.contextmanager
def module_store(request: pytest.FixtureRequest, folder: Path) -> Iterator[Path | str]:
    """`store_backend_env` for a module-scoped fixture parametrized over `BACKENDS`: one store
    on `request.param`'s backend for the whole module, the config pointed at it meanwhile."""
    backend = str(request.param)
    wanted(request.config, backend)
    if backend == "sqlite":
        yield folder / "okrsync.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with pytest.MonkeyPatch.context() as mp, fresh_schema(server, mp) as url:
        mp.setenv("OKRSYNC_STORE__URL", url)
        yield url


def refuse_inserts(store: Store, table: str) -> None:
    """Make every insert into `table` fail, in the store's own dialect: a fault in the middle
    of a store transaction."""
    name = f"refuse_{table}"
    if store.url is None:
        store.db.execute(f"create trigger {name} before insert on {table} "
                         "begin select raise(abort, 'refused by the test'); end")
        return
    store.db.execute(f"create function {name}() returns trigger language plpgsql as "
                     "$$ begin raise exception 'refused by the test'; end $$")
    store.db.execute(f"create trigger {name} before insert on {table} for each row "
                     f"execute function {name}()")


def lose_store(target: Path | str) -> None:
    """The store is gone, as an operator deleting the file (or dropping the schema) leaves it:
    the next open starts an empty one at the same place."""
    if not store_pg.is_url(target):
        path = Path(target)
        for f in path.parent.glob(f"{path.name}*"):
            f.unlink()
        return
    store_pg.close_pools()
    info, kwargs = store_pg.conninfo(str(target))
    with psycopg.connect(info, **kwargs) as conn:
        (schema,) = conn.execute("select current_schema()").fetchone() or (None,)
        assert schema and schema.startswith("t_"), schema
        conn.execute(f"drop schema {schema} cascade")
        conn.execute(f"create schema {schema}")


@contextlib.contextmanager
def sqlite_store() -> Iterator[None]:
    """Inside: configs load with the SQLite file again (a reference run of another project
    in the same test must not share the PostgreSQL store under test)."""
    saved = os.environ.pop("OKRSYNC_STORE__URL", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["OKRSYNC_STORE__URL"] = saved


def clear_env_but_store(monkeypatch: pytest.MonkeyPatch, target: Path | str) -> None:
    """Every OKRSYNC_* variable removed (`clear_okrsync_env`), then the config pointed at the
    store under test again when it is PostgreSQL: its URL and password."""
    password = os.environ.get(store_pg.PASSWORD_ENV, "")
    clear_okrsync_env(monkeypatch)
    if store_pg.is_url(target):
        monkeypatch.setenv(store_pg.PASSWORD_ENV, password)
        monkeypatch.setenv("OKRSYNC_STORE__URL", str(target))


def store_env(target: Path | str) -> dict[str, str]:
    """The variables that point a child's config at `target` (none for a SQLite file, whose
    path the config names): for a child started with a clean environment."""
    if not store_pg.is_url(target):
        return {}
    return {"OKRSYNC_STORE__URL": str(target),
            store_pg.PASSWORD_ENV: os.environ.get(store_pg.PASSWORD_ENV, "")}


def store_dump(target: Path | str) -> str:
    """Every row the store holds, as text: SQLite's iterdump, or each PostgreSQL table's rows
    in the store's schema (what a secret must never be found in)."""
    if not store_pg.is_url(target):
        with contextlib.closing(sqlite3.connect(target)) as conn:
            return "\n".join(conn.iterdump())
    info, kwargs = store_pg.conninfo(str(target))
    lines: list[str] = []
    with psycopg.connect(info, **kwargs) as conn:
        tables = [str(r[0]) for r in conn.execute(
            "select table_name from information_schema.tables where "
            "table_schema = current_schema() and table_type = 'BASE TABLE' order by 1")]
        assert tables, "the store has tables"
        for table in tables:
            rows = conn.execute(f'select t::text from "{table}" t').fetchall()
            lines.extend(f"{table}: {r[0]}" for r in rows)
    return "\n".join(lines)


@pytest.fixture
def store_backend_env(store_target: Path | str, monkeypatch: pytest.MonkeyPatch) -> Path | str:
    """`store_target`, and the config pointed at it when it is PostgreSQL."""
    if store_pg.is_url(store_target):
        monkeypatch.setenv("OKRSYNC_STORE__URL", str(store_target))
    return store_target
