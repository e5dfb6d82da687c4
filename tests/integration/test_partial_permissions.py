"""Partial permissions, deleted tickets and hidden fields over real HTTP, three syncs long.

An organisation of four repos where one is archived, a Jira project without "Link issues", a
ticket deleted while a write-back for it is pending, and a Jira project whose labels field
becomes hidden: every other repo's write-backs are applied, the refused ones are parked after
`park_after` refusals and no longer fail the run, the deleted ticket's write-back is dropped
with a journal entry, and the hidden field records no override and removes no goal link.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.github import GitHubConnector, GitHubSourceConfig
from core.errors import AuthError, Forbidden, RemoteError
from core.model import ApplyStatus, WriteBack, WriteBackKind
from sandbox import Sandbox, sandbox
from sandbox.data import generate
from syncer.engine import RunSummary, run_sync
from syncer.store import Store
from tests.helpers.e2e import config, managed_only, okrsync, project, remote_state

ARCHIVED = "acme/api"
NO_LINKS = "WEB"
RETRY = "[sync]\nretry_backoff_seconds = 0\npark_after = 2\n"

pytestmark = pytest.mark.usefixtures("store_backend_env")


def scenario() -> dict[str, Any]:
    data = generate(40, 11)
    data["github"]["repos"][ARCHIVED]["archived"] = True
    data["jira"]["no_link_projects"] = [NO_LINKS]
    return data


def refused_here(key: str) -> bool:
    """A write-back key (`source|ticket|kind|label`) or ticket key the scenario refuses."""
    ticket = key.split("|")[1] if "|" in key else key
    return ticket.startswith((ARCHIVED + "#", NO_LINKS + "-"))


def setup(tmp: Path, sb: Sandbox, extra: str = RETRY) -> Path:
    """The demo project, with the four repos named (an org listing leaves archived repos out)
    and `extra` settings."""
    path = project(tmp, sb)
    repos = ", ".join(f'"{name}"' for name in sorted(sb.github.repos))
    text = path.read_text().replace('org = "acme"', f"repos = [{repos}]")
    path.write_text(text.replace("[sources.jira]", extra + "\n[sources.jira]"))
    return path


def sync(path: Path, sb: Sandbox) -> RunSummary:
    return run_sync(config(path, sb))


def github_uids(state: dict[str, Any], repo: str) -> list[str]:
    return [uid for uid in state if uid.startswith(f"github:{repo}#")]


def expected_labels(store: Store) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {}
    for link in store.links():
        wanted.setdefault(f"{link.source}:{link.ticket_key}", set()).add(f"goal:{link.kr_id}")
    return wanted


def test_archived_repo_deleted_ticket_and_hidden_labels_over_three_syncs(tmp_path: Path) -> None:
    with sandbox(data=scenario(), seed=11) as sb:
        path = setup(tmp_path, sb)
        db = config(path, sb).store_target

        first = sync(path, sb)
        assert int(first.exit_code) == 1
        assert first.failed and all(refused_here(key) for key, _ in first.failed)
        assert all("archived" in error or "link issues" in error for _, error in first.failed)
        with Store.open(db) as store:
            pending = store.pending()
            assert pending and all(refused_here(i.writeback.ticket_key) for i in pending)
            doomed = next(i.writeback.ticket_key for i in pending
                          if i.writeback.ticket_key.startswith(NO_LINKS + "-"))
        before = remote_state(sb)
        ops_before = {uid: v for uid, v in managed_only(before).items()
                      if uid.startswith("jira:OPS-")}
        assert any(v["labels"] or v["links"] for v in ops_before.values())

        # A person deletes an issue that has pending write-backs; a field configuration hides
        # the labels of project OPS (each OPS epic is then edited, so the next pull reads it).
        sb.jira.delete_issue(doomed)
        sb.jira.access.hidden_fields["OPS"] = {"labels"}
        ops_keys = [k for k in sb.jira.keys() if k.startswith("OPS-")]  # noqa: SIM118
        for key in ops_keys:
            sb.jira.edit_issue(key, summary=f"edited {key}")

        second = sync(path, sb)
        third = sync(path, sb)
        after = remote_state(sb)
        with Store.open(db) as store:
            parked = store.outbox_counts()
            left = store.pending()
            journal = [row for run in (second.run_id,) for row in store.journal(run)]
            skipped = store.skipped("jira")
            overrides = store.overrides()
            wanted = expected_labels(store)

    assert int(second.exit_code) == 1  # the archived repo's second refusal parks it
    assert int(third.exit_code) == 0, third.failed  # parked items no longer fail the run
    assert third.failed == [] and third.applied == 0

    dropped = [row for row in journal if row.result.status is ApplyStatus.DROPPED]
    assert dropped and {row.writeback.ticket_key for row in dropped} == {doomed}
    assert all("gone" in row.result.detail and "404" in row.result.detail for row in dropped)
    assert {key for key, _ in second.dropped} == {row.writeback.key for row in dropped}

    assert left and all(refused_here(item.writeback.ticket_key) for item in left)
    assert doomed not in {item.writeback.ticket_key for item in left}
    assert all(item.parked_at is not None for item in left)
    assert (parked["pending"], parked["parked"], parked["waiting"]) == (len(left), len(left), 0)

    # Every other repo's write-backs are applied: each linked epic carries its goal labels
    # and one goal-link comment; the archived repo got nothing.
    for repo in sorted({uid.split("#")[0][len("github:"):] for uid in after} - {ARCHIVED}):
        for uid in github_uids(after, repo):
            labels = {lb for lb in after[uid]["labels"] if lb.startswith("goal:")}
            assert labels == wanted.get(uid, set()), uid
            assert len(after[uid]["goal_comments"]) == (1 if uid in wanted else 0), uid
    for uid in github_uids(after, ARCHIVED):
        assert not after[uid]["goal_comments"]
        assert not [lb for lb in after[uid]["labels"] if lb.startswith("goal:")]

    # The hidden labels field is unknown, not empty: skipped with the reason, no override,
    # no link removed, no label touched.
    assert {row.key for row in skipped} == set(ops_keys)
    assert all(row.reason.startswith("unknown field `labels`") for row in skipped)
    assert second.sources[0].skipped == len(ops_keys) or any(
        s.name == "jira" and s.skipped == len(ops_keys) for s in second.sources)
    assert overrides == [] and second.new_overrides == 0 and third.new_overrides == 0
    ops_after = {uid: v for uid, v in managed_only(after).items() if uid.startswith("jira:OPS-")}
    assert ops_after == ops_before


def test_status_shows_parked_items_and_resume_retries_them(tmp_path: Path) -> None:
    with sandbox(data=scenario(), seed=11) as sb:
        path = setup(tmp_path, sb, "[sync]\nretry_backoff_seconds = 0\npark_after = 1\n")
        first = sync(path, sb)
        assert int(first.exit_code) == 1
        assert int(sync(path, sb).exit_code) == 0  # parked on the first refusal

        shown = okrsync("status", "--json", "--config", str(path), sb=sb)
        assert shown.returncode == 0, shown.stderr
        status = json.loads(shown.stdout)
        parked = [p for p in status["pending"] if p["parked_at"]]
        assert parked and len(parked) == status["outbox"]["parked"] == len(status["pending"])
        assert all("archived" in p["last_error"] or "link issues" in p["last_error"]
                   for p in parked)
        text = " ".join(okrsync("status", "--config", str(path), sb=sb).stdout.split())
        assert f"{len(parked)} parked" in text and "okrsync resume" in text, text

        report = okrsync("report", "--format", "json", "--config", str(path), sb=sb)
        assert report.returncode == 0, report.stderr
        listed = json.loads(report.stdout)["parked"]
        assert sorted(p["key"] for p in listed) == sorted(p["ticket"] for p in parked)
        assert all(p["attempts"] == 1 and p["since"] for p in listed)
        markdown = okrsync("report", "--format", "markdown", "--config", str(path), sb=sb)
        assert "Write-backs okrsync stopped trying" in markdown.stdout
        assert "Repository was archived so is read" in markdown.stdout

        sb.github.repos[ARCHIVED].data["archived"] = False  # an admin unarchives the repo
        sb.jira.access.no_link_projects.clear()  # and grants "Link issues"
        bad = okrsync("resume", "--source", "nope", "--config", str(path), sb=sb)
        assert bad.returncode == 2 and "no source named nope" in bad.stderr
        assert "Traceback" not in bad.stderr
        github = [p for p in parked if p["source"] == "github"]
        done = okrsync("resume", "--source", "github", "--json", "--config", str(path), sb=sb)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"resumed": len(github)}
        one = [str(p["id"]) for p in parked if p["source"] == "jira"]
        done = okrsync("resume", *one, "--config", str(path), sb=sb)
        assert done.returncode == 0 and f"{len(one)} write-back(s) due again" in done.stdout

        fourth = sync(path, sb)
        assert int(fourth.exit_code) == 0, fourth.failed
        assert fourth.applied >= len(parked)
        with Store.open(config(path, sb).store_target) as store:
            assert store.pending() == []
        state = remote_state(sb)
        assert any(state[uid]["goal_comments"] for uid in github_uids(state, ARCHIVED))


def test_default_backoff_waits_instead_of_failing_every_run(tmp_path: Path) -> None:
    with sandbox(data=scenario(), seed=11) as sb:
        path = setup(tmp_path, sb, "")
        runs = [sync(path, sb) for _ in range(3)]
        with Store.open(config(path, sb).store_target) as store:
            counts = store.outbox_counts()
            attempts = {item.attempts for item in store.pending()}
    assert [int(r.exit_code) for r in runs] == [1, 0, 0]
    assert runs[1].failed == [] and runs[2].failed == []
    assert counts["waiting"] == counts["pending"] > 0 and counts["parked"] == 0
    assert attempts == {1}  # tried once, then left to its backoff


def test_a_ticket_with_a_hidden_labels_field_gets_no_write_even_when_the_rules_change(
    tmp_path: Path,
) -> None:
    with sandbox(data=generate(40, 11), seed=11) as sb:
        path = project(tmp_path, sb)
        assert int(sync(path, sb).exit_code) == 0
        before = managed_only(remote_state(sb))
        sb.jira.access.hidden_fields["OPS"] = {"labels"}
        ops_keys = [k for k in sb.jira.keys() if k.startswith("OPS-")]  # noqa: SIM118
        for key in ops_keys:
            sb.jira.edit_issue(key, summary=f"edited {key}")
        (path.parent / "rules.toml").write_text("# every rule removed\n")  # all rule links end
        run = sync(path, sb)
        after = managed_only(remote_state(sb))
    ops = [uid for uid in before if uid.startswith("jira:OPS-")]
    assert any(before[uid]["labels"] for uid in ops)
    assert all(after[uid] == before[uid] for uid in ops)  # held: nothing written
    others = [uid for uid in before if uid.startswith("jira:") and uid not in ops
              and before[uid]["labels"]]
    assert others and any(after[uid] != before[uid] for uid in others)  # the rest re-planned
    assert int(run.exit_code) == 0, run.failed


def test_an_app_not_installed_on_one_repo_fails_only_that_repo() -> None:
    data = {"github": {"org": "acme", "repos": {
        "acme/app": {"issues": [{"title": "Epic", "labels": ["epic"]}]},
        "acme/other": {"permissions": {"push": False},
                       "issues": [{"title": "Epic", "labels": ["epic"]}]}}}}
    with sandbox(data=data) as sb:
        conn = GitHubConnector(GitHubSourceConfig(
            name="github", api_url=sb.github_url, app_id=sb.app_id,
            private_key=sb.app_private_key, installation_id=sb.installation_id, org="acme"))

        async def go() -> tuple[BaseException | None, ApplyStatus]:
            label = "goal:KR-1"
            refused: BaseException | None = None
            try:
                await conn.apply(WriteBack("github", "acme/other#1", WriteBackKind.ADD_LABEL,
                                           label=label))
            except RemoteError as exc:
                refused = exc
            done = await conn.apply(WriteBack("github", "acme/app#1", WriteBackKind.ADD_LABEL,
                                              label=label))
            await conn.aclose()
            return refused, done.status

        refused, status = asyncio.run(go())
        labels = sb.github.labels_of("acme/app", 1), sb.github.labels_of("acme/other", 1)
    assert isinstance(refused, Forbidden) and not isinstance(refused, AuthError)
    assert "Resource not accessible by integration" in str(refused)
    assert status is ApplyStatus.APPLIED and labels == (["epic", "goal:KR-1"], ["epic"])
