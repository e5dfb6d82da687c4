"""GitHub App installation tokens handed from one daemon cycle to the next.

The daemon runs every sync in a child process, and a child's memory ends with it: without a
handoff every cycle would mint a new installation token (an hour long) for a 15-minute
interval. Each child gets the still-valid tokens in `_OKRSYNC_APP_TOKENS` (its own
environment, never a file or the store) and hands back any token it mints, one JSON line per
mint, on the pipe named by `_OKRSYNC_APP_TOKENS_FD`. Neither name starts with `OKRSYNC_`, so
the config overlay never reads them. Expired tokens are dropped on both sides.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping

from core.clock import SYSTEM, Clock

TOKENS_ENV = "_OKRSYNC_APP_TOKENS"
FD_ENV = "_OKRSYNC_APP_TOKENS_FD"
Grant = tuple[str, float]
"""(token, expires_at as Unix time)."""


def parse_grants(raw: str, now: float) -> dict[str, Grant]:
    """Grants from JSON lines or one JSON object, keyed by `api_url|app_id|installation_id`;
    anything malformed or expired is ignored."""
    grants: dict[str, Grant] = {}
    for line in raw.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            if (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
                    and isinstance(value[1], int | float) and value[1] > now):
                grants[str(key)] = (value[0], float(value[1]))
    return grants


def dump_grants(grants: Mapping[str, Grant]) -> str:
    return json.dumps({k: [t, e] for k, (t, e) in grants.items()}, separators=(",", ":"))


def inherited_grants(clock: Clock = SYSTEM) -> dict[str, Grant]:
    """What the daemon handed this process (read once: the variable is removed)."""
    return parse_grants(os.environ.pop(TOKENS_ENV, ""), clock.time())


def hand_back(key: str, token: str, expires_at: float) -> None:
    """Give a freshly minted token to the daemon that started this process, if one did."""
    fd = os.environ.get(FD_ENV, "")
    if not fd.isdigit():
        return
    with contextlib.suppress(OSError):  # no daemon listening: the next cycle mints its own
        os.write(int(fd), (dump_grants({key: (token, expires_at)}) + "\n").encode())


class TokenHandoff:
    """The daemon's side: tokens kept between cycles and the pipe each child reports on."""

    def __init__(self, clock: Clock = SYSTEM) -> None:
        self.grants: dict[str, Grant] = {}
        self.clock = clock

    def open(self, env: Mapping[str, str]) -> tuple[dict[str, str], int, int]:
        """The child's environment and the pipe's (read, write) ends; pass `write` to it."""
        read, write = os.pipe()
        child = dict(env)
        child[FD_ENV] = str(write)
        self.grants = {k: g for k, g in self.grants.items() if g[1] > self.clock.time()}
        if self.grants:
            child[TOKENS_ENV] = dump_grants(self.grants)
        else:
            child.pop(TOKENS_ENV, None)
        return child, read, write

    def collect(self, read: int) -> None:
        """Keep what the finished child handed back; close the pipe."""
        chunks = []
        try:
            while chunk := os.read(read, 65536):
                chunks.append(chunk)
        finally:
            os.close(read)
        self.grants.update(parse_grants(b"".join(chunks).decode(errors="replace"),
                                        self.clock.time()))
