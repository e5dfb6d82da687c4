"""GitHub issue payloads → Ticket values, and the pull cursor's watermark arithmetic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.github_parse import (
    RepoCursor,
    SourceCursor,
    format_time,
    issue_size,
    parse_issue,
    parse_or_skip,
    task_count,
    ticket_state,
)
from core.model import Skipped, Ticket, TicketState
from tests.helpers.fixtures import GITHUB

FIXTURES = GITHUB
REPO = "PyGithub/PyGithub"


def _body(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())["body"]


def _issue(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 7,
        "node_id": "I_7",
        "number": 7,
        "title": "Faster checkout",
        "html_url": "https://github.com/acme/app/issues/7",
        "state": "open",
        "labels": [{"name": "epic"}],
        "assignee": None,
        "assignees": [],
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-03T03:04:05Z",
        "body": "",
    }
    base.update(over)
    return base


# -- the recorded real payloads -----------------------------------------------------------


def test_recorded_issues_page_parses_into_expected_tickets() -> None:
    page = _body("issues-page.json")
    tickets = [parse_issue(i, source="gh", repo=REPO) for i in page]
    assert [t.key for t in tickets] == [f"{REPO}#{n}" for n in (3364, 3337, 3336, 3335, 28)]
    first = tickets[0]
    assert first.remote_id == "I_kwDOADYVqs7JNd8a"
    assert first.url == "https://github.com/PyGithub/PyGithub/issues/3364"
    assert first.title == "IssueComment fails for bot users"
    assert first.project == REPO
    assert first.issue_type == "Bug"
    assert first.labels == ("bug",)
    assert first.state is TicketState.DONE  # closed + state_reason completed
    assert first.updated == datetime(2025, 9, 2, 17, 30, 49, tzinfo=UTC)
    assert first.created == datetime(2025, 9, 2, 12, 8, 56, tzinfo=UTC)
    assert first.description.startswith("**Description:**")
    assert first.size is None  # no sub-issues, no task list
    by_number = {t.key.rsplit("#", 1)[1]: t for t in tickets}
    assert by_number["3335"].size == 2.0  # sub_issues_summary.total
    assert by_number["3335"].issue_type == "Feature"
    assert by_number["28"].assignee == "jacquev6"
    assert by_number["28"].labels == ("bug", "question")
    assert all(t.updated.tzinfo is not None for t in tickets)


def test_recorded_single_issue_matches_its_page_entry() -> None:
    single = parse_issue(_body("issue.json"), source="gh", repo=REPO)
    from_page = parse_issue(_body("issues-page.json")[-1], source="gh", repo=REPO)
    assert single == from_page
    assert single.size == 1.0


# -- state, size, type, hypothesis --------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({}, TicketState.TODO),
        ({"assignee": {"login": "dana"}}, TicketState.IN_PROGRESS),
        ({"assignees": [{"login": "dana"}]}, TicketState.IN_PROGRESS),
        ({"labels": [{"name": "epic"}, {"name": "In Progress"}]}, TicketState.IN_PROGRESS),
        ({"labels": [{"name": "status: doing"}]}, TicketState.IN_PROGRESS),
        ({"labels": [{"name": "progress-report"}]}, TicketState.TODO),
        ({"state": "closed", "state_reason": "completed"}, TicketState.DONE),
        ({"state": "closed", "state_reason": None}, TicketState.DONE),
        ({"state": "closed", "state_reason": "not_planned"}, TicketState.WONT_DO),
        ({"state": "closed", "state_reason": "duplicate"}, TicketState.WONT_DO),
    ],
)
def test_state_mapping(over: dict[str, Any], expected: TicketState) -> None:
    issue = _issue(**over)
    assert parse_issue(issue, source="gh", repo="acme/app").state is expected
    assert ticket_state(issue, [lb["name"] for lb in issue["labels"]]) is expected


def test_type_defaults_to_epic_and_type_name_wins() -> None:
    assert parse_issue(_issue(), source="gh", repo="acme/app").issue_type == "Epic"
    typed = _issue(type={"id": 1, "name": "Initiative"})
    assert parse_issue(typed, source="gh", repo="acme/app").issue_type == "Initiative"


def test_size_prefers_sub_issues_then_task_list() -> None:
    body = "Plan\n- [ ] one\n- [x] two\n  * [X] nested\n1. [ ] numbered\n- not a task\n"
    assert task_count(body) == 4
    assert issue_size({"sub_issues_summary": {"total": 3}}, body) == 3.0
    assert issue_size({"sub_issues_summary": {"total": 0}}, body) == 4.0
    assert issue_size({}, "no tasks") is None


def test_hypothesis_comes_from_body_and_custom_pattern() -> None:
    issue = _issue(body="Intro\n**Hypothesis:** faster pages lift conversion\nrest")
    assert parse_issue(issue, source="gh", repo="a/b").hypothesis == (
        "faster pages lift conversion"
    )
    custom = _issue(body="BET: ship it")
    ticket = parse_issue(custom, source="gh", repo="a/b", hypothesis_pattern=r"BET: (?P<h>.+)")
    assert ticket.hypothesis == "ship it"


def test_control_characters_are_dropped_from_text() -> None:
    ticket = parse_issue(_issue(title="a\x00b", body="x\x07y\nz"), source="gh", repo="a/b")
    assert ticket.title == "ab"
    assert ticket.description == "xy\nz"


def test_remote_id_falls_back_to_database_id() -> None:
    issue = _issue()
    del issue["node_id"]
    assert parse_issue(issue, source="gh", repo="a/b").remote_id == "7"


@pytest.mark.parametrize(
    "over",
    [
        {"number": None},
        {"title": None},
        {"updated_at": "yesterday"},
        {"state": "weird"},
        {"labels": "epic"},
        {"body": 5},
        {"html_url": None},
    ],
)
def test_malformed_issue_becomes_skipped(over: dict[str, Any]) -> None:
    result = parse_or_skip(_issue(**over), source="gh", repo="acme/app")
    assert isinstance(result, Skipped)
    assert result.source == "gh"
    assert result.key in ("acme/app#7", "acme/app#?")
    assert result.reason.startswith("malformed issue")


def test_not_an_object_is_skipped() -> None:
    result = parse_or_skip(["x"], source="gh", repo="acme/app")
    assert isinstance(result, Skipped)
    assert result.key == "acme/app#?"


@given(
    title=st.text(max_size=50),
    body=st.none() | st.text(max_size=200),
    labels=st.lists(st.text(min_size=1, max_size=10), max_size=5),
    closed=st.booleans(),
)
def test_parser_never_raises_on_string_fields(
    title: str, body: str | None, labels: list[str], closed: bool
) -> None:
    issue = _issue(title=title, body=body, labels=[{"name": n} for n in labels],
                   state="closed" if closed else "open")
    result = parse_or_skip(issue, source="gh", repo="a/b")
    assert isinstance(result, Ticket)
    assert result.labels == tuple(labels)


# -- cursor ---------------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_cursor_roundtrip_and_garbage() -> None:
    cur = SourceCursor(
        repos={"a/b": RepoCursor("2026-01-01T00:00:00Z", 'W/"x"', {"3": "2026-01-01T00:00:00Z"},
                                 "labels=epic")},
        org_etag='"o"', org_repos=["a/b"],
    )
    again = SourceCursor.loads(cur.dumps())
    assert again == cur
    data = json.loads(cur.dumps())
    assert data["repos"]["a/b"]["etag"] == 'W/"x"'
    assert data["repos"]["a/b"]["boundary"] == {"3": "2026-01-01T00:00:00Z"}
    for junk in (None, "", "{", "[]", '{"repos": 5}'):
        assert SourceCursor.loads(junk).repos == {}


def test_watermark_and_boundary() -> None:
    rc = RepoCursor()
    assert rc.is_new(1, T0) and not rc.is_older(T0)
    rc = rc.advanced([(1, T0), (2, T0 + timedelta(seconds=5)), (3, T0 + timedelta(seconds=5))],
                     "e1")
    assert rc.since == format_time(T0 + timedelta(seconds=5))
    assert set(rc.boundary) == {"2", "3"}
    assert rc.etag == "e1"
    t5 = T0 + timedelta(seconds=5)
    assert not rc.is_new(2, t5)  # stored already
    assert rc.is_new(4, t5)  # same second, not seen
    assert rc.is_new(2, t5 + timedelta(seconds=1))  # changed again
    assert rc.is_older(T0) and not rc.is_new(1, T0)
    assert rc.advanced([], "e2").since == rc.since  # nothing new keeps the watermark


@given(st.lists(st.tuples(st.integers(1, 30), st.integers(0, 20)), max_size=40),
       st.integers(0, 40))
def test_split_pulls_never_lose_or_repeat(items: list[tuple[int, int]], cut: int) -> None:
    """Storing a stream in two pulls returns every (number, updated) exactly once overall,
    whatever arrives in the same second as the watermark."""
    events = sorted({n: T0 + timedelta(seconds=s) for n, s in items}.items(),
                    key=lambda kv: kv[1])
    first, later = events[:cut], events[cut:]
    rc = RepoCursor().advanced(first, None)
    # later events happen after the first pull; same-second ones are possible
    returned = [(n, u) for n, u in later if rc.is_new(n, u)]
    newest = dict(events)
    assert {n for n, _ in first} | {n for n, _ in returned} == set(newest)
    assert len({n for n, _ in returned}) == len(returned)
    assert all(rc.is_new(n, u) for n, u in later if u > (first[-1][1] if first else T0))
