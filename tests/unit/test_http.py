"""The shared HTTP layer: retries, rate-limit waits, error mapping, accounting, no secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import respx

from connectors import http
from connectors.github_responses import GITHUB_RESPONSES
from connectors.http import GENERIC, HttpClient, RateLimitPolicy
from connectors.jira_responses import JIRA_RESPONSES
from core.errors import (
    AuthError,
    Forbidden,
    NotFound,
    RateLimited,
    RemoteRejected,
    Unavailable,
)

BASE = "https://jira.example.test"
TOKEN = "s3cr3t-TOKEN-value-123"
NOW = 1_700_000_000.0

pytestmark = pytest.mark.anyio


class FakeSleep:
    """Records what the client would have slept, without sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(sleep: FakeSleep, **kw: object) -> HttpClient:
    options: dict[str, object] = {
        "base_url": BASE,
        "source": "jira",
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "max_retries": 3,
        "backoff_base": 0.01,
        "sleep": sleep,
        "clock": lambda: NOW,
        "responses": JIRA_RESPONSES,
    }
    options.update(kw)
    return HttpClient(**options)  # type: ignore[arg-type]


def seq(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    items = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


@respx.mock
async def test_retries_500_then_succeeds() -> None:
    route = respx.get(f"{BASE}/x").mock(
        side_effect=seq(httpx.Response(500), httpx.Response(200, json={"ok": True}))
    )
    sleep = FakeSleep()
    async with make(sleep) as client:
        response = await client.request("GET", "/x", endpoint="GET /x")
        stats = client.stats()
    assert response.json() == {"ok": True}
    assert route.call_count == 2
    assert stats.requests == 2 and stats.retries == 1
    assert stats.by_status == {500: 1, 200: 1}
    assert stats.by_endpoint == {"GET /x": 2}
    assert len(sleep.calls) == 1 and 0 < sleep.calls[0] < 1


@respx.mock
async def test_gives_up_after_max_retries() -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(503, text="down"))
    async with make(FakeSleep(), max_retries=2) as client:
        with pytest.raises(Unavailable) as info:
            await client.request("GET", "/x")
    assert route.call_count == 3
    assert info.value.status == 503
    assert "GET /x" in str(info.value) and "3 attempts" in str(info.value)


@respx.mock
async def test_connection_error_is_retried() -> None:
    route = respx.get(f"{BASE}/x").mock(
        side_effect=seq(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                        httpx.Response(200))
    )
    async with make(FakeSleep()) as client:
        response = await client.request("GET", "/x")
        assert client.stats().retries == 2
    assert response.status_code == 200
    assert route.call_count == 3


@respx.mock
async def test_connection_errors_exhaust_into_unavailable() -> None:
    respx.get(f"{BASE}/x").mock(side_effect=httpx.RemoteProtocolError("peer closed"))
    async with make(FakeSleep(), max_retries=1) as client:
        with pytest.raises(Unavailable, match="RemoteProtocolError"):
            await client.request("GET", "/x")
        assert client.stats().requests == 2


@respx.mock
async def test_429_waits_what_server_asks_and_counts() -> None:
    respx.get(f"{BASE}/x").mock(
        side_effect=seq(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200))
    )
    sleep = FakeSleep()
    async with make(sleep) as client:
        await client.request("GET", "/x")
        stats = client.stats()
    assert len(sleep.calls) == 1
    assert 7 <= sleep.calls[0] <= 7.5
    assert stats.rate_limit_waits == pytest.approx(sleep.calls[0])
    assert stats.by_status == {429: 1, 200: 1}


@respx.mock
async def test_jira_beta_retry_after_is_honoured() -> None:
    respx.get(f"{BASE}/x").mock(
        side_effect=seq(httpx.Response(429, headers={"Beta-Retry-After": "3"}),
                        httpx.Response(200))
    )
    sleep = FakeSleep()
    async with make(sleep) as client:
        await client.request("GET", "/x")
    assert 3 <= sleep.calls[0] <= 3.5


