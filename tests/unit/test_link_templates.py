"""`link_url_template` is per source: each source's goal links use its own, whichever sources a
run syncs, and a revert restores links with the template of the ticket's source."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.model import WriteBackKind
from syncer.config import load_config
from syncer.engine import plan_settings
from syncer.plan import PlanSettings
from tests.helpers.config_helpers import clear_okrsync_env, write_project
from tests.helpers.plan_helpers import catalog, label_rule, rules, run_plan, ticket

CAT = catalog("KR-1")
RULES = rules(label_rule("checkout", "checkout", "KR-1"))
TWO_SOURCES = """\
[sources.jira]
kind = "jira"
base_url = "https://acme.atlassian.net"
link_url_template = "https://okr.acme.example/jira/{kr_id}"

[sources.github]
kind = "github"
repos = ["acme/app"]
link_url_template = "https://okr.acme.example/gh/{objective_id}/{kr_id}"

[sources.other]
kind = "github"
repos = ["acme/other"]
"""


def goal_urls(settings: PlanSettings) -> dict[str, str]:
    tickets = [ticket("WEB-1", ["checkout"], source="jira"),
               ticket("acme/app#1", ["checkout"], source="github"),
               ticket("acme/other#1", ["checkout"], source="other")]
    result = run_plan(tickets, CAT, RULES, healthy=("jira", "github", "other"),
                      settings=settings)
    return {wb.source: wb.goals[0].url for wb in result.writebacks
            if wb.kind is WriteBackKind.SET_GOAL_LINKS}


def test_each_source_uses_its_own_template_and_the_default_otherwise() -> None:
    settings = PlanSettings(link_url_template="https://default.example/{kr_id}",
                            source_link_templates={"jira": "https://j.example/{kr_id}",
                                                   "github": "https://g.example/{kr_id}"})
    assert goal_urls(settings) == {"jira": "https://j.example/KR-1",
                                   "github": "https://g.example/KR-1",
                                   "other": "https://default.example/KR-1"}


def test_plan_settings_take_every_configured_sources_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_okrsync_env(monkeypatch)
    cfg = load_config(write_project(tmp_path, TWO_SOURCES), credentials=False)
    urls = goal_urls(plan_settings(cfg))
    assert urls == {"jira": "https://okr.acme.example/jira/KR-1",
                    "github": "https://okr.acme.example/gh/O-1/KR-1",
                    "other": ""}
