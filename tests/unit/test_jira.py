"""The Jira connector against respx: paging in both flavours, auth, label and link writes,
the notifyUsers fallback, doctor."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
import respx

from connectors.base import PullOptions, create
from connectors.jira import JiraConnector, JiraSourceConfig
from core.errors import AuthError, Forbidden, RemoteRejected
from core.model import ApplyStatus, GoalRef, WriteBack, WriteBackKind

pytestmark = pytest.mark.anyio

SITE = "https://acme.atlassian.net"
TOKEN = "tok-abc-123456"


async def no_sleep(seconds: float) -> None:
    return None


def issue(key: str, updated: str) -> dict[str, Any]:
    return {
        "id": key.split("-")[1],
        "key": key,
        "fields": {
            "summary": f"Epic {key}",
            "status": {"statusCategory": {"key": "new"}},
            "labels": [],
            "issuetype": {"name": "Epic"},
            "project": {"key": key.split("-")[0]},
            "updated": updated,
        },
    }


def connector(**kw: Any) -> JiraConnector:
    options: dict[str, Any] = {"name": "jira", "base_url": SITE, "token": TOKEN,
                               "email": "me@acme.test", "page_size": 2, "max_retries": 1}
    options.update(kw)
    return JiraConnector(JiraSourceConfig(**options), sleep=no_sleep)


def goal(kr: str, url: str = "") -> GoalRef:
    return GoalRef(kr_id=kr, kr_title="Conversion 40→60", objective_id="O1",
                   objective_title="Grow revenue", owner="Dana", target="40 → 60 %", url=url)


def test_registered_and_created_through_the_registry() -> None:
    cfg = JiraSourceConfig(name="jira", base_url=SITE, token=TOKEN)
    conn = create(cfg)
    assert isinstance(conn, JiraConnector)
    assert conn.name == "jira"


@respx.mock
async def test_cloud_pull_pages_with_next_page_token_and_basic_auth() -> None:
    route = respx.get(f"{SITE}/rest/api/3/search/jql").mock(side_effect=[
        httpx.Response(200, json={"issues": [issue("WEB-1", "2026-01-01T00:00:00.000+0000"),
                                             issue("WEB-2", "2026-01-02T00:00:00.000+0000")],
                                  "nextPageToken": "p2"}),
        httpx.Response(200, json={"issues": [issue("WEB-3", "2026-01-03T00:00:00.000+0000")],
                                  "isLast": True}),
    ])
    conn = connector(jql="project = WEB")
    pages = [p async for p in conn.pull(None, PullOptions())]
    await conn.aclose()
    assert [t.key for p in pages for t in p.tickets] == ["WEB-1", "WEB-2", "WEB-3"]
    first, second = route.calls[0].request, route.calls[1].request
    expected = base64.b64encode(f"me@acme.test:{TOKEN}".encode()).decode()
    assert first.headers["Authorization"] == f"Basic {expected}"
    assert first.url.params["jql"] == (
        "(project = WEB) AND (issuetype = Epic) ORDER BY updated ASC, key ASC"
    )
    assert "summary" in first.url.params["fields"].split(",")
    assert "nextPageToken" not in first.url.params
    assert second.url.params["nextPageToken"] == "p2"
    cursor = json.loads(pages[-1].cursor or "")
    assert cursor["since_ms"] == 1767398400000
    assert json.loads(pages[0].cursor or "")["since_ms"] == 1767312000000


@respx.mock
async def test_incremental_pull_uses_epoch_ms_and_drops_boundary_duplicates() -> None:
    route = respx.get(f"{SITE}/rest/api/3/search/jql").mock(return_value=httpx.Response(
        200, json={"issues": [issue("WEB-1", "2026-01-01T00:00:00.000+0000"),
                              issue("WEB-2", "2026-01-01T00:00:30.000+0000")]}))
    conn = connector()
    cursor = json.dumps({"since_ms": 1767225600000, "boundary": {"WEB-1": 1767225600000}})
    pages = [p async for p in conn.pull(cursor, PullOptions())]
    await conn.aclose()
    assert [t.key for p in pages for t in p.tickets] == ["WEB-2"]
    assert "updated >= 1767225480000" in route.calls[0].request.url.params["jql"]
    final = json.loads(pages[-1].cursor or "")
    assert final == {"since_ms": 1767225630000,
                     "boundary": {"WEB-1": 1767225600000, "WEB-2": 1767225630000},
                     "scope": {"jql": "", "epic_jql": "issuetype = Epic", "flavour": "cloud"}}


@respx.mock
async def test_full_pull_ignores_cursor() -> None:
    route = respx.get(f"{SITE}/rest/api/3/search/jql").mock(
        return_value=httpx.Response(200, json={"issues": []}))
    conn = connector()
    pages = [p async for p in conn.pull('{"since_ms": 5, "boundary": {}}',
                                        PullOptions(full=True))]
    await conn.aclose()
    assert len(pages) == 1 and pages[0].tickets == ()
    assert "updated >=" not in route.calls[0].request.url.params["jql"]


@respx.mock
async def test_datacenter_pull_pages_with_start_at_and_bearer() -> None:
    route = respx.get("https://jira.corp/rest/api/2/search").mock(side_effect=[
        httpx.Response(200, json={"startAt": 0, "total": 3, "issues": [
            issue("APP-1", "2026-01-01T00:00:00.000+0000"),
            issue("APP-2", "2026-01-01T00:00:00.000+0000")]}),
        httpx.Response(200, json={"startAt": 2, "total": 3, "issues": [
            {"key": "APP-9", "fields": {}},
            issue("APP-3", "2026-01-01T00:00:00.000+0000")]}),
    ])
    conn = connector(base_url="https://jira.corp", flavour="datacenter", email="")
    pages = [p async for p in conn.pull(None, PullOptions())]
    await conn.aclose()
    assert [t.key for p in pages for t in p.tickets] == ["APP-1", "APP-2", "APP-3"]
    assert [s.key for p in pages for s in p.skipped] == ["APP-9"]
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert [c.request.url.params["startAt"] for c in route.calls] == ["0", "2"]


@respx.mock
async def test_scoped_token_goes_through_the_gateway() -> None:
    route = respx.get("https://gw.test/ex/jira/cid-1/rest/api/3/search/jql").mock(
        return_value=httpx.Response(200, json={"issues": [
            issue("WEB-1", "2026-01-01T00:00:00.000+0000")]}))
    conn = connector(cloud_id="cid-1", gateway_url="https://gw.test")
    pages = [p async for p in conn.pull(None, PullOptions())]
    await conn.aclose()
    assert route.called
    assert pages[0].tickets[0].url == f"{SITE}/browse/WEB-1"


@respx.mock
async def test_401_surfaces_as_auth_error_without_the_token() -> None:
    respx.get(f"{SITE}/rest/api/3/search/jql").mock(return_value=httpx.Response(401))
    conn = connector()
    with pytest.raises(AuthError) as info:
        async for _ in conn.pull(None, PullOptions()):
            pass
    await conn.aclose()
    assert TOKEN not in str(info.value) and "jira" in str(info.value)


@respx.mock
async def test_add_label_uses_update_op_quietly_and_is_idempotent() -> None:
    labels: list[str] = ["team"]
    respx.get(f"{SITE}/rest/api/3/issue/WEB-1").mock(
        side_effect=lambda r: httpx.Response(200, json={"fields": {"labels": list(labels)}}))

    def edit(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        for op in body["update"]["labels"]:
            labels.append(op["add"])
        return httpx.Response(204)

    put = respx.put(f"{SITE}/rest/api/3/issue/WEB-1").mock(side_effect=edit)
    conn = connector()
    wb = WriteBack(source="jira", ticket_key="WEB-1", kind=WriteBackKind.ADD_LABEL,
                   label="goal:KR-1")
    first = await conn.apply(wb)
    second = await conn.apply(wb)
    await conn.aclose()
    assert (first.status, second.status) == (ApplyStatus.APPLIED, ApplyStatus.UNCHANGED)
    assert labels == ["team", "goal:KR-1"]
    assert put.call_count == 1
    request = put.calls[0].request
    assert request.url.params["notifyUsers"] == "false"
    assert json.loads(request.content) == {"update": {"labels": [{"add": "goal:KR-1"}]}}


@respx.mock
async def test_notify_users_refused_falls_back_and_remembers() -> None:
    respx.get(f"{SITE}/rest/api/3/issue/WEB-1").mock(
        return_value=httpx.Response(200, json={"fields": {"labels": ["goal:KR-1"]}}))

    def edit(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("notifyUsers") == "false":
            return httpx.Response(403, json={"errorMessages": [
                "To discard the user notification either admin or project admin "
                "permissions are required."]})
        return httpx.Response(204)

    put = respx.put(f"{SITE}/rest/api/3/issue/WEB-1").mock(side_effect=edit)
    conn = connector()
    wb = WriteBack(source="jira", ticket_key="WEB-1", kind=WriteBackKind.REMOVE_LABEL,
                   label="goal:KR-1")
    assert (await conn.apply(wb)).status is ApplyStatus.APPLIED
    assert (await conn.apply(wb)).status is ApplyStatus.APPLIED
    await conn.aclose()
    sent = [c.request.url.params.get("notifyUsers") for c in put.calls]
    assert sent == ["false", None, None]
    assert json.loads(put.calls[1].request.content) == {
        "update": {"labels": [{"remove": "goal:KR-1"}]}}


@respx.mock
async def test_other_403_on_edit_fails_only_that_ticket() -> None:
    respx.get(f"{SITE}/rest/api/3/issue/WEB-1").mock(
        return_value=httpx.Response(200, json={"fields": {"labels": []}}))
    respx.put(f"{SITE}/rest/api/3/issue/WEB-1").mock(
        return_value=httpx.Response(403, json={"errorMessages": ["no edit permission"]}))
    conn = connector()
    with pytest.raises(Forbidden, match="forbidden") as info:
        await conn.apply(WriteBack(source="jira", ticket_key="WEB-1",
                                   kind=WriteBackKind.ADD_LABEL, label="goal:KR-1"))
    assert not isinstance(info.value, AuthError)
    await conn.aclose()


@respx.mock
async def test_goal_links_upsert_whole_object_and_delete_ended() -> None:
    links: dict[str, dict[str, Any]] = {
        "okrsync:jira:WEB-1:KR-OLD": {"globalId": "okrsync:jira:WEB-1:KR-OLD",
                                       "application": {"type": "okrsync", "name": "okrsync"},
                                       "object": {"url": "x", "title": "old"}},
        "someone-else": {"globalId": "someone-else", "object": {"url": "y", "title": "keep"}},
    }
    base = f"{SITE}/rest/api/3/issue/WEB-1/remotelink"
    respx.get(base).mock(side_effect=lambda r: httpx.Response(200, json=list(links.values())))

    def post(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        links[body["globalId"]] = body
        return httpx.Response(201, json={"id": 1})

    def delete(request: httpx.Request) -> httpx.Response:
        links.pop(request.url.params["globalId"], None)
        return httpx.Response(204)

    posts = respx.post(base).mock(side_effect=post)
    deletes = respx.delete(base).mock(side_effect=delete)
    conn = connector()
    wb = WriteBack(source="jira", ticket_key="WEB-1", kind=WriteBackKind.SET_GOAL_LINKS,
                   goals=(goal("KR-1", "https://okr.test/KR-1"), goal("KR-2")),
                   previous=("KR-OLD",))
    first = await conn.apply(wb)
    second = await conn.apply(wb)
    assert (first.status, second.status) == (ApplyStatus.APPLIED, ApplyStatus.UNCHANGED)
    assert posts.call_count == 2 and deletes.call_count == 1
    new1, new2 = (f"okrsync:acme.atlassian.net:WEB-1:{kr}" for kr in ("KR-1", "KR-2"))
    assert set(links) == {"someone-else", new1, new2}  # the site, not the source's name
    kr1 = links[new1]
    assert kr1["application"] == {"type": "okrsync", "name": "okrsync"}
    assert kr1["relationship"] == "serves goal"
    assert kr1["object"]["url"] == "https://okr.test/KR-1"
    for part in ("O1", "Grow revenue", "KR-1", "Conversion", "Dana", "40 → 60 %"):
        assert part in kr1["object"]["title"]
    assert links[new2]["object"]["url"].startswith(f"{SITE}/issues/?jql=")

    removed = await conn.apply(WriteBack(source="jira", ticket_key="WEB-1",
                                         kind=WriteBackKind.REMOVE_GOAL_LINKS,
                                         previous=("KR-1", "KR-2")))
    await conn.aclose()
    assert removed.status is ApplyStatus.APPLIED
    assert set(links) == {"someone-else"}


@respx.mock
async def test_doctor_reports_each_check() -> None:
    api = f"{SITE}/rest/api/3"
    respx.get(f"{api}/serverInfo").mock(return_value=httpx.Response(
        200, json={"deploymentType": "Cloud", "version": "1001.0.0"}))
    respx.get(f"{api}/myself").mock(return_value=httpx.Response(
        200, json={"displayName": "Sync Bot", "emailAddress": "bot@acme.test"}))
    respx.get(f"{api}/search/jql").mock(return_value=httpx.Response(
        200, json={"issues": [{"id": "1", "key": "WEB-1"}]}))
    respx.get(f"{api}/mypermissions").mock(return_value=httpx.Response(200, json={
        "permissions": {"BROWSE_PROJECTS": {"havePermission": True},
                        "EDIT_ISSUES": {"havePermission": False},
                        "LINK_ISSUES": {"havePermission": True}}}))
    conn = connector()
    checks = await conn.doctor()
    await conn.aclose()
    by_name = {c.name: c for c in checks}
    assert by_name["server"].ok and "Cloud 1001.0.0" in by_name["server"].detail
    assert by_name["authenticated"].ok and "Sync Bot" in by_name["authenticated"].detail
    assert by_name["browse scope"].ok
    assert not by_name["permissions"].ok and "EDIT_ISSUES" in by_name["permissions"].detail
    assert all(c.request.method == "GET" for c in respx.calls)


@respx.mock
async def test_doctor_catches_auth_failures() -> None:
    respx.get(url__startswith=SITE).mock(return_value=httpx.Response(401))
    conn = connector()
    checks = await conn.doctor()
    await conn.aclose()
    assert checks and not any(c.ok for c in checks)
    assert all(TOKEN not in c.detail for c in checks)


@respx.mock
async def test_concurrent_label_writes_on_one_issue_become_one_edit() -> None:
    get = respx.get(f"{SITE}/rest/api/3/issue/WEB-1").mock(
        return_value=httpx.Response(200, json={"fields": {"labels": ["goal:KR-OLD", "x"]}}))
    put = respx.put(f"{SITE}/rest/api/3/issue/WEB-1").mock(return_value=httpx.Response(204))
    async def slow_links(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # a real round trip: the label writes queue meanwhile
        return httpx.Response(200, json=[])

    links = respx.get(f"{SITE}/rest/api/3/issue/WEB-1/remotelink").mock(side_effect=slow_links)
    respx.post(f"{SITE}/rest/api/3/issue/WEB-1/remotelink").mock(
        return_value=httpx.Response(201, json={"id": 1}))
    conn = connector()

    def wb(kind: WriteBackKind, label: str) -> WriteBack:
        return WriteBack(source="jira", ticket_key="WEB-1", kind=kind, label=label)

    # the goal-link write holds the issue's lock while the label changes queue up
    results = await asyncio.gather(
        conn.apply(WriteBack(source="jira", ticket_key="WEB-1",
                             kind=WriteBackKind.SET_GOAL_LINKS, goals=(goal("KR-1"),))),
        conn.apply(wb(WriteBackKind.ADD_LABEL, "goal:KR-1")),
        conn.apply(wb(WriteBackKind.ADD_LABEL, "goal:KR-2")),
        conn.apply(wb(WriteBackKind.ADD_LABEL, "x")),
        conn.apply(wb(WriteBackKind.REMOVE_LABEL, "goal:KR-OLD")),
    )
    await conn.aclose()
    assert [r.status for r in results] == [ApplyStatus.APPLIED, ApplyStatus.APPLIED,
                                           ApplyStatus.APPLIED, ApplyStatus.UNCHANGED,
                                           ApplyStatus.APPLIED]
    assert links.call_count == 1 and get.call_count == 1 and put.call_count == 1
    assert json.loads(put.calls[0].request.content) == {"update": {"labels": [
        {"add": "goal:KR-1"}, {"add": "goal:KR-2"}, {"remove": "goal:KR-OLD"}]}}


@respx.mock
async def test_failed_batched_edit_fails_every_queued_write() -> None:
    respx.get(f"{SITE}/rest/api/3/issue/WEB-1").mock(
        return_value=httpx.Response(200, json={"fields": {"labels": []}}))
    respx.put(f"{SITE}/rest/api/3/issue/WEB-1").mock(
        return_value=httpx.Response(400, json={"errors": {"labels": "bad label"}}))
    conn = connector()
    results = await asyncio.gather(
        *(conn.apply(WriteBack(source="jira", ticket_key="WEB-1",
                               kind=WriteBackKind.ADD_LABEL, label=f"goal:KR-{i}"))
          for i in range(3)),
        return_exceptions=True,
    )
    await conn.aclose()
    assert all(isinstance(r, RemoteRejected) and "bad label" in str(r) for r in results)


@respx.mock
async def test_fresh_label_writes_trust_the_pull_and_others_read_first() -> None:
    get = respx.get(f"{SITE}/rest/api/3/issue/WEB-1").mock(
        return_value=httpx.Response(200, json={"fields": {"labels": ["goal:KR-1"]}}))
    put = respx.put(f"{SITE}/rest/api/3/issue/WEB-1").mock(return_value=httpx.Response(204))
    conn = connector()
    add = WriteBack(source="jira", ticket_key="WEB-1", kind=WriteBackKind.ADD_LABEL,
                    label="goal:KR-2")
    fresh = await conn.apply(add, fresh=True)
    assert fresh.status is ApplyStatus.APPLIED
    assert get.call_count == 0 and put.call_count == 1
    assert json.loads(put.calls[0].request.content) == {
        "update": {"labels": [{"add": "goal:KR-2"}]}}
    # a retried write-back reads first and leaves a label already as wanted alone
    retried = await conn.apply(WriteBack(source="jira", ticket_key="WEB-1",
                                         kind=WriteBackKind.ADD_LABEL, label="goal:KR-1"))
    await conn.aclose()
    assert retried.status is ApplyStatus.UNCHANGED
    assert get.call_count == 1 and put.call_count == 1


@respx.mock
async def test_issue_locks_do_not_outlive_the_writes() -> None:
    respx.put(url__regex=rf"{SITE}/rest/api/3/issue/WEB-\d+").mock(
        return_value=httpx.Response(204))
    conn = connector()
    await asyncio.gather(*(
        conn.apply(WriteBack(source="jira", ticket_key=f"WEB-{n}",
                             kind=WriteBackKind.ADD_LABEL, label=label), fresh=True)
        for n in range(50) for label in ("goal:KR-1", "goal:KR-2")))
    await conn.aclose()
    assert conn._issue_locks == {}


@respx.mock
async def test_a_hidden_labels_field_refuses_the_label_write_instead_of_adding_blindly() -> None:
    respx.get(f"{SITE}/rest/api/3/issue/WEB-1").mock(
        return_value=httpx.Response(200, json={"fields": {"summary": "no labels here"}}))
    put = respx.put(f"{SITE}/rest/api/3/issue/WEB-1").mock(return_value=httpx.Response(204))
    conn = connector()
    with pytest.raises(RemoteRejected, match="unknown field `labels`"):
        await conn.apply(WriteBack(source="jira", ticket_key="WEB-1",
                                   kind=WriteBackKind.REMOVE_LABEL, label="goal:KR-1"))
    await conn.aclose()
    assert put.call_count == 0
