"""The store against real SQLite files in tmp_path and a real PostgreSQL server (every test
taking `store` runs on both): schema, transactions, ledger semantics."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from core.errors import ExitCode, StoreError
from core.model import (
    AppliedGoalLinks,
    ApplyResult,
    ApplyStatus,
    Bet,
    BetStatus,
    BrokenLink,
    CheckIn,
    Link,
    Origin,
    Override,
    Page,
    Skipped,
    Ticket,
    TicketState,
    WriteBack,
    WriteBackKind,
)
from syncer import migrations
from syncer.plan import goals_digest
from syncer.store import BUSY_TIMEOUT, Store
from tests.helpers.store_backends import refuse_inserts
from tests.helpers.store_helpers import (
    T0,
    add_label,
    at,
    remove_label,
    set_goals,
    ticket,
)

APPLIED = ApplyResult(ApplyStatus.APPLIED)


@pytest.fixture
def store(store_target: Path | str) -> Iterator[Store]:
    with Store.open(store_target) as s:
        yield s


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- opening -------------------------------------------------------------------------------


def test_open_creates_parent_dir_private_file_wal_and_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "okrsync.db"
    with Store.open(path) as s:
        s.start_run("sync", dry_run=False, now=T0)
        assert s.version == len(migrations.MIGRATIONS)
        assert s.db.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert s.db.execute("pragma foreign_keys").fetchone()[0] == 1
        assert s.db.execute("pragma busy_timeout").fetchone()[0] == BUSY_TIMEOUT * 1000
        assert _mode(path) == 0o600
        for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert not extra.exists() or _mode(extra) == 0o600
        tables = set(s.db.table_names())
    assert {
        "tickets", "skipped", "cursors", "links", "broken_links", "bets", "ledger", "overrides",
        "outbox", "journal", "checkins", "kr_snapshots", "runs", "untraceable", "sent_reports",
        "report_snapshots", "schema_version",
    } <= tables


def test_open_tightens_an_existing_world_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "okrsync.db"
    path.touch()
    os.chmod(path, 0o644)
    Store.open(path).close()
    assert _mode(path) == 0o600


def test_file_is_created_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Store.open(tmp_path / "okrsync.db").close()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "okrsync.db") == 0o600


def test_garbage_file_is_a_store_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not sqlite at all, just some text " * 100)
    with pytest.raises(StoreError) as info:
        Store.open(path)
    assert str(path) in str(info.value)
    assert "not a usable okrsync store" in str(info.value)
    assert info.value.exit_code is ExitCode.INVALID


def test_a_directory_in_place_of_the_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "okrsync.db").mkdir()
    with pytest.raises(StoreError, match="not a regular file"):
        Store.open(tmp_path / "okrsync.db")


def test_a_database_from_a_newer_okrsync_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "okrsync.db"
    Store.open(path).close()
    con = sqlite3.connect(path)
    con.execute("insert into schema_version values (99, '2030-01-01T00:00:00+00:00')")
    con.commit()
    con.close()
    with pytest.raises(StoreError) as info:
        Store.open(path)
    assert "schema version 99" in str(info.value)
    assert str(path) in str(info.value)
    assert "upgrade okrsync" in info.value.hint


def test_a_v1_database_keeps_its_data_when_a_later_migration_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "okrsync.db"
    with Store.open(path) as s:
        s.store_page("jira", Page((ticket("WEB-1"),), cursor="c1"), None, now=T0)
        run_id = s.start_run("sync", dry_run=False, now=T0)

    def next_add_team(db: Database) -> None:
        db.execute("alter table tickets add column team text")

    current = len(migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, next_add_team])
    with Store.open(path) as s:
        assert s.version == current + 1
        assert s.ticket("jira", "WEB-1") == ticket("WEB-1")
        assert s.get_cursor("jira") == "c1"
        assert s.run(run_id) is not None
        assert "team" in s.db["tickets"].columns_dict
        versions = [r[0] for r in s.db.execute("select version from schema_version")]
    assert versions == list(range(1, current + 2))
    Store.open(path).close()  # already current: nothing re-applied
    count = Database(path).execute("select count(*) from schema_version").fetchone()[0]
    assert count == current + 1


def test_a_failing_migration_rolls_back_and_leaves_the_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "okrsync.db"
    Store.open(path).close()

    def next_broken(db: Database) -> None:
        db.execute("create table half_done (x text)")
        db.execute("this is not sql")

    current = len(migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, next_broken])
    with pytest.raises(StoreError, match=str(path)):
        Store.open(path)
    db = Database(path)
    assert "half_done" not in db.table_names()
    assert db.execute("select max(version) from schema_version").fetchone()[0] == current


def test_a_locked_database_is_a_store_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "okrsync.db"
    with Store.open(path, busy_timeout=0.05) as s:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("begin immediate")
        try:
            started = time.monotonic()
            with pytest.raises(StoreError) as info:
                s.start_run("sync", dry_run=False, now=T0)
            assert time.monotonic() - started < 2
        finally:
            other.execute("rollback")
            other.close()
        assert str(path) in str(info.value)
        assert "locked" in str(info.value)
        assert s.start_run("sync", dry_run=False, now=T0) == 1  # usable once released


def test_naive_datetimes_are_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.start_run("sync", dry_run=False, now=datetime(2026, 1, 1))


def test_close_and_context_manager(tmp_path: Path) -> None:
    s = Store.open(tmp_path / "a.db")
    s.close()
    with pytest.raises(sqlite3.ProgrammingError):
        s.db.execute("select 1")
    with Store.open(tmp_path / "b.db") as s2:
        assert s2.integrity_check() == "ok"
    with pytest.raises(sqlite3.ProgrammingError):
        s2.db.execute("select 1")


# -- runs ----------------------------------------------------------------------------------


def test_runs_are_recorded_and_listed_newest_first(store: Store) -> None:
    first = store.start_run("sync", dry_run=True, now=at(0))
    second = store.start_run("report", dry_run=False, now=at(1))
    running = store.run(second)
    assert running is not None and running.status == "running" and running.finished_at is None
    store.finish_run(first, status="ok", summary={"applied": 3, "sources": []}, now=at(2))
    row = store.run(first)
    assert row is not None
    assert row.kind == "sync" and row.dry_run and row.status == "ok"
    assert row.summary == {"applied": 3, "sources": []}
    assert row.duration == 120.0
    assert row.started_at.tzinfo is not None
    assert [r.id for r in store.runs()] == [second, first]
    assert [r.id for r in store.runs(limit=1)] == [second]
    assert store.run(999) is None
    third = store.start_run("sync", dry_run=False, now=at(3))
    assert {k: r.id for k, r in store.last_runs().items()} == {"sync": third, "report": second}


# -- tickets -------------------------------------------------------------------------------


def test_store_page_stores_tickets_skipped_and_cursor(store: Store) -> None:
    page = Page(
        (ticket("WEB-2"), ticket("WEB-1", labels=("a", "okr:KR1"))),
        skipped=(Skipped("jira", "WEB-9", "no fields"),),
        cursor='{"since": "x"}',
    )
    store.store_page("jira", page, 1, now=T0)
    assert store.get_cursor("jira") == '{"since": "x"}'
    assert store.get_cursor("github") is None
    assert [t.key for t in store.tickets()] == ["WEB-1", "WEB-2"]
    assert store.ticket("jira", "WEB-1") == ticket("WEB-1", labels=("a", "okr:KR1"))
    assert store.ticket("jira", "NOPE") is None
    assert [(r.key, r.reason, r.run_id) for r in store.skipped()] == [("WEB-9", "no fields", 1)]
    # the payload is readable on the next pull: its skipped record goes
    store.store_page("jira", Page((ticket("WEB-9"),)), 2, now=at(1))
    assert store.skipped("jira") == []
    assert store.get_cursor("jira") == '{"since": "x"}'  # a page without a cursor keeps it


def test_retire_unseen_forgets_only_what_a_complete_pull_no_longer_returned(
    store: Store,
) -> None:
    store.store_page("jira", Page((ticket("WEB-1"), ticket("WEB-2"), ticket("WEB-3"))), 1,
                     now=at(0))
    store.store_page("github", Page((ticket("acme/app#1", source="github"),)), 1, now=at(0))
    store.save_plan_outcome([], [], [Bet("jira", k, "KR1", BetStatus.ACTIVE, None, T0)
                                     for k in ("WEB-1", "WEB-2")], [], [],
                            sources=["jira"], now=at(0))
    store.enqueue(1, [add_label("goal:KR1", key="WEB-2")], now=at(0))
    store.mark_done(store.pending()[0].id, ApplyResult(ApplyStatus.APPLIED), 1, now=at(0))
    # run 2's complete pull: WEB-1 again, WEB-3 unreadable this time, WEB-2 gone
    store.store_page("jira", Page((ticket("WEB-1"),), skipped=(
        Skipped("jira", "WEB-3", "no fields"),)), 2, now=at(1))
    assert store.retire_unseen("jira", 2) == 1
    assert [t.key for t in store.tickets("jira")] == ["WEB-1", "WEB-3"]
    assert [b.ticket_key for b in store.bets()] == ["WEB-1"]
    assert [t.key for t in store.tickets("github")] == ["acme/app#1"], "other sources stay"
    assert ("jira", "WEB-2", "goal:KR1") in store.applied_state().labels, "the ledger stays"
    assert store.retire_unseen("jira", 2) == 0


def test_complete_pulls_fall_due_on_the_schedule(store: Store) -> None:
    from syncer.engine import complete_pulls_due

    names = ["jira", "github"]
    assert complete_pulls_due(store, names, 24, at(0)) == {"jira", "github"}, "never pulled"
    store.note_complete_pull("jira", 1, now=at(0))
    assert store.last_complete_pull("jira") == at(0)
    assert store.last_complete_pull("github") is None
    assert complete_pulls_due(store, names, 24, at(60)) == {"github"}
    assert complete_pulls_due(store, names, 24, at(24 * 60)) == {"jira", "github"}
    assert complete_pulls_due(store, names, 0, at(10**6)) == set(), "0 turns it off"


def test_prune_deletes_old_history_and_never_a_pending_write_back(store: Store) -> None:
    old_run = store.start_run("sync", dry_run=False, now=at(0))
    store.enqueue(old_run, [add_label("goal:A", key="WEB-1"), add_label("goal:B", key="WEB-2"),
                            add_label("goal:C", key="WEB-3")], now=at(0))
    items = {i.writeback.label: i.id for i in store.pending()}
    store.mark_done(items["goal:A"], ApplyResult(ApplyStatus.APPLIED), old_run, now=at(1))
    store.enqueue(old_run, [add_label("goal:B", key="WEB-2") ], now=at(1))  # same key: replaced
    store.finish_run(old_run, status="ok", summary={}, now=at(2))
    new_run = store.start_run("sync", dry_run=False, now=at(100))
    store.enqueue(new_run, [add_label("goal:D", key="WEB-4")], now=at(100))
    recent = next(i.id for i in store.pending() if i.writeback.label == "goal:D")
    store.mark_done(recent, ApplyResult(ApplyStatus.APPLIED), new_run, now=at(101))

    assert store.prune(at(50)) == {"outbox": 2, "journal": 1, "runs": 1}
    assert sorted(i.writeback.label for i in store.pending()) == ["goal:B", "goal:C"]
    assert store.journal(old_run) == [] and len(store.journal(new_run)) == 1
    assert store.run(old_run) is None and store.run(new_run) is not None
    assert ("jira", "WEB-1", "goal:A") in store.applied_state().labels, "the ledger stays"
    assert store.prune(at(50)) == {"outbox": 0, "journal": 0, "runs": 0}


def test_store_page_upserts_and_keeps_first_seen(store: Store) -> None:
    store.store_page("jira", Page((ticket("WEB-1", labels=("a",)),)), 1, now=at(0))
    newer = ticket("WEB-1", labels=("b",), title="Renamed", state=TicketState.DONE,
                   updated=at(5))
    store.store_page("jira", Page((newer,)), 2, now=at(5))
    assert store.tickets() == [newer]
    first_seen, last_seen, run_id = store.db.execute(
        "select first_seen, last_seen, run_id from tickets"
    ).fetchone()
    assert (first_seen, last_seen, run_id) == (at(0).isoformat(timespec="microseconds"),
                                               at(5).isoformat(timespec="microseconds"), 2)


def test_store_page_is_one_transaction_a_failed_cursor_write_stores_nothing(
    store: Store,
) -> None:
    refuse_inserts(store, "cursors")
    with pytest.raises(StoreError):
        store.store_page("jira", Page((ticket("WEB-1"),), cursor="c"), 1, now=T0)
    assert store.ticket_count() == 0
    assert store.get_cursor("jira") is None


def test_store_page_rejects_a_ticket_of_another_source(store: Store) -> None:
    with pytest.raises(ValueError, match="github"):
        store.store_page("github", Page((ticket("WEB-1", source="jira"),)), 1, now=T0)
    assert store.ticket_count() == 0


def test_counts_lookup_and_iteration_by_source(store: Store) -> None:
    store.store_page("jira", Page(tuple(ticket(f"WEB-{i}") for i in range(3))), 1, now=T0)
    gh = ticket("acme/app#4", source="github", project="acme/app")
    store.store_page("github", Page((gh,)), 1, now=T0)
    assert store.ticket_count() == 4
    assert store.ticket_count("jira") == 3
    assert store.ticket_count("nope") == 0
    assert store.tickets_per_source() == {"github": 1, "jira": 3}
    assert [t.key for t in store.iter_tickets("github")] == ["acme/app#4"]
    assert [t.source for t in store.iter_tickets()] == ["github", "jira", "jira", "jira"]
    assert store.find_ticket("acme/app#4") == gh
    assert store.find_ticket("WEB-404") is None


def test_ticket_datetimes_in_other_zones_come_back_as_the_same_instant_in_utc(
    store: Store,
) -> None:
    cest = timezone(timedelta(hours=2))
    t = ticket("WEB-1", updated=datetime(2026, 6, 1, 12, 0, tzinfo=cest))
    store.store_page("jira", Page((t,)), 1, now=T0)
    back = store.ticket("jira", "WEB-1")
    assert back is not None
    assert back.updated == t.updated and back.updated.utcoffset() == timedelta(0)


_text = st.text(max_size=30)
_when = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_tickets = st.builds(
    Ticket,
    source=st.just("jira"),
    key=st.text(min_size=1, max_size=12),
    remote_id=_text, url=_text, title=_text, project=_text, issue_type=_text,
    labels=st.lists(_text, max_size=4).map(tuple),
    state=st.sampled_from(TicketState),
    updated=_when,
    created=st.none() | _when,
    components=st.lists(_text, max_size=3).map(tuple),
    assignee=st.none() | _text,
    hypothesis=st.none() | _text,
    size=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    description=st.text(max_size=200),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tickets=st.lists(_tickets, max_size=5, unique_by=lambda t: t.key))
def test_any_ticket_round_trips(tickets: list[Ticket]) -> None:
    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "s.db") as s:
        s.store_page("jira", Page(tuple(tickets)), 1, now=T0)
        assert {t.key: t for t in s.tickets()} == {t.key: t for t in tickets}


def test_storing_50k_tickets_in_pages_of_100(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Measured, not asserted: the figure goes in the report (docs/store.md)."""
    pages = [
        Page(tuple(ticket(f"WEB-{p * 100 + i}", labels=("team-a", "okr:KR1"),
                          description="word " * 40) for i in range(100)), cursor=f"c{p}")
        for p in range(500)
    ]
    with Store.open(tmp_path / "big.db") as s:
        started = time.perf_counter()
        for page in pages:
            s.store_page("jira", page, 1, now=T0)
        stored = time.perf_counter() - started
        started = time.perf_counter()
        streamed = sum(1 for _ in s.iter_tickets())
        read = time.perf_counter() - started
        assert s.ticket_count("jira") == 50_000 == streamed
        assert s.get_cursor("jira") == "c499"
    with capsys.disabled():
        print(f"\n[store] 50,000 tickets in 500 pages stored in {stored:.2f}s "
              f"({50_000 / stored:,.0f}/s); streamed back in {read:.2f}s")


