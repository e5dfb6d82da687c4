"""Writers next to a sync: the sync plans in a transaction that holds the write lock from its
start, so another writer waits (busy timeout) instead of failing the sync; a full disk or a
locked store is a clear failure (exit 1), never "a bug" nor "invalid configuration".

SQLite only (busy timeout, write lock, full disk are SQLite's), except the read-only open,
which runs on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ExitCode, StoreUnavailable
from core.model import CheckIn, Page
from syncer.store import Store
from tests.helpers.store_helpers import T0, add_label, at, ticket


def _checkin(kr: str = "KR-1") -> CheckIn:
    return CheckIn(kr_id=kr, value=41.0, at=T0)


def test_a_write_transaction_keeps_other_writers_waiting_until_it_commits(
    tmp_path: Path,
) -> None:
    """It holds the write lock from its start: a writer that came in between would otherwise
    make its first write fail at once (SQLite cannot wait for a stale snapshot)."""
    db = tmp_path / "okrsync.db"
    with Store.open(db) as sync, Store.open(db, busy_timeout=0) as other:
        with sync.transaction():
            sync.ticket_count()  # the plan reads...
            with pytest.raises(StoreUnavailable) as refused:
                other.add_checkin(_checkin())  # ...a check-in has to wait (here: no timeout)
            sync.enqueue(1, [add_label("goal:KR1")], now=T0)  # ...and the plan writes
        assert refused.value.exit_code is ExitCode.FAILURES
        assert other.add_checkin(_checkin()) > 0  # once the plan committed
        assert len(sync.pending()) == 1
        item = sync.pending()[0]
        with sync.db.atomic():  # marking a write-back done reads, then writes: the same
            sync.pending()
            with pytest.raises(StoreUnavailable):
                other.add_checkin(_checkin())
            sync.mark_failed(item.id, "503", now=T0)


def test_a_full_disk_is_named_and_exits_1(tmp_path: Path) -> None:
    db = tmp_path / "okrsync.db"
    with Store.open(db) as store:
        pages = store.db.conn.execute("pragma page_count").fetchone()[0]
        store.db.conn.execute(f"pragma max_page_count = {pages}")
        big = tuple(ticket(f"WEB-{n}", title="x" * 2000) for n in range(200))
        with pytest.raises(StoreUnavailable) as full:
            store.store_page("jira", Page(big), None, now=T0)
        assert "disk holding the store is full" in str(full.value)
        assert full.value.exit_code is ExitCode.FAILURES
        assert store.ticket_count("jira") == 0  # the page was all or nothing


def test_runs_left_running_are_closed_by_the_next_locked_run(tmp_path: Path) -> None:
    with Store.open(tmp_path / "okrsync.db") as store:
        dead = store.start_run("sync", dry_run=False, now=T0)
        report = store.start_run("report", dry_run=False, now=T0)
        assert store.close_interrupted_runs(("sync", "revert"), now=at(5)) == 1
        closed, kept = store.run(dead), store.run(report)
    assert closed is not None and closed.status == "interrupted"
    assert closed.finished_at == at(5)
    assert kept is not None and kept.status == "running"


def test_a_read_only_open_reads_and_never_writes(store_target: Path | str) -> None:
    """On both backends: SQLite opens the file read-only, PostgreSQL's session refuses
    writes; the pooled connection is writable again for the next (writing) open."""
    with Store.open(store_target) as store:
        store.add_checkin(_checkin())
    with Store.open_read_only(store_target) as store:
        assert len(store.checkins()) == 1
        with pytest.raises(StoreUnavailable, match="read-only"):
            store.add_checkin(_checkin("KR-2"))
        with pytest.raises(StoreUnavailable, match="read-only"), store.transaction():
            store.add_checkin(_checkin("KR-3"))
    with Store.open(store_target) as store:
        assert [c.kr_id for c in store.checkins()] == ["KR-1"]
        store.add_checkin(_checkin("KR-4"))
        assert len(store.checkins()) == 2
