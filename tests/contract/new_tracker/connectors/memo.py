"""A throwaway minimal tracker, "memo", written only to measure what a new tracker touches.

It lives under tests/ and is laid out as it would be in the repository (`connectors/memo.py`,
`sandbox/memo.py`); `test_new_tracker.py` drops both into the packages' search path
and nothing else. Its REST API: `GET /api/tickets?since&offset&limit`, `GET /api/tickets/{key}`,
`PUT|DELETE /api/tickets/{key}/labels/{label}`, `GET /api/tickets/{key}/goals`,
`PUT|DELETE /api/tickets/{key}/goals/{kr_id}`, `GET /api/me`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import SecretStr

from connectors.base import PullOptions, SourceConfig, register
from connectors.http import HttpClient
from core.model import (
    ApplyResult,
    ApplyStatus,
    DoctorCheck,
    Page,
    RequestStats,
    Skipped,
    Ticket,
    TicketState,
    WriteBack,
    WriteBackKind,
)


class MemoSourceConfig(SourceConfig):
    kind: Literal["memo"] = "memo"
    url: str
    token: SecretStr
    page_size: int = 5


def parse_ticket(raw: dict[str, Any], source: str) -> Ticket | Skipped:
    key = str(raw.get("key") or "?")
    if not isinstance(raw.get("title"), str) or not isinstance(raw.get("updated"), int):
        return Skipped(source=source, key=key, reason="title or updated missing")
    return Ticket(source=source, key=key, remote_id=key, url=str(raw["url"]),
                  title=raw["title"], project=key.split("-")[0], issue_type="Epic",
                  labels=tuple(raw.get("labels") or ()), state=TicketState.TODO,
                  updated=datetime.fromtimestamp(raw["updated"], UTC))


def goal_text(kr_id: str, title: str) -> str:
    return f"serves {kr_id} {title}"


class MemoConnector:
    def __init__(self, config: SourceConfig) -> None:
        assert isinstance(config, MemoSourceConfig)
        self.config = config
        self.name = config.name or "memo"
        self._http = HttpClient(
            base_url=config.url, source=self.name,
            headers={"Authorization": f"Bearer {config.token.get_secret_value()}"},
            max_retries=config.max_retries, max_rate_limit_wait=config.max_rate_limit_wait,
            timeout=config.timeout)

    async def pull(self, cursor: str | None, options: PullOptions) -> AsyncIterator[Page]:
        since = 0 if options.full or not cursor else int(json.loads(cursor)["since"])
        newest, offset = since, 0
        while True:
            resp = await self._http.request("GET", "/api/tickets", params={
                "since": since, "offset": offset, "limit": self.config.page_size})
            data = resp.json()
            parsed = [parse_ticket(raw, self.name) for raw in data["tickets"]]
            newest = max([newest, *(int(raw.get("updated") or 0) for raw in data["tickets"])])
            last = data["next"] is None
            yield Page(tickets=tuple(t for t in parsed if isinstance(t, Ticket)),
                       skipped=tuple(s for s in parsed if isinstance(s, Skipped)),
                       cursor=json.dumps({"since": newest if last else since}))
            if last:
                return
            offset = int(data["next"])

    async def apply(self, writeback: WriteBack, *, fresh: bool = False) -> ApplyResult:
        path = f"/api/tickets/{quote(writeback.ticket_key, safe='')}"
        ticket = (await self._http.request("GET", path)).json()
        if writeback.kind in (WriteBackKind.ADD_LABEL, WriteBackKind.REMOVE_LABEL):
            adding = writeback.kind is WriteBackKind.ADD_LABEL
            if (writeback.label in ticket["labels"]) == adding:
                return ApplyResult(ApplyStatus.UNCHANGED)
            await self._http.request("PUT" if adding else "DELETE",
                                     f"{path}/labels/{quote(writeback.label, safe='')}")
            return ApplyResult(ApplyStatus.APPLIED)
        have = {g["kr_id"]: g["text"] for g in (await self._http.request(
            "GET", f"{path}/goals")).json()}
        want = {g.kr_id: goal_text(g.kr_id, g.kr_title) for g in writeback.goals}
        changed = False
        for kr_id, text in want.items():
            if have.get(kr_id) != text:
                await self._http.request("PUT", f"{path}/goals/{quote(kr_id, safe='')}",
                                         json={"text": text})
                changed = True
        for kr_id in have.keys() - want.keys():
            await self._http.request("DELETE", f"{path}/goals/{quote(kr_id, safe='')}")
            changed = True
        return ApplyResult(ApplyStatus.APPLIED if changed else ApplyStatus.UNCHANGED)

    async def doctor(self) -> list[DoctorCheck]:
        resp = await self._http.request("GET", "/api/me")
        return [DoctorCheck("identity", True, str(resp.json()["name"]))]

    def stats(self) -> RequestStats:
        return self._http.stats()

    async def aclose(self) -> None:
        await self._http.aclose()


register("memo", MemoSourceConfig, MemoConnector, sandbox="sandbox.memo")