# -- outbox, ledger, journal ---------------------------------------------------------------


def test_enqueue_and_pending_in_order(store: Store) -> None:
    wbs = [add_label("goal:KR1"), set_goals("KR1"), add_label("goal:KR2", key="WEB-2")]
    assert store.enqueue(7, wbs, now=T0) == 3
    items = store.pending()
    assert [i.writeback for i in items] == wbs
    assert all(i.attempts == 0 and i.last_error is None and i.run_id == 7 for i in items)
    assert items[0].created_at == T0
    assert store.applied_state().pending == frozenset(wb.key for wb in wbs)


def test_enqueue_replaces_a_pending_item_with_the_same_key(store: Store) -> None:
    store.enqueue(1, [set_goals("KR1")], now=at(0))
    old = store.pending()[0]
    store.mark_failed(old.id, "jira: POST /rest/api/3/issue/WEB-1/remotelink: 503", now=at(1))
    # same content again: replaced, the failure history carries over
    store.enqueue(2, [set_goals("KR1", remote_ref="r1")], now=at(2))
    (same,) = store.pending()
    assert same.id != old.id and same.attempts == 1 and same.last_error is not None
    assert same.run_id == 2 and same.writeback.remote_ref == "r1"
    # different content: replaced, a fresh start
    store.enqueue(3, [set_goals("KR1", "KR2")], now=at(3))
    (new,) = store.pending()
    assert new.attempts == 0 and new.last_error is None
    assert [g.kr_id for g in new.writeback.goals] == ["KR1", "KR2"]
    statuses = [r[0] for r in store.db.execute("select status from outbox order by id")]
    assert statuses == ["replaced", "replaced", "pending"]


