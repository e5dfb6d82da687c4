"""Pagination is bounded: a GitHub `Link: rel=next` that points at the page just read, and a
Jira `nextPageToken` that comes back or pages of issues already listed, fail the pull with a
reason instead of looping forever. The HTTP layer is mocked (respx)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest
import respx

from connectors.base import PullOptions
from connectors.github import GitHubConnector, GitHubSourceConfig
from connectors.paging import MAX_PAGES, checked_next_link
from core.errors import RemoteRejected
from tests.unit.test_jira import SITE, connector, issue

API = "https://api.github.test"


async def _no_sleep(_: float) -> None:
    return None


def _drain(conn: Any) -> int:
    async def go() -> int:
        count = 0
        try:
            async for page in conn.pull(None, PullOptions(full=True)):
                count += len(page.tickets)
        finally:
            await conn.aclose()
        return count

    return asyncio.run(go())


def _gh_issue(n: int) -> dict[str, Any]:
    return {"number": n, "id": n, "node_id": f"I_{n}", "title": f"Epic {n}", "state": "open",
            "labels": [{"name": "epic"}], "updated_at": "2026-01-01T00:00:00Z",
            "html_url": f"https://github.test/acme/app/issues/{n}", "comments": 0}


@respx.mock
def test_a_github_next_link_pointing_at_itself_is_a_pagination_loop() -> None:
    url = f"{API}/repos/acme/app/issues"
    calls = itertools.count(1)

    def answer(request: httpx.Request) -> httpx.Response:
        next(calls)
        return httpx.Response(200, json=[_gh_issue(1)],
                              headers={"Link": f'<{request.url}>; rel="next"'})

    route = respx.get(url).mock(side_effect=answer)
    conn = GitHubConnector(GitHubSourceConfig(name="gh", api_url=API, token="t0k",
                                              repos=["acme/app"]), sleep=_no_sleep)
    with pytest.raises(RemoteRejected, match="pagination loop"):
        _drain(conn)
    assert route.call_count == 1


@respx.mock
def test_a_repeated_jira_next_page_token_is_a_pagination_loop() -> None:
    tokens = itertools.cycle(["a", "b"])
    numbers = itertools.count(1)

    def answer(request: httpx.Request) -> httpx.Response:
        n = next(numbers)
        return httpx.Response(200, json={
            "issues": [issue(f"WEB-{n}", "2026-01-01T00:00:00.000+0000")],
            "nextPageToken": next(tokens)})

    route = respx.get(f"{SITE}/rest/api/3/search/jql").mock(side_effect=answer)
    with pytest.raises(RemoteRejected, match="repeated a next-page token"):
        _drain(connector())
    assert route.call_count == 3


@respx.mock
def test_new_jira_tokens_over_the_same_issues_are_a_pagination_loop() -> None:
    numbers = itertools.count(1)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={
            "issues": [issue("WEB-1", "2026-01-01T00:00:00.000+0000"),
                       issue("WEB-2", "2026-01-01T00:00:00.000+0000")],
            "nextPageToken": f"t{next(numbers)}"})

    route = respx.get(f"{SITE}/rest/api/3/search/jql").mock(side_effect=answer)
    with pytest.raises(RemoteRejected, match="already listed"):
        _drain(connector())
    assert route.call_count == 2


def test_a_next_link_past_the_page_cap_is_refused() -> None:
    here = httpx.URL(f"{API}/repos/acme/app/issues?page=7")
    assert checked_next_link(here, f"{API}/repos/acme/app/issues?page=8", source="gh")
    with pytest.raises(RemoteRejected, match=f"past {MAX_PAGES} pages"):
        checked_next_link(here, f"{API}/repos/acme/app/issues?page={MAX_PAGES + 1}",
                          source="gh")
