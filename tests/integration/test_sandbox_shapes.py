"""The sandbox Jira's payloads against Atlassian's published examples
(`tests/fixtures/jira/*.json`): every key a real payload has at the levels okrsync reads
exists in the sandbox's payload with the same JSON type.

Known quirks of Atlassian's examples, checked against the real API's documented types instead:
`fields.updated` is the integer 1 in the example (real Jira: a timestamp string); the search
example shows v2-style string bodies and `comment` as a bare list; `visibility` appears only on
restricted comments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.data import generate
from sandbox.jira import JiraState, build_app
from sandbox.server import serve
from tests.helpers.fixtures import JIRA

FIXTURES = JIRA
TOKEN = "t"
USER = "sandbox@example.com"
JIRA_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$"

# Fields okrsync reads, with the JSON type real Jira gives them (None: null allowed).
READ_FIELDS: dict[str, tuple[type | None, ...]] = {
    "summary": (str,), "labels": (list,), "status": (dict,), "issuetype": (dict,),
    "updated": (str,), "created": (str,), "resolution": (dict, None), "components": (list,),
    "assignee": (dict, None), "project": (dict,), "description": (dict, str, None),
    "customfield_10016": (int, float, None), "subtasks": (list,),
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_same_shape(real: Any, ours: Any, path: str = "$", skip: frozenset[str] = frozenset(),
                      ) -> None:
    """Every key of `real` exists in `ours` with the same JSON type, recursively."""
    if path in skip or real is None:
        return
    assert _kind(ours) == _kind(real), f"{path}: {_kind(ours)} != {_kind(real)}"
    if isinstance(real, dict):
        for key, value in real.items():
            sub = f"{path}.{key}"
            if sub in skip:
                continue
            assert key in ours, f"{sub} missing from the sandbox payload"
            assert_same_shape(value, ours[key], sub, skip)
    elif isinstance(real, list) and real and ours:
        assert_same_shape(real[0], ours[0], f"{path}[]", skip)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def jira() -> Iterator[tuple[httpx.Client, str]]:
    state = JiraState.from_scenario(generate(60, 2)["jira"])
    key = next(k for k in state if state.issue(k)["fields"]["assignee"])
    with serve(build_app(state, token=TOKEN, flavour="cloud")) as server, httpx.Client(
        base_url=f"{server.url}/rest/api/3", auth=(USER, TOKEN), timeout=10
    ) as http:
        link = fixture("remotelinks.json")[0]
        assert http.post(f"/issue/{key}/remotelink", json={
            k: link[k] for k in ("globalId", "application", "relationship", "object")
        }).status_code == 201
        assert http.post(f"/issue/{key}/comment", json={
            "body": fixture("comment-created.json")["body"]}).status_code == 201
        yield http, key


COMMENT_SKIP = frozenset({"$.visibility", "$.comments[].visibility"})
ISSUE_LEVEL = ("id", "key", "self")
PROJECT_READ = ("id", "key", "name", "self", "avatarUrls", "simplified", "style")


def test_server_info_and_myself(jira: tuple[httpx.Client, str]) -> None:
    http, _ = jira
    assert_same_shape(fixture("serverinfo.json"), http.get("/serverInfo").json())
    assert http.get("/serverInfo").json()["deploymentType"] == "Cloud"
    assert_same_shape(fixture("myself.json"), http.get("/myself").json())


def _check_issue(real: dict[str, Any], ours: dict[str, Any], *, cloud: bool = True) -> None:
    for key in ISSUE_LEVEL:
        assert _kind(ours[key]) == _kind(real[key]) == "str", key
    fields = ours["fields"]
    for name, kinds in READ_FIELDS.items():
        assert name in fields, f"fields.{name} missing"
        allowed = {"NoneType" if k is None else _kind(k()) for k in kinds}
        assert _kind(fields[name]) in allowed, f"fields.{name}: {_kind(fields[name])}"
    assert fields["status"]["statusCategory"]["key"] in ("new", "indeterminate", "done")
    assert isinstance(fields["issuetype"]["name"], str)
    assert isinstance(fields["project"]["key"], str)


    assert re.match(JIRA_TIME, fields["updated"]) and re.match(JIRA_TIME, fields["created"])
    real_project = {k: real["fields"]["project"][k] for k in PROJECT_READ}
    assert_same_shape(real_project, fields["project"], "$.fields.project")
    if fields["assignee"] is not None and cloud:
        assert_same_shape(fixture("comment-created.json")["author"], fields["assignee"])
    elif fields["assignee"] is not None:  # Data Center users: name/key, no accountId
        assert {"name", "key", "displayName", "active", "self"} <= set(fields["assignee"])


def test_issue(jira: tuple[httpx.Client, str]) -> None:
    http, key = jira
    ours = http.get(f"/issue/{key}").json()
    real = fixture("issue.json")
    _check_issue(real, ours)
    assert_same_shape(real["fields"]["description"], ours["fields"]["description"])


def test_search_jql(jira: tuple[httpx.Client, str]) -> None:
    http, _ = jira
    fields = ",".join(READ_FIELDS)
    ours = http.get("/search/jql", params={"jql": "project in (WEB, APP, DATA, OPS)",
                                           "fields": fields, "maxResults": 100}).json()
    real = fixture("search-jql.json")
    assert_same_shape({"isLast": real["isLast"]}, ours)
    assert _kind(ours["issues"]) == "list" and ours["issues"]
    for issue in ours["issues"]:
        _check_issue(real["issues"][0], issue)
        assert set(issue) >= set(real["issues"][0]) - {"expand"} | {"fields"}
    assert ours["issues"][0]["fields"]["description"]["type"] == "doc"


def test_remote_links(jira: tuple[httpx.Client, str]) -> None:
    http, key = jira
    ours = http.get(f"/issue/{key}/remotelink").json()
    assert_same_shape(fixture("remotelinks.json"), ours)
    created = http.post(f"/issue/{key}/remotelink", json={
        "globalId": "okrsync:shape", "object": {"url": "https://x", "title": "x"}})
    assert_same_shape(fixture("remotelink-created.json"), created.json())


def test_comments(jira: tuple[httpx.Client, str]) -> None:
    http, key = jira
    assert_same_shape(fixture("comments.json"), http.get(f"/issue/{key}/comment").json(),
                      skip=COMMENT_SKIP)
    created = http.post(f"/issue/{key}/comment", json={"body": {
        "type": "doc", "version": 1, "content": []}})
    assert created.status_code == 201
    assert_same_shape(fixture("comment-created.json"), created.json(), skip=COMMENT_SKIP)


def test_datacenter_v2_issue_has_the_read_fields() -> None:
    state = JiraState.from_scenario(generate(20, 3)["jira"])
    key = state.keys()[0]
    with serve(build_app(state, token=TOKEN, flavour="datacenter")) as server:
        res = httpx.get(f"{server.url}/rest/api/2/search", auth=(USER, TOKEN),
                        params={"jql": f"key = {key}"}).json()
    issue = res["issues"][0]
    _check_issue(fixture("issue.json"), issue, cloud=False)
    assert isinstance(issue["fields"]["description"], str)
    assert set(res) >= {"startAt", "maxResults", "total", "issues"}
    assert "accountId" not in issue["fields"]["reporter"]
