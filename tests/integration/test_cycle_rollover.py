"""A quarter rollover end to end: the demo organisation synced in its cycle, then next
quarter's catalog (the old cycle kept as history) and rules, previewed and applied with
`okrsync cycle rollover`, against both sandboxes over real HTTP with a real store.

What must hold: ended epics get no write-back and keep their bets under the old KRs;
explicit old-cycle labels are not broken links; open epics move with one edit per artifact
(counted in the sandbox's request accounting); the rest are listed as needing a new KR."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.model import BetStatus
from sandbox import sandbox
from sandbox.cycles import new_id, two_cycle_catalog, two_cycle_rules
from sandbox.data import demo_catalog_toml, demo_rules_toml
from syncer.store import Store
from tests.helpers.e2e import config, okrsync, project, remote_state
from tests.helpers.store_backends import BACKENDS, module_store

EPICS = 90
OLD, NEW = "2026-Q4", "2027-Q1"
DROPPED = ("KR-SRCH-1",)
"""The KR whose rules next quarter does not carry on: its open epics need a new KR."""


def _roll_catalog(cfg_dir: Path) -> None:
    today = date.today()
    (cfg_dir / "okrs.toml").write_text(two_cycle_catalog(
        demo_catalog_toml(), old=OLD, new=NEW,
        old_days=(today - timedelta(days=365), today + timedelta(days=30)),
        new_days=(today + timedelta(days=31), today + timedelta(days=120)),
        mark_new_current=True))
    (cfg_dir / "rules.toml").write_text(two_cycle_rules(demo_rules_toml(), old=OLD,
                                                        drop_krs=DROPPED))


def _writes(acc: dict[str, Any]) -> dict[str, int]:
    return {name: n for name, n in acc["by_endpoint"].items()
            if name.split(" ", 1)[0] in ("POST", "PATCH", "PUT", "DELETE")}


def _changed(before: dict[str, Any], after: dict[str, Any], field: str) -> set[str]:
    return {k for k in after if k in before and after[k].get(field) != before[k].get(field)}


@pytest.fixture(scope="module", params=BACKENDS)
def rolled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One rollover per store backend, its every outcome for the module's tests."""
    tmp = tmp_path_factory.mktemp("rollover")
    with sandbox(epics=EPICS, seed=4) as sb, module_store(request, tmp):
        cfg_path = project(tmp, sb)
        for _ in range(3):
            run = okrsync("sync", "--json", "--config", str(cfg_path), sb=sb)
            assert run.returncode == 0, run.stderr
            if not json.loads(run.stdout)["planned_count"]:
                break
        cfg = config(cfg_path, sb)
        store = Store.open(cfg.store_target)
        bets_before = {(b.source, b.ticket_key, b.kr_id): b for b in store.bets()}
        tickets = {t.uid: t for t in store.tickets()}
        store.close()
        before = remote_state(sb)
        _roll_catalog(cfg_path.parent)
        sb.reset_accounting()
        dry = okrsync("cycle", "rollover", "--to", NEW, "--dry-run", "--json", "--config",
                      str(cfg_path), sb=sb)
        assert dry.returncode == 0, dry.stderr
        dry_writes = _writes(sb.accounting()["github"]) | _writes(sb.accounting()["jira"])
        sb.reset_accounting()
        real = okrsync("cycle", "rollover", "--to", NEW, "--json", "--config", str(cfg_path),
                       sb=sb)
        assert real.returncode == 0, real.stderr
        acc = sb.accounting()
        after = remote_state(sb)
        again = okrsync("sync", "--json", "--config", str(cfg_path), sb=sb)
        report = okrsync("report", "--json", "--config", str(cfg_path), sb=sb)
        store = Store.open(cfg.store_target)
        yield {"sb": sb, "dry": json.loads(dry.stdout), "dry_writes": dry_writes,
               "real": json.loads(real.stdout), "acc": acc, "before": before, "after": after,
               "again": json.loads(again.stdout), "report": json.loads(report.stdout),
               "tickets": tickets, "bets_before": bets_before, "bets_after": store.bets(),
               "links": store.links(), "broken": store.broken_links()}
        store.close()


def _ended(state: str) -> bool:
    return state in ("done", "wont_do")


def test_the_preview_shows_the_rollover_and_writes_nothing(rolled: Any) -> None:
    dry = rolled["dry"]
    assert rolled["dry_writes"] == {}
    assert dry["moves"] and dry["needs_kr"] and dry["frozen_epics"] > 0
    assert all(all(k.endswith("-N") for k in m["to"]) for m in dry["moves"])
    assert {b["source"] for b in dry["budget"]} == {"github", "jira"}
    github = next(b for b in dry["budget"] if b["source"] == "github")
    assert github["published_seconds"] is not None and github["content"] > 0
    assert dry["writebacks"] == rolled["real"]["run"]["planned_count"]


