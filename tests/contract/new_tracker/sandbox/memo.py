"""The throwaway "memo" tracker's sandbox: an in-memory ticket list behind a small Starlette
app, served on loopback through the shared recorder (see connectors/memo.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.goal_text import kr_ids_in
from sandbox.trackers import Exchange, serve_recorded


@dataclass
class MemoTracker:
    url: str
    token: str
    tickets: dict[str, dict[str, Any]]
    clock: Iterator[int]
    exchanges: list[Exchange] = field(default_factory=list)
    refuse_with: int | None = None
    kind: str = "memo"

    def source_settings(self) -> dict[str, Any]:
        return {"url": self.url, "token": self.token, "page_size": 4}

    def epic_keys(self) -> set[str]:
        return set(self.tickets)

    def labels(self, key: str) -> list[str]:
        return list(self.tickets[key]["labels"])

    def goal_kr_ids(self, key: str) -> set[str]:
        return set().union(*(kr_ids_in(text) for text in self.tickets[key]["goals"].values()))

    def bump(self, key: str) -> None:
        self.tickets[key]["updated"] = next(self.clock)

    def touch(self, key: str) -> None:
        self.tickets[key]["title"] += " (edited)"
        self.bump(key)

    def break_ticket(self, key: str) -> None:
        self.tickets[key]["title"] = None
        self.bump(key)

    def missing_key(self) -> str:
        return "MEMO-999"

    def answer_every_request_with(self, status: int | None) -> None:
        self.refuse_with = status

    def wrong_credentials(self) -> dict[str, Any]:
        return {"token": "wrong-token-5f2c9d"}


def _app(fake: MemoTracker) -> Starlette:
    def public(t: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in t.items() if k != "goals"} | {"url": f"{fake.url}/{t['key']}"}

    async def endpoint(request: Request) -> Response:
        if fake.refuse_with:
            return JSONResponse({"error": "refused"}, fake.refuse_with,
                                headers={"Retry-After": "30"})
        if request.headers.get("authorization") != f"Bearer {fake.token}":
            return JSONResponse({"error": "bad token"}, 401)
        p, method = request.path_params, request.method
        if "key" not in p:
            if request.url.path == "/api/me":
                return JSONResponse({"name": "memo-bot"})
            q = request.query_params
            since, offset, limit = int(q["since"]), int(q["offset"]), int(q["limit"])
            found = sorted((t for t in fake.tickets.values() if t["updated"] > since),
                           key=lambda t: (t["updated"], t["key"]))
            page = found[offset:offset + limit]
            more = offset + limit < len(found)
            return JSONResponse({"tickets": [public(t) for t in page],
                                 "next": offset + limit if more else None})
        ticket = fake.tickets.get(p["key"])
        if ticket is None:
            return JSONResponse({"error": "no such ticket"}, 404)
        if "label" in p:
            labels = ticket["labels"]
            if method == "PUT" and p["label"] not in labels:
                labels.append(p["label"])
            elif method == "DELETE" and p["label"] in labels:
                labels.remove(p["label"])
            fake.bump(p["key"])
            return Response(status_code=204)
        if "kr_id" in p:
            if method == "PUT":
                ticket["goals"][p["kr_id"]] = (await request.json())["text"]
            else:
                ticket["goals"].pop(p["kr_id"], None)
            return Response(status_code=204)
        if request.url.path.endswith("/goals"):
            return JSONResponse([{"kr_id": k, "text": v} for k, v in ticket["goals"].items()])
        return JSONResponse(public(ticket))

    return Starlette(routes=[
        Route("/api/me", endpoint), Route("/api/tickets", endpoint),
        Route("/api/tickets/{key}", endpoint), Route("/api/tickets/{key}/goals", endpoint),
        Route("/api/tickets/{key}/labels/{label}", endpoint, methods=["PUT", "DELETE"]),
        Route("/api/tickets/{key}/goals/{kr_id}", endpoint, methods=["PUT", "DELETE"]),
    ])


@contextmanager
def start(*, epics: int = 12, seed: int = 1, token: str = "sandbox-token"
          ) -> Iterator[MemoTracker]:
    clock = itertools.count(1_700_000_000 + seed)
    tickets = {f"MEMO-{n}": {"key": f"MEMO-{n}", "title": f"Memo epic {n}",
                             "labels": ["epic"] if n % 2 else [], "updated": next(clock),
                             "goals": {}} for n in range(1, min(epics, 12) + 1)}
    fake = MemoTracker("", token, tickets, clock)
    with serve_recorded(_app(fake), fake.exchanges) as server:
        fake.url = server.url
        yield fake
