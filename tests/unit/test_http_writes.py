"""The HTTP layer and writes: only idempotent requests are resent, a lost answer is reported
as such, redirects are never followed on writes, and a 403 says whether the token is refused."""

from __future__ import annotations

import httpx
import pytest
import respx

from connectors.github_responses import GITHUB_RESPONSES
from connectors.http import HttpClient
from connectors.refusals import redirect_target, refuses_token
from core.errors import AnswerLost, AuthError, Forbidden, NotFound, RemoteRejected

BASE = "https://api.example.test"
TOKEN = "ghp_s3cr3tTOKENvalue123456"

pytestmark = pytest.mark.anyio


async def no_sleep(_: float) -> None:
    return None


def make() -> HttpClient:
    return HttpClient(base_url=BASE, source="gh", headers={"Authorization": f"Bearer {TOKEN}"},
                      max_retries=3, backoff_base=0.01, sleep=no_sleep,
                      responses=GITHUB_RESPONSES)


@respx.mock
@pytest.mark.parametrize("answer", [httpx.Response(502), httpx.ReadTimeout("late"),
                                    httpx.RemoteProtocolError("dropped")])
async def test_a_post_whose_answer_is_lost_is_sent_once(answer: object) -> None:
    route = respx.post(f"{BASE}/c").mock(side_effect=[answer, httpx.Response(201, json={})])
    async with make() as client:
        with pytest.raises(AnswerLost, match="POST /c: the answer was lost"):
            await client.request("POST", "/c", json={"body": "x"})
    assert route.call_count == 1


@respx.mock
async def test_a_post_that_never_left_is_resent() -> None:
    route = respx.post(f"{BASE}/c").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json={"id": 1})])
    async with make() as client:
        response = await client.request("POST", "/c", json={})
    assert response.status_code == 201 and route.call_count == 2


@respx.mock
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_idempotent_requests_are_resent_after_a_lost_answer(method: str) -> None:
    route = respx.route(method=method, url=f"{BASE}/x").mock(
        side_effect=[httpx.Response(502), httpx.ReadTimeout("late"), httpx.Response(204)])
    async with make() as client:
        response = await client.request(method, "/x")
    assert response.status_code == 204 and route.call_count == 3


@respx.mock
async def test_a_post_declared_idempotent_is_resent() -> None:
    route = respx.post(f"{BASE}/remotelink").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"id": 7})])
    async with make() as client:
        response = await client.request("POST", "/remotelink", json={}, idempotent=True)
    assert response.status_code == 200 and route.call_count == 2


@respx.mock
@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_a_redirect_on_a_write_is_an_error_naming_its_target(status: int,
                                                                  method: str) -> None:
    route = respx.route(method=method, url=f"{BASE}/repos/acme/old/issues/1/labels").mock(
        return_value=httpx.Response(status, headers={
            "location": f"{BASE}/repositories/42/issues/1/labels?access_token={TOKEN}"}))
    moved = respx.route(url__startswith=f"{BASE}/repositories/").mock(
        return_value=httpx.Response(200, json=[]))
    async with make() as client:
        with pytest.raises(RemoteRejected) as info:
            await client.request(method, "/repos/acme/old/issues/1/labels", json={})
    text = str(info.value)
    assert f"-> {status}" in text and f"{BASE}/repositories/42/issues/1/labels" in text
    assert TOKEN not in text and "access_token" not in text
    assert route.call_count == 1 and moved.call_count == 0


@respx.mock
async def test_a_redirect_on_a_read_is_followed() -> None:
    respx.get(f"{BASE}/repos/acme/old").mock(
        return_value=httpx.Response(301, headers={"location": f"{BASE}/repos/acme/new"}))
    respx.get(f"{BASE}/repos/acme/new").mock(return_value=httpx.Response(200, json={"id": 1}))
    async with make() as client:
        response = await client.request("GET", "/repos/acme/old")
    assert response.json() == {"id": 1}


@respx.mock
@pytest.mark.parametrize(("message", "kind"), [
    ("Repository was archived so is read-only.", Forbidden),
    ("Resource not accessible by integration", Forbidden),
    ("You do not have permission to link issues in this project.", Forbidden),
    ("Resource not accessible by personal access token", AuthError),
    ("Resource protected by organization SAML enforcement. You must grant your Personal "
     "Access token access to this organization.", AuthError),
    ("Your token has not been granted the required scopes to execute this query.", AuthError),
])
async def test_a_403_stops_the_source_only_when_it_names_the_token(
    message: str, kind: type[Exception]
) -> None:
    respx.post(f"{BASE}/w").mock(return_value=httpx.Response(403, json={"message": message}))
    async with make() as client:
        with pytest.raises(kind) as info:
            await client.request("POST", "/w", json={})
    assert type(info.value) is kind
    assert refuses_token(message) is (kind is AuthError)


@respx.mock
@pytest.mark.parametrize("status", [404, 410])
async def test_404_and_410_are_not_found(status: int) -> None:
    respx.post(f"{BASE}/w").mock(return_value=httpx.Response(status, json={
        "message": "This issue was deleted"}))
    async with make() as client:
        with pytest.raises(NotFound) as info:
            await client.request("POST", "/w", json={})
    assert info.value.status == status


def test_redirect_target_drops_query_and_userinfo() -> None:
    assert redirect_target("https://u:p@h.test/a/b?t=1#x") == "https://h.test/a/b"
    assert redirect_target("/relative/path?x=1") == "/relative/path"
