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
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer import store_pg
from syncer.store import Store
from tests.helpers.postgres import PostgresServer, postgres_server

__all__ = ["BACKENDS", "postgres_server", "postgresql_only", "refuse_inserts", "sqlite_store",
           "store_backend_env", "store_target"]

BACKENDS = ("sqlite", "postgresql")

postgresql_only = pytest.mark.parametrize("store_target", ["postgresql"], indirect=True)
"""For a module whose tests exist only on PostgreSQL: its tests take that backend alone,
instead of a SQLite variant that would be skipped."""


def schema_url(server: PostgresServer, schema: str, database: str = "postgres") -> str:
    """A libpq URL (no password) whose connections use `schema`."""
    return (f"postgresql://{server.user}@{server.host}:{server.port}/{database}"
            f"?options=-csearch_path%3D{schema}")


@pytest.fixture(params=BACKENDS)
def store_target(request: pytest.FixtureRequest, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Path | str]:
    backend = str(request.param)
    wanted = request.config.getoption("--store-backend")
    if wanted not in ("both", backend):
        pytest.skip(f"--store-backend {wanted}")
    if backend == "sqlite":
        yield tmp_path / "okrsync.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
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


@pytest.fixture
def store_backend_env(store_target: Path | str, monkeypatch: pytest.MonkeyPatch) -> Path | str:
    """`store_target`, and the config pointed at it when it is PostgreSQL."""
    if store_pg.is_url(store_target):
        monkeypatch.setenv("OKRSYNC_STORE__URL", str(store_target))
    return store_target
