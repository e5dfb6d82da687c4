"""The Jira connector over real HTTP against the sandbox Jira, Cloud and Data Center."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.base import PullOptions
from connectors.jira import JiraConnector, parse_issue
from connectors.ownership import global_id
from core.errors import AuthError
from core.model import ApplyStatus, GoalRef, Page, Ticket, WriteBack, WriteBackKind
from tests.helpers.fixtures import JIRA
from tests.helpers.jira_helpers import JiraBox, connect, epic_keys, jira_sandbox

pytestmark = pytest.mark.anyio

FLAVOURS = ["cloud", "datacenter"]
FIXTURE = JIRA / "search-jql.json"


async def pull_all(conn: JiraConnector, cursor: str | None = None,
                   full: bool = False) -> list[Page]:
    return [page async for page in conn.pull(cursor, PullOptions(full=full))]


def tickets_of(pages: list[Page]) -> list[Ticket]:
    return [t for p in pages for t in p.tickets]


def goal(kr: str) -> GoalRef:
    return GoalRef(kr_id=kr, kr_title="Checkout conversion", objective_id="O-GROW",
                   objective_title="Grow revenue", owner="Dana Lee", target="40 → 60 %",
                   url=f"https://okr.example/{kr}")


async def write_twice(box: JiraBox, conn: JiraConnector, key: str) -> list[ApplyStatus]:
    label = WriteBack(source="jira", ticket_key=key, kind=WriteBackKind.ADD_LABEL,
                      label="goal:KR-CHK-1")
    links = WriteBack(source="jira", ticket_key=key, kind=WriteBackKind.SET_GOAL_LINKS,
                      goals=(goal("KR-CHK-1"),))
    return [(await conn.apply(wb)).status for wb in (label, label, links, links)]


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_full_pull_streams_every_epic_over_several_pages(flavour: Any) -> None:
    with jira_sandbox(flavour=flavour) as box:
        conn = connect(box)
        pages = await pull_all(conn)
        stats = conn.stats()
        await conn.aclose()
        tickets = tickets_of(pages)
        keys = [t.key for t in tickets]
        assert len(pages) >= 4
        assert len(keys) == len(set(keys))
        assert set(keys) == epic_keys(box.state)
        for t in tickets[:10]:
            raw = box.state.issue(t.key)["fields"]
            assert t.title == raw["summary"].strip() or t.title
            assert list(t.labels) == raw["labels"]
            assert t.url == f"{box.url}/browse/{t.key}"
            assert t.updated.tzinfo is not None
        assert any(t.hypothesis for t in tickets)
        assert {t.state.value for t in tickets} >= {"todo", "in_progress", "done"}
        search = "GET /rest/api/3/search/jql" if flavour == "cloud" else "GET /rest/api/2/search"
        assert stats.by_endpoint[search] == len(pages)
        assert json.loads(pages[-1].cursor or "")["since_ms"] > 0


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_incremental_pull_after_two_edits_returns_exactly_those(flavour: Any) -> None:
    with jira_sandbox(flavour=flavour) as box:
        conn = connect(box)
        first = await pull_all(conn)
        cursor = first[-1].cursor
        edited = sorted(epic_keys(box.state))[3:5]
        for key in edited:
            box.state.edit_issue(key, labels=[*box.state.labels(key), "okr:KR-SRCH-1"])
        second = await pull_all(conn, cursor)
        assert sorted(t.key for t in tickets_of(second)) == edited
        assert all("okr:KR-SRCH-1" in t.labels for t in tickets_of(second))
        third = await pull_all(conn, second[-1].cursor)
        assert tickets_of(third) == []
        again = await pull_all(conn, second[-1].cursor, full=True)
        await conn.aclose()
        assert len(tickets_of(again)) == len(epic_keys(box.state))


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_label_and_remote_link_applied_twice_leave_one_each(flavour: Any) -> None:
    with jira_sandbox(flavour=flavour) as box:
        key = sorted(epic_keys(box.state))[0]
        conn = connect(box)
        statuses = await write_twice(box, conn, key)
        await conn.aclose()
        assert statuses == [ApplyStatus.APPLIED, ApplyStatus.UNCHANGED,
                            ApplyStatus.APPLIED, ApplyStatus.UNCHANGED]
        assert box.state.labels(key).count("goal:KR-CHK-1") == 1
        ours = [link for link in box.state.remote_links(key)
                if str(link.get("globalId", "")).startswith("okrsync:")]
        assert len(ours) == 1
        assert ours[0]["globalId"] == global_id(box.url, key, "KR-CHK-1")
        assert "Grow revenue" in ours[0]["object"]["title"]


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_ended_goal_link_is_deleted_and_label_removed(flavour: Any) -> None:
    with jira_sandbox(flavour=flavour) as box:
        key = sorted(epic_keys(box.state))[1]
        conn = connect(box)
        await write_twice(box, conn, key)
        ended = WriteBack(source="jira", ticket_key=key, kind=WriteBackKind.SET_GOAL_LINKS,
                          goals=(), previous=("KR-CHK-1",))
        removed = WriteBack(source="jira", ticket_key=key, kind=WriteBackKind.REMOVE_LABEL,
                            label="goal:KR-CHK-1")
        results = [await conn.apply(wb) for wb in (ended, ended, removed, removed)]
        await conn.aclose()
        assert [r.status for r in results] == [ApplyStatus.APPLIED, ApplyStatus.UNCHANGED,
                                               ApplyStatus.APPLIED, ApplyStatus.UNCHANGED]
        assert "goal:KR-CHK-1" not in box.state.labels(key)
        assert not any(str(link.get("globalId", "")).startswith("okrsync:")
                       for link in box.state.remote_links(key))


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_faults_429_and_500_give_the_same_result(flavour: Any) -> None:
    with jira_sandbox(flavour=flavour) as clean_box:
        conn = connect(clean_box)
        expected = {t.key: t for t in tickets_of(await pull_all(conn))}
        await conn.aclose()
    with jira_sandbox(flavour=flavour, faults="429:0.3,500:0.1") as box:
        conn = connect(box)
        got = {t.key: t for t in tickets_of(await pull_all(conn))}
        key = sorted(got)[2]
        statuses = await write_twice(box, conn, key)
        stats = conn.stats()
        await conn.aclose()
        assert got.keys() == expected.keys()
        for k, t in got.items():
            assert (t.title, t.labels, t.state, t.hypothesis) == (
                expected[k].title, expected[k].labels, expected[k].state,
                expected[k].hypothesis)
        assert statuses == [ApplyStatus.APPLIED, ApplyStatus.UNCHANGED,
                            ApplyStatus.APPLIED, ApplyStatus.UNCHANGED]
        assert box.state.labels(key).count("goal:KR-CHK-1") == 1
        assert len([link for link in box.state.remote_links(key)
                    if str(link.get("globalId", "")).startswith("okrsync:")]) == 1
        assert stats.retries > 0
        assert stats.by_status.get(429, 0) > 0 and stats.by_status.get(500, 0) > 0


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_wrong_token_is_a_clear_auth_error(flavour: Any) -> None:
    with jira_sandbox(flavour=flavour) as box:
        conn = connect(box, token="wrong-token-value")
        with pytest.raises(AuthError) as info:
            await pull_all(conn)
        stats = conn.stats()
        await conn.aclose()
        assert info.value.status == 401
        assert "not authenticated" in str(info.value) and "wrong-token-value" not in str(
            info.value)
        assert stats.requests == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_doctor_against_the_sandbox(flavour: Any) -> None:
    with jira_sandbox(flavour=flavour) as box:
        conn = connect(box)
        checks = {c.name: c for c in await conn.doctor()}
        await conn.aclose()
        writes = [e for e in box.accounting()["by_endpoint"] if not e.startswith("GET")]
        assert all(c.ok for c in checks.values()), checks
        assert "sandbox@example.com" in checks["authenticated"].detail or checks[
            "authenticated"].detail.startswith("as ")
        assert ("Cloud" in checks["server"].detail) == (flavour == "cloud")
        assert writes == []


async def test_recorded_fixture_and_sandbox_agree() -> None:
    """The recorded Cloud search payload, loaded into the sandbox and pulled back over HTTP,
    gives the same ticket values as parsing the recording directly (fields it carries)."""
    recorded = json.loads(FIXTURE.read_text())["issues"][0]
    direct = parse_issue(recorded, source="jira", site_url="https://x")
    scenario = {"jira": {"issues": [recorded]}}
    with jira_sandbox(data=scenario) as box:
        conn = connect(box, jql="", epic_jql="project = EX")
        pulled = tickets_of(await pull_all(conn))
        await conn.aclose()
    assert len(pulled) == 1
    via = pulled[0]
    for attr in ("key", "remote_id", "project", "labels", "components", "assignee",
                 "state", "description", "hypothesis", "updated"):
        assert getattr(via, attr) == getattr(direct, attr), attr


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_okrsync_doctor_command_against_the_sandbox(
    flavour: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from syncer.cli import main

    with jira_sandbox(flavour=flavour) as box:
        config = tmp_path / "okrsync.toml"
        email = f'email = "{box.user}"\n' if flavour == "cloud" else ""
        config.write_text(
            f'[sources.tracker]\nkind = "jira"\nbase_url = "{box.url}"\n'
            f'flavour = "{flavour}"\ntoken = "{box.token}"\n{email}'
        )
        try:
            main(["doctor", "-c", str(config), "--json"])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        box.state.denied_permissions.add("EDIT_ISSUES")
        try:
            main(["doctor", "-c", str(config)])
            denied_code = 0
        except SystemExit as exc:
            denied_code = int(exc.code or 0)
    out = capsys.readouterr().out
    report = json.loads(out[: out.index("\n}\n") + 2])
    assert code == 0 and report["ok"] is True
    assert [c["name"] for c in report["sources"]["tracker"]] == [
        "server", "authenticated", "browse scope", "permissions"]
    assert denied_code == 1 and "EDIT_ISSUES" in out and box.token not in out
