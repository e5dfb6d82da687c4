"""Secrets are blanked in every form a message can hold them, including the escaped one an
HTTP library prints for a header value it refuses (the real httpx/h11 over a loopback socket)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from connectors.http import HttpClient
from core.errors import RemoteError
from core.redact import clean_secret, header_secrets, scrub, secret_forms

SECRET = 'tok/3n+"9f8e\\7d'


@pytest.mark.parametrize("written", [
    SECRET, repr(SECRET), json.dumps(SECRET), quote(SECRET, safe=""), quote_plus(SECRET),
    repr(SECRET.encode()), repr(SECRET + "\n"), json.dumps({"value": SECRET + "\r\n"}),
])
def test_every_written_form_of_a_secret_is_blanked(written: str) -> None:
    text = f"GET /x: LocalProtocolError: Illegal header value {written} (retrying)"
    out = scrub(text, [SECRET])
    assert "tok" not in out and "9f8e" not in out, out
    assert "***" in out and out.startswith("GET /x: LocalProtocolError")


def test_short_values_are_not_treated_as_secrets() -> None:
    assert secret_forms("abc") == []
    assert scrub("abc abc", ["abc"]) == "abc abc"


def test_header_secrets_include_the_credential_and_a_basic_password() -> None:
    import base64

    basic = base64.b64encode(b"bot@acme.example:api-pass-1234").decode()
    found = header_secrets({"Authorization": f"Basic {basic}", "X-Other": "ab"})
    assert "api-pass-1234" in found and basic in found and "ab" not in found
    assert "tok-5678" in header_secrets({"Authorization": "Bearer tok-5678"})


def test_clean_secret_strips_and_refuses_what_no_header_can_carry() -> None:
    assert clean_secret("  tok-1234\n") == "tok-1234"
    assert clean_secret("-----BEGIN KEY-----\nabc\n-----END KEY-----\n", multiline=True) == (
        "-----BEGIN KEY-----\nabc\n-----END KEY-----")
    for bad in ("tok\n1234", "tok\x001234", "\u201ctok-1234\u201d", "tok\x7f"):
        with pytest.raises(ValueError) as info:
            clean_secret(bad)
        assert "tok" not in str(info.value)
    assert clean_secret(None) is None


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        yield int(server.getsockname()[1])


@pytest.mark.anyio
async def test_a_header_the_http_library_refuses_never_shows_the_token(silent_port: int) -> None:
    token = "sentinel-tok-5f1c9e7a2b"
    client = HttpClient(base_url=f"http://127.0.0.1:{silent_port}", source="jira",
                        headers={"Authorization": f"Bearer {token}\n"}, max_retries=0,
                        timeout=5)
    try:
        with pytest.raises(RemoteError) as info:
            await client.request("GET", "/rest/api/3/myself")
    finally:
        await client.aclose()
    shown = str(info.value)
    assert "Illegal header value" in shown  # the library's own message is kept...
    assert token not in shown and "5f1c9e7a2b" not in shown  # ...without the token
    assert "***" in shown
