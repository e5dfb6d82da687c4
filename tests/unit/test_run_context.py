"""The run context sync and revert share: the run row is always closed, connectors are
always closed, and time comes from the injected clock. On both store backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncer.run_context import open_connectors, recorded_run
from syncer.store import Store

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def clock() -> datetime:
    return T0


def test_a_finished_run_keeps_its_status_and_summary(store_target: Path | str) -> None:
    with Store.open(store_target) as store:
        with recorded_run(store, "sync", dry_run=False, clock=clock) as row:
            row.finish("ok", {"applied": 3})
        run = store.run(row.id)
    assert run is not None and run.status == "ok" and run.summary == {"applied": 3}
    assert run.started_at == T0 and run.finished_at == T0, "the injected clock is used"


def test_an_exception_closes_the_row_as_an_error_and_is_raised(store_target: Path | str) -> None:
    with Store.open(store_target) as store:
        with pytest.raises(KeyError), recorded_run(store, "revert", dry_run=False,
                                                   clock=clock) as row:
            raise KeyError("boom")
        run = store.run(row.id)
    assert run is not None and run.status == "error" and run.summary == {"error": "KeyError"}


def test_a_block_that_forgets_to_finish_still_closes_the_row(store_target: Path | str) -> None:
    with Store.open(store_target) as store:
        with recorded_run(store, "sync", dry_run=True, clock=clock) as row:
            pass
        run = store.run(row.id)
    assert run is not None and run.status == "error" and run.finished_at == T0


def test_rows_left_running_by_an_interrupted_run_are_closed_first(store_target: Path | str) -> None:
    with Store.open(store_target) as store:
        stale = store.start_run("sync", dry_run=False, now=T0)
        with recorded_run(store, "sync", dry_run=False, clock=clock) as row:
            row.finish("ok", {})
        run = store.run(stale)
    assert run is not None and run.status == "interrupted"


class _Closing:
    def __init__(self, closed: list[str], name: str) -> None:
        self.closed, self.name = closed, name

    async def aclose(self) -> None:
        self.closed.append(self.name)


def test_connectors_are_closed_even_when_the_block_fails() -> None:
    closed: list[str] = []

    async def go() -> None:
        sources: Any = {"a": "a", "b": "b"}
        async with open_connectors(sources, lambda src: _Closing(closed, src)):  # type: ignore[arg-type, return-value]
            raise RuntimeError("mid-run")

    with pytest.raises(RuntimeError):
        asyncio.run(go())
    assert sorted(closed) == ["a", "b"]
