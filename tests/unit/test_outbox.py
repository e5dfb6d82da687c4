"""Which outbox items reach their connector as *fresh* (allowed to skip the read before the
write): only this run's own, untried items that replace nothing pending from before."""

from __future__ import annotations

import asyncio
from pathlib import Path

from connectors.base import Connector
from core.model import ApplyResult, ApplyStatus, WriteBack
from syncer.outbox import apply_pending
from syncer.store import Store
from tests.helpers.store_helpers import add_label, at, set_goals


class Recorder:
    """Records how each write-back was handed over; every write succeeds."""

    name = "jira"

    def __init__(self) -> None:
        self.seen: dict[str, bool] = {}

    async def apply(self, writeback: WriteBack, *, fresh: bool = False) -> ApplyResult:
        self.seen[writeback.key] = fresh
        return ApplyResult(ApplyStatus.APPLIED)


def _apply(store: Store, run_id: int, carried: frozenset[str] | None) -> dict[str, bool]:
    recorder = Recorder()
    connectors: dict[str, Connector] = {"jira": recorder}  # type: ignore[dict-item]
    asyncio.run(apply_pending(store, connectors, run_id, concurrency={"jira": 4},
                              carried_over=carried))
    return recorder.seen


def test_only_this_runs_untried_items_that_replace_nothing_are_fresh(
    store_target: Path | str,
) -> None:
    with Store.open(store_target) as store:
        earlier = store.start_run("sync", dry_run=False, now=at(0))
        store.enqueue(earlier, [add_label("goal:OLD", key="WEB-1"),
                                set_goals("KR-1", key="WEB-2")], now=at(0))
        old_ids = {i.writeback.key: i.id for i in store.pending()}
        store.mark_failed(old_ids[set_goals("KR-1", key="WEB-2").key], "boom", now=at(1))

        run = store.start_run("sync", dry_run=False, now=at(5))
        carried = store.pending_keys()
        replacing = set_goals("KR-1", "KR-2", key="WEB-2")  # new content for a pending key
        new = add_label("goal:NEW", key="WEB-3")
        tried = add_label("goal:TRIED", key="WEB-4")
        store.enqueue(run, [replacing, new, tried], now=at(6))
        tried_id = next(i.id for i in store.pending() if i.writeback.key == tried.key)
        store.mark_failed(tried_id, "timeout", now=at(7))

        seen = _apply(store, run, carried)
        assert seen == {
            add_label("goal:OLD", key="WEB-1").key: False,  # an earlier run's item
            replacing.key: False,  # may finish what the earlier attempt half-did
            new.key: True,
            tried.key: False,
        }
        assert store.pending_count() == 0


def test_without_carried_over_nothing_is_fresh(store_target: Path | str) -> None:
    with Store.open(store_target) as store:
        run = store.start_run("revert", dry_run=False, now=at(0))
        store.enqueue(run, [add_label("goal:X")], now=at(0))
        assert _apply(store, run, None) == {add_label("goal:X").key: False}