def test_mark_failed_counts_attempts_and_keeps_the_item_pending(store: Store) -> None:
    store.enqueue(1, [add_label("goal:KR1")], now=T0)
    item = store.pending()[0]
    store.mark_failed(item.id, "first", now=at(1))
    store.mark_failed(item.id, "second " + "x" * 5000, now=at(2))
    (again,) = store.pending()
    assert again.attempts == 2
    assert again.last_error is not None and again.last_error.startswith("second ")
    assert len(again.last_error) == 2000


def test_mark_done_add_label_updates_ledger_ticket_and_journal(store: Store) -> None:
    store.store_page("jira", Page((ticket("WEB-1", labels=("team-a",)),)), 1, now=T0)
    store.enqueue(1, [add_label("goal:KR1")], now=T0)
    item = store.pending()[0]
    store.mark_done(item.id, APPLIED, 1, now=at(1))
    assert store.pending() == []
    applied = store.applied_state()
    assert applied.labels == {("jira", "WEB-1", "goal:KR1")}
    assert applied.pending == frozenset()
    t = store.ticket("jira", "WEB-1")
    assert t is not None and t.labels == ("team-a", "goal:KR1")
    (row,) = store.journal(1)
    assert row.writeback == add_label("goal:KR1")
    assert row.result == APPLIED
    assert row.before == {"label": "goal:KR1", "label_present": False, "ledger_active": False}
    assert row.at == at(1)


