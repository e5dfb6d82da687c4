"""The read-only BI role of deploy/postgres/readonly-role.sql, run as written against a real
PostgreSQL store: it reads the okrsync_* views and cannot read a table or write anything."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from core.model import Page
from syncer import store_pg
from syncer.store import Store
from tests.helpers.postgres import PostgresServer
from tests.helpers.store_backends import postgresql_only
from tests.helpers.store_helpers import T0, ticket

RECIPE = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "readonly-role.sql"


@postgresql_only
def test_the_bi_role_reads_the_views_and_nothing_else(
    postgres_server: PostgresServer, store_target: Path | str,
) -> None:
    database = postgres_server.new_database("okrsync")
    url = str(store_target).replace("/postgres?", f"/{database}?").split("?")[0]
    with Store.open(url) as store:
        store.store_page("jira", Page((ticket("WEB-1"),)), 1, now=T0)
        store.save_plan_outcome([], [], [], ["jira:WEB-1"], [], sources=["jira"], now=T0)
    sql = RECIPE.read_text().replace(":'bi_password'", "'bi-secret-1234'")
    sql = re.sub(r"--[^\n]*", "", sql)
    with postgres_server.connect(database) as owner:
        for statement in filter(str.strip, sql.split(";")):
            owner.execute(statement)
    try:
        with psycopg.connect(host=postgres_server.host, port=postgres_server.port,
                             user="okrsync_bi", password="bi-secret-1234", dbname=database,
                             autocommit=True) as bi:
            rows = bi.execute("select source, ticket_key from okrsync_untraceable").fetchall()
            assert rows == [("jira", "WEB-1")]
            for view in ("okrsync_links", "okrsync_bets", "okrsync_kr_values", "okrsync_runs"):
                bi.execute(f"select count(*) from {view}").fetchone()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                bi.execute("select count(*) from tickets")
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                bi.execute("create table mine (x int)")
    finally:
        store_pg.close_pools()
        with postgres_server.connect(database) as owner:
            owner.execute("drop owned by okrsync_bi")
        with postgres_server.connect() as admin:
            admin.execute(f'drop database "{database}"')
            admin.execute("drop role okrsync_bi")
