"""`okrsync checkin --at/--edit/--delete` and `okrsync checkins`: people correct their own
check-ins; measured values are listed with their provenance and cannot be edited away."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.model import CheckIn
from syncer import store_pg
from syncer.store import Store
from tests.helpers.cli_runner import run_okrsync, without_okrsync_env
from tests.helpers.config_helpers import write_project

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """No OKRSYNC_* variable of the shell but the store under test's."""
    shell = {k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_STORE__")}
    return run_okrsync(*args, env=without_okrsync_env(shell), cwd=cwd)


def test_checkin_at_edit_delete_and_list(tmp_path: Path, store_backend_env: Path | str) -> None:
    """On both backends."""
    write_project(tmp_path)
    made = cli("checkin", "KR-1", "44", "--at", "2026-11-02", "--note", "DE live", "--json",
               cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    entry = json.loads(made.stdout)
    assert entry["at"].startswith("2026-11-02T00:00:00") and entry["id"] > 0

    future = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    refused = cli("checkin", "KR-1", "50", "--at", future, cwd=tmp_path)
    assert refused.returncode == 2 and "future" in refused.stderr
    assert "Traceback" not in refused.stderr

    edited = cli("checkin", "KR-1", "45.5", "--edit", str(entry["id"]), cwd=tmp_path)
    assert edited.returncode == 0, edited.stderr
    pg = store_pg.is_url(store_backend_env)
    with Store.open(store_backend_env if pg else tmp_path / "okrsync.db") as store:
        store.add_measured([CheckIn("KR-1", 47.0, datetime(2026, 11, 9, tzinfo=UTC),
                                    origin="sql", query_digest="abc123",
                                    fetched_at=datetime(2026, 11, 30, tzinfo=UTC))])
        # a measured value for the very time a person checked in is not stored
        assert store.add_measured([CheckIn("KR-1", 99.0, datetime(2026, 11, 2, tzinfo=UTC),
                                           origin="sql", query_digest="abc123")]) == 0
    listed = json.loads(cli("checkins", "--kr", "kr-1", "--json", cwd=tmp_path).stdout)
    assert [(e["value"], e["origin"], e["note"]) for e in listed] == [
        (45.5, "checkin", "DE live"), (47.0, "sql", "")]
    assert listed[0]["at"].startswith("2026-11-02") and listed[1]["query_digest"] == "abc123"
    table = cli("checkins", cwd=tmp_path)
    assert table.returncode == 0 and "abc123" in table.stdout and "DE live" in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())

    measured_id = str(listed[1]["id"])
    for option in ("--delete", "--edit"):
        args = [option, measured_id] if option == "--delete" else ["KR-1", "1", option,
                                                                    measured_id]
        no = cli("checkin", *args, cwd=tmp_path)
        assert no.returncode == 2 and "measured by its sql source" in no.stderr
    gone = cli("checkin", "--delete", str(entry["id"]), cwd=tmp_path)
    assert gone.returncode == 0, gone.stderr
    left = json.loads(cli("checkins", "--json", cwd=tmp_path).stdout)
    assert [e["origin"] for e in left] == ["sql"]
    missing = cli("checkin", "--delete", str(entry["id"]), cwd=tmp_path)
    assert missing.returncode == 2 and "no check-in with id" in missing.stderr