def test_mark_done_remove_label_ends_the_ledger_row_and_drops_the_label(store: Store) -> None:
    store.store_page("jira", Page((ticket("WEB-1", labels=("goal:KR1", "x")),)), 1, now=T0)
    store.enqueue(1, [add_label("goal:KR1")], now=T0)
    store.mark_done(store.pending()[0].id, ApplyResult(ApplyStatus.UNCHANGED), 1, now=at(1))
    t = store.ticket("jira", "WEB-1")
    assert t is not None and t.labels == ("goal:KR1", "x")  # already there: not doubled
    store.enqueue(2, [remove_label("goal:KR1")], now=at(2))
    store.mark_done(store.pending()[0].id, APPLIED, 2, now=at(3))
    assert store.applied_state().labels == frozenset()
    t = store.ticket("jira", "WEB-1")
    assert t is not None and t.labels == ("x",)
    (row,) = store.journal(2)
    assert row.before == {"label": "goal:KR1", "label_present": True, "ledger_active": True}
    removed_at = store.db.execute("select removed_at from ledger").fetchone()[0]
    assert removed_at == at(3).isoformat(timespec="microseconds")


def test_mark_done_for_a_ticket_not_in_the_store_still_records_the_ledger(store: Store) -> None:
    store.enqueue(1, [add_label("goal:KR1", key="WEB-77")], now=T0)
    store.mark_done(store.pending()[0].id, APPLIED, 1, now=at(1))
    assert store.applied_state().labels == {("jira", "WEB-77", "goal:KR1")}
    assert store.journal(1)[0].before["label_present"] is None


