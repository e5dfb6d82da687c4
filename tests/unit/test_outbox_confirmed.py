"""Confirmed write-backs are recorded many per transaction (`Store.mark_done_many`, called by
`apply_pending` every `DONE_BATCH` items or `DONE_WAIT`): in order, all or none, and whatever
was confirmed is recorded even when the apply pass fails part-way."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import Connector
from core.errors import StoreError
from core.model import ApplyResult, ApplyStatus, Page, WriteBack
from syncer.outbox import DONE_BATCH, DONE_WAIT, apply_pending
from syncer.store import Store
from syncer.store_rows import Confirmed
from tests.helpers.store_backends import refuse_inserts, store_target  # noqa: F401
from tests.helpers.store_helpers import T0, add_label, at, set_goals, ticket

APPLIED = ApplyResult(ApplyStatus.APPLIED)


class Confirming:
    """A connector that confirms every write-back, or raises `boom_on`'s error."""

    name = "jira"

    def __init__(self, boom_on: str | None = None) -> None:
        self.boom_on = boom_on

    async def apply(self, writeback: WriteBack, *, fresh: bool = False) -> ApplyResult:
        if writeback.key == self.boom_on:
            raise RuntimeError("a bug in the connector")
        return APPLIED


class CountingStore(Store):
    """Counts the transactions that record confirmed write-backs."""

    batches: list[int]

    def mark_done_many(self, confirmed: Sequence[Confirmed], run_id: int | None) -> None:
        self.batches.append(len(confirmed))
        super().mark_done_many(confirmed, run_id)


def _open(target: Path | str) -> CountingStore:
    store = CountingStore.open(target)
    assert isinstance(store, CountingStore)
    store.batches = []
    return store


class Ticking:
    """A clock that moves on by `step` every time it is read."""

    def __init__(self, step: timedelta) -> None:
        self.now, self.step = T0, step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


def _apply(store: Store, run: int, connector: Confirming,
           clock: Ticking | None = None) -> None:
    connectors: dict[str, Connector] = {"jira": connector}  # type: ignore[dict-item]
    asyncio.run(apply_pending(store, connectors, run, concurrency={"jira": 4},
                              clock=clock or Ticking(timedelta(0))))


def test_one_tickets_write_backs_in_one_batch_build_on_each_other(
    store_target: Path | str,  # noqa: F811
) -> None:
    with Store.open(store_target) as store:
        store.store_page("jira", Page((ticket("WEB-1", labels=("team-a",)),)), 1, now=T0)
        store.enqueue(1, [add_label("goal:KR1"), add_label("goal:KR2"),
                          set_goals("KR1", "KR2")], now=T0)
        ids = [i.id for i in store.pending()]
        store.mark_done_many([Confirmed(i, APPLIED, at(n + 1)) for n, i in enumerate(ids)], 1)
        assert store.pending() == []
        t = store.ticket("jira", "WEB-1")
        assert t is not None and t.labels == ("team-a", "goal:KR1", "goal:KR2")
        applied = store.applied_state()
        assert applied.labels == {("jira", "WEB-1", "goal:KR1"), ("jira", "WEB-1", "goal:KR2")}
        assert applied.goal_links[("jira", "WEB-1")].kr_ids == ("KR1", "KR2")
        journal = store.journal(1)
        assert [r.at for r in journal] == [at(1), at(2), at(3)]
        assert [r.writeback.key for r in journal] == [
            add_label("goal:KR1").key, add_label("goal:KR2").key, set_goals("KR1", "KR2").key]


def test_a_batch_is_recorded_all_or_none(store_target: Path | str) -> None:  # noqa: F811
    with Store.open(store_target) as store:
        store.store_page("jira", Page((ticket("WEB-1"), ticket("WEB-2"))), 1, now=T0)
        store.enqueue(1, [add_label("goal:KR1"), add_label("goal:KR1", key="WEB-2")], now=T0)
        ids = [i.id for i in store.pending()]
        with pytest.raises(ValueError, match="not pending"):
            store.mark_done_many([Confirmed(ids[0], APPLIED, at(1))] * 2, 1)
        refuse_inserts(store, "journal")
        with pytest.raises(StoreError):
            store.mark_done_many([Confirmed(i, APPLIED, at(1)) for i in ids], 1)
        assert len(store.pending()) == 2
        assert store.applied_state().labels == frozenset()
        assert all(t.labels == () for t in store.tickets("jira"))


def test_apply_records_in_batches_of_done_batch(store_target: Path | str) -> None:  # noqa: F811
    count = 2 * DONE_BATCH + 3
    with _open(store_target) as store:
        store.enqueue(1, [add_label("goal:KR1", key=f"WEB-{n}") for n in range(count)],
                      now=T0)
        _apply(store, 1, Confirming())
        assert store.pending() == []
        assert store.batches == [DONE_BATCH, DONE_BATCH, 3]
        assert len(store.journal(1)) == count


def test_a_confirmed_write_back_waits_at_most_done_wait(
    store_target: Path | str,  # noqa: F811
) -> None:
    with _open(store_target) as store:
        store.enqueue(1, [add_label("goal:KR1", key=f"WEB-{n}") for n in range(10)], now=T0)
        _apply(store, 1, Confirming(), clock=Ticking(DONE_WAIT / 3))
        assert store.pending() == []
        assert max(store.batches) < 10  # the clock, not the count, closed the batches
        assert sum(store.batches) == 10


def test_what_was_confirmed_is_recorded_when_the_pass_fails(
    store_target: Path | str,  # noqa: F811
) -> None:
    with _open(store_target) as store:
        wbs = [add_label("goal:KR1", key=f"WEB-{n}") for n in range(5)]
        store.enqueue(1, wbs, now=T0)
        with pytest.raises(RuntimeError, match="a bug"):
            _apply(store, 1, Confirming(boom_on=wbs[2].key))
        pending = {i.writeback.key for i in store.pending()}
        assert wbs[2].key in pending
        assert {r.writeback.key for r in store.journal(1)} == {w.key for w in wbs} - pending
        assert len(pending) < len(wbs)
