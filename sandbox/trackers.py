"""Sandbox trackers by kind: start the fake tracker a connector kind talks to, without naming it.

A connector registers its sandbox with one argument of its registration line,
`register("jira", JiraSourceConfig, JiraConnector, sandbox="sandbox.jira_tracker")`.
That module defines `start(*, epics, seed, token, **options)`, a context manager yielding a running
`FakeTracker`: where it listens, what a source table bound to it says, and tracker-neutral
verbs to look at and edit its tickets as a person would. The demo, tests and bench ask for a
kind (`start_tracker("jira")`) and never import a tracker's sandbox modules.

Every tracker is served through `serve_recorded`, which keeps each request it answered and
the answer it gave (`FakeTracker.exchanges`), so tests can check the traffic against the
tracker's own API description.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.faults import FaultInjector, FaultSpec
from sandbox.server import RunningServer, serve

ADMIN_PREFIX = "/_sandbox/"


@dataclass
class Exchange:
    """One request a sandbox answered and the answer, as bytes on the wire (after decoding)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    request_headers: dict[str, str]
    request_body: bytes
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    complete: bool = False

    def request_json(self) -> Any:
        return json.loads(self.request_body) if self.request_body else None

    def response_json(self) -> Any:
        return json.loads(self.response_body) if self.response_body else None

    @property
    def response_type(self) -> str:
        return self.response_headers.get("content-type", "").split(";")[0].strip()

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query)
        return f"{self.method} {self.path}{'?' + query if query else ''} -> {self.status}"


def _headers(raw: Any) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


def recording(app: ASGIApp, exchanges: list[Exchange]) -> ASGIApp:
    """Wrap an ASGI app so every answered API request lands in `exchanges` (admin routes not)."""
    from urllib.parse import parse_qsl

    async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)
        exchange = Exchange(scope["method"], scope["path"], query, _headers(scope["headers"]),
                            b"")
        exchanges.append(exchange)
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            exchange.request_body += message.get("body", b"")
            more = bool(message.get("more_body", False))
        replayed = False

        async def receive_body() -> Message:
            """The body read above once (handlers that answer first never read it), then
            whatever the client sends next (a disconnect)."""
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": exchange.request_body,
                        "more_body": False}
            return await receive()

        async def send_answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = int(message["status"])
                exchange.response_headers = _headers(message.get("headers", []))
            elif message["type"] == "http.response.body":
                exchange.response_body += message.get("body", b"")
                if not message.get("more_body", False):
                    exchange.complete = True
            await send(message)

        await app(scope, receive_body, send_answer)

    return recorded


@contextmanager
def serve_recorded(app: ASGIApp, exchanges: list[Exchange], *, port: int = 0
                   ) -> Iterator[RunningServer]:
    """Serve `app` on loopback, recording its API traffic into `exchanges`."""
    with serve(recording(app, exchanges), port=port) as server:
        yield server


class FakeTracker(Protocol):
    """A running sandbox tracker of one kind, as the contract suite, demo and bench see it.

    Ticket keys are the connector's own (`WEB-1`, `acme/app#3`). Every verb acts on the
    tracker's state directly, as a person or another tool would, never through the connector.
    """

    kind: str
    url: str
    token: str
    exchanges: list[Exchange]

    def source_settings(self) -> dict[str, Any]:
        """The `[sources.<name>]` keys (besides `kind`) of a source bound to this tracker,
        with a page size small enough that a full pull takes several pages."""
        ...

    def epic_keys(self) -> set[str]:
        """The keys a complete pull must return."""
        ...

    def labels(self, key: str) -> list[str]:
        ...

    def goal_kr_ids(self, key: str) -> set[str]:
        """The key results okrsync's goal links on the ticket currently show."""
        ...

    def touch(self, key: str) -> None:
        """A person edits the ticket (its title), so an incremental pull sees it."""
        ...

    def break_ticket(self, key: str) -> None:
        """Make the ticket's payload lack a field every ticket needs, as a hidden field would."""
        ...

    def missing_key(self) -> str:
        """A well-formed key of a ticket that does not exist."""
        ...

    def wrong_credentials(self) -> dict[str, Any]:
        """Source settings replacing the credential with a well-formed wrong one."""
        ...

    def answer_every_request_with(self, status: int | None) -> None:
        """From now on answer every API request with this error status (None: stop)."""
        ...


@dataclass
class ServedTracker:
    """What the built-in trackers share: where they listen, their fault injector, traffic."""

    url: str
    token: str
    injector: FaultInjector
    exchanges: list[Exchange] = field(default_factory=list)

    def answer_every_request_with(self, status: int | None) -> None:
        self.injector.set_spec(FaultSpec.parse(f"{status}:1" if status else None))

    def wrong_credentials(self) -> dict[str, Any]:
        return {"token": "wrong-token-5f2c9d"}


class TrackerStarter(Protocol):
    def __call__(self, *, epics: int, seed: int, token: str, **options: Any
                 ) -> AbstractContextManager[FakeTracker]: ...


def sandbox_kinds() -> list[str]:
    """Every registered connector kind that names a sandbox."""
    from connectors.base import load_all

    return sorted(kind for kind, spec in load_all().items() if spec.sandbox)


def starter(kind: str) -> TrackerStarter:
    """The `start` of the sandbox registered for `kind`; KeyError when it has none."""
    from connectors.base import load_all

    spec = load_all().get(kind)
    if spec is None or not spec.sandbox:
        raise KeyError(kind)
    start: TrackerStarter = importlib.import_module(spec.sandbox).start
    return start


def start_tracker(kind: str, *, epics: int = 60, seed: int = 1, token: str = "sandbox-token",
                  **options: Any) -> AbstractContextManager[FakeTracker]:
    """Start the sandbox of a connector kind on loopback (stopped when the block ends).
    `options` are the tracker's own (Jira: `flavour="datacenter"`)."""
    return starter(kind)(epics=epics, seed=seed, token=token, **options)


__all__ = ["Exchange", "FakeTracker", "ServedTracker", "sandbox_kinds", "serve_recorded",
           "start_tracker", "starter"]
