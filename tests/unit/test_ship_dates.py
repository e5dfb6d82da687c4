"""A shipped bet's ship date is the tracker's resolution time, which both connectors carry on
the Ticket and the store keeps; the sandbox Jira keeps `resolutiondate` through later edits,
as Jira does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx

from connectors.github_parse import parse_issue as parse_github
from connectors.jira_parse import parse_issue as parse_jira
from core.model import Page, TicketState
from sandbox import sandbox
from syncer.store import Store
from tests.unit.test_github_parse import _issue
from tests.unit.test_jira_parse import SITE, cloud_issue


def test_jira_resolutiondate_is_the_ship_date_only_while_resolved() -> None:
    done = cloud_issue(
        status={"name": "Done", "statusCategory": {"key": "done"}},
        resolution={"name": "Done"}, resolutiondate="2026-02-10T09:30:00.000+0000")
    ticket = parse_jira(done, source="jira", site_url=SITE)
    assert ticket.state is TicketState.DONE
    assert ticket.resolved == datetime(2026, 2, 10, 9, 30, tzinfo=UTC)
    reopened = cloud_issue(resolutiondate="2026-02-10T09:30:00.000+0000")
    assert parse_jira(reopened, source="jira", site_url=SITE).resolved is None


def test_github_closed_at_is_the_ship_date_of_a_closed_issue() -> None:
    closed = _issue(state="closed", closed_at="2026-01-20T08:00:00Z", state_reason="completed")
    ticket = parse_github(closed, source="github", repo="acme/app")
    assert ticket.resolved == datetime(2026, 1, 20, 8, tzinfo=UTC)
    assert parse_github(_issue(), source="github", repo="acme/app").resolved is None


def test_the_store_keeps_the_resolution_time(store_target: Path | str) -> None:
    done = cloud_issue(
        status={"name": "Done", "statusCategory": {"key": "done"}},
        resolution={"name": "Done"}, resolutiondate="2026-02-10T09:30:00.000+0000")
    ticket = parse_jira(done, source="jira", site_url=SITE)
    with Store.open(store_target) as store:
        store.store_page("jira", Page((ticket,), cursor="{}"), 1,
                         now=datetime(2026, 3, 1, tzinfo=UTC))
        stored = store.ticket("jira", "WEB-1")
    assert stored is not None and stored.resolved == ticket.resolved


def test_sandbox_jira_keeps_resolutiondate_when_the_issue_is_edited_later() -> None:
    with sandbox(epics=6, seed=2) as sb:
        key = sb.jira.keys()[0]
        sb.jira.edit_issue(key, status="done")
        url = f"{sb.jira_url}/rest/api/3/issue/{key}"
        auth = {"Authorization": f"Bearer {sb.token}"}
        first = httpx.get(url, headers=auth).json()["fields"]["resolutiondate"]
        sb.jira.edit_issue(key, labels=["goal:KR-1"])
        later = httpx.get(url, headers=auth).json()["fields"]
    assert first and later["resolutiondate"] == first
    assert later["updated"] > first
