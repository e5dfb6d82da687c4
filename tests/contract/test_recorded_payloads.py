"""Real payloads recorded by other projects' test suites go through our parse modules with
nothing dropped, and agree with the trackers' OpenAPI descriptions.

Sources and licences: tests/fixtures/SOURCES.md (PyGithub's replay data, Airbyte's Jira
connector). For each payload, every field the parser reads is checked against the value
the payload carries, so a renamed or re-nested field fails here instead of turning into an
empty title, lost labels or a wrong state.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from connectors.github_parse import parse_issue as parse_github
from connectors.jira_parse import parse_issue as parse_jira
from connectors.text import clean
from core.model import Ticket, TicketState
from sandbox.trackers import Exchange
from tests.contract.openapi import description

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
GITHUB = sorted((RECORDED / "github").glob("*.json"))
STATE = {("open", None): TicketState.TODO, ("open", "reopened"): TicketState.TODO,
         ("closed", "completed"): TicketState.DONE, ("closed", "not_planned"):
         TicketState.WONT_DO}


def _recorded(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _issues(record: dict[str, Any]) -> list[dict[str, Any]]:
    body = record["body"]
    return body if isinstance(body, list) else [body]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize("path", GITHUB, ids=[p.stem for p in GITHUB])
def test_recorded_github_issues_parse_with_every_read_field_kept(path: Path) -> None:
    record = _recorded(path)
    repo = "PyGithub/PyGithub"
    for issue in _issues(record):
        ticket = parse_github(issue, source="github", repo=repo)
        assert isinstance(ticket, Ticket)
        assert ticket.key == f"{repo}#{issue['number']}"
        assert ticket.remote_id == str(issue.get("node_id") or issue["id"])
        assert ticket.url == issue["html_url"]
        assert ticket.title == clean(issue["title"], 1000)
        assert ticket.project == repo
        assert ticket.labels == tuple(label["name"] for label in issue["labels"])
        assert ticket.issue_type == ((issue.get("type") or {}).get("name") or "Epic")
        assert ticket.updated == _utc(issue["updated_at"])
        assert ticket.created == _utc(issue["created_at"])
        assignee = issue.get("assignee") or (issue.get("assignees") or [None])[0]
        assert ticket.assignee == (assignee["login"] if assignee else None)
        assert ticket.description == clean(issue.get("body") or "")
        expected = STATE[(issue["state"], issue.get("state_reason"))]
        if expected is TicketState.TODO and assignee:
            expected = TicketState.IN_PROGRESS
        assert ticket.state is expected


def test_recorded_github_states_cover_open_done_wont_do_and_types() -> None:
    issues = [i for p in GITHUB for i in _issues(_recorded(p))]
    assert {i.get("state_reason") for i in issues} >= {None, "completed", "not_planned",
                                                       "reopened"}
    assert {(i.get("type") or {}).get("name") for i in issues} >= {"Bug", "Feature", None}


@pytest.mark.parametrize("path", [p for p in GITHUB if p.stem.startswith("issues-")],
                         ids=lambda p: p.stem)
def test_recorded_github_listings_match_githubs_description(path: Path) -> None:
    record = _recorded(path)
    url = urlsplit(record["request"]["path"])
    exchange = Exchange(record["request"]["method"], url.path, parse_qsl(url.query), {}, b"",
                        record["status"], {"content-type": "application/json"},
                        json.dumps(record["body"]).encode(), True)
    problems, operation = description("github-api.github.com.json").check(exchange)
    assert operation == "issues/list-for-repo"
    assert problems == []


def test_recorded_jira_cloud_epic_parses_with_every_read_field_kept() -> None:
    record = _recorded(RECORDED / "jira" / "airbyte-search-epic.json")
    [raw] = record["issues"]
    fields = raw["fields"]
    ticket = parse_jira(raw, source="jira", site_url="https://airbyteio.atlassian.net",
                        story_points_field="customfield_10016")
    assert ticket.key == raw["key"] == "TESTKEY13-1"
    assert ticket.remote_id == raw["id"]
    assert ticket.url == "https://airbyteio.atlassian.net/browse/TESTKEY13-1"
    assert ticket.title == fields["summary"]
    assert ticket.project == fields["project"]["key"]
    assert ticket.issue_type == fields["issuetype"]["name"] == "Epic"
    assert ticket.labels == tuple(fields["labels"])
    assert ticket.components == tuple(c["name"] for c in fields["components"])
    assert ticket.assignee == fields["assignee"]["displayName"]
    assert ticket.state is TicketState.TODO
    assert ticket.updated == datetime(2022, 12, 8, 10, 22, 18, 889000, tzinfo=UTC)
    assert ticket.created == datetime(2022, 6, 9, 23, 29, 31, 871000, tzinfo=UTC)
    assert ticket.description == "Test issue"
    assert ticket.size is None


# Airbyte's connector puts these four at the top of each record it emits (its manifest adds
# fields with AddFields transformations); Jira sends them only inside `fields`.
AIRBYTE_ADDED = ("projectId", "projectKey", "created", "updated")


def test_recorded_jira_cloud_search_matches_atlassians_description() -> None:
    record = _recorded(RECORDED / "jira" / "airbyte-search-epic.json")
    for issue in record["issues"]:
        for name in AIRBYTE_ADDED:
            issue.pop(name)
    exchange = Exchange("GET", "/rest/api/3/search/jql", [("jql", "issuetype = Epic")], {},
                        b"", 200, {"content-type": "application/json"},
                        json.dumps(record).encode(), True)
    problems, operation = description("jira-cloud-platform-v3.json").check(exchange)
    assert operation == "searchAndReconsileIssuesUsingJql"
    assert problems == []
