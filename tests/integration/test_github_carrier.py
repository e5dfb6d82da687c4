"""`goal_link_carrier = "label"`: the managed labels carry the goal links, no comment is
written, and each linked epic costs one content-creating request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import sandbox
from tests.helpers.e2e import okrsync, project, remote_state

pytestmark = pytest.mark.usefixtures("store_backend_env")


def _content(acc: dict[str, object]) -> int:
    by_endpoint = acc["by_endpoint"]
    assert isinstance(by_endpoint, dict)
    return sum(n for name, n in by_endpoint.items() if name.startswith(("POST ", "PATCH ")))


def test_label_carrier_writes_labels_and_no_comment(tmp_path: Path) -> None:
    with sandbox(epics=40, seed=8) as sb:
        config = project(tmp_path, sb)
        config.write_text(config.read_text().replace(
            'epic_label = "epic"\n', 'epic_label = "epic"\ngoal_link_carrier = "label"\n'))
        sb.reset_accounting()
        run = okrsync("sync", "--json", "-c", str(config), sb=sb)
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        github = [wb for wb in summary["planned"] if wb["source"] == "github"]
        assert any(wb["kind"] == "set_goal_links" for wb in github)
        state = {k: v for k, v in remote_state(sb).items() if k.startswith("github:")}
        assert all(not v["goal_comments"] for v in state.values())
        assert any(any(lb.startswith("goal:") for lb in v["labels"]) for v in state.values())
        adds = sum(1 for wb in github if wb["kind"] == "add_label")
        label_creations = sb.accounting()["github"]["by_endpoint"].get(
            "POST /repos/{owner}/{repo}/labels", 0)
        assert _content(sb.accounting()["github"]) == adds + label_creations
        again = okrsync("sync", "--json", "-c", str(config), sb=sb)
        assert json.loads(again.stdout)["planned_count"] == 0


def test_a_managed_label_the_pull_saw_is_not_looked_up_again(tmp_path: Path) -> None:
    with sandbox(epics=40, seed=8) as sb:
        config = project(tmp_path, sb)
        assert okrsync("sync", "-c", str(config), sb=sb).returncode == 0
        repo, label, number = next(
            (name, lb, other)
            for name, r in sb.github.repos.items()
            for n in r.issues for lb in sb.github.labels_of(name, n) if lb.startswith("goal:")
            for other in r.issues
            if "epic" in sb.github.labels_of(name, other)
            and lb not in sb.github.labels_of(name, other))
        kr = label.removeprefix("goal:")
        sb.github.edit_issue(repo, number,
                             labels=[*sb.github.labels_of(repo, number), f"okr:{kr}"])
        sb.reset_accounting()
        run = okrsync("sync", "--full", "--json", "-c", str(config), sb=sb)
        assert run.returncode == 0, run.stderr
        assert label in sb.github.labels_of(repo, number)
        by_endpoint = sb.accounting()["github"]["by_endpoint"]
        assert by_endpoint.get("GET /repos/{owner}/{repo}/labels/{name}", 0) == 0
        assert by_endpoint.get("POST /repos/{owner}/{repo}/labels", 0) == 0
