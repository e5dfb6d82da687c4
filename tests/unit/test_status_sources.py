"""`okrsync status` tells per source how it has been doing: last success, last failure and
why, and its pending / parked / deferred write-backs; and it only reads the store file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from core.errors import StoreError
from syncer import store_pg
from syncer.store import Store
from tests.helpers.store_helpers import add_label, at
from tests.unit.test_status_command import _no_env, _run

__all__ = ["_no_env"]  # the autouse fixture that clears OKRSYNC_* from the environment


def _config(tmp_path: Path, store: str = "okrsync.db") -> Path:
    cfg = tmp_path / "okrsync.toml"
    cfg.write_text(f'[store]\npath = "{store}"\n')
    return cfg


def _sync(store: Store, minute: int, *, jira: str = "", github: str = "") -> None:
    run = store.start_run("sync", dry_run=False, now=at(minute))
    sources = [{"name": name, "healthy": not reason, "reason": reason}
               for name, reason in (("jira", jira), ("github", github))]
    store.finish_run(run, status="failures" if jira or github else "ok",
                     summary={"sources": sources, "failed": []}, now=at(minute + 1))


def test_status_shows_each_source_last_success_and_last_failure_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    store_backend_env: Path | str,
) -> None:
    """On both backends."""
    monkeypatch.setenv("COLUMNS", "80")
    cfg = _config(tmp_path)
    pg = store_pg.is_url(store_backend_env)
    with Store.open(store_backend_env if pg else tmp_path / "okrsync.db") as store:
        _sync(store, 0)
        _sync(store, 10, jira="pull failed: jira: GET /rest/api/3/search/jql: 500")
        _sync(store, 20, jira="pull failed: jira: GET /rest/api/3/search/jql: 503")
        run = store.start_run("sync", dry_run=False, now=at(30))
        store.enqueue(run, [add_label("goal:KR1")], now=at(30))

    code, out, _ = _run(["status", "-c", str(cfg), "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    jira, github = data["sources"]["jira"], data["sources"]["github"]
    assert jira["state"] == "failing" and jira["consecutive_failures"] == 2
    assert jira["last_success_at"] == at(1).isoformat()
    assert jira["last_failure_at"] == at(21).isoformat()
    assert jira["last_reason"].endswith("503")
    assert (jira["pending"], jira["parked"], jira["deferred"]) == (1, 0, 0)
    assert github["state"] == "ok" and github["last_failure_at"] is None
    assert github["last_success_at"] == at(21).isoformat() and github["pending"] == 0
    assert data["outbox"] == {"pending": 1, "parked": 0, "deferred": 0, "waiting": 0}
    assert data["last_runs"]["sync"]["status"] == "running"

    code, out, _ = _run(["status", "-c", str(cfg)], capsys)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "jira failing: pull failed: jira: GET /rest/api/3/search/jql: 503" in out
    assert "pending write-backs: 1 (0 parked, 0 deferred)" in out


def test_the_last_sync_says_why_it_failed_instead_of_null(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path)
    with Store.open(tmp_path / "okrsync.db") as store:
        _sync(store, 0, github="pull failed: github: 401 Bad credentials")
    code, out, _ = _run(["status", "-c", str(cfg), "--json"], capsys)
    assert code == 0
    assert json.loads(out)["last_runs"]["sync"]["error"] == (
        "github: pull failed: github: 401 Bad credentials")


def test_status_leaves_a_file_that_is_not_a_store_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite only: about a file's bytes, mode and WAL next to it."""
    other = tmp_path / "passwd-copy"
    other.write_text("root:x:0:0:root:/root:/bin/bash\n")
    other.chmod(0o644)
    code, out, err = _run(["status", "-c", str(_config(tmp_path, "passwd-copy"))], capsys)
    assert code == 2 and "passwd-copy" in err and "Traceback" not in out + err
    assert other.stat().st_mode & 0o777 == 0o644
    assert other.read_text() == "root:x:0:0:root:/root:/bin/bash\n"
    assert not Path(f"{other}-wal").exists()


def test_a_sqlite_file_of_another_program_is_refused_and_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite only: another program's file (PostgreSQL's twin: test_store_pg)."""
    other = tmp_path / "app.db"
    con = sqlite3.connect(other)
    con.execute("create table accounts (id integer primary key, name text)")
    con.commit()
    con.close()
    other.chmod(0o644)
    before = other.read_bytes()
    code, out, err = _run(["status", "-c", str(_config(tmp_path, "app.db"))], capsys)
    assert code == 2 and "not an okrsync store" in err
    with pytest.raises(StoreError, match="not an okrsync store"):
        Store.open(other)  # what sync and every writer use
    assert other.read_bytes() == before
    assert other.stat().st_mode & 0o777 == 0o644
