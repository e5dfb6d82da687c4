"""Commands that never connect run without any tracker token in the environment; the ones
that connect name the variable to set. Real files; the CLI runs in-process with no `OKRSYNC_*`
variable set (the installed entry point itself is tested in `test_cli_usage`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli_runner import run_as_new_process

ROOT = Path(__file__).resolve().parents[2]


def okrsync(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OKRSYNC_")}
    return run_as_new_process(*args, env=env | {"COLUMNS": "100"}, cwd=ROOT)

SOURCES = """
[sources.jira]
kind = "jira"
base_url = "https://acme.atlassian.net"
jql = "project = WEB"

[sources.github]
kind = "github"
repos = ["acme/app"]
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    assert okrsync("init", str(tmp_path)).returncode == 0
    config = tmp_path / "okrsync.toml"
    config.write_text(config.read_text() + SOURCES)
    return config


def test_read_only_commands_need_no_token(project: Path) -> None:
    c = ["--config", str(project)]
    assert okrsync("status", *c).returncode == 0
    checkin = okrsync("checkin", "KR-1", "42", *c)
    assert checkin.returncode == 0, checkin.stderr
    report = okrsync("report", "--format", "json", *c)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["week"]
    for args in (["runs"], ["status", "--json"], ["explain", "--labels", "x", "--project", "WEB"]):
        result = okrsync(*args, *c)
        assert result.returncode == 0, (args, result.stderr)


@pytest.mark.parametrize("command", ["sync", "doctor", "revert 1", "daemon", "validate"])
def test_commands_that_connect_name_the_token_variable(project: Path, command: str) -> None:
    result = okrsync(*command.split(), "--config", str(project))
    assert result.returncode == 2, result.stderr
    assert "OKRSYNC_SOURCES__JIRA__TOKEN" in result.stderr
    assert "OKRSYNC_SOURCES__GITHUB__TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
