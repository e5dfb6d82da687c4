"""Store safety: the file is private (0600), a corrupt or locked store is a clear error with
exit 2 (never a traceback), data survives migrations from every earlier schema version, and a
store from a newer okrsync is refused with a message naming the versions.

SQLite only: file modes, corrupt and locked files and the recorded older-schema files are
about the store file (PostgreSQL's refused logins, foreign schemas and migrations:
test_store_pg, test_store)."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from core.errors import StoreError
from core.model import CheckIn
from syncer import migrations
from syncer.store import Store
from tests.helpers.cli_runner import run_as_new_process
from tests.helpers.e2e import ROOT
from tests.helpers.reports_helpers import CATALOG_TOML, RULES_TOML

NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def write_project(directory: Path, store: str = "") -> Path:
    (directory / "okrs.toml").write_text(CATALOG_TOML)
    (directory / "rules.toml").write_text(RULES_TOML)
    cfg = directory / "okrsync.toml"
    cfg.write_text(f'[store]\npath = "okrsync.db"\n{store}[okrs]\ncatalog = "okrs.toml"\n'
                   'rules = "rules.toml"\n')
    return cfg


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")}
    return run_as_new_process(*args, env=env, cwd=ROOT)


def a_kr(directory: Path) -> str:
    text = (directory / "okrs.toml").read_text()
    return next(line.split('"')[1] for line in text.splitlines()
                if line.strip().startswith("id =") and "KR" in line)


def test_store_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with Store.open(tmp_path / "okrsync.db") as store:
            store.start_run("sync", dry_run=False, now=NOW)
            for suffix in ("", "-wal", "-shm"):
                path = tmp_path / f"okrsync.db{suffix}"
                if path.exists():
                    assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        os.umask(old)
    (tmp_path / "cli").mkdir()
    cfg = write_project(tmp_path / "cli")
    proc = cli("checkin", a_kr(tmp_path / "cli"), "5", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE((tmp_path / "cli" / "okrsync.db").stat().st_mode) == 0o600


@pytest.mark.parametrize("garbage", [b"\x00" * 4096, b"not a database at all\n" * 300,
                                     b"SQLite format 3\x00" + b"\xff" * 4000])
def test_a_corrupt_store_is_a_clear_error_not_a_traceback(tmp_path: Path, garbage: bytes) -> None:
    cfg = write_project(tmp_path)
    db = tmp_path / "okrsync.db"
    db.write_bytes(garbage)
    for args in (("status",), ("status", "--json"), ("report", "--format", "text")):
        proc = cli(*args, "--config", str(cfg))
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2, (args, out)
        assert str(db) in out
        assert "Traceback" not in out
    with pytest.raises(StoreError, match="okrsync.db"):
        Store.open(db)
    assert db.read_bytes() == garbage, "okrsync must not overwrite a store it cannot read"


HOLD_LOCK = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("begin exclusive")
    conn.execute("insert into checkins (kr_id, value, at, note) values ('X', 1, 'now', '')")
    print("locked", flush=True)
    time.sleep(60)
""")


def test_a_store_locked_by_another_program_is_a_clear_error(tmp_path: Path) -> None:
    # The documented 30 s default would only make this test wait; the behaviour past the
    # timeout is the same for any value.
    cfg = write_project(tmp_path, store="busy_timeout = 1\n")
    db = tmp_path / "okrsync.db"
    with Store.open(db) as store:
        store.add_checkin(CheckIn(kr_id=a_kr(tmp_path), value=1.0, at=NOW))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked", (
            holder.stderr.read() if holder.stderr else "")
        started = time.monotonic()
        proc = cli("checkin", a_kr(tmp_path), "7", "--config", str(cfg))
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out  # a failed run, not invalid configuration
        assert "locked" in out and str(db) in out
        assert "Traceback" not in out
        assert time.monotonic() - started < 60, "a locked store must not hang"
        # Reading is safe next to another writer (WAL): status answers or says why not.
        status = cli("status", "--config", str(cfg))
        assert status.returncode in (0, 2), status.stderr
        assert "Traceback" not in status.stdout + status.stderr
    finally:
        holder.kill()
        holder.wait()
    with Store.open(db) as store:
        assert [c.value for c in store.checkins()] == [1.0]  # the holder's write never landed
        assert store.integrity_check() == "ok"


def test_migrations_from_every_earlier_version_keep_data(tmp_path: Path) -> None:
    latest = len(migrations.MIGRATIONS)
    assert latest >= 1
    for start in range(1, latest + 1):
        path = tmp_path / f"v{start}.db"
        conn = sqlite3.connect(path)
        db = Database(conn)
        assert migrations.migrate(db, path, migrations.MIGRATIONS[:start]) == start
        # Data an earlier okrsync wrote at that version: a check-in and a run.
        conn.execute("insert into checkins (kr_id, value, at, note) values (?, ?, ?, '')",
                     ["KR-OLD-1", 42.0, NOW.isoformat()])
        conn.commit()
        conn.close()
        with Store.open(path) as store:
            assert [(c.kr_id, c.value) for c in store.checkins()] == [("KR-OLD-1", 42.0)]
            assert store.integrity_check() == "ok"
        with sqlite3.connect(path) as check:
            assert check.execute("select max(version) from schema_version").fetchone()[0] == latest


def test_a_store_from_a_newer_okrsync_is_refused_clearly(tmp_path: Path) -> None:
    cfg = write_project(tmp_path)
    db = tmp_path / "okrsync.db"
    with Store.open(db) as store:
        store.add_checkin(CheckIn(kr_id=a_kr(tmp_path), value=3.0, at=NOW))
    newer = len(migrations.MIGRATIONS) + 7
    with sqlite3.connect(db) as conn:
        conn.execute("insert into schema_version (version, applied_at) values (?, ?)",
                     [newer, NOW.isoformat()])
    with pytest.raises(StoreError, match=f"version {newer}"):
        Store.open(db)
    proc = cli("status", "--config", str(cfg))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert str(newer) in out and "Traceback" not in out
    with sqlite3.connect(db) as conn:  # refused, not rewritten
        assert conn.execute("select count(*) from checkins").fetchone()[0] == 1