def test_mark_done_goal_links_keeps_kr_ids_ref_and_digest_and_the_before_state(
    store: Store,
) -> None:
    first = set_goals("KR1")
    store.enqueue(1, [first], now=T0)
    store.mark_done(store.pending()[0].id, ApplyResult(ApplyStatus.APPLIED, "comment-9"), 1,
                    now=at(1))
    assert store.applied_state().goal_links == {
        ("jira", "WEB-1"): AppliedGoalLinks(("KR1",), "comment-9", goals_digest(first.goals))
    }
    second = set_goals("KR1", "KR2", previous=("KR1",), remote_ref="comment-9")
    store.enqueue(2, [second], now=at(2))
    store.mark_done(store.pending()[0].id, ApplyResult(ApplyStatus.APPLIED), 2, now=at(3))
    assert store.applied_state().goal_links[("jira", "WEB-1")] == AppliedGoalLinks(
        ("KR1", "KR2"), "comment-9", goals_digest(second.goals)  # no new ref: kept
    )
    (row,) = store.journal(2)
    assert row.before == {"goal_links": {"kr_ids": ["KR1"], "remote_ref": "comment-9",
                                         "digest": goals_digest(first.goals), "active": True}}
    assert store.journal(1)[0].before == {"goal_links": None}


def test_ended_goal_links_stay_in_the_ledger_with_their_ref(store: Store) -> None:
    store.enqueue(1, [set_goals("KR1")], now=T0)
    store.mark_done(store.pending()[0].id, ApplyResult(ApplyStatus.APPLIED, "c1"), 1, now=at(1))
    ended = set_goals(previous=("KR1",), remote_ref="c1")
    store.enqueue(2, [ended], now=at(2))
    store.mark_done(store.pending()[0].id, APPLIED, 2, now=at(3))
    assert store.applied_state().goal_links[("jira", "WEB-1")] == AppliedGoalLinks(
        (), "c1", goals_digest(())
    )


def test_remove_goal_links_takes_them_out_of_the_applied_state(store: Store) -> None:
    store.enqueue(1, [set_goals("KR1")], now=T0)
    store.mark_done(store.pending()[0].id, ApplyResult(ApplyStatus.APPLIED, "c1"), 1, now=at(1))
    wb = WriteBack("jira", "WEB-1", WriteBackKind.REMOVE_GOAL_LINKS, previous=("KR1",),
                   remote_ref="c1")
    store.enqueue(2, [wb], now=at(2))
    store.mark_done(store.pending()[0].id, APPLIED, 2, now=at(3))
    assert store.applied_state().goal_links == {}
    assert store.journal(2)[0].before["goal_links"]["kr_ids"] == ["KR1"]


def test_mark_done_twice_or_for_an_unknown_item_is_refused(store: Store) -> None:
    store.enqueue(1, [add_label("goal:KR1")], now=T0)
    item_id = store.pending()[0].id
    store.mark_done(item_id, APPLIED, 1, now=at(1))
    with pytest.raises(ValueError, match="not pending"):
        store.mark_done(item_id, APPLIED, 1, now=at(2))
    with pytest.raises(ValueError, match="not pending"):
        store.mark_done(12345, APPLIED, 1, now=at(2))
    assert len(store.journal(1)) == 1


def test_mark_done_is_one_transaction(store: Store) -> None:
    store.store_page("jira", Page((ticket("WEB-1"),)), 1, now=T0)
    store.enqueue(1, [add_label("goal:KR1")], now=T0)
    refuse_inserts(store, "journal")
    with pytest.raises(StoreError):
        store.mark_done(store.pending()[0].id, APPLIED, 1, now=at(1))
    assert len(store.pending()) == 1
    assert store.applied_state().labels == frozenset()
    t = store.ticket("jira", "WEB-1")
    assert t is not None and t.labels == ()


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.lists(
            st.tuples(st.sampled_from(["WEB-1", "WEB-2"]),
                      st.sampled_from(["goal:KR1", "goal:KR2"]),
                      st.booleans()),
            min_size=1, max_size=4)),
        st.tuples(st.just("done"), st.integers(0, 5)),
        st.tuples(st.just("fail"), st.integers(0, 5)),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops)
