"""Injected faults as clients see them over real HTTP: 429s with Retry-After at the configured
rate (through PyGithub too), secondary limits, dropped connections, slow answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from github import GithubException, GithubRetry

from sandbox import Sandbox, sandbox
from tests.helpers.sandbox_github_helpers import REPO, TOKEN, client, scenario

AUTH = {"Authorization": f"token {TOKEN}"}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with sandbox(data={"github": scenario(10)}, token=TOKEN, faults="429:0.2", seed=5) as box:
        yield box


@pytest.fixture(autouse=True)
def _fresh(sb: Sandbox) -> Iterator[None]:
    sb.reset_accounting()
    yield
    sb.set_faults("429:0.2")


def test_httpx_sees_429_with_retry_after_at_about_the_rate(sb: Sandbox) -> None:
    sb.set_faults("429:0.2", server="github")
    with httpx.Client(base_url=sb.github_url, headers=AUTH) as http, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: http.get(f"/repos/{REPO}/issues/1"), range(400)))
    limited = [a for a in answers if a.status_code == 429]
    assert 0.14 < len(limited) / 400 < 0.26
    assert all(a.headers["retry-after"] == "1" for a in limited)
    assert {a.status_code for a in answers} == {200, 429}
    snap = sb.accounting()["github"]
    assert snap["by_status"]["429"] == len(limited) and snap["faults"]["429"] == len(limited)
    assert snap["quota_spent"] == 400 - len(limited)  # injected answers spend no quota


def test_pygithub_sees_429s_at_about_the_rate(sb: Sandbox) -> None:
    def batch(_: int) -> list[int]:
        gh = client(sb.github_url)  # retry=None: every 429 reaches the caller
        codes = []
        for _ in range(25):
            try:
                gh.get_repo(REPO)
                codes.append(200)
            except GithubException as exc:
                assert exc.headers is not None and exc.headers["retry-after"] == "1"
                codes.append(exc.status)
        return codes

    with ThreadPoolExecutor(8) as pool:
        seen = [code for codes in pool.map(batch, range(8)) for code in codes]
    assert set(seen) == {200, 429}
    assert 0.12 < seen.count(429) / 200 < 0.28


def test_pygithub_retry_recovers_when_retry_after_is_zero(sb: Sandbox) -> None:
    sb.set_faults("429:0.2:0", server="github")
    gh = client(sb.github_url, retry=GithubRetry(total=10, backoff_factor=0))
    names = [gh.get_repo(REPO).full_name for _ in range(30)]
    assert names == [REPO] * 30
    assert sb.accounting()["github"]["by_status"].get("429", 0) > 0


def test_github_secondary_limit_is_403_with_retry_after(sb: Sandbox) -> None:
    sb.set_faults("secondary@1", server="github")
    with httpx.Client(base_url=sb.github_url, headers=AUTH) as http:
        first = http.get(f"/repos/{REPO}")
        second = http.get(f"/repos/{REPO}")
    assert first.status_code == 403 and first.headers["retry-after"] == "1"
    assert "secondary rate limit" in first.json()["message"]
    assert second.status_code == 200


def test_drop_really_drops_the_connection(sb: Sandbox) -> None:
    sb.set_faults("drop@1", server="github")
    with httpx.Client(base_url=sb.github_url, headers=AUTH) as http:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            http.get(f"/repos/{REPO}")
        assert http.get(f"/repos/{REPO}").status_code == 200  # the next one is served
    snap = sb.accounting()["github"]
    assert snap["by_status"]["0"] == 1 and snap["faults"] == {"drop": 1}
    assert snap["by_endpoint"]["GET /repos/{owner}/{repo}"] == 2


def test_server_errors_and_slow_answers(sb: Sandbox) -> None:
    sb.set_faults("500@1,502@2,503@3,slow@4:0.4", server="github")
    with httpx.Client(base_url=sb.github_url, headers=AUTH) as http:
        codes = [http.get(f"/repos/{REPO}").status_code for _ in range(3)]
        started = time.monotonic()
        slow = http.get(f"/repos/{REPO}")
        elapsed = time.monotonic() - started
    assert codes == [500, 502, 503]
    assert slow.status_code == 200 and elapsed >= 0.4


def test_admin_paths_are_exempt_and_not_counted(sb: Sandbox) -> None:
    sb.set_faults("500:1", server="github")
    with httpx.Client(base_url=sb.github_url) as http:
        snap = http.get("/_sandbox/accounting")
        assert snap.status_code == 200 and snap.json()["requests"] == 0
        assert http.get("/_sandbox/faults").json()["spec"] == "500:1"
        assert http.put("/_sandbox/faults", content="bogus:1").status_code == 400
        assert http.put("/_sandbox/faults", content="").status_code == 200
        assert http.get(f"/repos/{REPO}", headers=AUTH).status_code == 200
