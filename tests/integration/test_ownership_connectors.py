"""Identity and ownership in each connector against its sandbox over real HTTP: who a source
writes as, comments authored by the token's user or the App's bot, look-alikes left alone."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from connectors.github import GitHubConnector, GitHubSourceConfig
from connectors.github_comment import MARKER, has_marker
from connectors.jira import JiraConnector, JiraSourceConfig
from connectors.ownership import APPLICATION, global_id
from core.model import ApplyStatus, GoalRef, WriteBack, WriteBackKind
from sandbox import Sandbox, sandbox
from sandbox.github_render import USER_LOGIN

KR = GoalRef("KR-CHK-1", "Raise checkout conversion", "O-1", "Fast checkout", "Dana Lee",
             "40 → 60 %")
PERSON = {"login": "dana", "type": "User"}


def _scenario() -> dict[str, Any]:
    comment = {"body": MARKER + "\nDana's own notes", "user": PERSON}
    return {
        "jira": {"issues": [{"id": "1", "key": "WEB-1", "fields": {
            "summary": "Checkout", "labels": ["checkout"],
            "issuetype": {"name": "Epic"}, "project": {"key": "WEB"},
            "status": {"name": "To Do", "statusCategory": {"key": "new"}},
            "updated": "2026-10-01T10:00:00.000+0000"},
            "remotelinks": [{"globalId": "okrsync:jira:WEB-1:KR-CHK-1",
                             "application": {"type": "com.acme.wiki", "name": "Acme Wiki"},
                             "object": {"url": "https://wiki.example/42", "title": "notes"}}]}]},
        "github": {"org": "acme", "repos": {"acme/app": {"issues": [
            {"number": 1, "title": "One", "labels": ["epic"], "comments": [comment, comment]},
        ]}}},
    }


def _app(sb: Sandbox) -> GitHubConnector:
    return GitHubConnector(GitHubSourceConfig(
        name="github", api_url=sb.github_url, app_id=sb.app_id, private_key=sb.app_private_key,
        installation_id=sb.installation_id, repos=["acme/app"]))


def _pat(sb: Sandbox) -> GitHubConnector:
    return GitHubConnector(GitHubSourceConfig(name="github", api_url=sb.github_url,
                                              token=sb.token, repos=["acme/app"]))


def _set_links(key: str) -> WriteBack:
    return WriteBack("github", key, WriteBackKind.SET_GOAL_LINKS, goals=(KR,))


async def _write_twice(conn: GitHubConnector) -> list[Any]:
    first = await conn.apply(_set_links("acme/app#1"))
    second = await conn.apply(_set_links("acme/app#1"))
    identity = await conn.identity()
    seen = conn.inspections().drain()
    await conn.aclose()
    return [first, second, identity, seen]


def test_an_app_writes_as_its_bot_and_leaves_a_persons_marker_comments() -> None:
    with sandbox(data=_scenario()) as sb:
        people = list(sb.github.comments("acme/app", 1))
        first, second, identity, seen = asyncio.run(_write_twice(_app(sb)))
        assert identity.kind == "app" and identity.login == "okrsync-sandbox[bot]"
        assert first.status is ApplyStatus.APPLIED and second.status is ApplyStatus.UNCHANGED
        comments = sb.github.comments("acme/app", 1)
        assert comments[:2] == people  # byte for byte, ids and times included
        ours = [c for c in comments if c["user"]["login"] == identity.login]
        assert len(ours) == 1 and has_marker(ours[0]["body"])
        assert ours[0]["user"]["type"] == "Bot"
        assert ours[0]["performed_via_github_app"]["slug"] == "okrsync-sandbox"
        assert [(la.author, la.kind) for la in seen["acme/app#1"]] == [("dana", "comment")] * 2


def test_a_token_writes_as_its_user() -> None:
    with sandbox(data=_scenario()) as sb:
        first, second, identity, _ = asyncio.run(_write_twice(_pat(sb)))
        assert identity.kind == "user" and identity.login == USER_LOGIN
        ours = [c for c in sb.github.comments("acme/app", 1) if c["user"]["login"] == USER_LOGIN]
        assert len(ours) == 1 and ours[0]["performed_via_github_app"] is None
        assert second.remote_ref == first.remote_ref == str(ours[0]["id"])


def test_sandbox_get_user_refuses_an_installation_token_as_github_does() -> None:
    with sandbox(data=_scenario()) as sb:
        conn = _app(sb)

        async def go() -> int:
            headers = await conn.app.headers() if conn.app else {}
            async with httpx.AsyncClient(base_url=sb.github_url) as client:
                resp = await client.get("/user", headers=headers)
            await conn.aclose()
            return resp.status_code

        assert asyncio.run(go()) == 403


def test_jira_learns_myself_and_never_touches_another_apps_link() -> None:
    with sandbox(data=_scenario()) as sb:
        conn = JiraConnector(JiraSourceConfig(name="jira", base_url=sb.jira_url,
                                              email=sb.jira_user, token=sb.token))
        theirs = sb.jira.remote_links("WEB-1")

        async def go() -> list[Any]:
            out = [await conn.identity()]
            for goals in ((KR,), (KR,), ()):
                out.append(await conn.apply(WriteBack("jira", "WEB-1",
                                                      WriteBackKind.SET_GOAL_LINKS,
                                                      goals=goals)))
                out.append(sb.jira.remote_links("WEB-1"))
            out.append(conn.inspections().drain())
            await conn.aclose()
            return out

        me, added, links1, same, _, ended, links3, seen = asyncio.run(go())
        assert me.kind == "jira" and me.login
        assert added.status is ApplyStatus.APPLIED and same.status is ApplyStatus.UNCHANGED
        assert ended.status is ApplyStatus.APPLIED
        own = [lk for lk in links1 if (lk.get("application") or {}) == APPLICATION]
        assert [lk["globalId"] for lk in own] == [global_id(sb.jira_url, "WEB-1", "KR-CHK-1")]
        assert links3 == theirs, "the other application's link is byte-identical"
        assert [la.author for la in seen["WEB-1"]] == ["Acme Wiki"]