def test_outbox_keeps_at_most_one_pending_item_per_key(ops: list[tuple[object, object]]) -> None:
    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "s.db") as s:
        done = 0
        for n, (op, arg) in enumerate(ops):
            pending = s.pending()
            if op == "enqueue":
                wbs = [
                    add_label(label, key) if adding else remove_label(label, key)
                    for key, label, adding in arg  # type: ignore[attr-defined]
                ]
                s.enqueue(n, wbs, now=at(n))
            elif pending:
                item = pending[int(arg) % len(pending)]  # type: ignore[call-overload]
                if op == "done":
                    s.mark_done(item.id, APPLIED, n, now=at(n))
                    done += 1
                else:
                    s.mark_failed(item.id, "boom", now=at(n))
            keys = [i.writeback.key for i in s.pending()]
            assert len(keys) == len(set(keys))
            assert s.applied_state().pending == frozenset(keys)
        journal_rows = s.db.execute("select count(*) from journal").fetchone()[0]
        assert journal_rows == done


# -- plan outcome --------------------------------------------------------------------------


def _bet(key: str, status: BetStatus = BetStatus.PLANNED, **kw: object) -> Bet:
    return Bet("jira", key, "KR1", status, kw.pop("hypothesis", None), T0, **kw)  # type: ignore[arg-type]


def test_save_plan_outcome_replaces_per_source_and_upserts(store: Store) -> None:
    jira_link = Link("jira", "WEB-1", "KR1", Origin.RULE, "r1", "project WEB")
    gh_link = Link("github", "a/b#1", "KR2", Origin.LABEL)
    store.save_plan_outcome(
        [jira_link, gh_link], [BrokenLink("jira", "WEB-2", "okr:KR9", "KR9")],
        [_bet("WEB-1")], ["jira:WEB-3", "github:a/b#2"], [],
        sources={"jira", "github"}, now=at(0),
    )
    assert store.links() == [gh_link, jira_link]
    assert store.broken_links() == [BrokenLink("jira", "WEB-2", "okr:KR9", "KR9")]
    assert store.untraceable() == {"jira:WEB-3": at(0), "github:a/b#2": at(0)}
    # next run: github failed, so only jira is replaced; WEB-3 stays untraceable since at(0)
    new_link = Link("jira", "WEB-2", "KR1", Origin.OVERRIDE)
    ended = _bet("WEB-1", BetStatus.SHIPPED, hypothesis="faster", active_at=at(1),
                 ended_at=at(5), kr_start=1.0, kr_end=2.5)
    store.save_plan_outcome(
        [new_link], [], [ended, _bet("WEB-2")], ["jira:WEB-3", "jira:WEB-4"], [],
        sources={"jira"}, now=at(5),
    )
    assert store.links() == [gh_link, new_link]
    assert store.broken_links() == []
    assert store.untraceable() == {
        "github:a/b#2": at(0), "jira:WEB-3": at(0), "jira:WEB-4": at(5),
    }
    assert store.bets() == [ended, _bet("WEB-2")]
    # a later run where WEB-3 got linked: it is no longer untraceable
    store.save_plan_outcome([], [], [], ["jira:WEB-4"], [], sources={"jira"}, now=at(9))
    assert store.untraceable() == {"github:a/b#2": at(0), "jira:WEB-4": at(5)}


def test_save_plan_outcome_ignores_links_and_flags_of_other_sources(store: Store) -> None:
    store.save_plan_outcome(
        [Link("github", "a/b#1", "KR2", Origin.LABEL)], [], [], ["github:a/b#1"], [],
        sources={"jira"}, now=T0,
    )
    assert store.links() == [] and store.untraceable() == {}


def test_an_override_ends_the_ledger_label_and_is_kept_once(store: Store) -> None:
    store.enqueue(1, [add_label("goal:KR1"), add_label("goal:KR2")], now=T0)
    for item in store.pending():
        store.mark_done(item.id, APPLIED, 1, now=at(1))
    first = Override("jira", "WEB-1", "goal:KR1", "KR1", at(2))
    store.save_plan_outcome([], [], [], [], [first], sources={"jira"}, now=at(2))
    store.save_plan_outcome([], [], [], [], [Override("jira", "WEB-1", "goal:KR1", "KR1", at(7))],
                            sources={"jira"}, now=at(7))
    assert store.overrides() == [first]
    applied = store.applied_state()
    assert applied.overrides == {("jira", "WEB-1", "goal:KR1")}
    assert applied.labels == {("jira", "WEB-1", "goal:KR2")}


# -- key-result values ---------------------------------------------------------------------


def test_checkins_oldest_first_and_by_kr(store: Store) -> None:
    late = CheckIn("KR1", 30.0, at(10), confidence=0.7, note="good week")
    early = CheckIn("KR1", 20.0, at(0))
    other = CheckIn("KR2", 5.0, at(5))
    for c in (late, early, other):
        assert store.add_checkin(c) > 0
    assert store.checkins() == [early, other, late]
    assert store.checkins("KR1") == [early, late]
    assert store.checkins("KR9") == []


