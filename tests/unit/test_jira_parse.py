"""Jira payloads to Tickets: the recorded fixture, both flavours, states, times, the cursor."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.jira import JiraSourceConfig, build_jql
from connectors.jira_parse import (
    BOUNDARY_CAP,
    Cursor,
    parse_issue,
    parse_time,
    ticket_state,
    to_ms,
)
from core.model import TicketState
from tests.helpers.fixtures import JIRA

FIXTURES = JIRA
SITE = "https://acme.atlassian.net"


def cloud_issue(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "summary": "Checkout in one step",
        "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
        "resolution": None,
        "labels": ["okr:KR-1", "payments"],
        "components": [{"name": "web"}, {"name": "api"}],
        "assignee": {"displayName": "Dana Lee", "accountId": "abc"},
        "issuetype": {"name": "Epic"},
        "project": {"key": "WEB"},
        "created": "2026-01-02T10:00:00.000+0100",
        "updated": "2026-03-04T05:06:07.890+0000",
        "description": {
            "type": "doc",
            "version": 1,
            "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Context."}]},
                {"type": "paragraph", "content": [
                    {"type": "text", "text": "Hypothesis:", "marks": [{"type": "strong"}]},
                    {"type": "text", "text": " one-step checkout lifts conversion"},
                ]},
            ],
        },
        "subtasks": [{"key": "WEB-2"}, {"key": "WEB-3"}],
        "customfield_10016": 8,
    }
    fields.update(overrides)
    return {"id": "10001", "key": "WEB-1", "fields": fields}


def test_recorded_cloud_fixture_parses() -> None:
    data = json.loads((FIXTURES / "search-jql.json").read_text())
    ticket = parse_issue(data["issues"][0], source="jira",
                         site_url="https://your-domain.atlassian.net")
    assert ticket.key == "ED-1"
    assert ticket.remote_id == "10002"
    assert ticket.url == "https://your-domain.atlassian.net/browse/ED-1"
    assert ticket.project == "EX"
    assert ticket.description == "Main order flow broken"
    assert ticket.state is TicketState.TODO
    assert ticket.labels == () and ticket.components == () and ticket.assignee is None
    assert ticket.updated.tzinfo is not None


def test_cloud_issue_with_adf_parses_every_field() -> None:
    t = parse_issue(cloud_issue(), source="jira", site_url=SITE,
                    story_points_field="customfield_10016")
    assert (t.key, t.remote_id, t.url) == ("WEB-1", "10001", f"{SITE}/browse/WEB-1")
    assert (t.title, t.project, t.issue_type) == ("Checkout in one step", "WEB", "Epic")
    assert t.labels == ("okr:KR-1", "payments")
    assert t.components == ("web", "api")
    assert t.assignee == "Dana Lee"
    assert t.state is TicketState.IN_PROGRESS
    assert t.created == datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
    assert t.updated == datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    assert t.hypothesis == "one-step checkout lifts conversion"
    assert "Context." in t.description
    assert t.size == 8.0


def test_size_falls_back_to_subtask_count() -> None:
    t = parse_issue(cloud_issue(), source="jira", site_url=SITE)
    assert t.size == 2.0
    assert parse_issue(cloud_issue(subtasks=[]), source="jira", site_url=SITE).size is None


def test_datacenter_wiki_description() -> None:
    issue = cloud_issue(description="h3. Hypothesis: *faster* search keeps users\nmore text",
                        updated="2026-03-04T05:06:07.000+0200")
    t = parse_issue(issue, source="dc", site_url="https://jira.corp")
    assert t.hypothesis == "faster search keeps users"
    assert t.updated == datetime(2026, 3, 4, 3, 6, 7, tzinfo=UTC)
    assert t.url == "https://jira.corp/browse/WEB-1"


def test_custom_hypothesis_pattern() -> None:
    issue = cloud_issue(description="Bet => more sign-ups")
    t = parse_issue(issue, source="j", site_url=SITE, hypothesis_pattern=r"Bet => (?P<h>.+)")
    assert t.hypothesis == "more sign-ups"


@pytest.mark.parametrize(
    ("category", "resolution", "state"),
    [
        ("new", None, TicketState.TODO),
        ("indeterminate", None, TicketState.IN_PROGRESS),
        ("done", {"name": "Done"}, TicketState.DONE),
        ("done", {"name": "Won't Do"}, TicketState.WONT_DO),
        ("done", {"name": "Won’t Fix"}, TicketState.WONT_DO),
        ("done", {"name": "Cancelled"}, TicketState.WONT_DO),
        ("done", {"name": "Duplicate"}, TicketState.WONT_DO),
        ("undefined", None, TicketState.TODO),
    ],
)
def test_state_from_category_and_resolution(
    category: str, resolution: dict[str, str] | None, state: TicketState
) -> None:
    fields = {"status": {"statusCategory": {"key": category}}, "resolution": resolution}
    assert ticket_state(fields) is state


@pytest.mark.parametrize(
    "issue",
    [
        None,
        {"id": "1", "fields": {"updated": "2026-01-01T00:00:00.000+0000"}},
        {"key": "A-1", "fields": {"updated": "2026-01-01T00:00:00.000+0000"}},
        {"key": "A-1", "id": "1"},
        {"key": "A-1", "id": "1", "fields": {"updated": "yesterday"}},
        {"key": "A-1", "id": "1", "fields": {"updated": "2026-01-01T00:00:00.000+0000",
                                             "labels": "not-a-list"}},
    ],
)
def test_malformed_issue_raises_value_error(issue: Any) -> None:
    with pytest.raises(ValueError):
        parse_issue(issue, source="j", site_url=SITE)


@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_epoch_ms_round_trips(ms: int) -> None:
    assert to_ms(parse_time(ms)) == ms


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC)))
def test_jira_timestamp_format_round_trips(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
    assert parse_time(text) == moment


def test_build_jql_uses_epoch_ms_with_lookback() -> None:
    cfg = JiraSourceConfig(name="j", base_url=SITE, token="t", jql="project in (WEB, APP)",
                           lookback_seconds=120)
    assert build_jql(cfg, None) == (
        "(project in (WEB, APP)) AND (issuetype = Epic) ORDER BY updated ASC, key ASC"
    )
    assert build_jql(cfg, 1_000_000) == (
        "(project in (WEB, APP)) AND (issuetype = Epic) AND updated >= 880000 "
        "ORDER BY updated ASC, key ASC"
    )


def test_cursor_round_trip_and_garbage() -> None:
    c = Cursor(5000, {"A-1": 4000, "B-2": 5000})
    assert Cursor.load(c.dump()) == c
    assert Cursor.load("not json") == Cursor()
    assert Cursor.load(None) == Cursor()


edits = st.lists(
    st.tuples(st.sampled_from(["A-1", "A-2", "A-3", "A-4"]), st.integers(0, 50)),
    max_size=30,
)


@given(st.lists(edits, min_size=1, max_size=5), st.integers(0, 20))
def test_incremental_pulls_see_every_edit_exactly_once(rounds: list[list[tuple[str, int]]],
                                                       lookback: int) -> None:
    """Model: a Jira whose clock moves forward; between pulls tickets are edited. Each pull
    asks `updated >= since - lookback` and drops boundary duplicates, like the connector."""
    now = 0
    latest: dict[str, int] = {}
    cursor = Cursor()
    seen: list[tuple[str, int]] = []
    for edits_in_round in rounds:
        for key, step in edits_in_round:
            now += step
            latest[key] = now
        floor = -1 if cursor.since_ms is None else cursor.since_ms - lookback
        result = sorted(((u, k) for k, u in latest.items() if u >= floor))
        for updated, key in result:
            if cursor.seen(key, updated):
                continue
            cursor.advance(key, updated)
            seen.append((key, updated))
        cursor.prune(lookback)
        # every ticket's latest version was delivered at least once ...
        for key, updated in latest.items():
            assert (key, updated) in seen
    # ... and no version twice
    assert len(seen) == len(set(seen))


def test_a_bulk_edit_keeps_the_cursor_bounded_and_loses_nothing() -> None:
    lookback = 120_000
    cursor = Cursor()
    edited = {f"WEB-{n}": 1_700_000_000_000 + n for n in range(BOUNDARY_CAP * 3)}
    for key, updated in edited.items():  # one pull, all inside the lookback window
        cursor.advance(key, updated)
    cursor.prune(lookback)
    assert len(cursor.boundary) == BOUNDARY_CAP
    assert len(cursor.dump()) < 100_000
    # the next pull re-reads the window: only what fell out of the boundary comes again
    again = [k for k, u in edited.items() if not cursor.seen(k, u)]
    assert len(again) == BOUNDARY_CAP * 2
    assert all(edited[k] < min(cursor.boundary.values()) for k in again), "the oldest go"


def test_config_requires_an_http_url_and_hides_the_token() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="http"):
        JiraSourceConfig(name="j", base_url="acme.atlassian.net", token="t")
    cfg = JiraSourceConfig(name="j", base_url=f"{SITE}/", token="very-secret", cloud_id="c1")
    assert cfg.site_url == SITE
    assert cfg.api_base == "https://api.atlassian.com/ex/jira/c1"
    assert "very-secret" not in repr(cfg) and "very-secret" not in cfg.model_dump_json()
