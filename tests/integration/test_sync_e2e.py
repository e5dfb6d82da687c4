"""The sync engine end to end against both sandboxes over real HTTP, with a real store: each
test (but the demo's) on the SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.ownership import global_id
from core.errors import StoreError
from sandbox import Sandbox, sandbox
from syncer.engine import run_sync
from syncer.lock import run_lock
from syncer.revert import revert_run
from syncer.store import Store, store_exists
from tests.helpers.cli_runner import run_as_new_process
from tests.helpers.e2e import (
    MARKER,
    config,
    env_for,
    managed_only,
    okrsync,
    project,
    remote_state,
    tokens,
)
from tests.helpers.store_backends import sqlite_store

EPICS = 120


def _linked(cfg_path: Path, sb: object) -> tuple[set[tuple[str, str, str]], Store]:
    cfg = config(cfg_path, sb)  # type: ignore[arg-type]
    store = Store.open(cfg.store_target)
    return {(lk.source, lk.ticket_key, lk.kr_id) for lk in store.links()}, store


def _jira_projects(sb: Sandbox) -> list[str]:
    return sorted({k.split("-", 1)[0] for k in sb.jira.keys()})  # noqa: SIM118


def _rescope_jira(cfg_path: Path, sb: Sandbox, scope: str) -> str:
    """Point the Jira source's JQL at `scope` (the project's full scope is `{all}`); return
    the config text as it was."""
    text = cfg_path.read_text()
    everything = f"project in ({', '.join(_jira_projects(sb))})"
    narrowed = text.replace(everything, scope.format(all=everything))
    assert narrowed != text
    cfg_path.write_text(narrowed)
    return text


def _age_complete_pulls(db: Path | str) -> None:
    """As if the last complete pulls were long ago: the schedule makes the next one complete."""
    with Store.open(db) as store:
        store.db.execute("update complete_pulls set at = '2000-01-01T00:00:00+00:00'")


@pytest.mark.usefixtures("store_backend_env")
def test_first_sync_writes_goal_links_and_the_second_writes_nothing(tmp_path: Path) -> None:
    with sandbox(epics=EPICS, seed=3) as sb:
        cfg_path = project(tmp_path, sb)
        start = sb.accounting()
        first = run_sync(config(cfg_path, sb))
        assert first.exit_code == 0, first.failed
        assert first.applied > 0 and first.pending == 0
        # Write-backs planned from what the run just pulled skip the read before the write:
        # no per-issue label reads on Jira, and no comment search where the pull saw none.
        def made(side: str, endpoint: str) -> int:
            now = sb.accounting()[side]["by_endpoint"]
            return int(now.get(endpoint, 0)) - int(start[side]["by_endpoint"].get(endpoint, 0))

        assert made("jira", "GET /rest/api/{api}/issue/{key}") == 0
        created = made("github", "POST /repos/{owner}/{repo}/issues/{number}/comments")
        assert created > 0
        assert made("github", "GET /repos/{owner}/{repo}/issues/{number}/comments") < created
        links, store = _linked(cfg_path, sb)
        store.close()
        assert links, "the seeded organisation must produce links"
        state = remote_state(sb)
        for source, key, kr in links:
            if source == "jira":
                item = state[f"jira:{key}"]
                assert f"goal:{kr}" in item["labels"]
                assert global_id(sb.jira_url, key, kr) in item["links"]
            else:
                item = state[f"github:{key}"]
                assert f"goal:{kr}" in item["labels"]
                assert len(item["goal_comments"]) == 1
                assert kr in item["goal_comments"][0]
        for item in state.values():
            assert len(item.get("goal_comments", [])) <= 1
            assert len(item.get("links", [])) == len(set(item.get("links", [])))

        second = run_sync(config(cfg_path, sb))
        assert second.planned == [] and second.applied == 0
        assert remote_state(sb) == state
        # The first run's own writes changed the repos, so the second re-read them once; from
        # then on an unchanged organisation costs only conditional requests.
        before = sb.accounting()
        third = run_sync(config(cfg_path, sb))
        after = sb.accounting()
        assert third.planned == [] and third.applied == 0
        assert after["github"]["quota_spent"] == before["github"]["quota_spent"]
        assert after["github"]["by_status"].get("304", 0) > before["github"]["by_status"].get(
            "304", 0)


@pytest.mark.usefixtures("store_backend_env")
def test_a_removed_managed_label_is_an_override_and_never_re_added(tmp_path: Path) -> None:
    with sandbox(epics=EPICS, seed=4) as sb:
        cfg_path = project(tmp_path, sb)
        run_sync(config(cfg_path, sb))
        links, store = _linked(cfg_path, sb)
        rule_links = [lk for lk in store.links()
                      if lk.source == "jira" and lk.origin.value == "rule"]
        store.close()
        target = rule_links[0]
        label = f"goal:{target.kr_id}"
        labels = [lb for lb in sb.jira.labels(target.ticket_key) if lb != label]
        sb.jira.edit_issue(target.ticket_key, labels=labels)

        summary = run_sync(config(cfg_path, sb))
        assert summary.exit_code == 0
        assert label not in sb.jira.labels(target.ticket_key)
        links_after = {g["globalId"] for g in sb.jira.remote_links(target.ticket_key)}
        assert global_id(sb.jira_url, target.ticket_key, target.kr_id) not in links_after
        with Store.open(config(cfg_path, sb).store_target) as store:
            overrides = {(o.ticket_key, o.label) for o in store.overrides()}
        assert (target.ticket_key, label) in overrides

        third = run_sync(config(cfg_path, sb))
        assert third.applied == 0
        assert label not in sb.jira.labels(target.ticket_key)


@pytest.mark.usefixtures("store_backend_env")
def test_changing_a_rule_moves_links_and_cleans_up_the_old_ones(tmp_path: Path) -> None:
    with sandbox(epics=EPICS, seed=5) as sb:
        cfg_path = project(tmp_path, sb)
        run_sync(config(cfg_path, sb))
        with Store.open(config(cfg_path, sb).store_target) as store:
            rule_links = [lk for lk in store.links() if lk.origin.value == "rule"]
        moved = rule_links[0]
        rules_file = tmp_path / "rules.toml"
        text = rules_file.read_text()
        kr_ids = [line.split('"')[1] for line in (tmp_path / "okrs.toml").read_text().splitlines()
                  if line.strip().startswith("id = ") and "KR" in line.upper()]
        other = next(k for k in kr_ids if k != moved.kr_id)
        rule_id = moved.rule_id
        blocks = text.split("[[rule]]")
        for i, block in enumerate(blocks):
            if f'id = "{rule_id}"' in block:
                blocks[i] = block.replace(f'kr = "{moved.kr_id}"', f'kr = "{other}"')
        rules_file.write_text("[[rule]]".join(blocks))

        summary = run_sync(config(cfg_path, sb))
        assert summary.exit_code == 0, summary.failed
        with Store.open(config(cfg_path, sb).store_target) as store:
            now_links = {(lk.source, lk.ticket_key, lk.kr_id) for lk in store.links()}
        assert (moved.source, moved.ticket_key, other) in now_links
        if moved.source == "jira":
            labels = sb.jira.labels(moved.ticket_key)
            gids = {g["globalId"] for g in sb.jira.remote_links(moved.ticket_key)}
            assert f"goal:{other}" in labels and f"goal:{moved.kr_id}" not in labels
            assert global_id(sb.jira_url, moved.ticket_key, moved.kr_id) not in gids
            assert global_id(sb.jira_url, moved.ticket_key, other) in gids
        else:
            repo, number = moved.ticket_key.split("#")
            labels = sb.github.labels_of(repo, int(number))
            assert f"goal:{other}" in labels and f"goal:{moved.kr_id}" not in labels


@pytest.mark.usefixtures("store_backend_env")
def test_two_runs_at_once_the_second_exits_3(tmp_path: Path) -> None:
    with sandbox(epics=40, seed=6) as sb:
        cfg_path = project(tmp_path, sb)
        cfg = config(cfg_path, sb)
        cfg.store_path.parent.mkdir(parents=True, exist_ok=True)
        with run_lock(cfg.store_target, cfg.sources, command="test"):
            blocked = okrsync("sync", "--config", str(cfg_path), sb=sb)
        assert blocked.returncode == 3, blocked.stderr
        assert "pid" in blocked.stderr.lower() or "lock" in blocked.stderr.lower()

        sb.set_faults("slow:0.3")
        cmd = [sys.executable, "-m", "syncer.cli", "sync", "--config", str(cfg_path)]
        procs = [subprocess.Popen(cmd, env=env_for(sb), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        codes = sorted(p.wait(timeout=180) for p in procs)
        assert codes[1] == 3 and codes[0] in (0, 1)


def _journal_rows(db: Path | str) -> int:
    if not store_exists(db):
        return 0
    try:
        with Store.open_read_only(db) as store:
            return int(store.db.execute("select count(*) from journal").fetchone()[0])
    except StoreError:
        return 0


@pytest.mark.usefixtures("store_backend_env")
@pytest.mark.slow
@pytest.mark.usefixtures("store_backend_env")
def test_a_sync_killed_mid_apply_converges_to_the_uninterrupted_state(tmp_path: Path) -> None:
    with sandbox(epics=EPICS, seed=8) as reference, sqlite_store():
        run_sync(config(project(tmp_path / "ref", reference), reference))
        expected = managed_only(remote_state(reference))

    with sandbox(epics=EPICS, seed=8) as sb:
        cfg_path = project(tmp_path / "crash", sb)
        db = config(cfg_path, sb).store_target
        sb.set_faults("slow:0.15")
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncer.cli", "sync", "--config", str(cfg_path)],
            env=env_for(sb), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while _journal_rows(db) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        sb.set_faults(None)
        with Store.open(db) as store:
            assert store.pending(), "a killed run leaves its unfinished write-backs pending"
            assert store.integrity_check() == "ok"
        rerun = run_sync(config(cfg_path, sb))
        assert rerun.exit_code == 0, rerun.failed
        assert managed_only(remote_state(sb)) == expected
        for item in remote_state(sb).values():
            assert len(item.get("goal_comments", [])) <= 1


@pytest.mark.usefixtures("store_backend_env")
def test_revert_of_the_first_run_restores_the_trackers(tmp_path: Path) -> None:
    with sandbox(epics=60, seed=9) as sb:
        cfg_path = project(tmp_path, sb)
        untouched = remote_state(sb)
        run_sync(config(cfg_path, sb))
        assert remote_state(sb) != untouched
        dry = revert_run(config(cfg_path, sb), 1, dry_run=True)
        assert dry.planned and remote_state(sb) != untouched
        with tokens(sb):
            outcome = revert_run(config(cfg_path, sb), 1)
        assert outcome.exit_code == 0, outcome.failed
        assert remote_state(sb) == untouched


def test_demo_shows_links_untraceable_work_and_bets(tmp_path: Path) -> None:
    proc = run_as_new_process("demo", "--dir", str(tmp_path), "--epics", "80",
                              env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "Links made and why" in out
    assert "Untraceable work" in out
    assert "Bets per key result" in out
    assert (tmp_path / "okrsync.db").exists()
    assert MARKER not in out


@pytest.mark.usefixtures("store_backend_env")
def test_a_failing_source_removes_nothing_and_flags_nothing(tmp_path: Path) -> None:
    with sandbox(epics=60, seed=12) as sb:
        cfg_path = project(tmp_path, sb)
        run_sync(config(cfg_path, sb))
        before = remote_state(sb)
        with Store.open(config(cfg_path, sb).store_target) as store:
            untraceable_before = set(store.untraceable())
        # Every rule disappears, so a healthy run would remove every rule-made label...
        (tmp_path / "rules.toml").write_text("")
        # ...but Jira answers 503 to everything for this run.
        sb.set_faults("503:1.0", server="jira")
        summary = run_sync(config(cfg_path, sb))
        sb.set_faults(None)
        assert summary.exit_code == 1
        jira = next(s for s in summary.sources if s.name == "jira")
        assert not jira.healthy and "pull failed" in jira.reason
        assert not [wb for wb in summary.planned if wb.source == "jira"]
        after = remote_state(sb)
        assert {k: v for k, v in after.items() if k.startswith("jira:")} == {
            k: v for k, v in before.items() if k.startswith("jira:")}
        with Store.open(config(cfg_path, sb).store_target) as store:
            jira_flags = {u for u in store.untraceable() if u.startswith("jira:")}
        assert jira_flags == {u for u in untraceable_before if u.startswith("jira:")}


@pytest.mark.usefixtures("store_backend_env")
def test_a_pull_returning_far_fewer_epics_trips_the_safety_stop(tmp_path: Path) -> None:
    with sandbox(epics=80, seed=13) as sb:
        cfg_path = project(tmp_path, sb)
        run_sync(config(cfg_path, sb))
        before = remote_state(sb)
        _rescope_jira(cfg_path, sb, f"project in ({_jira_projects(sb)[0]})")
        summary = run_sync(config(cfg_path, sb), full=True)
        assert summary.exit_code == 1
        jira = next(s for s in summary.sources if s.name == "jira")
        assert not jira.healthy and "safety stop" in jira.reason
        assert not [wb for wb in summary.planned if wb.source == "jira"]
        assert {k: v for k, v in remote_state(sb).items() if k.startswith("jira:")} == {
            k: v for k, v in before.items() if k.startswith("jira:")}


@pytest.mark.usefixtures("store_backend_env")
def test_epics_leaving_the_scope_are_forgotten_on_a_full_pull_and_untouched(
    tmp_path: Path,
) -> None:
    with sandbox(epics=80, seed=14) as sb:
        cfg_path = project(tmp_path, sb)
        assert run_sync(config(cfg_path, sb)).exit_code == 0
        links, store = _linked(cfg_path, sb)
        store.close()
        jira_out = sorted({k for s, k, _ in links if s == "jira"})[:2]
        gh_out = sorted({k for s, k, _ in links if s == "github"})[0]
        repo, number = gh_out.split("#")
        sb.github.edit_issue(repo, int(number), labels=[
            lb for lb in sb.github.labels_of(repo, int(number)) if lb != "epic"])
        text = _rescope_jira(cfg_path, sb, "{all} AND key not in (" + ", ".join(jira_out) + ")")
        before = remote_state(sb)
        gone = {f"jira:{k}" for k in jira_out} | {f"github:{gh_out}"}

        incremental = run_sync(config(cfg_path, sb))
        assert incremental.exit_code == 0
        jira, github = (next(s for s in incremental.sources if s.name == n)
                        for n in ("jira", "github"))
        assert jira.complete and jira.retired == 2, "a changed JQL makes the pull complete"
        assert "the scope changed: jql" in jira.notice
        assert not github.complete and not github.retired, "only a complete pull can tell"

        # a day later the schedule makes the next pull complete ([sync] full_pull_every_hours)
        _age_complete_pulls(config(cfg_path, sb).store_target)
        full = run_sync(config(cfg_path, sb))
        assert full.exit_code == 0, [s.reason for s in full.sources]
        assert all(s.complete for s in full.sources)
        assert {s.name: s.retired for s in full.sources} == {"jira": 0, "github": 1}
        assert not [wb for wb in full.planned if f"{wb.source}:{wb.ticket_key}" in gone]
        with Store.open(config(cfg_path, sb).store_target) as store:
            stored = {t.uid for t in store.tickets()}
            assert not gone & stored
            assert not gone & set(store.untraceable())
            assert not gone & {f"{lk.source}:{lk.ticket_key}" for lk in store.links()}
            assert not gone & {f"{b.source}:{b.ticket_key}" for b in store.bets()}
        after = remote_state(sb)
        assert {k: after[k] for k in gone} == {k: before[k] for k in gone}, "never touched"

        cfg_path.write_text(text)  # the Jira epics come back into scope
        back = run_sync(config(cfg_path, sb), full=True)
        assert back.exit_code == 0
        assert {s.name: s.retired for s in back.sources} == {"jira": 0, "github": 0}
        assert not [wb for wb in back.planned if wb.ticket_key in jira_out], \
            "the ledger still knows what the service wrote there"


@pytest.mark.usefixtures("store_backend_env")
def test_history_older_than_keep_days_is_pruned_after_a_sync(tmp_path: Path) -> None:
    with sandbox(epics=40, seed=15) as sb:
        cfg_path = project(tmp_path, sb)
        first = run_sync(config(cfg_path, sb))
        assert first.applied > 0
        db = config(cfg_path, sb).store_target
        long_ago = "2000-01-01T00:00:00+00:00"
        with Store.open(db) as store:
            store.db.execute("update outbox set updated_at = ?", [long_ago])
            store.db.execute("update journal set at = ?", [long_ago])
            store.db.execute("update runs set finished_at = ?", [long_ago])
        second = run_sync(config(cfg_path, sb))
        assert second.exit_code == 0 and second.applied == 0
        with Store.open(db) as store:
            counts = {t: store.db.execute(f"select count(*) from {t}").fetchone()[0]
                      for t in ("outbox", "journal", "runs")}
            ledger = store.db.execute("select count(*) from ledger").fetchone()[0]
        assert counts == {"outbox": 0, "journal": 0, "runs": 1}
        assert ledger > 0, "what the service wrote is still known"
        assert run_sync(config(cfg_path, sb)).planned == [], "pruning changes no plan"


@pytest.mark.usefixtures("store_backend_env")
def test_a_scheduled_complete_pull_that_shrank_forgets_nothing_and_keeps_syncing(
    tmp_path: Path,
) -> None:
    with sandbox(epics=80, seed=16) as sb:
        cfg_path = project(tmp_path, sb)
        assert run_sync(config(cfg_path, sb)).exit_code == 0
        db = config(cfg_path, sb).store_target
        with Store.open(db) as store:
            stored = store.ticket_count("jira")
        _rescope_jira(cfg_path, sb, f"project in ({_jira_projects(sb)[0]})")
        _age_complete_pulls(db)
        scheduled = run_sync(config(cfg_path, sb))
        jira = next(s for s in scheduled.sources if s.name == "jira")
        assert scheduled.exit_code == 0, jira.reason
        assert jira.healthy and jira.complete and jira.retired == 0
        assert "min_epics_ratio" in jira.warning and "--full" in jira.warning
        with Store.open(db) as store:
            assert store.ticket_count("jira") == stored, "nothing forgotten"
        after = run_sync(config(cfg_path, sb))
        assert not any(s.complete for s in after.sources), "tried again next period, not now"
        asked = run_sync(config(cfg_path, sb), full=True)
        assert asked.exit_code == 1, "a --full that shrank is still a safety stop"
