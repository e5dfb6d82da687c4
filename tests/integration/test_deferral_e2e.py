"""A GitHub content limit that outlasts `max_rate_limit_wait`: the run ends the source's
apply phase cleanly, exits 0 and says how much is deferred until when; later runs do not
send into the block; once it lifts, the backlog drains without duplicates. And a no-op sync
with GitHub App auth against token-specific ETags costs no quota."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import sandbox
from syncer.config import load_config
from syncer.store import Store
from syncer.store_rows import ts
from tests.helpers.app_auth import app_project
from tests.helpers.cli_runner import run_as_new_process
from tests.helpers.e2e import ROOT, okrsync, project, remote_state

pytestmark = pytest.mark.usefixtures("store_backend_env")

LIMITED = """pacing = true
content_limits = ["6/3600"]
write_spacing = 0
max_rate_limit_wait = 1
"""


def _limited_project(tmp: Path, sb: Any) -> Path:
    path = project(tmp, sb)
    text = path.read_text()
    head, _, github = text.partition("[sources.github]")
    paced = LIMITED.replace("pacing = false", "pacing = true")
    path.write_text(head + "[sources.github]" + github.replace("pacing = false\n", paced, 1))
    return path


def _github_writes(acc: dict[str, Any]) -> int:
    return sum(n for name, n in acc["by_endpoint"].items()
               if name.split(" ", 1)[0] in ("POST", "PATCH", "PUT", "DELETE"))


def test_a_long_block_defers_the_rest_and_later_runs_wait_for_it(tmp_path: Path) -> None:
    with sandbox(epics=40, seed=5) as sb:
        config = _limited_project(tmp_path, sb)
        first = okrsync("sync", "--json", "-c", str(config), sb=sb)
        assert first.returncode == 0, first.stderr
        summary = json.loads(first.stdout)
        (deferred,) = summary["deferred"]
        assert deferred["source"] == "github" and deferred["count"] > 0
        assert deferred["reason"] == "GitHub content limit"
        assert "deferred until" in deferred["message"] and "at 6/h" in deferred["eta"]
        assert summary["failed"] == [] and summary["pending"] == 0

        text = okrsync("sync", "-c", str(config), sb=sb)
        assert text.returncode == 0, text.stderr
        assert "deferred" in text.stdout and "(GitHub content limit)" in text.stdout

        before = sb.accounting()["github"]
        again = okrsync("sync", "--json", "-c", str(config), sb=sb)
        assert again.returncode == 0
        assert _github_writes(sb.accounting()["github"]) == _github_writes(before)

        status = okrsync("status", "--json", "-c", str(config), sb=sb)
        (shown,) = json.loads(status.stdout)["deferred"]
        assert shown["count"] == deferred["count"] and shown["eta_seconds"] > 0

        # the block lifts: the next run drains the backlog, and nothing is written twice
        past = ts(datetime.now(UTC) - timedelta(minutes=1))
        with Store.open(load_config(config).store_target) as store:
            store.db.execute("update outbox set deferred_until = ? "
                             "where deferred_until is not null", [past])
        config.write_text(config.read_text().replace('["6/3600"]', '["100000/1"]'))
        for _ in range(3):
            done = okrsync("sync", "--json", "-c", str(config), sb=sb)
            assert done.returncode == 0, done.stderr
            if not json.loads(done.stdout)["planned_count"]:
                break
        assert json.loads(done.stdout)["deferred"] == []
        state = remote_state(sb)
        assert all(len(v.get("goal_comments", [])) <= 1 for v in state.values())
        assert any(v.get("goal_comments") for v in state.values())


def test_a_dry_run_prints_the_write_budget(tmp_path: Path) -> None:
    with sandbox(epics=30, seed=6) as sb:
        config = _limited_project(tmp_path, sb)
        out = okrsync("sync", "--dry-run", "--json", "-c", str(config), sb=sb)
        budget = {b["source"]: b for b in json.loads(out.stdout)["write_budget"]}
        github = budget["github"]
        assert github["content"] > 0 and github["limits"] == ["6/3600"]
        assert github["seconds"] >= 3600 * ((github["content"] - 1) // 6)
        assert "content-creating" in github["message"]
        text = okrsync("sync", "--dry-run", "-c", str(config), sb=sb)
        assert "write budget" in text.stdout


def test_a_no_op_app_sync_costs_no_quota_with_token_specific_etags(tmp_path: Path) -> None:
    with sandbox(epics=60, seed=7, token_etags=True) as sb:
        config, env = app_project(tmp_path, sb)
        for _ in range(2):
            assert _cli(env, "sync", "-c", str(config)).returncode == 0
        _age_github(sb, seconds=30)  # as if the last change were half a minute old
        assert _cli(env, "sync", "-c", str(config)).returncode == 0  # keeps Last-Modified
        before = sb.accounting()["github"]
        noop = _cli(env, "sync", "--json", "-c", str(config))  # a new process: a new token
        after = sb.accounting()["github"]
        assert noop.returncode == 0, noop.stderr
        listings = {n: after["by_endpoint"].get(n, 0) - before["by_endpoint"].get(n, 0)
                    for n in after["by_endpoint"]}
        assert listings.get("POST /app/installations/{installation_id}/access_tokens") == 1
        assert after["quota_spent"] - before["quota_spent"] == 0
        requests = after["requests"] - before["requests"]
        assert requests <= len(sb.github.repos) + 2  # the org listing, one per repo, a mint
        assert after["not_modified"] - before["not_modified"] == requests - 1


def _cli(env: dict[str, str], *args: str) -> Any:
    """As a new process: no installation token minted yet."""
    return run_as_new_process(*args, env=env, cwd=ROOT)


def _age_github(sb: Any, *, seconds: float) -> None:
    """Move every issue's `updated_at` back, as time passing would leave it."""
    with sb.github.lock:
        for repo in sb.github.repos.values():
            for issue in repo.issues.values():
                stamp = datetime.fromisoformat(issue.data["updated_at"].replace("Z", "+00:00"))
                issue.data["updated_at"] = (stamp - timedelta(seconds=seconds)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
            repo.cache.clear()
