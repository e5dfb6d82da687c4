"""Keeping secrets out of text: cleaned once at load, and blanked in every form they can take.

A token read from a file-made Kubernetes Secret ends in a newline; an HTTP library's error then
shows the header it refused as `b'Bearer tok\\n'`, so the raw value never matches. Secrets are
therefore stripped (and refused when they hold control or non-ASCII characters, which no
header or SMTP login can carry) when the config is read, and `scrub` replaces each secret's raw,
`repr`, JSON and URL-encoded forms.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

MIN_SECRET = 4
"""Shorter values are not blanked: replacing every "ab" in a message would hide the message."""


def clean_secret(value: object, *, multiline: bool = False) -> object:
    """`value` stripped of surrounding whitespace; ValueError (never echoing it) when what is
    left has a control or non-ASCII character. `multiline` allows the line breaks of a PEM key.
    Non-strings pass through for the field's own validation."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    allowed = "\n\r" if multiline else ""
    if any(ord(c) < 32 and c not in allowed or ord(c) == 127 for c in value):
        raise ValueError("contains a control character (a secret must be one line of text)")
    if not value.isascii():
        raise ValueError(
            "contains a non-ASCII character (curly quotes or a pasted space?); secrets are "
            "sent in HTTP headers and SMTP logins, which carry ASCII only"
        )
    return value


def secret_forms(secret: str) -> list[str]:
    """Every way `secret` can be written in a message: raw, as `repr` of str and bytes shows
    it, JSON-escaped, URL-encoded; longest first, so a longer form is replaced whole."""
    if len(secret) < MIN_SECRET:
        return []
    forms = {
        secret,
        repr(secret)[1:-1],
        repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }
    return sorted((f for f in forms if len(f) >= MIN_SECRET), key=len, reverse=True)


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The secrets inside auth headers: the whole value, the credential after the scheme, and
    the password inside a Basic credential."""
    found: list[str] = []
    for value in headers.values():
        if len(value) < MIN_SECRET:
            continue
        found.append(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.lower() in ("basic", "bearer", "token"):
            found.append(credential)
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                password = base64.b64decode(credential).decode().partition(":")[2]
                if len(password) >= MIN_SECRET:
                    found.append(password)
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret replaced by `***`."""
    forms = sorted({f for s in secrets for f in secret_forms(s)}, key=len, reverse=True)
    for form in forms:
        text = text.replace(form, "***")
    return text
