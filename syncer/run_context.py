"""What sync and revert share around a run: the store under the run lock, the run row that is
always closed (with the error when the run ends early), the connectors that are always closed,
and the injected clock, sleeper and connector factory (`RunDeps`) so that tests drive time
and transports instead of waiting for them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.base import Connector, ConnectorFactory, SourceConfig, create
from core.clock import SYSTEM
from core.errors import OkrsyncError, StoreError
from syncer.config import Config
from syncer.lock import run_lock
from syncer.store import Store
from syncer.store_ports import RunRecords

LOCKED_RUN_KINDS = ("sync", "revert")
"""Runs that hold the run lock: one still `running` when the lock is free was interrupted."""


def utc_now() -> datetime:
    return SYSTEM.now()


@dataclass(frozen=True)
class RunDeps:
    """The seams of a run. `clock` gives aware UTC datetimes, `monotonic` seconds for
    durations, `sleep` is what waiting in the run awaits, `connect` builds a source's
    connector (the registry's `create` by default)."""

    clock: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = SYSTEM.monotonic
    sleep: Callable[[float], Awaitable[None]] = SYSTEM.sleep
    connect: ConnectorFactory = create


def lock_path(config: Config) -> Path:
    return Path(str(config.store_path) + ".lock")


def per_source_scope(config: Config, sources: Iterable[str]) -> list[str] | None:
    """The sources a run locks one by one (a PostgreSQL store: workers per source run side by
    side), or None when the whole store is locked at once (the SQLite file)."""
    return sorted(sources) if config.store_url else None


@contextlib.contextmanager
def locked_store(config: Config, command: str,
                 scope: list[str] | None = None) -> Iterator[Store]:
    """The store, open under the run lock for the whole block, closed afterwards: the
    SQLite store's `flock`, or on PostgreSQL the advisory lock of each source in `scope`
    (`per_source_scope`)."""
    store = Store.open(config.store_target, busy_timeout=config.store_busy_timeout)
    try:
        with run_lock(config.store_target, scope or (), command=command):
            yield store
    finally:
        store.close()


class RunRow:
    """An open run row; `finish` records how the run ended."""

    def __init__(self, store: RunRecords, run_id: int, clock: Callable[[], datetime]) -> None:
        self.store, self.id, self.clock, self.finished = store, run_id, clock, False

    def finish(self, status: str, summary: Mapping[str, Any]) -> None:
        self.store.finish_run(self.id, status=status, summary=summary, now=self.clock())
        self.finished = True


def close_failed_run(store: RunRecords, run_id: int, exc: BaseException,
                     now: datetime | None = None) -> None:
    """Record why a run ended early. On a full disk this last write can fail too; the next
    run then closes the row (`close_interrupted_runs`), and the original error is shown."""
    error = str(exc) if isinstance(exc, OkrsyncError) else type(exc).__name__
    with contextlib.suppress(StoreError):
        store.finish_run(run_id, status="error", summary={"error": error},
                         now=now or utc_now())


@contextlib.contextmanager
def recorded_run(store: RunRecords, kind: str, *, dry_run: bool,
                 clock: Callable[[], datetime],
                 scope: list[str] | None = None) -> Iterator[RunRow]:
    """Close the rows of interrupted runs, open this run's row, and make sure it is closed:
    by the block's `finish`, else as an error (with the exception, if one ended the block).
    With a per-source `scope`, only runs that held one of its sources are interrupted ones."""
    store.close_interrupted_runs(LOCKED_RUN_KINDS, now=clock(), sources=scope)
    row = RunRow(store, store.start_run(kind, dry_run=dry_run, now=clock(), sources=scope),
                 clock)
    try:
        yield row
    except BaseException as exc:
        close_failed_run(store, row.id, exc, clock())
        raise
    if not row.finished:
        close_failed_run(store, row.id, RuntimeError("the run ended without a result"),
                         clock())


@contextlib.asynccontextmanager
async def open_connectors(sources: Mapping[str, SourceConfig],
                          connect: ConnectorFactory) -> AsyncIterator[dict[str, Connector]]:
    """One connector per source for the block, all closed at its end whatever happens."""
    connectors: dict[str, Connector] = {}
    try:
        for name, src in sources.items():
            connectors[name] = connect(src)
        yield connectors
    finally:
        await asyncio.gather(*(c.aclose() for c in connectors.values()),
                             return_exceptions=True)
