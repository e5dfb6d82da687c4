"""HTTP errors show the full URL that failed (a wrong base URL is visible at a glance), with a
hint when the URL holds an API path twice; a Jira base_url with an API path is a config error."""

from __future__ import annotations

import httpx
import pytest
import respx

from connectors.github_responses import GITHUB_RESPONSES
from connectors.http import HttpClient, ResponsePolicy
from connectors.jira import JiraSourceConfig
from connectors.jira_responses import JIRA_RESPONSES
from core.errors import NotFound, Unavailable

pytestmark = pytest.mark.anyio


async def _no_sleep(seconds: float) -> None:
    pass


async def _get(base: str, path: str, retries: int = 0,
               responses: ResponsePolicy = JIRA_RESPONSES) -> BaseException:
    client = HttpClient(base_url=base, source="jira", headers={}, max_retries=retries,
                        sleep=_no_sleep, responses=responses)
    try:
        with pytest.raises((NotFound, Unavailable)) as info:
            await client.request("GET", path, params={"jql": "project = WEB"})
    finally:
        await client.aclose()
    return info.value


@respx.mock
async def test_a_404_shows_the_full_url_and_hints_at_a_doubled_api_path() -> None:
    base = "https://acme.atlassian.net/rest/api/3"
    respx.get(f"{base}/rest/api/3/serverInfo").mock(return_value=httpx.Response(404))
    error = await _get(base, "/rest/api/3/serverInfo")
    assert "GET https://acme.atlassian.net/rest/api/3/rest/api/3/serverInfo -> 404" in str(error)
    assert "jql" not in str(error)  # the query is left out
    assert isinstance(error, NotFound) and "site root" in error.hint


@respx.mock
async def test_a_plain_404_has_the_url_and_no_base_url_hint() -> None:
    base = "https://ghe.example.com/api/v3"
    respx.get(f"{base}/repos/acme/gone").mock(return_value=httpx.Response(404))
    error = await _get(base, "/repos/acme/gone", responses=GITHUB_RESPONSES)
    assert "GET https://ghe.example.com/api/v3/repos/acme/gone -> 404" in str(error)
    assert isinstance(error, NotFound) and error.hint == ""


@respx.mock
async def test_a_5xx_after_retries_names_the_full_url() -> None:
    respx.get("https://jira.example.test/x").mock(return_value=httpx.Response(503))
    error = await _get("https://jira.example.test", "/x", retries=1)
    assert "https://jira.example.test/x -> 503" in str(error)


def test_jira_base_url_with_an_api_path_is_refused() -> None:
    with pytest.raises(ValueError, match="site root"):
        JiraSourceConfig(kind="jira", base_url="https://acme.atlassian.net/rest/api/2",
                         token="tok-1234")  # type: ignore[arg-type]