@respx.mock
async def test_wait_past_cap_raises_rate_limited() -> None:
    route = respx.get(f"{BASE}/x").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "900"})
    )
    sleep = FakeSleep()
    async with make(sleep, max_rate_limit_wait=60) as client:
        with pytest.raises(RateLimited) as info:
            await client.request("GET", "/x")
    text = str(info.value)
    assert "900" in text and "60" in text and "max_rate_limit_wait" in text
    assert route.call_count == 1 and sleep.calls == []


@respx.mock
async def test_401_is_auth_error_without_retry() -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(401))
    async with make(FakeSleep()) as client:
        with pytest.raises(AuthError) as info:
            await client.request("GET", "/x")
    assert route.call_count == 1
    assert info.value.status == 401 and "jira" in str(info.value)


@respx.mock
async def test_403_plain_is_forbidden() -> None:
    route = respx.get(f"{BASE}/x").mock(
        return_value=httpx.Response(403, json={"errorMessages": ["You may not"]})
    )
    async with make(FakeSleep()) as client:
        with pytest.raises(Forbidden, match="forbidden.*You may not"):
            await client.request("GET", "/x")
    assert route.call_count == 1


@respx.mock
async def test_404_and_422_raise_or_return_via_expect() -> None:
    respx.get(f"{BASE}/missing").mock(return_value=httpx.Response(404))
    respx.post(f"{BASE}/bad").mock(
        return_value=httpx.Response(422, json={"errors": {"labels": "too long"}})
    )
    async with make(FakeSleep()) as client:
        with pytest.raises(NotFound):
            await client.request("GET", "/missing")
        assert (await client.request("GET", "/missing", expect=(404,))).status_code == 404
        with pytest.raises(RemoteRejected, match="labels: too long"):
            await client.request("POST", "/bad", json={})
        assert (await client.request("POST", "/bad", json={}, expect=(422,))).status_code == 422
        assert client.stats().retries == 0


@respx.mock
async def test_github_secondary_limit_403_with_retry_after() -> None:
    respx.get(f"{BASE}/x").mock(
        side_effect=seq(
            httpx.Response(403, headers={"retry-after": "5"},
                           json={"message": "You have exceeded a secondary rate limit"}),
            httpx.Response(200),
        )
    )
    sleep = FakeSleep()
    async with make(sleep, responses=GITHUB_RESPONSES) as client:
        assert (await client.request("GET", "/x")).status_code == 200
    assert 5 <= sleep.calls[0] <= 5.5


@respx.mock
async def test_github_secondary_limit_from_body_waits_default() -> None:
    respx.get(f"{BASE}/x").mock(
        side_effect=seq(
            httpx.Response(403, json={"message": "You have exceeded a secondary rate limit."}),
            httpx.Response(200),
        )
    )
    sleep = FakeSleep()
    async with make(sleep, responses=GITHUB_RESPONSES,
                    rate_limit_policy=RateLimitPolicy(secondary_default_wait=42)) as c:
        await c.request("GET", "/x")
    assert 42 <= sleep.calls[0] <= 42.5


@respx.mock
async def test_github_primary_exhaustion_waits_until_reset() -> None:
    reset = int(NOW) + 30
    respx.get(f"{BASE}/x").mock(
        side_effect=seq(
            httpx.Response(403, headers={"x-ratelimit-remaining": "0",
                                         "x-ratelimit-reset": str(reset)}),
            httpx.Response(200, headers={"x-ratelimit-remaining": "4999"}),
        )
    )
    sleep = FakeSleep()
    async with make(sleep, responses=GITHUB_RESPONSES) as client:
        await client.request("GET", "/x")
        assert client.stats().quota_remaining == 4999
    assert 30 <= sleep.calls[0] <= 30.5


