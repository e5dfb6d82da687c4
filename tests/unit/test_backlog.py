"""The deferred backlog: drain order and deferral in the store, the words every surface uses
for it, the dry run's write budget, and the report footer."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema

from connectors.github import GitHubSourceConfig
from connectors.jira import JiraSourceConfig
from connectors.pacing import parse_limits
from core.model import Page, Ticket, TicketState, WriteBack, WriteBackKind
from syncer.backlog import backlog_json, deferral_line, eta_text, write_budget
from syncer.reports import build_weekly_report
from syncer.reports.build import ReportSettings
from syncer.reports.render import render_html, render_json, render_markdown, render_text
from syncer.reports.weeks import parse_week
from syncer.store import Store
from syncer.store_deferral import Deferral
from tests.helpers.reports_helpers import NOW, WEEK, scenario

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _ticket(key: str, state: TicketState, updated: datetime, source: str = "github") -> Ticket:
    return Ticket(source, key, key, f"https://example.com/{key}", key, key.split("#")[0],
                  "Epic", (), state, updated)


def _github() -> GitHubSourceConfig:
    return GitHubSourceConfig(name="github", token="t", org="acme",  # type: ignore[arg-type]
                              content_limits=["80/60", "500/3600"])


def test_drain_order_active_then_planned_then_done_newest_first(store_target: Path | str) -> None:
    with Store.open(store_target) as store:
        tickets = [
            _ticket("acme/a#1", TicketState.DONE, T0),
            _ticket("acme/a#2", TicketState.TODO, T0),
            _ticket("acme/a#3", TicketState.IN_PROGRESS, T0),
            _ticket("acme/a#4", TicketState.IN_PROGRESS, T0 + timedelta(days=1)),
        ]
        store.store_page("github", Page(tuple(tickets), (), cursor="c"), None, now=T0)
        wbs = [WriteBack("github", t.key, kind, label="goal:KR-1")
               for t in tickets for kind in (WriteBackKind.ADD_LABEL,
                                             WriteBackKind.SET_GOAL_LINKS)]
        store.enqueue(1, wbs, now=T0)
        order = [(i.writeback.ticket_key, i.writeback.kind.value)
                 for i in store.pending_items(store.pending_drain_ids(["github"]))]
        assert [k for k, _ in order[::2]] == ["acme/a#4", "acme/a#3", "acme/a#2", "acme/a#1"]
        assert [kind for _, kind in order[:2]] == ["add_label", "set_goal_links"]

        now = datetime.now(UTC)
        until = now + timedelta(hours=1)
        assert store.defer_source("github", until, "GitHub content limit", now=now) == 8
        counts = store.outbox_counts()
        assert (counts["pending"], counts["deferred"]) == (8, 8)
        assert store.outbox_counts("jira")["deferred"] == 0
        (deferral,) = store.deferrals(now).values()
        assert (deferral.count, deferral.until, deferral.reason) == (
            8, until, "GitHub content limit")
        store.defer_source("github", now - timedelta(minutes=1), "GitHub content limit",
                           now=now)
        assert store.outbox_counts()["deferred"] == 0 and store.deferrals(now) == {}


def test_words_for_a_deferred_backlog() -> None:
    d = Deferral("github", 1840, datetime(2026, 12, 1, 14, 5, tzinfo=UTC),
                 "GitHub content limit")
    assert deferral_line(d) == (
        "github: 1,840 write-backs deferred until 14:05 UTC (GitHub content limit)")
    assert eta_text(1840, parse_limits(["80/60", "500/3600"])) == "done in ~3 h 41 min at 500/h"
    assert eta_text(10, ()) == ""
    (row,) = backlog_json({"github": d}, {"github": _github()})
    assert row["eta_seconds"] == 13248 and row["count"] == 1840


def test_write_budget_counts_content_and_the_time_the_limits_impose() -> None:
    wbs = [WriteBack("github", f"acme/a#{n}", kind, label="goal:KR-1")
           for n in range(600) for kind in (WriteBackKind.ADD_LABEL,
                                            WriteBackKind.SET_GOAL_LINKS)]
    wbs.append(WriteBack("jira", "WEB-1", WriteBackKind.ADD_LABEL, label="goal:KR-1"))
    jira = JiraSourceConfig(name="jira", base_url="https://x.atlassian.net",
                            token="t")  # type: ignore[arg-type]
    github, jira_budget = write_budget(wbs, {"github": _github(), "jira": jira})
    assert github.content == 1200 and github.label_creations == 1
    assert github.seconds == 2 * 3600  # 1,201 content writes at 500 an hour
    assert "1,200 content-creating + up to 1 label creations" in github.line()
    assert jira_budget.content == 0 and "no content limit" in jira_budget.line()
    label_only = _github().model_copy(update={"goal_link_carrier": "label"})
    (half,) = write_budget(wbs[:-1], {"github": label_only})
    assert half.content == 600


def test_the_report_footer_shows_the_backlog_in_every_format() -> None:
    sc = scenario()
    report = build_weekly_report(
        tickets=sc.tickets, links=sc.links, broken=sc.broken, bets=sc.bets,
        overrides=sc.overrides, untraceable_since=sc.untraceable_since, checkins=sc.checkins,
        catalog=sc.catalog, teams={}, week=parse_week(WEEK), now=NOW, trend=[],
        settings=ReportSettings(timezone="UTC", stale_weeks=6, trend_weeks=4),
        suggest=lambda t: [],
    )
    line = "github: 12 write-backs deferred until 14:05 UTC (GitHub content limit)"
    report = replace(report, backlog=(line,))
    assert "deferred until 14:05 UTC \\(GitHub content limit\\)" in render_markdown(report)
    assert line in render_html(report)
    assert line in render_text(report)
    data = json.loads(render_json(report))
    assert data["backlog"] == [line]
    schema = json.loads((ROOT / "docs" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
