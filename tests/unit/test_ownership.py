"""The pure ownership rules: what is okrsync's, what is a look-alike, what adoption rebuilds,
and which resolutions kill a bet."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.github_comment import render_goal_comment
from connectors.jira_parse import ticket_state
from connectors.ownership import (
    APPLICATION,
    Identity,
    Owned,
    comment_kr_ids,
    global_id,
    kr_of_global_id,
    split_comments,
    split_links,
)
from core.model import GoalRef, Page, Ticket, TicketState
from syncer.adopt import adopt_ticket, needs_adoption
from syncer.store import Store

ME = Identity("app", "okrsync[bot]")
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _comment(cid: int, login: str) -> dict[str, object]:
    return {"id": cid, "body": "<!-- okrsync:goal-links -->", "user": {"login": login}}


def test_a_marker_comment_is_ours_only_by_identity_or_ledger_id() -> None:
    comments = [_comment(1, "dana"), _comment(2, "OKRSYNC[bot]"), _comment(3, "sam")]
    ours, others = split_comments("a/b#1", comments, ME, known_ref="3")
    assert [c["id"] for c in ours] == [2, 3]
    assert [(o.ref, o.author) for o in others] == [("1", "dana")]
    ours, others = split_comments("a/b#1", comments, Identity("user", ""), None)
    assert ours == [] and len(others) == 3  # an unknown identity owns nothing


def test_a_link_is_ours_only_with_our_global_id_form_and_application() -> None:
    links = [
        {"globalId": "okrsync:jira:WEB-1:KR-1", "application": dict(APPLICATION)},  # old form
        {"globalId": "okrsync:acme.atlassian.net:WEB-1:KR-2", "application": dict(APPLICATION)},
        {"globalId": "okrsync:jira:WEB-1:KR-3", "application": {"name": "Acme Wiki"}},
        {"globalId": "okrsync:jira:WEB-9:KR-4", "application": dict(APPLICATION)},  # other issue
        {"globalId": "wiki:42", "application": {"name": "Acme Wiki"}},
    ]
    ours, others = split_links("WEB-1", links)
    assert sorted(ours) == ["KR-1", "KR-2"]
    assert sorted(o.ref for o in others) == ["okrsync:jira:WEB-1:KR-3", "okrsync:jira:WEB-9:KR-4"]


def test_global_ids_name_the_site_and_step_aside_from_a_taken_one() -> None:
    gid = global_id("https://acme.atlassian.net/", "WEB-1", "KR-1")
    assert gid == "okrsync:acme.atlassian.net:WEB-1:KR-1"
    local = global_id("http://127.0.0.1:8080", "WEB-1", "KR-1")
    assert local == "okrsync:127.0.0.1:8080:WEB-1:KR-1"
    stepped = global_id("https://acme.atlassian.net", "WEB-1", "KR-1", taken=[gid])
    assert stepped == gid + "~2" and kr_of_global_id(stepped, "WEB-1") == "KR-1"
    assert kr_of_global_id("okrsync:127.0.0.1:8080:WEB-1:KR-1", "WEB-1") == "KR-1"
    assert kr_of_global_id("okrsync:jira:WEB-10:KR-1", "WEB-1") is None


def test_the_kr_ids_of_a_goal_comment_are_read_back() -> None:
    goals = [GoalRef(k, "t @x", "O-1", "o", "w", "1") for k in ("KR-1", "KR_2.a")]
    assert comment_kr_ids(render_goal_comment(goals, ticket_title="#1")) == ("KR-1", "KR_2.a")
    assert comment_kr_ids(render_goal_comment([], previous=("KR-1",))) == ()


def _ticket(labels: tuple[str, ...]) -> Ticket:
    return Ticket("jira", "WEB-1", "1", "u", "t", "WEB", "Epic", labels, TicketState.TODO, NOW)


def test_adoption_keeps_present_labels_and_turns_removed_ones_into_overrides() -> None:
    owned = Owned(("KR-1", "KR-2"), "77", found=True)
    got = adopt_ticket(_ticket(("GOAL:KR-1", "goal:KR-9", "x")), owned, "goal:", NOW)
    assert got.labels == ("GOAL:KR-1",)  # goal:KR-9 is named by nothing of ours: not claimed
    assert [(o.label, o.kr_id) for o in got.overrides] == [("goal:KR-2", "KR-2")]
    assert got.goal_kr_ids == ("KR-1", "KR-2") and got.remote_ref == "77"



def test_adoption_is_needed_only_with_managed_labels_and_an_empty_ledger(
    store_target: Path | str,
) -> None:
    with Store.open(store_target) as store:
        store.store_page("jira", Page((_ticket(("okr:KR-1",)),)), None, now=NOW)
        assert not needs_adoption(store, "jira", "goal:")
        store.store_page("jira", Page((_ticket(("x", "GOAL:KR-1")),)), None, now=NOW)
        assert needs_adoption(store, "jira", "goal:")
        assert not needs_adoption(store, "github", "goal:")
        store.adopt("jira", [adopt_ticket(_ticket(("GOAL:KR-1",)), Owned(("KR-1",)), "goal:",
                                          NOW)], None, now=NOW)
        assert not needs_adoption(store, "jira", "goal:")


@pytest.mark.parametrize("name", ["Declined", "cannot reproduce", "Won’t Do", "WONT FIX",
                                  "Duplicate", "Obsolete", "Rejected", "Abandoned"])
def test_killed_resolutions_by_default(name: str) -> None:
    fields = {"status": {"statusCategory": {"key": "done"}}, "resolution": {"name": name}}
    assert ticket_state(fields) is TicketState.WONT_DO


def test_resolutions_are_configurable_and_done_is_shipped() -> None:
    fields = {"status": {"statusCategory": {"key": "done"}}, "resolution": {"name": "Parked"}}
    assert ticket_state(fields) is TicketState.DONE
    assert ticket_state(fields, ["parked"]) is TicketState.WONT_DO
    done = {"status": {"statusCategory": {"key": "done"}}, "resolution": {"name": "Done"}}
    assert ticket_state(done, ["parked"]) is TicketState.DONE
