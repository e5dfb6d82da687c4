"""The sandboxes play partial permissions, deleted tickets, hidden fields, renamed repos and
lost answers over real HTTP, with the bodies the real trackers send."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox import Sandbox, sandbox

TOKEN = "sandbox-token"
GH = {"Authorization": f"token {TOKEN}"}


def _jira_auth(sb: Sandbox) -> dict[str, str]:
    basic = base64.b64encode(f"{sb.jira_user}:{TOKEN}".encode()).decode()
    return {"Authorization": f"Basic {basic}"}


def scenario() -> dict[str, Any]:
    epic = {"issuetype": {"name": "Epic"}}
    return {
        "jira": {
            "read_only_projects": ["OPS"],
            "no_link_projects": ["APP"],
            "hidden_fields": {"DATA": ["labels"]},
            "issues": [
                {"key": "WEB-1", "fields": {**epic, "labels": ["a"]}},
                {"key": "OPS-1", "fields": {**epic, "labels": ["b"]}},
                {"key": "APP-1", "fields": {**epic, "labels": ["c"]}},
                {"key": "DATA-1", "fields": {**epic, "labels": ["d"]}},
                {"key": "WEB-2", "deleted": True, "fields": epic},
            ],
        },
        "github": {
            "org": "acme",
            "renamed": {"acme/legacy": "acme/app"},
            "repos": {
                "acme/app": {"issues": [{"title": "one"}, {"title": "gone", "deleted": True}]},
                "acme/old": {"archived": True, "issues": [{"title": "frozen"}]},
                "acme/ro": {"permissions": {"push": False}, "issues": [{"title": "read"}]},
            },
        },
    }


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with sandbox(data=scenario(), token=TOKEN) as box:
        yield box


@pytest.fixture(autouse=True)
def _no_faults(sb: Sandbox) -> Iterator[None]:
    yield
    sb.set_faults(None)


def test_github_archived_and_read_only_repos_refuse_writes_only(sb: Sandbox) -> None:
    with httpx.Client(base_url=sb.github_url, headers=GH) as http:
        assert http.get("/repos/acme/old/issues/1").status_code == 200
        archived = http.post("/repos/acme/old/issues/1/labels", json={"labels": ["x"]})
        read_only = http.post("/repos/acme/ro/issues/1/comments", json={"body": "hi"})
        repo = http.get("/repos/acme/old").json()
    assert archived.status_code == 403
    assert archived.json()["message"] == "Repository was archived so is read-only."
    assert read_only.status_code == 403
    assert read_only.json()["message"] == "Must have admin rights to Repository."
    assert repo["archived"] is True and repo["permissions"]["push"] is False
    assert sb.github.labels_of("acme/old", 1) == [] and sb.github.comments("acme/ro", 1) == []


def test_github_deleted_issue_answers_410_and_leaves_the_listing(sb: Sandbox) -> None:
    with httpx.Client(base_url=sb.github_url, headers=GH) as http:
        gone = http.post("/repos/acme/app/issues/2/labels", json={"labels": ["x"]})
        listed = http.get("/repos/acme/app/issues", params={"state": "all"}).json()
    assert gone.status_code == 410 and gone.json()["message"] == "This issue was deleted"
    assert [i["number"] for i in listed] == [1]


def test_github_renamed_repo_redirects_reads_301_and_writes_307(sb: Sandbox) -> None:
    with httpx.Client(base_url=sb.github_url, headers=GH) as http:
        read = http.get("/repos/acme/legacy/issues/1")
        write = http.post("/repos/acme/legacy/issues/1/labels", json={"labels": ["x"]})
        followed = http.get("/repos/acme/legacy/issues/1", follow_redirects=True)
    assert read.status_code == 301
    assert read.headers["location"].endswith("/repos/acme/app/issues/1")
    assert write.status_code == 307
    assert write.headers["location"].endswith("/repos/acme/app/issues/1/labels")
    assert followed.status_code == 200 and followed.json()["title"] == "one"
    assert sb.github.labels_of("acme/app", 1) == []


def test_jira_project_permissions_and_hidden_fields(sb: Sandbox) -> None:
    link = {"globalId": "g", "object": {"url": "https://x.test", "title": "t"}}
    with httpx.Client(base_url=sb.jira_url, headers=_jira_auth(sb)) as http:
        edit = http.put("/rest/api/3/issue/OPS-1", json={"update": {"labels": [{"add": "z"}]}})
        ops_link = http.post("/rest/api/3/issue/OPS-1/remotelink", json=link)
        app_edit = http.put("/rest/api/3/issue/APP-1",
                            json={"update": {"labels": [{"add": "z"}]}})
        app_link = http.post("/rest/api/3/issue/APP-1/remotelink", json=link)
        hidden = http.get("/rest/api/3/issue/DATA-1", params={"fields": "labels,summary"})
        hidden_edit = http.put("/rest/api/3/issue/DATA-1",
                               json={"update": {"labels": [{"add": "z"}]}})
        searched = http.get("/rest/api/3/search/jql",
                            params={"jql": "project = DATA", "fields": "labels"}).json()
        deleted = http.get("/rest/api/3/issue/WEB-2")
    assert edit.status_code == 403 and "permission to edit" in edit.json()["errorMessages"][0]
    assert ops_link.status_code == 403 and app_link.status_code == 403
    assert app_link.json()["errorMessages"] == ["You do not have permission to link issues."]
    assert app_edit.status_code == 204 and "z" in sb.jira.labels("APP-1")
    assert "labels" not in hidden.json()["fields"] and "summary" in hidden.json()["fields"]
    assert hidden_edit.status_code == 400 and "labels" in hidden_edit.json()["errors"]
    assert all("labels" not in i["fields"] for i in searched["issues"])
    assert deleted.status_code == 404
    assert sb.jira.labels("OPS-1") == ["b"] and sb.jira.remote_links("OPS-1") == []


def test_jira_delete_issue_answers_404(sb: Sandbox) -> None:
    sb.jira.delete_issue("WEB-1")
    with httpx.Client(base_url=sb.jira_url, headers=_jira_auth(sb)) as http:
        assert http.get("/rest/api/3/issue/WEB-1").status_code == 404
    assert "WEB-1" not in sb.jira.keys()  # noqa: SIM118 - a state, not a dict


@pytest.mark.parametrize("server", ["jira", "github"])
def test_lost_runs_the_write_then_drops_the_answer(sb: Sandbox, server: str) -> None:
    sb.set_faults("lost@1", server=server)
    if server == "github":
        url, headers = sb.github_url, GH
        path, body = "/repos/acme/app/issues/1/comments", {"body": "landed"}
    else:
        url, headers = sb.jira_url, _jira_auth(sb)
        path = "/rest/api/3/issue/APP-1/comment"
        body = {"body": {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "landed"}]}]}}
    with httpx.Client(base_url=url, headers=headers) as http, pytest.raises(
            httpx.RemoteProtocolError):
        http.post(path, json=body)
    if server == "github":
        assert [c["body"] for c in sb.github.comments("acme/app", 1)] == ["landed"]
    else:
        assert any("landed" in str(c) for c in sb.jira.comments("APP-1"))
    assert sb.accounting()[server]["faults"]["lost"] == 1
