"""`okrsync status` end to end through the CLI entry point, against a real store file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.model import (
    ApplyResult,
    ApplyStatus,
    BrokenLink,
    Override,
    Page,
)
from syncer import store_pg
from syncer.lock import RunLock
from syncer.migrations import MIGRATIONS
from syncer.store import Store
from tests.helpers.cli_runner import run_main as _run
from tests.helpers.store_helpers import T0, add_label, at, set_goals, ticket


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "okrsync.toml"
    cfg.write_text('[store]\npath = "data/okrsync.db"\n')
    return cfg


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("OKRSYNC_"):
            monkeypatch.delenv(name, raising=False)


def _populate(db: Path | str) -> None:
    with Store.open(db) as s:
        run = s.start_run("sync", dry_run=False, now=T0)
        s.store_page("jira", Page((ticket("WEB-1"), ticket("WEB-2"))), run, now=T0)
        s.store_page("github", Page((ticket("a/b#1", source="github"),)), run, now=T0)
        s.enqueue(run, [add_label("goal:KR1"), set_goals("KR1", key="[bold]WEB-2")], now=T0)
        first, second = s.pending()
        s.mark_done(first.id, ApplyResult(ApplyStatus.APPLIED), run, now=at(1))
        s.mark_failed(second.id, "jira: 503 [red]oops[/red]", now=at(1))
        s.save_plan_outcome(
            [], [BrokenLink("jira", "WEB-2", "okr:KR9", "KR9")], [], ["jira:WEB-2"],
            [Override("jira", "WEB-1", "goal:KR1", "KR1", at(2))],
            sources={"jira"}, now=at(2),
        )
        summary = {
            "sources": [{"name": "jira", "pulled": 2, "requests": 3},
                        {"name": "github", "pulled": 1, "requests": 1}],
            "tickets": 3, "applied": 1, "failed": [{"writeback": "k", "error": "e"}],
            "pending": 1, "duration": 4.5,
        }
        s.finish_run(run, status="failures", summary=summary, now=at(3))
        s.start_run("report", dry_run=True, now=at(4))


def test_status_before_the_first_sync(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["status", "-c", str(_config(tmp_path)), "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["store"] == {"path": str(tmp_path / "data" / "okrsync.db"), "exists": False,
                             "schema_version": None}
    assert not (tmp_path / "data" / "okrsync.db").exists()  # status does not create it
    code, out, _ = _run(["status", "-c", str(_config(tmp_path))], capsys)
    assert code == 0 and "no store yet" in out


def test_status_json_reports_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       store_backend_env: Path | str) -> None:
    """On both backends: status reads through a read-only store."""
    cfg = _config(tmp_path)
    pg = store_pg.is_url(store_backend_env)
    _populate(store_backend_env if pg else tmp_path / "data" / "okrsync.db")
    code, out, _ = _run(["status", "--config", str(cfg), "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["store"]["schema_version"] == len(MIGRATIONS)
    assert data["tickets"] == {"github": 1, "jira": 2} and data["tickets_total"] == 3
    sync = data["last_runs"]["sync"]
    assert sync["status"] == "failures" and sync["requests"] == 4 and sync["duration"] == 4.5
    assert sync["counts"] == {"tickets": 3, "applied": 1, "failed": 1, "pending": 1,
                              "pulled": 3}
    report = data["last_runs"]["report"]
    assert report["status"] == "running" and report["dry_run"] and report["duration"] is None
    (pending,) = data["pending"]
    assert pending["ticket"] == "[bold]WEB-2" and pending["attempts"] == 1
    assert pending["last_error"] == "jira: 503 [red]oops[/red]"
    assert (data["overrides"], data["broken_links"], data["untraceable"]) == (1, 1, 1)
    assert data["lock"] is None


def test_status_terminal_output_shows_ticket_text_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path)
    _populate(tmp_path / "data" / "okrsync.db")
    with RunLock(tmp_path / "data" / "okrsync.db", command="sync"):
        code, out, _ = _run(["status", "-c", str(cfg)], capsys)
    assert code == 0
    assert "[bold]WEB-2" in out and "[red]oops[/red]" in out  # escaped, not rendered
    assert "attempts 1" in out
    assert "a run is in progress: pid" in out
    assert "overrides: 1, broken links: 1, untraceable epics: 1" in out


def test_status_on_a_corrupt_store_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "okrsync.db").write_bytes(b"garbage" * 1000)
    code, out, err = _run(["status", "-c", str(cfg)], capsys)
    assert code == 2
    assert "okrsync.db" in err and "not a usable okrsync store" in err
    assert "Traceback" not in err + out


def test_status_without_a_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["status", "-c", str(tmp_path / "missing.toml")], capsys)
    assert code == 2 and "no config file" in err
