"""`okrsync store migrate --to postgresql://...` end to end: a synced SQLite store is copied
into a real PostgreSQL server with every table's count verified, and the first sync against
PostgreSQL afterwards writes nothing to either tracker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox import sandbox
from syncer.engine import run_sync
from syncer.store import Store
from tests.helpers.e2e import config, okrsync, project, remote_state
from tests.helpers.store_backends import postgresql_only, sqlite_store

pytestmark = postgresql_only


@pytest.fixture
def pg_target(store_target: Path | str) -> str:
    assert isinstance(store_target, str), "store migrate moves into PostgreSQL"
    return store_target


def test_migrate_copies_every_table_and_the_next_sync_writes_nothing(
    tmp_path: Path, pg_target: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with sandbox(epics=60, seed=51) as sb, sqlite_store():
        cfg_path = project(tmp_path, sb)
        first = run_sync(config(cfg_path, sb))
        assert first.exit_code == 0 and first.applied > 0
        with Store.open(config(cfg_path, sb).store_path) as store:
            before = store.counts()
        moved = okrsync("store", "migrate", "--to", pg_target, "--config", str(cfg_path),
                        "--json", sb=sb)
        assert moved.returncode == 0, moved.stderr
        report = json.loads(moved.stdout)
        assert report["verified"] is True
        tables = report["tables"]
        assert {"tickets", "ledger", "outbox", "journal", "runs", "links"} <= set(tables)
        assert all(t["sqlite"] == t["postgresql"] for t in tables.values())
        assert tables["tickets"]["postgresql"] == before["tickets"] > 0

        again = okrsync("store", "migrate", "--to", pg_target, "--config", str(cfg_path),
                        sb=sb)
        assert again.returncode == 2 and "already holds okrsync data" in again.stderr

        remote = remote_state(sb)
        writes = sb.accounting()
        monkeypatch.setenv("OKRSYNC_STORE__URL", pg_target)
        cfg = config(cfg_path, sb)
        assert cfg.store_url == pg_target
        after = run_sync(cfg)
        assert after.exit_code == 0, after.failed
        assert after.planned == [] and after.applied == 0
        assert remote_state(sb) == remote
        assert _writes(sb.accounting()) == _writes(writes), "the first sync writes nothing"
        with Store.open(pg_target) as store:
            counts = store.counts()
            assert counts["tickets"] == before["tickets"]
            assert counts["runs"] == before["runs"] + 1
            newest = max(r.id for r in store.runs(50))
            started = store.runs(1)[0].started_at
            assert store.start_run("check", dry_run=True, now=started) == newest + 1, (
                "new ids continue after the copied ones")


def _writes(accounting: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per tracker, the requests that could change something (not GET/HEAD)."""
    return {name: {ep: n for ep, n in snap["by_endpoint"].items()
                   if not ep.startswith(("GET", "HEAD"))}
            for name, snap in accounting.items()}
