"""A cursor records the scope it was made for; a changed scope makes the next pull complete,
with a line saying why. Without it, widening a Jira JQL pulled nothing new until the next
complete pull, because the cursor only covered the old scope."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import Sandbox, sandbox
from syncer.engine import run_sync
from syncer.store import Store
from tests.helpers.e2e import config, okrsync, project

pytestmark = pytest.mark.usefixtures("store_backend_env")
"""Each test on the SQLite file and on a real PostgreSQL server."""


def _jira_projects(sb: Sandbox) -> list[str]:
    return sorted({k.split("-", 1)[0] for k in sb.jira.keys()})  # noqa: SIM118


def test_widening_the_jql_pulls_the_new_projects_on_the_next_sync(tmp_path: Path) -> None:
    with sandbox(epics=60, seed=21) as sb:
        cfg_path = project(tmp_path, sb)
        text = cfg_path.read_text()
        everything = f"project in ({', '.join(_jira_projects(sb))})"
        first = _jira_projects(sb)[0]
        cfg_path.write_text(text.replace(everything, f"project in ({first})"))
        narrow = run_sync(config(cfg_path, sb))
        assert narrow.exit_code == 0
        db = config(cfg_path, sb).store_target
        with Store.open(db) as store:
            assert {t.key.split("-")[0] for t in store.tickets("jira")} == {first}

        cfg_path.write_text(text)
        done = okrsync("sync", "--config", str(cfg_path), sb=sb)
        assert done.returncode == 0, done.stderr
        assert "jira: complete pull because the scope changed: jql" in done.stdout
        assert everything in done.stdout.replace("\n", "")
        assert "github: complete pull" not in done.stdout
        with Store.open(db) as store:
            projects = {t.key.split("-")[0] for t in store.tickets("jira")}
        assert projects == set(_jira_projects(sb))

        again = run_sync(config(cfg_path, sb))
        assert not any(s.complete or s.notice for s in again.sources)


def test_a_github_source_whose_repos_changed_pulls_completely(tmp_path: Path) -> None:
    with sandbox(epics=40, seed=22) as sb:
        cfg_path = project(tmp_path, sb)
        assert run_sync(config(cfg_path, sb)).exit_code == 0
        repo = sorted(sb.github.repos)[0]
        text = cfg_path.read_text()
        cfg_path.write_text(text.replace(f'org = "{sb.org}"', f'repos = ["{repo}"]'))
        summary = run_sync(config(cfg_path, sb))
        github = next(s for s in summary.sources if s.name == "github")
        jira = next(s for s in summary.sources if s.name == "jira")
        assert github.complete and "the scope changed" in github.notice
        assert "org 'acme' -> ''" in github.notice.replace(sb.org, "acme")
        assert repo in github.notice
        assert not jira.complete and not jira.notice
        with Store.open(config(cfg_path, sb).store_target) as store:
            repos = {t.key.split("#")[0] for t in store.tickets("github")}
        assert repo in repos


def test_a_cursor_from_before_scopes_were_recorded_makes_one_complete_pull() -> None:
    from connectors.scope import describe_change

    assert "older okrsync" in describe_change(None, {"jql": "project = WEB"})
    assert describe_change({"jql": "a"}, {"jql": "a"}) == ""
    assert describe_change({"jql": "a", "flavour": "cloud"}, {"jql": "b", "flavour": "cloud"}) \
        == "the scope changed: jql 'a' -> 'b'"
