"""Pull first, then decide; lost answers; redirects on writes; deleted GitHub issues — real
syncs against the sandboxes over HTTP.

- A label whose write landed but whose answer was lost, then removed by a person, is not added
  again: the re-plan records the person's override (redteam M1 case a).
- A pending write-back for an epic that left the scope is dropped, not written (M1 case b).
- A goal-link comment whose POST answer was lost exists once (H2).
- A repo renamed behind a redirect: writes fail naming the new URL, nothing counts as
  applied, and no override is blamed on people afterwards (H1).
- A GitHub issue deleted while a write-back for it is pending: 410, dropped (H6).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import http
from core.model import ApplyStatus, WriteBackKind
from sandbox import Sandbox, sandbox
from sandbox.data import generate
from syncer.engine import RunSummary, run_sync
from syncer.store import Store
from tests.helpers.e2e import config, managed_only, project, remote_state

pytestmark = pytest.mark.usefixtures("store_backend_env")


async def _no_wait(_: float) -> None:
    """Backoff and Retry-After waits are counted, never slept."""


@pytest.fixture(autouse=True)
def _instant_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "DEFAULT_SLEEP", _no_wait)


def faults_after_pull(sb: Sandbox, spec: str, server: str) -> Callable[[str, str, int], None]:
    """A progress hook that turns `spec` on for `server` once the apply phase has begun (both
    sources pulled, identities learned, the first write-back applied)."""

    def hook(source: str, phase: str, _: int) -> None:
        if phase == "apply":
            sb.set_faults(spec, server=server)

    return hook


def sync(path: Path, sb: Sandbox, **kw: object) -> RunSummary:
    return run_sync(config(path, sb), **kw)  # type: ignore[arg-type]


def tuned(tmp: Path, sb: Sandbox, extra: str = "max_retries = 2\n") -> Path:
    path = project(tmp, sb)
    text = path.read_text()
    for kind in ("jira", "github"):
        text = text.replace(f'kind = "{kind}"\n', f'kind = "{kind}"\n{extra}')
    path.write_text(text)
    return path


def test_a_label_landed_with_its_answer_lost_then_removed_by_a_person_stays_removed(
    tmp_path: Path,
) -> None:
    with sandbox(data=generate(30, 5), seed=5) as sb:
        sb.jira.admin = True  # so the quiet edit (notifyUsers=false) lands at once
        path = tuned(tmp_path, sb)
        first = sync(path, sb, progress=faults_after_pull(sb, "lost:1", "jira"))
        sb.set_faults(None)
        assert int(first.exit_code) == 1
        lost = [key for key, error in first.failed
                if key.startswith("jira|") and "|add_label|" in key]
        assert lost and all("answer was lost" in e or "failed after" in e for _, e in first.failed)
        _, ticket, _, label = lost[0].split("|")
        assert label in sb.jira.labels(ticket)  # the write landed
        people = [lb for lb in sb.jira.labels(ticket) if lb != label]
        sb.jira.edit_issue(ticket, labels=people)  # a person removes it

        second = sync(path, sb)
        third = sync(path, sb)
        with Store.open(config(path, sb).store_target) as store:
            overrides = {(o.ticket_key, o.label) for o in store.overrides()}
            dropped = [r for r in store.journal(second.run_id)
                       if r.result.status is ApplyStatus.DROPPED]
    assert label not in sb.jira.labels(ticket)
    assert (ticket, label) in overrides
    assert [(r.writeback.ticket_key, r.writeback.label) for r in dropped
            if r.writeback.kind is WriteBackKind.ADD_LABEL] == [(ticket, label)]
    assert "a person removed" in dropped[0].result.detail
    assert int(second.exit_code) == 0, second.failed
    assert third.planned == [] and third.applied == 0


def test_a_pending_write_for_an_epic_that_left_the_scope_is_dropped(tmp_path: Path) -> None:
    with sandbox(data=generate(30, 5), seed=5) as sb:
        path = tuned(tmp_path, sb)
        first = sync(path, sb, progress=faults_after_pull(sb, "503:1", "jira"))
        sb.set_faults(None)
        failed = sorted({key.split("|")[1] for key, _ in first.failed if key.startswith("jira|")})
        assert failed
        gone = failed[0]
        before = managed_only(remote_state(sb))[f"jira:{gone}"]
        text = path.read_text()
        scoped = f'jql = "key != {gone} AND project in ('
        path.write_text(text.replace('jql = "project in (', scoped))
        second = sync(path, sb, full=True)
        with Store.open(config(path, sb).store_target) as store:
            left = [i for i in store.pending() if i.writeback.ticket_key == gone]
            dropped = [r for r in store.journal(second.run_id)
                       if r.result.status is ApplyStatus.DROPPED]
        after = managed_only(remote_state(sb))[f"jira:{gone}"]
    assert after == before  # nothing written to the epic that left
    assert left == []
    assert {r.writeback.ticket_key for r in dropped} == {gone}
    assert all("no longer in the source's scope" in r.result.detail for r in dropped)
    assert int(second.exit_code) == 0, second.failed


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_lost_goal_comment_answers_leave_one_comment(tmp_path: Path, rate: float) -> None:
    with sandbox(data=generate(30, 9), seed=9) as sb:
        path = tuned(tmp_path, sb)
        first = sync(path, sb, progress=faults_after_pull(sb, f"lost:{rate}", "github"))
        sb.set_faults(None)
        lost = sb.accounting()["github"]["faults"].get("lost", 0)
        second = sync(path, sb)
        state = remote_state(sb)
    assert lost > 0
    comments = {uid: v["goal_comments"] for uid, v in state.items() if uid.startswith("github")}
    assert all(len(c) <= 1 for c in comments.values()), comments
    assert sum(len(c) for c in comments.values()) > 0
    assert int(second.exit_code) == 0, (first.failed, second.failed)


def test_writes_to_a_renamed_repo_fail_naming_the_redirect_and_blame_nobody(
    tmp_path: Path,
) -> None:
    data = generate(60, 5)
    data["github"]["renamed"] = {f"acme/old-{name[5:]}": name for name in data["github"]["repos"]}
    with sandbox(data=data, seed=5) as sb:
        path = project(tmp_path, sb)
        old = ", ".join(f'"{name}"' for name in sorted(data["github"]["renamed"]))
        path.write_text(path.read_text().replace('org = "acme"', f"repos = [{old}]"))
        first = sync(path, sb)
        second = sync(path, sb, full=True)
        with Store.open(config(path, sb).store_target) as store:
            overrides = store.overrides()
            ledger = store.applied_state().labels
    github = [(k, e) for k, e in first.failed if k.startswith("github|")]
    assert github and len(github) == len(first.failed)
    assert all("-> 307: redirected to" in e and "/repos/acme/" in e and "/old-" not in
               e.split("redirected to", 1)[1] for _, e in github)
    assert not [lb for s, _, lb in ledger if s == "github"]
    assert overrides == [] and second.new_overrides == 0
    assert all(not v["goal_comments"] and not [lb for lb in v["labels"] if lb.startswith("goal:")]
               for uid, v in remote_state(sb).items() if uid.startswith("github:"))


def test_a_deleted_github_issue_drops_its_pending_write_back(tmp_path: Path) -> None:
    with sandbox(data=generate(30, 5), seed=5) as sb:
        path = project(tmp_path, sb)
        first = sync(path, sb)
        assert int(first.exit_code) == 0
        with Store.open(config(path, sb).store_target) as store:
            done = next(r.writeback for r in store.journal(first.run_id)
                        if r.writeback.source == "github"
                        and r.writeback.kind is WriteBackKind.SET_GOAL_LINKS)
            store.enqueue(None, [done], now=datetime.now(UTC))  # left from an earlier run
        repo, number = done.ticket_key.split("#")
        sb.github.delete_issue(repo, int(number))
        run = sync(path, sb)
        with Store.open(config(path, sb).store_target) as store:
            dropped = [r for r in store.journal(run.run_id)
                       if r.result.status is ApplyStatus.DROPPED]
            pending = store.pending()
    assert int(run.exit_code) == 0, run.failed
    assert [r.writeback.ticket_key for r in dropped] == [done.ticket_key]
    assert "410" in dropped[0].result.detail and pending == []
