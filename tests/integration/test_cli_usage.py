"""Usage errors, `--help` and `--version` through the installed `okrsync` binary, as a person
(or a cron line with a typo) meets them: click's own message, exit 2, never "a bug"."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncer import __version__
from tests.helpers.cli_runner import run_okrsync, without_okrsync_env


def _binary() -> str:
    beside = Path(sys.executable).with_name("okrsync")
    found = str(beside) if beside.exists() else shutil.which("okrsync")
    assert found, "the okrsync console script is installed with the project (pip install -e .)"
    return found


def okrsync(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OKRSYNC_")}
    env["COLUMNS"] = "100"
    return subprocess.run([_binary(), *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=60)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("sync", "--bogus"), "No such option"),
        (("sync", "--dryrun"), "--dry-run"),  # the suggestion
        (("snyc",), "Did you mean 'sync'"),
        (("report", "--format", "pdf"), "'pdf' is not one of"),
        (("revert",), "Missing argument 'RUN_ID'"),
        (("revert", "abc"), "'abc' is not a valid integer"),
        (("checkin", "KR-1", "64%"), "is not a valid float"),
    ],
)
def test_usage_error_is_clicks_message_and_exit_2(
    args: tuple[str, ...], says: str, tmp_path: Path
) -> None:
    result = okrsync(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert f"Try 'okrsync {args[0]} --help'" in result.stderr or "Try 'okrsync --help'" in (
        result.stderr
    )
    assert "bug" not in result.stderr
    assert "Traceback" not in result.stderr


def test_help_is_clean_for_the_app_and_every_command() -> None:
    top = okrsync("--help")
    assert top.returncode == 0
    commands = ["sync", "revert", "report", "status", "checkin", "validate", "doctor", "runs",
                "explain", "daemon", "init", "demo", "sandbox", "forget", "serve"]
    for name in commands:
        assert name in top.stdout
    # The installed entry point answered above; each command's help is the same app's, read
    # in this process.
    env = without_okrsync_env(os.environ) | {"COLUMNS": "100"}
    for args in [("--help",), *((name, "--help") for name in commands)]:
        result = run_okrsync(*args, env=env)
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage: okrsync" in result.stdout
        assert "<bool>" not in result.stdout and "{" not in result.stdout, result.stdout
    revert = run_okrsync("revert", "--help", env=env).stdout
    assert "okrsync revert [OPTIONS] RUN_ID" in revert
    assert "The run to undo" in revert  # argument help is shown


def test_version() -> None:
    result = okrsync("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"okrsync {__version__}"