def test_kr_values_latest_checkin_at_or_before_else_snapshot(store: Store) -> None:
    store.add_checkin(CheckIn("KR1", 20.0, at(0)))
    store.add_checkin(CheckIn("KR1", 30.0, at(10)))
    store.snapshot_kr_values({"KR1": 99.0, "KR2": 4.0}, now=at(1))
    store.snapshot_kr_values({"KR2": 6.0}, now=at(20))
    assert store.kr_values(at(0) - timedelta(seconds=1)) == {}
    assert store.kr_values(at(0)) == {"KR1": 20.0}
    assert store.kr_values(at(5)) == {"KR1": 20.0, "KR2": 4.0}
    assert store.kr_values(at(10)) == {"KR1": 30.0, "KR2": 4.0}
    assert store.kr_values(at(30)) == {"KR1": 30.0, "KR2": 6.0}


def test_snapshots_only_grow_when_a_value_changes(store: Store) -> None:
    for minute in range(5):
        store.snapshot_kr_values({"KR1": 1.0}, now=at(minute))
    store.snapshot_kr_values({"KR1": 2.0}, now=at(9))
    rows = store.db.execute("select count(*) from kr_snapshots").fetchone()[0]
    assert rows == 2
    assert store.kr_values(at(4)) == {"KR1": 1.0}


# -- reports -------------------------------------------------------------------------------


def test_sent_reports_once_per_week_and_recipient(store: Store) -> None:
    assert store.sent_report("2026-W02", "weekly", "a@example.com") is None
    store.record_sent_report("2026-W02", "weekly", "a@example.com", now=at(0), message_id="<m1>")
    sent = store.sent_report("2026-W02", "weekly", "a@example.com")
    assert sent is not None and sent.sent_at == at(0) and sent.message_id == "<m1>"
    assert sent.times == 1
    assert store.sent_report("2026-W02", "weekly", "b@example.com") is None
    assert store.sent_report("2026-W03", "weekly", "a@example.com") is None
    store.record_sent_report("2026-W02", "weekly", "a@example.com", now=at(9))  # --force
    again = store.sent_report("2026-W02", "weekly", "a@example.com")
    assert again is not None and again.times == 2 and again.sent_at == at(9)


def test_report_snapshots_latest_weeks_oldest_first(store: Store) -> None:
    for n, week in enumerate(["2026-W01", "2026-W03", "2026-W02", "2026-W04"]):
        store.save_report_snapshot(week, "weekly", {"untraceable": n}, now=at(n))
    store.save_report_snapshot("2026-W04", "weekly", {"untraceable": 40}, now=at(9))
    store.save_report_snapshot("2026-W04", "team", {"x": 1}, now=at(9))
    last3 = store.report_snapshots("weekly", 3)
    assert [(s.week, s.data) for s in last3] == [
        ("2026-W02", {"untraceable": 2}), ("2026-W03", {"untraceable": 1}),
        ("2026-W04", {"untraceable": 40}),
    ]
    picked = store.report_snapshots("weekly", ["2026-W04", "2026-W01", "2026-W09"])
    assert [s.week for s in picked] == ["2026-W01", "2026-W04"]
    assert store.report_snapshots("weekly", 0) == []


# -- health --------------------------------------------------------------------------------


def test_counts_and_integrity_check(store: Store) -> None:
    store.store_page("jira", Page((ticket("WEB-1"),), skipped=(Skipped("jira", "X", "bad"),)),
                     1, now=T0)
    store.enqueue(1, [add_label("goal:KR1")], now=T0)
    counts = store.counts()
    assert counts["tickets"] == 1 and counts["skipped"] == 1 and counts["pending"] == 1
    assert counts["overrides"] == 0
    assert store.integrity_check() == "ok"


# -- with the real planner: what mark_done records is what the next plan expects -------------


def _sync_once(s: Store, tickets: list[Ticket], cat: object, ruleset: object, n: int) -> list[
    WriteBack
]:
    """One run's store side: pull, plan, save, queue, apply everything, mark done."""
    from tests.helpers.plan_helpers import run_plan

    s.store_page("jira", Page(tuple(tickets)), n, now=at(n))
    the_plan = run_plan(s.tickets(), cat, ruleset, s.applied_state(),  # type: ignore[arg-type]
                        prior_bets=s.bets(), now=at(n))
    s.save_plan_outcome(the_plan.links, the_plan.broken, the_plan.bets, the_plan.untraceable,
                        the_plan.overrides, sources={"jira"}, now=at(n))
    s.enqueue(n, the_plan.writebacks, now=at(n))
    for item in s.pending():
        s.mark_done(item.id, ApplyResult(ApplyStatus.APPLIED, f"ref-{item.id}"), n, now=at(n))
    return list(the_plan.writebacks)


