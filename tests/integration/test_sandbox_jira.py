"""The sandbox Jira driven over real HTTP by the official `jira` client and by httpx, in both
flavours: what a client writes, it reads back."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import jira
import pytest

from sandbox.accounting import Accounting
from sandbox.data import generate
from sandbox.faults import FaultInjector
from sandbox.jira import GONE_MESSAGE, NOTIFY_MESSAGE, JiraState, build_app
from sandbox.server import serve

TOKEN = "tok-123"
USER = "sandbox@example.com"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
EPIC_JQL = "project in (WEB, APP, DATA, OPS) AND issuetype = Epic ORDER BY updated ASC, key ASC"


class Running:
    def __init__(self, url: str, state: JiraState, accounting: Accounting,
                 injector: FaultInjector) -> None:
        self.url = url
        self.state = state
        self.accounting = accounting
        self.injector = injector

    def http(self, api: str = "3") -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/rest/api/{api}", auth=(USER, TOKEN),
                            timeout=10)

    def client(self) -> jira.JIRA:
        return jira.JIRA(self.url, basic_auth=(USER, TOKEN), max_retries=0)


@pytest.fixture(params=["cloud", "datacenter"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def running(flavour: str) -> Iterator[Running]:
    state = JiraState.from_scenario(generate(400, 7, now=NOW)["jira"])
    accounting = Accounting()
    injector = FaultInjector(None, 7)
    app = build_app(state, token=TOKEN, flavour=flavour,  # type: ignore[arg-type]
                    accounting=accounting, injector=injector)
    with serve(app) as server:
        yield Running(server.url, state, accounting, injector)


def _epic_keys(state: JiraState) -> set[str]:
    keys = state.keys()
    return {k for k in keys if state.issue(k)["fields"]["issuetype"]["name"] == "Epic"}


def test_official_client_searches_epics_across_pages(running: Running, flavour: str) -> None:
    client = running.client()
    assert client.server_info()["deploymentType"] == ("Cloud" if flavour == "cloud" else "Server")
    found = client.search_issues(EPIC_JQL, maxResults=False, fields=["summary", "labels",
                                                                     "updated"])
    keys = [issue.key for issue in found]
    assert set(keys) == _epic_keys(running.state)
    assert len(keys) == len(set(keys)) == 240
    updated = [issue.fields.updated for issue in found]
    assert updated == sorted(updated)
    search = ("GET /rest/api/{api}/search/jql" if flavour == "cloud"
              else "GET /rest/api/{api}/search")
    assert running.accounting.snapshot()["by_endpoint"][search] >= 3


def test_official_client_label_remote_link_comment_roundtrip(running: Running) -> None:
    client = running.client()
    key = sorted(_epic_keys(running.state))[0]
    before = running.state.issue(key)["fields"]["updated"]
    issue = client.issue(key)
    issue.update(update={"labels": [{"add": "goal:KR-CHK-1"}]})
    assert "goal:KR-CHK-1" in client.issue(key).fields.labels
    assert running.state.issue(key)["fields"]["updated"] > before
    issue.update(update={"labels": [{"remove": "goal:KR-CHK-1"}]})
    assert "goal:KR-CHK-1" not in client.issue(key).fields.labels

    obj = {"url": "https://okr.example.com/kr/KR-CHK-1", "title": "KR-CHK-1 conversion"}
    client.add_remote_link(key, obj, globalId="okrsync:KR-CHK-1")
    client.add_remote_link(key, {**obj, "title": "KR-CHK-1 conversion 62 → 70 %"},
                           globalId="okrsync:KR-CHK-1")
    links = client.remote_links(key)
    assert len(links) == 1
    assert links[0].object.title == "KR-CHK-1 conversion 62 → 70 %"
    assert running.state.remote_links(key)[0]["globalId"] == "okrsync:KR-CHK-1"

    client.add_comment(key, "Goal: KR-CHK-1 <b>not html</b>")
    bodies = [c.body for c in client.comments(key)]
    assert bodies[-1] == "Goal: KR-CHK-1 <b>not html</b>"
    assert running.state.comments(key)[-1]["text"] == "Goal: KR-CHK-1 <b>not html</b>"


def test_person_edits_show_up_in_incremental_search(running: Running, flavour: str) -> None:
    key = sorted(_epic_keys(running.state))[3]
    since = int(time.time() * 1000) - 1
    running.state.edit_issue(key, labels=["hand-edited"], status="done")
    jql = f"project in (WEB, APP, DATA, OPS) AND issuetype = Epic AND updated >= {since}"
    path = "/search/jql" if flavour == "cloud" else "/search"
    with running.http("3" if flavour == "cloud" else "2") as http:
        body = http.get(path, params={"jql": jql, "fields": "labels,status,resolution"}).json()
    assert [i["key"] for i in body["issues"]] == [key]
    fields = body["issues"][0]["fields"]
    assert fields["labels"] == ["hand-edited"]
    assert fields["status"]["statusCategory"]["key"] == "done"
    assert fields["resolution"]["name"] == "Done"


def test_remote_link_upsert_status_codes_and_delete(running: Running) -> None:
    key = sorted(_epic_keys(running.state))[1]
    link = {"globalId": "okrsync:KR-1", "object": {"url": "https://x", "title": "t"}}
    with running.http("2") as http:
        assert http.post(f"/issue/{key}/remotelink", json=link).status_code == 201
        again = http.post(f"/issue/{key}/remotelink", json=link)
        assert again.status_code == 200
        link_id = again.json()["id"]
        assert http.get(f"/issue/{key}/remotelink",
                        params={"globalId": "okrsync:KR-1"}).json()["id"] == link_id
        bad = http.post(f"/issue/{key}/remotelink", json={"object": {"url": "https://x"}})
        assert bad.status_code == 400 and "title" in bad.json()["errors"]
        assert http.delete(f"/issue/{key}/remotelink",
                           params={"globalId": "okrsync:KR-1"}).status_code == 204
        assert http.get(f"/issue/{key}/remotelink").json() == []
        created = http.post(f"/issue/{key}/remotelink", json=link).json()
        by_id = f"/issue/{key}/remotelink/{created['id']}"
        bad_put = http.put(by_id, json={"object": {"title": "t"}})
        assert bad_put.status_code == 400 and "url" in bad_put.json()["errors"]
        garbled = http.put(by_id, content=b"{not json",
                           headers={"Content-Type": "application/json"})
        assert garbled.status_code == 400
        assert http.delete(f"/issue/{key}/remotelink/{created['id']}").status_code == 204
        assert http.delete(f"/issue/{key}/remotelink/{created['id']}").status_code == 404


def test_notify_users_false_needs_admin(running: Running) -> None:
    key = sorted(_epic_keys(running.state))[2]
    edit = {"update": {"labels": [{"add": "goal:x"}]}}
    with running.http("2") as http:
        denied = http.put(f"/issue/{key}", params={"notifyUsers": "false"}, json=edit)
        assert denied.status_code == 403
        assert denied.json()["errorMessages"] == [NOTIFY_MESSAGE]
        assert "goal:x" not in running.state.labels(key)
        running.state.admin = True
        assert http.put(f"/issue/{key}", params={"notifyUsers": "false"},
                        json=edit).status_code == 204
        assert "goal:x" in running.state.labels(key)
        spaced = http.put(f"/issue/{key}", json={"update": {"labels": [{"add": "a b"}]}})
        assert spaced.status_code == 400 and "labels" in spaced.json()["errors"]
        both = http.put(f"/issue/{key}", json={"update": {"labels": [{"add": "y"}]},
                                               "fields": {"labels": ["z"]}})
        assert both.status_code == 400


def test_auth_rejects_wrong_token_accepts_bearer(running: Running) -> None:
    url = f"{running.url}/rest/api/2/myself"
    wrong = httpx.get(url, auth=(USER, "nope"))
    assert wrong.status_code == 401
    assert wrong.json()["errorMessages"]
    assert httpx.get(url, auth=("someone@else", TOKEN)).status_code == 401
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    basic = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    assert httpx.get(url, headers={"Authorization": f"Basic {basic}"}).status_code == 200


def test_cloud_paging_tokens_and_retired_search(running: Running, flavour: str) -> None:
    if flavour != "cloud":
        with running.http("2") as http:
            page = http.get("/search", params={"jql": EPIC_JQL, "startAt": 230,
                                               "maxResults": 50, "fields": "summary"}).json()
            assert page["total"] == 240 and len(page["issues"]) == 10
            assert page["startAt"] == 230
            assert http.get("/search/jql", params={"jql": EPIC_JQL}).status_code == 404
        return
    with running.http("3") as http:
        for api in ("2", "3"):
            gone = httpx.get(f"{running.url}/rest/api/{api}/search", params={"jql": EPIC_JQL},
                             auth=(USER, TOKEN))
            assert gone.status_code == 410
            assert gone.json()["errorMessages"] == [GONE_MESSAGE]
        ids = http.get("/search/jql", params={"jql": EPIC_JQL, "maxResults": 1000}).json()
        assert set(ids["issues"][0]) == {"id"} and len(ids["issues"]) == 240
        assert "nextPageToken" not in ids and ids["isLast"] is True
        capped = http.post("/search/jql", json={"jql": EPIC_JQL, "maxResults": 500,
                                                "fields": ["summary"]}).json()
        assert len(capped["issues"]) == 100 and capped["nextPageToken"]
        seen = [i["key"] for i in capped["issues"]]
        token = capped["nextPageToken"]
        while token:
            page = http.post("/search/jql", json={"jql": EPIC_JQL, "maxResults": 100,
                                                  "fields": ["summary"],
                                                  "nextPageToken": token}).json()
            seen += [i["key"] for i in page["issues"]]
            token = page.get("nextPageToken")
        assert len(seen) == len(set(seen)) == 240
        bad = http.get("/search/jql", params={"jql": "order by key"})
        assert bad.status_code == 400


@pytest.mark.parametrize("jql", [
    "project = WEB OR project = APP",
    "summary ~ checkout",
    "project in (WEB",
    "updated >= 'yesterday'",
    "ORDER BY rank",
])
def test_unsupported_jql_is_a_jira_like_400(running: Running, flavour: str, jql: str) -> None:
    api, path = ("3", "/search/jql") if flavour == "cloud" else ("2", "/search")
    with running.http(api) as http:
        res = http.get(path, params={"jql": jql, "fields": "summary"})
    assert res.status_code == 400
    messages = res.json()["errorMessages"]
    assert messages and isinstance(messages[0], str)


def test_descriptions_are_adf_on_v3_and_text_on_v2(running: Running, flavour: str) -> None:
    key = sorted(_epic_keys(running.state))[0]
    with running.http("2") as http:
        v2 = http.get(f"/issue/{key}", params={"fields": "description"}).json()
        assert isinstance(v2["fields"]["description"], str)
        assert v2["fields"]["description"].startswith("Context:")
        assert set(v2["fields"]) == {"description"}
    if flavour == "cloud":
        with running.http("3") as http:
            v3 = http.get(f"/issue/{key}", params={"fields": "description"}).json()
            assert v3["fields"]["description"]["type"] == "doc"
            bad = http.post(f"/issue/{key}/comment", json={"body": "plain"})
            assert bad.status_code == 400
    else:
        with running.http("3") as http:
            assert http.get(f"/issue/{key}").status_code == 404


def test_metadata_endpoints(running: Running) -> None:
    with running.http("2") as http:
        names = {f["id"] for f in http.get("/field").json()}
        assert {"summary", "labels", "customfield_10016"} <= names
        types = {t["name"]: t["hierarchyLevel"] for t in http.get("/issuetype").json()}
        assert types["Epic"] == 1
        assert {p["key"] for p in http.get("/project").json()} == {"WEB", "APP", "DATA", "OPS"}
        perms = http.get("/mypermissions", params={
            "permissions": "BROWSE_PROJECTS,EDIT_ISSUES,ADMINISTER"}).json()["permissions"]
        assert perms["BROWSE_PROJECTS"]["havePermission"] is True
        assert perms["ADMINISTER"]["havePermission"] is False
        running.state.denied_permissions.add("EDIT_ISSUES")
        perms = http.get("/mypermissions", params={"permissions": "EDIT_ISSUES"}).json()
        assert perms["permissions"]["EDIT_ISSUES"]["havePermission"] is False
        assert http.get("/myself").json()["emailAddress"] == USER
    admin = httpx.get(f"{running.url}/_sandbox/accounting").json()
    assert admin["requests"] >= 6
    assert "/_sandbox" not in json.dumps(admin["by_endpoint"])


def test_faults_reach_the_official_client(running: Running) -> None:
    running.injector.set_spec("503@1")
    with running.http("2") as http:
        assert http.get("/myself").status_code == 503
        assert http.get("/myself").status_code == 200
    running.injector.set_spec("429:1.0")
    with running.http("2") as http:
        res = http.get("/myself")
    assert res.status_code == 429 and res.headers["Retry-After"]
    assert running.accounting.snapshot()["by_status"].get("429") == 1


def test_concurrent_requests_are_served_concurrently(running: Running) -> None:
    running.injector.set_spec("slow:1.0:0.5")
    results: list[int] = []

    def call() -> None:
        with running.http("2") as http:
            results.append(http.get("/myself").status_code)

    start = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 6
    assert time.monotonic() - start < 2.0  # six 0.5 s answers in parallel, not 3 s in a row
