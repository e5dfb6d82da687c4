"""The trackers' real rate limits, enforced by the sandboxes, met by okrsync's pacing over
real HTTP. Time is an injected clock shared by the sandbox's windows and okrsync's pacer, so
nothing sleeps for real."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from connectors.github_responses import GITHUB_RESPONSES
from connectors.http import HttpClient
from connectors.jira import JiraConnector, JiraSourceConfig
from connectors.jira_responses import JIRA_RESPONSES
from connectors.pacing import Deferred, Limit, Pace, Pacer
from core.errors import RateLimited
from core.model import GoalRef, WriteBack, WriteBackKind
from sandbox import GitHubLimits, JiraLimits, sandbox


class SharedClock:
    """Fake wall-clock time read by the sandbox's threads and advanced by okrsync's sleeps."""

    def __init__(self) -> None:
        self._now = 1_900_000_000.0
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    async def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._now += max(0.0, seconds)


def _goals(n: int) -> tuple[GoalRef, ...]:
    return tuple(GoalRef(f"KR-{i}", f"key result {i}", "O-1", "Grow", "Dana Lee", "40 → 60 %",
                         f"https://okr.example.com/kr/{i}") for i in range(n))


def _jira_links(pacing: bool) -> tuple[dict[str, Any], int]:
    clock = SharedClock()
    with sandbox(epics=6, seed=4, jira_limits=JiraLimits.real(), clock=clock) as sb:
        key = sb.jira.keys()[0]
        config = JiraSourceConfig(name="jira", base_url=sb.jira_url, email=sb.jira_user,
                                  token=sb.token, pacing=pacing)  # type: ignore[arg-type]
        pacer = Pacer(name="jira", enabled=pacing, clock=clock, sleep=clock.sleep)
        wb = WriteBack("jira", key, WriteBackKind.SET_GOAL_LINKS, goals=_goals(50))

        async def go() -> None:
            conn = JiraConnector(config, sleep=clock.sleep, pacer=pacer)
            conn._http._clock = clock  # noqa: SLF001 - the client dates its holds by this clock
            try:
                await conn.apply(wb)
            finally:
                await conn.aclose()

        asyncio.run(go())
        return sb.accounting()["jira"], len(sb.jira.remote_links(key))


def test_fifty_write_backs_on_one_epic_never_trip_the_per_issue_limit() -> None:
    accounting, links = _jira_links(pacing=True)
    assert links == 50
    assert "jira-per-issue-on-write" not in accounting["rate_limited"]


def test_without_pacing_the_same_burst_is_refused_by_the_per_issue_limit() -> None:
    accounting, links = _jira_links(pacing=False)
    assert links == 50  # the waits the 429s asked for still get everything written
    assert accounting["rate_limited"]["jira-per-issue-on-write"] > 0


def test_sandbox_github_refuses_content_over_the_window_like_github() -> None:
    limits = GitHubLimits(content=(Limit(2, 60),), retry_after=True)
    with sandbox(epics=20, seed=2, github_limits=limits) as sb:
        repo, issue = next((r.full_name, n) for r in sb.github.repos.values() for n in r.issues)
        auth = {"Authorization": f"token {sb.token}"}
        with httpx.Client(base_url=sb.github_url, headers=auth) as c:
            answers = [c.post(f"/repos/{repo}/issues/{issue}/comments", json={"body": f"hi {i}"})
                       for i in range(3)]
            read = c.get(f"/repos/{repo}/issues/{issue}")
        assert [a.status_code for a in answers] == [201, 201, 403]
        assert "secondary rate limit" in answers[2].json()["message"]
        assert 1 <= int(answers[2].headers["retry-after"]) <= 60
        assert read.status_code == 200  # reads are not content
        acc = sb.accounting()["github"]
        assert acc["secondary_limited"] == 1
        assert acc["rate_limited"] == {"secondary-content": 1}
        assert sum(1 for c in sb.github.comments(repo, issue)
                   if str(c["body"]).startswith("hi ")) == 2


def test_a_429_without_retry_after_waits_at_most_max_rate_limit_wait() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def go(url: str) -> None:
        async with HttpClient(base_url=url, source="jira", headers={}, max_rate_limit_wait=2,
                              sleep=sleep, responses=JIRA_RESPONSES) as client:
            await client.request("GET", "/rest/api/3/serverInfo")

    with sandbox(epics=2, seed=1, faults="429:1.0:0") as sb, pytest.raises(RateLimited):
        asyncio.run(go(sb.jira_url))
    assert waits and sum(waits) <= 2.0


def test_a_secondary_limit_without_retry_after_defers_instead_of_waiting_a_minute() -> None:
    clock = SharedClock()
    limits = GitHubLimits(content=(Limit(1, 3600),), retry_after=False)
    with sandbox(epics=20, seed=2, github_limits=limits, clock=clock) as sb:
        repo, issue = next((r.full_name, n) for r in sb.github.repos.values() for n in r.issues)
        pacer = Pacer(enabled=False, clock=clock, sleep=clock.sleep)

        async def go() -> None:
            async with HttpClient(base_url=sb.github_url, source="github",
                                  headers={"Authorization": f"token {sb.token}"},
                                  max_rate_limit_wait=5, sleep=clock.sleep, clock=clock,
                                  pacer=pacer, responses=GITHUB_RESPONSES) as client:
                for i in range(2):
                    await client.request("POST", f"/repos/{repo}/issues/{issue}/comments",
                                         json={"body": f"x{i}"})

        with pytest.raises(Deferred) as caught:
            asyncio.run(go())
        assert caught.value.limit == "GitHub secondary rate limit"
        assert sum(clock.slept) <= 5.0
        assert pacer.held_until(Pace())[0] > clock()  # every worker now waits too


def test_token_specific_etags_need_if_modified_since() -> None:
    with sandbox(epics=20, seed=2, token_etags=True) as sb:
        repo = next(iter(sb.github.repos))
        url = f"{sb.github_url}/repos/{repo}/issues"
        first = httpx.get(url, headers={"Authorization": f"token {sb.token}"})
        minted = httpx.post(
            f"{sb.github_url}/app/installations/{sb.installation_id}/access_tokens",
            headers={"Authorization": f"Bearer {_app_jwt(sb)}"}).json()["token"]
        other = {"Authorization": f"token {minted}"}
        etag = httpx.get(url, headers={**other, "If-None-Match": first.headers["etag"]})
        since = httpx.get(url, headers={**other,
                                        "If-Modified-Since": first.headers["last-modified"]})
        assert first.status_code == 200 and etag.status_code == 200
        assert since.status_code == 304


def _app_jwt(sb: Any) -> str:
    import time

    import jwt

    now = int(time.time())
    return jwt.encode({"iat": now - 30, "exp": now + 300, "iss": str(sb.app_id)},
                      sb.app_private_key, algorithm="RS256")
