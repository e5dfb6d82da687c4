"""okrsync touches only what it wrote, end to end over real HTTP against the sandboxes.

The scenario (tests/scenarios/ownership.json) holds a person's two look-alike goal-link
comments, another application's remote link with an okrsync-looking globalId, titles full of
@mentions and #references, and epics resolved Declined, Cannot Reproduce and not planned.
Then the config's sources are renamed and the store is deleted after a person removed managed
labels: okrsync must adopt what it wrote, duplicate nothing and re-add nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from connectors.github_comment import has_marker
from connectors.ownership import APPLICATION, kr_of_global_id
from core.model import BetStatus
from sandbox import Sandbox, sandbox
from sandbox.github_render import USER_LOGIN
from syncer.config import load_config
from syncer.engine import RunSummary, run_sync
from syncer.store import Store
from tests.helpers.cli_runner import run_as_new_process
from tests.helpers.e2e import ROOT, project, tokens
from tests.helpers.github_render_rules import pings_and_refs
from tests.helpers.store_backends import lose_store

pytestmark = pytest.mark.usefixtures("store_backend_env")

SCENARIO = ROOT / "tests" / "scenarios" / "ownership.json"
REPO = "acme/app"


def _cli(sb: Sandbox, names: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a new process runs it, with tokens for exactly the configured sources (a
    token variable for another name would declare a source of its own), and the store
    under test."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OKRSYNC_") or k.startswith("OKRSYNC_STORE__")}
    env.update({f"OKRSYNC_SOURCES__{n.upper()}__TOKEN": sb.token for n in names})
    return run_as_new_process(*args, env=env, cwd=ROOT)


def _sync(cfg_path: Path, sb: Sandbox, jira: str = "jira", github: str = "github"
          ) -> RunSummary:
    with tokens(sb, jira, github):
        return run_sync(load_config(cfg_path))


def _rename(cfg_path: Path, old: str, new: str) -> None:
    text = cfg_path.read_text()
    assert f"[sources.{old}]" in text
    cfg_path.write_text(text.replace(f"[sources.{old}]", f"[sources.{new}]"))


def _people(sb: Sandbox) -> dict[str, Any]:
    """Everything of people's that looks like okrsync's, byte for byte."""
    comments = [c for n in sb.github.repos[REPO].issues for c in sb.github.comments(REPO, n)
                if c["user"]["login"] != USER_LOGIN]
    links = [link for key in sb.jira.keys() for link in sb.jira.remote_links(key)  # noqa: SIM118
             if (link.get("application") or {}).get("name") != APPLICATION["name"]]
    return {"comments": json.dumps(comments, sort_keys=True),
            "links": json.dumps(links, sort_keys=True)}


def _own_comments(sb: Sandbox, number: int) -> list[dict[str, Any]]:
    return [c for c in sb.github.comments(REPO, number)
            if c["user"]["login"] == USER_LOGIN and has_marker(c["body"])]


def _own_links(sb: Sandbox, key: str) -> list[str]:
    return [str(link["globalId"]) for link in sb.jira.remote_links(key)
            if (link.get("application") or {}).get("name") == APPLICATION["name"]]


def _duplicates(sb: Sandbox) -> int:
    """Own links beyond one per (issue, KR) plus own goal comments beyond one per issue."""
    extra = 0
    for key in sb.jira.keys():  # noqa: SIM118
        krs = [kr_of_global_id(g, key) for g in _own_links(sb, key)]
        extra += len(krs) - len(set(krs))
    for number in sb.github.repos[REPO].issues:
        extra += max(0, len(_own_comments(sb, number)) - 1)
    return extra


def test_peoples_look_alikes_stay_byte_identical_and_nothing_pings(tmp_path: Path) -> None:
    with sandbox(data=SCENARIO) as sb:
        cfg_path = project(tmp_path, sb)
        before = _people(sb)
        runs = [_sync(cfg_path, sb) for _ in range(3)]
        assert [r.exit_code for r in runs] == [0, 0, 0], [r.failed for r in runs]
        assert runs[2].planned == [] and runs[2].applied == 0
        assert _people(sb) == before, "people's comments and other apps' links are untouched"

        # okrsync wrote its own beside the look-alikes, once.
        assert len(_own_comments(sb, 1)) == 1
        assert len(sb.github.comments(REPO, 1)) == 3
        assert len(_own_links(sb, "WEB-1")) == 1 and len(sb.jira.remote_links("WEB-1")) == 2
        assert _duplicates(sb) == 0

        bodies = [c["body"] for n in sb.github.repos[REPO].issues for c in _own_comments(sb, n)]
        assert len(bodies) == 4
        for body in bodies:
            assert pings_and_refs(body) == [], body
        assert "Ping @acme/security-team and @dana about #12" in bodies[0]  # quoted, inert

        with Store.open(load_config(cfg_path).store_target) as store:
            bets = {(b.ticket_key, b.kr_id): b.status for b in store.bets()}
            lookalikes = store.lookalikes()
            identities = store.identities()
        assert bets[("WEB-2", "KR-CHK-2")] is BetStatus.KILLED  # Declined
        assert bets[("WEB-3", "KR-SRCH-1")] is BetStatus.KILLED  # Cannot Reproduce
        assert bets[(f"{REPO}#2", "KR-ONB-2")] is BetStatus.KILLED  # not_planned
        assert bets[(f"{REPO}#3", "KR-CHK-1")] is BetStatus.SHIPPED  # completed
        assert sorted((r.item.ticket_key, r.item.kind, r.item.author) for r in lookalikes) == [
            ("WEB-1", "remote_link", "Acme Wiki"),
            (f"{REPO}#1", "comment", "dana"), (f"{REPO}#1", "comment", "dana"),
        ]
        assert identities["github"].login == USER_LOGIN
        assert identities["jira"].kind == "jira" and identities["jira"].login

        shown = _cli(sb, ("jira", "github"), "status", "--json", "--config", str(cfg_path))
        assert shown.returncode == 0, shown.stderr
        assert len(json.loads(shown.stdout)["ownership"]["lookalikes"]) == 3


def test_renamed_sources_and_a_lost_store_adopt_instead_of_duplicating(tmp_path: Path) -> None:
    with sandbox(data=SCENARIO) as sb:
        cfg_path = project(tmp_path, sb)
        assert _sync(cfg_path, sb).exit_code == 0
        people = _people(sb)
        written_links = {k: sorted(_own_links(sb, k)) for k in sb.jira.keys()}  # noqa: SIM118
        written_comments = {n: [c["id"] for c in _own_comments(sb, n)]
                            for n in sb.github.repos[REPO].issues}

        # A person removes a managed label on each tracker; then the store is lost and both
        # sources are renamed before okrsync runs again.
        sb.jira.edit_issue("WEB-4", labels=[lb for lb in sb.jira.labels("WEB-4")
                                            if lb != "goal:KR-ONB-1"])
        sb.github.remove_label(REPO, 4, "goal:KR-REL-1")
        lose_store(load_config(cfg_path).store_target)
        _rename(cfg_path, "jira", "jira_cloud")
        _rename(cfg_path, "github", "gh")

        with tokens(sb, "jira_cloud", "gh"):
            dry = run_sync(load_config(cfg_path), dry_run=True)
        assert any("a real run first adopts" in n for n in dry.notices)
        first = _sync(cfg_path, sb, "jira_cloud", "gh")
        assert first.exit_code == 0, first.failed
        assert any("adopted" in n and n.startswith("jira_cloud") for n in first.notices)
        assert any("adopted" in n and n.startswith("gh") for n in first.notices)
        for _ in range(2):
            again = _sync(cfg_path, sb, "jira_cloud", "gh")
            assert again.exit_code == 0 and again.applied == 0, again.planned

        assert _duplicates(sb) == 0
        assert {k: sorted(_own_links(sb, k)) for k in sb.jira.keys()} == written_links  # noqa: SIM118
        assert {n: [c["id"] for c in _own_comments(sb, n)]
                for n in sb.github.repos[REPO].issues} == written_comments
        assert "goal:KR-ONB-1" not in sb.jira.labels("WEB-4"), "a person's removal is kept"
        assert "goal:KR-REL-1" not in sb.github.labels_of(REPO, 4)
        assert _people(sb) == people
        with Store.open(load_config(cfg_path).store_target) as store:
            overrides = {(o.source, o.ticket_key, o.label) for o in store.overrides()}
        assert ("jira_cloud", "WEB-4", "goal:KR-ONB-1") in overrides
        assert ("gh", f"{REPO}#4", "goal:KR-REL-1") in overrides


def test_a_source_left_out_of_the_config_is_orphaned_until_forgotten(tmp_path: Path) -> None:
    with sandbox(data=SCENARIO) as sb:
        cfg_path = project(tmp_path, sb)
        assert _sync(cfg_path, sb).exit_code == 0
        remote = {k: sorted(_own_links(sb, k)) for k in sb.jira.keys()}  # noqa: SIM118
        _rename(cfg_path, "jira", "jira_site")
        renamed = _sync(cfg_path, sb, "jira_site")
        assert renamed.exit_code == 0
        assert any("'jira' is no longer configured" in n for n in renamed.notices)
        assert {k: sorted(_own_links(sb, k)) for k in sb.jira.keys()} == remote  # noqa: SIM118

        names, cfg = ("jira_site", "github"), str(cfg_path)
        status = _cli(sb, names, "status", "--json", "--config", cfg)
        shown = _cli(sb, names, "status", "--config", cfg)
        assert "orphaned" in shown.stdout and "okrsync forget jira" in shown.stdout
        report = _cli(sb, names, "report", "--format", "json", "--config", cfg)
        markdown = _cli(sb, names, "report", "--format", "markdown", "--config", cfg)
        refused = _cli(sb, names, "forget", "jira_site", "--config", cfg)
        unknown = _cli(sb, names, "forget", "jria", "--config", cfg)
        forgot = _cli(sb, names, "forget", "jira", "--json", "--config", cfg)
        after = _cli(sb, names, "status", "--json", "--config", cfg)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["ownership"]["orphaned_sources"] == {"jira": 4}
        assert report.returncode == 0, report.stderr
        attention = json.loads(report.stdout)["attention"]
        assert any("'jira' is no longer configured" in a for a in attention)
        assert any("look like okrsync's" in a for a in attention)
        assert "## Needs attention" in markdown.stdout
        assert refused.returncode == 2 and "still configured" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert unknown.returncode == 2 and "orphaned sources: jira" in unknown.stderr
        assert forgot.returncode == 0, forgot.stderr
        removed = json.loads(forgot.stdout)["removed"]
        assert removed["tickets"] == 4 and removed["ledger"] > 0
        data = json.loads(after.stdout)
        assert data["ownership"]["orphaned_sources"] == {}
        assert set(data["tickets"]) == {"jira_site", "github"}
        assert {k: sorted(_own_links(sb, k)) for k in sb.jira.keys()} == remote  # noqa: SIM118