def test_ended_epics_get_no_write_back_and_keep_their_bets(rolled: Any) -> None:
    ended = {uid for uid, t in rolled["tickets"].items() if _ended(t.state.value)}
    assert ended
    touched = (_changed(rolled["before"], rolled["after"], "labels")
               | _changed(rolled["before"], rolled["after"], "goal_comments")
               | _changed(rolled["before"], rolled["after"], "links"))
    assert not touched & ended
    kept = [b for key, b in rolled["bets_before"].items()
            if f"{key[0]}:{key[1]}" in ended and b.status in (BetStatus.SHIPPED,
                                                                 BetStatus.KILLED)]
    assert kept
    after = {(b.source, b.ticket_key, b.kr_id): b for b in rolled["bets_after"]}
    for bet in kept:
        same = after[(bet.source, bet.ticket_key, bet.kr_id)]
        assert not same.kr_id.endswith("-N") and same.status is bet.status
    verdicts = rolled["report"].get("verdicts") or {}
    judged = [i for i in verdicts.get("items", []) if f"{i['source']}:{i['key']}" in ended]
    assert judged and all(not i["kr_id"].endswith("-N") and i["cycle"] == OLD for i in judged)
    assert OLD in {h["cycle"] for h in verdicts["hit_rate"]}


def test_explicit_old_cycle_labels_are_not_broken(rolled: Any) -> None:
    old_explicit = {uid for uid, t in rolled["tickets"].items()
                    if any(lb.lower().startswith("okr:") and lb[4:] in _old_krs()
                           for lb in t.labels)}
    assert old_explicit
    broken = {f"{b.source}:{b.ticket_key}" for b in rolled["broken"]}
    assert not broken & old_explicit
    flagged = rolled["report"]["untraceable"]["broken"]
    assert not {f"{b['source']}:{b['key']}" for b in flagged} & old_explicit


def _old_krs() -> set[str]:
    import tomllib

    data = tomllib.loads(demo_catalog_toml())
    return {kr["id"] for obj in data["objective"] for kr in obj["key_result"]}


def test_open_epics_move_with_one_edit_per_artifact(rolled: Any) -> None:
    before, after, acc = rolled["before"], rolled["after"], rolled["acc"]
    github = _writes(acc["github"])
    jira = _writes(acc["jira"])
    comments = _changed(before, after, "goal_comments")
    assert comments and all(len(after[k]["goal_comments"]) == 1 for k in comments)
    assert github.get("POST /repos/{owner}/{repo}/issues/{number}/comments", 0) == 0
    assert github.get("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", 0) == len(
        comments)
    gh_labels = {k for k in _changed(before, after, "labels") if k.startswith("github:")}
    added = {k for k in gh_labels if set(after[k]["labels"]) - set(before[k]["labels"])}
    removed = {k for k in gh_labels if set(before[k]["labels"]) - set(after[k]["labels"])}
    assert github.get("POST /repos/{owner}/{repo}/issues/{number}/labels", 0) == len(added)
    assert github.get("DELETE /repos/{owner}/{repo}/issues/{number}/labels/{name}", 0) == len(
        removed)
    # Jira: one edit per label that changed (the old one removed, the new one added)
    jira_ops = sum(len(set(after[k]["labels"]) ^ set(before[k]["labels"]))
                   for k in _changed(before, after, "labels") if k.startswith("jira:"))
    # (Jira refuses the quiet `notifyUsers=false` edit to a non-admin: those 403s wrote nothing)
    refused = acc["jira"]["by_status"].get("403", 0)
    assert jira.get("PUT /rest/api/{api}/issue/{key}", 0) - refused == jira_ops
    # a remote link whose KR moved is edited in place (one PUT by id), never a second link;
    # one whose KR ended with no new one (needs a new KR) is deleted
    links = _changed(before, after, "links")
    moved = {k for k in links if after[k]["links"]}
    assert moved and all(len(after[k]["links"]) == len(before[k]["links"]) == 1 for k in moved)
    assert jira.get("PUT /rest/api/{api}/issue/{key}/remotelink/{link_id}", 0) == len(moved)
    assert jira.get("POST /rest/api/{api}/issue/{key}/remotelink", 0) == 0
    assert jira.get("DELETE /rest/api/{api}/issue/{key}/remotelink", 0) == len(links - moved)
    moved = {f"{m['source']}:{m['ticket']}" for m in rolled["dry"]["moves"]}
    for uid in moved:
        labels = after[uid]["labels"]
        assert any(lb.startswith("goal:") and lb.endswith("-N") for lb in labels)
        assert not any(lb.startswith("goal:") and lb[5:] in _old_krs() for lb in labels)
    assert rolled["again"]["planned_count"] == 0


def test_the_rest_is_listed_as_needing_a_new_kr(rolled: Any) -> None:
    needs = {n["ticket"]: n["was"] for n in rolled["dry"]["needs_kr"]}
    assert needs and all(was for was in needs.values())
    linked = {f"{lk.source}:{lk.ticket_key}" for lk in rolled["links"]}
    assert not set(needs) & linked
    for uid in needs:
        assert not _ended(rolled["tickets"][uid].state.value)
    items = {f"{i['source']}:{i['key']}": i for i in rolled["report"]["untraceable"]["items"]}
    assert set(needs) <= set(items)
    assert all(items[uid]["past_krs"] == needs[uid] for uid in needs)
    assert any(set(was) & set(DROPPED) for was in needs.values())
    assert not any(new_id(k) in lk.kr_id for k in DROPPED for lk in rolled["links"])
