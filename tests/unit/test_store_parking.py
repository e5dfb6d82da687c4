"""The outbox's parking columns (schema v5): dropping with a journal entry, backoff and parking,
what is due, resuming, and `outbox_counts()`, on a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from core.model import ApplyStatus, WriteBack, WriteBackKind
from syncer import migrations
from syncer.store import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def wb(key: str, label: str = "goal:KR-1", source: str = "jira") -> WriteBack:
    return WriteBack(source, key, WriteBackKind.ADD_LABEL, label=label)


@pytest.fixture
def store(store_target: Path | str) -> Store:
    return Store.open(store_target)


def test_v5_adds_the_parking_columns_to_an_existing_store(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.migrate(db, path, migrations.MIGRATIONS[:4])
    db.execute("insert into outbox (key, source, ticket_key, kind, writeback, digest, status, "
               "run_id, created_at, updated_at) values ('k', 'jira', 'WEB-1', 'add_label', ?, "
               "'d', 'pending', 1, ?, ?)",
               [json.dumps(wb("WEB-1").to_json()), NOW.isoformat(),
                NOW.isoformat()])
    db.conn.commit()
    db.close()
    with Store.open(path) as s:
        assert s.version == len(migrations.MIGRATIONS)
        [item] = s.pending()
        assert item.parked_at is None and item.next_attempt_at is None
        assert not item.outcome_unknown
        counts = s.outbox_counts()
        assert (counts["pending"], counts["parked"], counts["waiting"]) == (1, 0, 0)


def test_a_dropped_item_leaves_the_outbox_with_a_journal_entry(store: Store) -> None:
    store.enqueue(1, [wb("WEB-1"), wb("WEB-2")], now=NOW)
    first, second = store.pending()
    store.mark_dropped(first.id, "the ticket is gone: 404", 2, now=NOW)
    assert [i.id for i in store.pending()] == [second.id]
    [row] = store.journal(2)
    assert row.result.status is ApplyStatus.DROPPED
    assert row.result.detail == "the ticket is gone: 404" and row.writeback == wb("WEB-1")
    assert store.applied_state().labels == frozenset()  # nothing remote changed
    with pytest.raises(ValueError, match="not pending"):
        store.mark_dropped(first.id, "again", 2, now=NOW)
    assert store.prune(NOW + timedelta(days=1))["outbox"] == 1


def test_backoff_parking_due_and_resume(store: Store) -> None:
    now = datetime.now(UTC)  # `outbox_counts()` reads SQLite's clock
    store.enqueue(1, [wb("WEB-1"), wb("WEB-2"), wb("OPS-1", source="gh")], now=now)
    a, b, c = store.pending()
    store.mark_failed(a.id, "403 archived", now=now, next_attempt_at=now + timedelta(hours=1))
    store.mark_failed(b.id, "403 archived", now=now, park=True)
    store.mark_failed(c.id, "502", now=now, unknown=True)
    assert [i.id for i in store.pending(due=now)] == [c.id]
    assert [i.id for i in store.pending(due=now + timedelta(hours=2))] == [a.id, c.id]
    assert len(store.pending()) == 3

    def counts() -> tuple[int, int, int]:
        got = store.outbox_counts()
        return got["pending"], got["parked"], got["waiting"]

    assert counts() == (3, 1, 1)
    assert store.outbox_counts("gh")["parked"] == 0
    parked = next(i for i in store.pending() if i.id == b.id)
    assert parked.parked_at == now and parked.attempts == 1
    assert next(i for i in store.pending() if i.id == c.id).outcome_unknown

    # the same write planned again keeps its parking; a different one starts over
    store.enqueue(2, [wb("WEB-2")], now=now)
    assert counts()[1] == 1
    assert store.resume(source="gh", now=now) == 0
    assert store.resume(ids=[a.id], now=now) == 1
    assert store.resume(now=now) == 1
    assert counts() == (3, 0, 0)
    assert len(store.pending(due=now)) == 3