def test_a_second_plan_after_mark_done_writes_nothing(store: Store) -> None:
    from tests.helpers import plan_helpers as ph

    cat = ph.catalog("KR-1", "KR-2")
    ruleset = ph.rules(ph.label_rule("r1", "checkout", "KR-1"))
    pulled = [
        ph.ticket("WEB-1", ["checkout"]),
        ph.ticket("WEB-2", ["okr:KR-2"]),
        ph.ticket("WEB-3", ["misc"]),
    ]
    first = _sync_once(store, pulled, cat, ruleset, 1)
    assert {wb.kind for wb in first} == {WriteBackKind.ADD_LABEL, WriteBackKind.SET_GOAL_LINKS}
    # the tracker did what was asked: the next pull returns what the store now holds
    assert _sync_once(store, store.tickets(), cat, ruleset, 2) == []
    assert store.untraceable() == {"jira:WEB-3": at(1)}
    # a person removes the service's label: an override, never re-added, nothing fought
    web1 = store.ticket("jira", "WEB-1")
    assert web1 is not None and "goal:KR-1" in web1.labels
    removed = [dataclasses.replace(web1, labels=("checkout",))]
    third = _sync_once(store, removed, cat, ruleset, 3)
    assert [o.label for o in store.overrides()] == ["goal:KR-1"]
    assert all(wb.kind is not WriteBackKind.ADD_LABEL for wb in third)
    assert _sync_once(store, removed, cat, ruleset, 4) == []


_values = st.lists(
    st.tuples(st.sampled_from(["KR1", "KR2", "KR3"]), st.integers(0, 50),
              st.floats(-1e6, 1e6, allow_nan=False)),
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(checkins=_values, snapshots=_values, when=st.integers(-1, 55))
def test_kr_values_match_a_reference_model(
    checkins: list[tuple[str, int, float]], snapshots: list[tuple[str, int, float]], when: int
) -> None:
    """Latest check-in at or before `at` (later insert wins a tie), else the latest snapshot."""
    expected: dict[str, float] = {}
    for kr, minute, value in sorted(snapshots, key=lambda s: s[1]):
        if minute <= when:
            expected[kr] = value
    latest_checkin: dict[str, tuple[int, float]] = {}
    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "s.db") as s:
        for kr, minute, value in sorted(snapshots, key=lambda s: s[1]):
            s.snapshot_kr_values({kr: value}, now=at(minute))
        for kr, minute, value in checkins:
            s.add_checkin(CheckIn(kr, value, at(minute)))
            if minute <= when and minute >= latest_checkin.get(kr, (-99, 0.0))[0]:
                latest_checkin[kr] = (minute, value)
        expected.update({kr: v for kr, (_, v) in latest_checkin.items()})
        assert s.kr_values(at(when)) == expected


def test_bi_views_read_the_tables_on_both_backends(store: Store) -> None:
    store.store_page("jira", Page((ticket("WEB-1"), ticket("WEB-2"))), 1, now=T0)
    store.save_plan_outcome(
        [Link("jira", "WEB-1", "KR1", Origin.RULE, "r1", "label web")], [],
        [Bet("jira", "WEB-1", "KR1", BetStatus.ACTIVE, "faster", T0)], ["jira:WEB-2"], [],
        sources=["jira"], now=at(1))
    store.add_checkin(CheckIn("KR1", 42.5, at(2), note="from Dana"))
    store.snapshot_kr_values({"KR1": 40.0}, now=at(3))
    run_id = store.start_run("sync", dry_run=False, now=at(4))

    def view(name: str, columns: str) -> list[tuple[object, ...]]:
        return [tuple(r) for r in store.db.execute(f"select {columns} from {name} "
                                                   "order by 1, 2").fetchall()]

    assert view("okrsync_untraceable", "source, ticket_key, title") == [
        ("jira", "WEB-2", "Epic WEB-2")]
    assert view("okrsync_links", "ticket_key, kr_id, origin, rule_id, title") == [
        ("WEB-1", "KR1", "rule", "r1", "Epic WEB-1")]
    assert view("okrsync_bets", "ticket_key, kr_id, status, hypothesis") == [
        ("WEB-1", "KR1", "active", "faster")]
    assert view("okrsync_kr_values", "kr_id, value, origin, note") == [
        ("KR1", 40.0, "snapshot", ""), ("KR1", 42.5, "checkin", "from Dana")]
    assert view("okrsync_runs", "id, kind, status") == [(run_id, "sync", "running")]


def test_suggestion_inputs_read_the_same_on_both_backends(store: Store) -> None:
    store.store_page("jira", Page((ticket("WEB-1"), ticket("WEB-2"))), 1, now=T0)
    store.save_plan_outcome(
        [Link("jira", "WEB-1", "KR2", Origin.RULE, "r"), Link("jira", "WEB-1", "KR1",
                                                             Origin.RULE, "r")],
        [], [], ["jira:WEB-2"], [], sources=["jira"], now=at(1))
    rows = store.training_rows(5)
    assert [(r[0], r[1], r[3], r[-1]) for r in rows] == [
        ("jira", "WEB-1", "", "KR1,KR2"), ("jira", "WEB-2", "", None)]
    assert [t.key for t in store.untraceable_tickets()] == ["WEB-2"]
