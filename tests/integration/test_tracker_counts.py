"""The tracker counts `jira_count` / `github_count` key results use, through the connectors
against the sandboxes over real HTTP: Cloud's approximate-count endpoint, Data Center's search
total, GitHub's search total_count."""

from __future__ import annotations

import asyncio

import pytest

from connectors.github import GitHubConnector, GitHubSourceConfig
from sandbox import sandbox
from tests.helpers.jira_helpers import connect, jira_sandbox


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_jira_count_matches_the_issues_the_jql_selects(flavour: str) -> None:
    with jira_sandbox(epics=30, seed=4, flavour=flavour) as box:  # type: ignore[arg-type]
        keys = box.state.keys()
        web = [k for k in keys if k.startswith("WEB-")]

        async def count(jql: str) -> int:
            connector = connect(box)
            try:
                return await connector.count(jql)
            finally:
                await connector.aclose()

        assert asyncio.run(count("project = WEB")) == len(web) > 0
        assert asyncio.run(count("project in (WEB, APP, DATA, OPS)")) == len(keys)
        endpoint = ("POST /rest/api/{api}/search/approximate-count" if flavour == "cloud"
                    else "GET /rest/api/{api}/search")
        assert box.accounting()["by_endpoint"].get(endpoint, 0) >= 2


def test_github_count_is_the_search_total() -> None:
    with sandbox(epics=40, seed=5) as sb:
        repos = sb.github.repos
        open_epics = sum(1 for r in repos.values() for i in r.issues.values()
                         if i.data["state"] == "open" and "epic" in i.labels
                         and "pull_request" not in i.data)

        async def count(q: str) -> int:
            gh = GitHubConnector(GitHubSourceConfig(name="github", api_url=sb.github_url,
                                                    token=sb.token, org=sb.org))
            try:
                return await gh.count(q)
            finally:
                await gh.aclose()

        assert asyncio.run(count(f"org:{sb.org} is:issue is:open label:epic")) == open_epics
        assert asyncio.run(count(f"org:{sb.org} created:<=1970-01-02T00:00:00Z")) == 0
        with pytest.raises(Exception, match="422|Validation"):
            asyncio.run(count("stars:>10"))
