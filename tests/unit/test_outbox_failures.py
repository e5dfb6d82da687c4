"""How the outbox tells failures apart: a refused token stops the source, a scoped refusal
fails only its ticket (backing off, then parked), a gone ticket is dropped, a transient
failure stays due and is marked as possibly landed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.base import Connector
from core.errors import AnswerLost, AuthError, Forbidden, NotFound, RemoteError
from core.model import ApplyResult, ApplyStatus, WriteBack
from syncer.outbox import ApplyOutcome, apply_pending
from syncer.parking import RetryPolicy
from syncer.store import Store
from tests.helpers.store_helpers import add_label, set_goals


class Scripted:
    """Fails the write-backs of the tickets it was told to, with the error given."""

    name = "jira"

    def __init__(self, errors: dict[str, RemoteError]) -> None:
        self.errors = errors
        self.calls: list[str] = []

    async def apply(self, writeback: WriteBack, *, fresh: bool = False) -> ApplyResult:
        self.calls.append(writeback.key)
        error = self.errors.get(writeback.ticket_key)
        if error is not None:
            raise error
        return ApplyResult(ApplyStatus.APPLIED)


def run(store: Store, conn: Scripted, policy: RetryPolicy) -> ApplyOutcome:
    connectors: dict[str, Connector] = {"jira": conn}  # type: ignore[dict-item]
    run_id = store.start_run("sync", dry_run=False, now=datetime.now(UTC))
    return asyncio.run(apply_pending(store, connectors, run_id, concurrency={"jira": 2},
                                     policy=policy))


def test_each_failure_kind_has_its_own_fate(store_target: Path | str) -> None:
    errors: dict[str, RemoteError] = {
        "OPS-1": Forbidden("PUT /issue/OPS-1 -> 403: no permission", source="jira", status=403),
        "WEB-2": NotFound("GET /issue/WEB-2 -> 404: not found", source="jira", status=404),
        "WEB-3": AnswerLost("POST ... the answer was lost", source="jira", status=502),
    }
    with Store.open(store_target) as store:
        store.enqueue(1, [add_label("goal:KR-1", key="OPS-1"), set_goals("KR-1", key="OPS-1"),
                          add_label("goal:KR-1", key="WEB-1"),
                          add_label("goal:KR-1", key="WEB-2"), set_goals("KR-1", key="WEB-2"),
                          add_label("goal:KR-1", key="WEB-3")], now=datetime.now(UTC))
        policy = RetryPolicy(park_after=2, backoff_seconds=600)
        first = run(store, Scripted(errors), policy)
        items = {i.writeback.ticket_key + "|" + i.writeback.kind.value: i
                 for i in store.pending()}
        again = Scripted(errors)
        second = run(store, again, policy)
        resumed = store.resume(now=datetime.now(UTC) + timedelta(hours=1))
        third = run(store, Scripted(errors), RetryPolicy(park_after=2, backoff_seconds=0))
        parked = store.outbox_counts()["parked"]

    assert first.applied == 1  # WEB-1: other tickets are not held back by OPS-1's refusal
    assert {k.split("|")[1] for k, _ in first.dropped} == {"WEB-2"} and len(first.dropped) == 2
    assert sorted(k.split("|")[1] for k, _ in first.failed) == ["OPS-1", "OPS-1", "WEB-3"]
    refused = [items["OPS-1|add_label"], items["OPS-1|set_goal_links"]]
    assert all(i.next_attempt_at is not None and i.parked_at is None for i in refused)
    assert all(i.attempts == 1 and "403" in (i.last_error or "") for i in refused)
    lost = items["WEB-3|add_label"]
    assert lost.outcome_unknown and lost.next_attempt_at is None

    assert again.calls == [add_label("goal:KR-1", key="WEB-3").key]  # OPS-1 is backing off
    assert second.failed and not second.dropped
    assert resumed == 2
    assert third.parked == 2 and parked == 2  # the second refusal parks both


def test_a_refused_token_stops_the_whole_source(store_target: Path | str) -> None:
    conn = Scripted({"WEB-1": AuthError("401 not authenticated", source="jira", status=401),
                     "WEB-2": AuthError("401 not authenticated", source="jira", status=401)})
    with Store.open(store_target) as store:
        store.enqueue(1, [add_label("goal:KR-1", key=f"WEB-{n}") for n in (1, 2, 3)],
                      now=datetime.now(UTC))
        connectors: dict[str, Connector] = {"jira": conn}  # type: ignore[dict-item]
        outcome = asyncio.run(apply_pending(store, connectors, 1, concurrency={"jira": 1}))
        pending = store.pending()
    assert len(conn.calls) == 1 and len(outcome.failed) == 1
    assert len(pending) == 3 and all(i.parked_at is None and i.next_attempt_at is None
                                     for i in pending)
