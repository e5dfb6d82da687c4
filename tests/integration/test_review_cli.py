"""`okrsync review` through the CLI over a store the rhythm ran on for six weeks: JSON
carries the scorecard and escalations, the team filter narrows it, every format escapes
hostile text, bad input exits 2 naming the option."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli_runner import run_main as run
from tests.helpers.rhythm_helpers import EVIL, simulate_weeks
from tests.helpers.store_backends import BACKENDS, module_store

AT = "2024-02-09T12:00:00Z"


@pytest.fixture(scope="module", params=BACKENDS)
def config(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Six weeks of the rhythm on each store backend."""
    folder = tmp_path_factory.mktemp("review")
    with module_store(request, folder):
        yield simulate_weeks(folder, 6, title=EVIL, note=EVIL)


def test_monthly_json_has_scorecard_escalations_and_trend(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["review", "monthly", "--format", "json", "--at", AT, "-c", str(config)],
                       capsys)
    assert code == 0
    data = json.loads(out)
    assert data["period"] == "2024-02" and data["cycle"] == "2024-Q1"
    cards = {c["team"]: c for c in data["scorecard"]}
    assert cards["web"]["traceable"] == pytest.approx(0.3) and cards["web"]["lagging"]
    assert cards["pay"]["fresh_checkins"] == pytest.approx(0.5)
    rules = {(e["rule"], e["subject"]) for e in data["escalations"] if e["open"]}
    assert rules == {("overdue-lead", "KR-B"), ("overdue-sponsor", "KR-B"),
                     ("team-lagging", "web"), ("team-lagging", "pay")}
    # cat's confidence fell in week 4 and stayed low: that drop escalated, then closed
    trend = data["confidence_trend"][0]["values"]
    assert len(trend) == len(data["weeks"]) == 6
    assert trend[0] == pytest.approx((0.8 + 0.7 + 0.8) / 3)
    assert trend[-1] == pytest.approx((0.8 + 0.7 + 0.2) / 3)


def test_weekly_team_part_only_has_its_krs(config: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["review", "weekly", "--team", "pay", "--format", "json", "--at", AT,
                        "-c", str(config)], capsys)
    assert code == 0
    data = json.loads(out)
    assert [k["kr_id"] for k in data["krs"]] == ["KR-A", "KR-B"]
    assert [c["team"] for c in data["scorecard"]] == ["pay"]
    assert {e["subject"] for e in data["escalations"]} <= {"KR-A", "KR-B", "pay"}
    assert any(b["note"] == EVIL for b in data["blockers"])


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_every_format_escapes_hostile_text(config: Path, fmt: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["review", "weekly", "--format", fmt, "--at", AT, "-c", str(config)],
                       capsys)
    assert code == 0
    if fmt != "text":  # plain text is never rendered: it only loses control characters
        assert "<script>" not in out
    if fmt == "html":
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    if fmt == "markdown":
        assert "\\<script\\>" in out or "&lt;script&gt;" in out
    if fmt == "text":
        assert max(len(line) for line in out.splitlines()) <= 80


def test_text_fits_80_columns(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["review", "quarterly", "--at", AT, "-c", str(config)], capsys)
    assert code == 0 and "Bets" in out and "What changed" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_unknown_team_exits_2_naming_the_option(config: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["review", "weekly", "--team", "nope", "-c", str(config)], capsys)
    assert code == 2 and "--team" in err and "Traceback" not in err


def test_bad_config_exits_2_naming_file_and_key(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "okrsync.toml"
    cfg.write_text('[review]\nweekly_cron = "every monday"\n[people.ann]\nteam = "ghost"\n')
    code, _, err = run(["review", "weekly", "-c", str(cfg)], capsys)
    assert code == 2 and "review.weekly_cron" in err and "okrsync.toml" in err
    cfg.write_text('[people.ann]\nteam = "ghost"\n')
    code, _, err = run(["review", "weekly", "-c", str(cfg)], capsys)
    assert code == 2 and "people.ann.team" in err and "Traceback" not in err


def test_status_and_dashboard_show_open_escalations(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from starlette.testclient import TestClient

    from syncer.config import load_config
    from syncer.web.app import create_app

    code, out, _ = run(["status", "--json", "-c", str(config)], capsys)
    assert code == 0
    shown = {(e["rule"], e["subject"]) for e in json.loads(out)["escalations"]}
    assert ("overdue-sponsor", "KR-B") in shown and ("team-lagging", "web") in shown
    code, out, _ = run(["status", "-c", str(config)], capsys)
    assert "open escalations: 4" in out and "overdue-sponsor KR-B → sam" in out
    app = create_app(load_config(config), now=lambda: datetime(2024, 2, 9, 12, tzinfo=UTC))
    with TestClient(app) as client:
        data = client.get("/rhythm", params={"format": "json"}).json()
        html = client.get("/rhythm").text
    assert {(e["rule"], e["subject"]) for e in data["escalations"] if e["open"]} == shown
    assert "team web lagging for 2 weeks" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
