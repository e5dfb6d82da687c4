"""The foundation's commands end to end, as a user runs them: `syncer.cli.main` (so error
handling and exit codes are the real ones, run in this process: no process boundary is under
test here), real files."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers.cli_runner import run_okrsync, without_okrsync_env

ROOT = Path(__file__).resolve().parents[2]
SECRET = "jira-token-XYZZY-4242"


def okrsync(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    overrides: dict[str, str | None] = {**without_okrsync_env(os.environ), "COLUMNS": "200"}
    return run_okrsync(*args, env=overrides | dict(env or {}), cwd=cwd or ROOT)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    result = okrsync("init", str(tmp_path / "conf"))
    assert result.returncode == 0, result.stderr
    return tmp_path / "conf" / "okrsync.toml"


def test_init_then_validate_exits_zero(project: Path) -> None:
    assert {p.name for p in project.parent.iterdir()} >= {"okrsync.toml", "okrs.toml",
                                                          "rules.toml"}
    result = okrsync("validate", "--config", str(project))
    assert result.returncode == 0, result.stderr
    assert "ok  rules" in result.stdout
    as_json = okrsync("validate", "-c", str(project), "--json")
    data = json.loads(as_json.stdout)
    assert data["ok"] is True and data["catalog"]["key_results"] == 2


def test_init_refuses_to_overwrite_without_force(project: Path) -> None:
    project.write_text(project.read_text() + "\n# mine\n")
    refused = okrsync("init", str(project.parent))
    assert refused.returncode == 2
    assert "--force" in refused.stderr and "# mine" in project.read_text()
    forced = okrsync("init", str(project.parent), "--force")
    assert forced.returncode == 0 and "# mine" not in project.read_text()


def test_unknown_kr_in_rule_exits_2_naming_file_rule_and_kr(project: Path) -> None:
    rules = project.parent / "rules.toml"
    rules.write_text(rules.read_text().replace('kr = "KR-2"', 'kr = "KR-77"'))
    result = okrsync("validate", "-c", str(project))
    assert result.returncode == 2
    assert str(rules) in result.stderr
    assert "r-payments-failures" in result.stderr and "KR-77" in result.stderr
    assert "Traceback" not in result.stderr
    as_json = okrsync("validate", "-c", str(project), "--json")
    assert as_json.returncode == 2
    error = json.loads(as_json.stdout)["error"]
    assert error["file"] == str(rules) and error["key"] == "rule[1].kr"


@pytest.mark.parametrize("name", ["okrsync.toml", "okrs.toml", "rules.toml"])
def test_malformed_toml_exits_2_naming_file_and_line(project: Path, name: str) -> None:
    target = project.parent / name
    lines = target.read_text().splitlines()
    lines.insert(3, "this is = = not toml")
    target.write_text("\n".join(lines) + "\n")
    result = okrsync("validate", "-c", str(project))
    assert result.returncode == 2
    assert f"{target}:4" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_exits_2_and_suggests_init(tmp_path: Path) -> None:
    result = okrsync("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "okrsync init" in result.stderr


def test_explain_shows_explicit_link_first_and_the_rules_reason(project: Path) -> None:
    args = ("explain", "-c", str(project), "--source", "jira", "--project", "PAY",
            "--labels", "okr:KR-2,checkout", "--title", "Cheaper <b>checkout</b>")
    result = okrsync(*args)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("1. KR-2") < out.index("r-checkout")
    assert "label okr:KR-2" in out
    assert "explicit labels win" in out
    data = json.loads(okrsync(*args, "--json").stdout)
    assert [(link["kr_id"], link["origin"]) for link in data["links"]] == [("KR-2", "label")]
    checkout = next(r for r in data["rules"] if r["rule_id"] == "r-checkout")
    assert checkout["matched"] and not checkout["decided"]
    assert "explicit labels win" in checkout["detail"]


def test_explain_rule_link_reason_and_failed_conditions(project: Path) -> None:
    args = ("explain", "-c", str(project), "--project", "WEB", "--labels", "checkout-v2")
    data = json.loads(okrsync(*args, "--json").stdout)
    assert data["links"][0]["reason"] == (
        'rule r-checkout (priority 50): labels_any matched "checkout-*"; '
        'labels_none: none of "ktlo"'
    )
    other = next(r for r in data["rules"] if r["rule_id"] == "r-payments-failures")
    assert other["failed_condition"] == "projects"
    text = okrsync(*args).stdout
    assert "decided" in text and 'project "WEB" not in' in text


def test_token_from_env_never_appears_in_validate_verbose(project: Path) -> None:
    project.write_text(project.read_text().replace("# [sources.jira]", "[sources.jira]")
                       .replace('# kind = "jira"', 'kind = "jira"')
                       .replace('# base_url = "https', 'base_url = "https'))
    pytest.importorskip("connectors.jira")
    env = {"OKRSYNC_SOURCES__JIRA__TOKEN": SECRET, "OKRSYNC_SMTP__PASSWORD": SECRET + "-smtp"}
    for flags in (("--verbose",), ("--verbose", "--json")):
        result = okrsync("validate", "-c", str(project), *flags, env=env)
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr
        assert '"token": "***"' in result.stdout
    broken = okrsync("validate", "-c", str(project), "--verbose",
                     env={**env, "OKRSYNC_SOURCES__JIRA__MAX_RETRIES": SECRET})
    assert broken.returncode == 2
    assert SECRET not in broken.stdout + broken.stderr
    assert "OKRSYNC_SOURCES__JIRA__MAX_RETRIES" in broken.stderr


def test_checkin_validates_kr_and_stores(project: Path) -> None:
    pytest.importorskip("syncer.store")
    bad = okrsync("checkin", "KR-404", "3", "-c", str(project))
    assert bad.returncode == 2 and "KR-404" in bad.stderr
    out_of_range = okrsync("checkin", "KR-1", "3", "--confidence", "1.5", "-c", str(project))
    assert out_of_range.returncode == 2
    ok = okrsync("checkin", "kr-1", "47.5", "--confidence", "0.7", "--note", "DE live",
                 "-c", str(project), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["kr_id"] == "KR-1"
    from syncer.store import Store

    with Store.open(project.parent / "okrsync.db") as store:
        [entry] = store.checkins("KR-1")
    assert (entry.value, entry.confidence, entry.note) == (47.5, 0.7, "DE live")


def test_explain_key_reads_the_store(project: Path) -> None:
    pytest.importorskip("syncer.store")
    from core.model import Page, Ticket, TicketState
    from syncer.store import Store

    now = datetime(2026, 11, 2, tzinfo=UTC)
    t = Ticket(source="jira", key="PAY-7", remote_id="7", url="", title="Retry declines\x1b[2J",
               project="PAY", issue_type="Epic", labels=("x",), state=TicketState.TODO,
               updated=now)
    with Store.open(project.parent / "okrsync.db") as store:
        store.store_page("jira", Page(tickets=(t,)), None, now=now)
    result = okrsync("explain", "PAY-7", "-c", str(project))
    assert result.returncode == 0, result.stderr
    assert "rule r-payments-failures" in result.stdout
    assert "\x1b" not in result.stdout  # terminal escapes in ticket text are neutralised
    missing = okrsync("explain", "PAY-8", "-c", str(project))
    assert missing.returncode == 2 and "PAY-8" in missing.stderr