@respx.mock
async def test_low_quota_slows_down_the_next_request() -> None:
    reset = int(NOW) + 20
    respx.get(f"{BASE}/x").mock(
        return_value=httpx.Response(
            200, headers={"x-ratelimit-remaining": "3", "x-ratelimit-limit": "5000",
                          "x-ratelimit-reset": str(reset)}
        )
    )
    sleep = FakeSleep()
    async with make(sleep) as client:
        await client.request("GET", "/x")
        assert sleep.calls == []
        await client.request("GET", "/x")
        assert client.stats().rate_limit_waits == pytest.approx(20)
    assert sleep.calls == [20]


@respx.mock
async def test_304_counts_as_not_modified() -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(304))
    async with make(FakeSleep()) as client:
        response = await client.request("GET", "/x", headers={"If-None-Match": '"abc"'})
        assert response.status_code == 304
        assert client.stats().not_modified == 1


@respx.mock
async def test_token_never_in_exceptions_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    respx.get(f"{BASE}/echo").mock(
        return_value=httpx.Response(400, text=f"bad header Bearer {TOKEN}")
    )
    respx.get(f"{BASE}/down").mock(side_effect=httpx.ConnectError(f"boom {TOKEN}"))
    respx.get(f"{BASE}/auth").mock(return_value=httpx.Response(401))
    errors: list[BaseException] = []
    async with make(FakeSleep(), max_retries=1) as client:
        for path in ("/echo", "/down", "/auth"):
            with pytest.raises(Exception) as info:
                await client.request("GET", path)
            errors.append(info.value)
    assert len(errors) == 3
    for exc in errors:
        assert TOKEN not in str(exc) and TOKEN not in repr(exc)
    assert caplog.records, "DEBUG logging should record requests"
    for record in caplog.records:
        assert TOKEN not in record.getMessage()


@respx.mock
async def test_basic_auth_password_is_scrubbed_from_server_echo() -> None:
    import base64

    basic = base64.b64encode(f"me@acme.test:{TOKEN}".encode()).decode()
    respx.get(f"{BASE}/x").mock(
        return_value=httpx.Response(400, json={"errorMessages": [f"token {TOKEN} rejected"]})
    )
    async with make(FakeSleep(), headers={"Authorization": f"Basic {basic}"}) as client:
        with pytest.raises(RemoteRejected) as info:
            await client.request("GET", "/x")
    assert TOKEN not in str(info.value) and "***" in str(info.value)


@respx.mock
async def test_the_shared_client_reads_no_tracker_dialect() -> None:
    """Without a tracker's policy a GitHub secondary-limit 403 is a plain refusal and Jira's
    error body is shown as sent: each dialect lives in its connector's ResponsePolicy."""
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(
        403, json={"message": "You have exceeded a secondary rate limit"}))
    respx.get(f"{BASE}/y").mock(return_value=httpx.Response(
        400, json={"errorMessages": ["JQL is wrong"]}))
    sleep = FakeSleep()
    async with make(sleep, responses=GENERIC) as client:
        with pytest.raises(Forbidden):
            await client.request("GET", "/x")
        with pytest.raises(RemoteRejected) as info:
            await client.request("GET", "/y")
    assert sleep.calls == []
    assert str(info.value).endswith('-> 400: {"errorMessages":["JQL is wrong"]}')


@respx.mock
async def test_github_does_not_read_jiras_beta_retry_after() -> None:
    respx.get(f"{BASE}/x").mock(
        side_effect=seq(httpx.Response(429, headers={"Beta-Retry-After": "3"}),
                        httpx.Response(200)))
    sleep = FakeSleep()
    async with make(sleep, responses=GITHUB_RESPONSES) as client:
        await client.request("GET", "/x")
    assert sleep.calls and sleep.calls[0] < 3  # a backoff from 2 s, not the 3 s asked


def test_the_shared_http_module_names_no_tracker() -> None:
    source = (Path(http.__file__)).read_text().lower()
    for word in ("jira", "github", "errormessages", "secondary rate limit", "beta-retry-after",
                 "ratelimit-reason", "/rest/api", "/api/v3"):
        assert word not in source, word
