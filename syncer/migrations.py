"""The store's schema and the versioned migrations that build it.

`MIGRATIONS[i]` takes the database from version `i` to version `i + 1`; the applied versions
are rows of `schema_version`. Each migration runs in one transaction together with its
`schema_version` row, so a crash mid-migration leaves the previous version intact. To change
the schema, append a function: never edit one that has shipped. `docs/store.md` documents
every table and column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from core.clock import SYSTEM
from core.errors import StoreError
from syncer.store_base import SqlDatabase as Database

Migration = Callable[[Database], None]
"""A migration takes either backend's database: plain SQLite-spelled DDL through
`db.execute` runs on PostgreSQL too (`syncer.store_dialect` rewrites the column types)."""

_V1 = (
    """create table tickets (
        source text not null,
        key text not null,
        remote_id text not null,
        url text not null,
        title text not null,
        project text not null,
        issue_type text not null,
        labels text not null,            -- JSON list
        state text not null,
        updated text not null,
        created text,
        components text not null,        -- JSON list
        assignee text,
        hypothesis text,
        size real,
        description text not null,
        first_seen text not null,
        last_seen text not null,
        run_id integer,
        primary key (source, key)
    )""",
    "create index tickets_key on tickets (key)",
    """create table skipped (
        source text not null,
        key text not null,
        reason text not null,
        run_id integer,
        at text not null,
        primary key (source, key)
    )""",
    """create table cursors (
        source text primary key,
        cursor text not null,
        updated_at text not null,
        run_id integer
    )""",
    """create table links (
        source text not null,
        ticket_key text not null,
        kr_id text not null,
        origin text not null,
        rule_id text,
        reason text not null,
        primary key (source, ticket_key, kr_id)
    )""",
    """create table broken_links (
        source text not null,
        ticket_key text not null,
        label text not null,
        kr_id text not null,
        primary key (source, ticket_key, label)
    )""",
    """create table bets (
        source text not null,
        ticket_key text not null,
        kr_id text not null,
        status text not null,
        hypothesis text,
        opened_at text not null,
        active_at text,
        ended_at text,
        kr_start real,
        kr_end real,
        updated_at text not null,
        primary key (source, ticket_key, kr_id)
    )""",
    """create table ledger (
        source text not null,
        ticket_key text not null,
        kind text not null,              -- 'label' or 'goal_links'
        label text not null,             -- the managed label; '' for goal links
        kr_ids text not null,            -- JSON list (goal links); '[]' for labels
        remote_ref text,
        digest text not null,
        applied_at text not null,
        removed_at text,
        run_id integer,
        primary key (source, ticket_key, kind, label)
    )""",
    """create table overrides (
        source text not null,
        ticket_key text not null,
        label text not null,
        kr_id text not null,
        at text not null,
        primary key (source, ticket_key, label)
    )""",
    """create table outbox (
        id integer primary key autoincrement,
        key text not null,
        source text not null,
        ticket_key text not null,
        kind text not null,
        writeback text not null,         -- JSON, WriteBack.to_json()
        digest text not null,
        status text not null,            -- 'pending', 'done' or 'replaced'
        attempts integer not null default 0,
        last_error text,
        run_id integer,
        created_at text not null,
        updated_at text not null,
        done_at text,
        done_run_id integer
    )""",
    "create unique index outbox_one_pending on outbox (key) where status = 'pending'",
    "create index outbox_status on outbox (status, id)",
    """create table journal (
        id integer primary key autoincrement,
        run_id integer,
        outbox_id integer references outbox (id) on delete set null,
        source text not null,
        ticket_key text not null,
        kind text not null,
        writeback text not null,         -- JSON
        result text not null,            -- JSON {status, remote_ref, detail}
        before text not null,            -- JSON, see docs/store.md
        at text not null
    )""",
    "create index journal_run on journal (run_id, id)",
    """create table checkins (
        id integer primary key autoincrement,
        kr_id text not null,
        value real not null,
        at text not null,
        confidence real,
        note text not null
    )""",
    "create index checkins_kr_at on checkins (kr_id, at)",
    """create table kr_snapshots (
        kr_id text not null,
        at text not null,
        value real not null,
        primary key (kr_id, at)
    )""",
    """create table runs (
        id integer primary key autoincrement,
        kind text not null,
        started_at text not null,
        finished_at text,
        status text not null,            -- 'running', then the caller's status
        dry_run integer not null,
        summary text not null            -- JSON object
    )""",
    "create index runs_kind on runs (kind, id)",
    """create table untraceable (
        uid text primary key,
        source text not null,
        since text not null
    )""",
    """create table sent_reports (
        week text not null,
        kind text not null,
        recipient text not null,
        sent_at text not null,
        message_id text not null,
        times integer not null default 1,
        primary key (week, kind, recipient)
    )""",
    """create table report_snapshots (
        week text not null,
        kind text not null,
        data text not null,              -- JSON object
        created_at text not null,
        primary key (week, kind)
    )""",
)


def v1_initial(db: Database) -> None:
    """Schema v1: every table listed in docs/architecture.md."""
    for statement in _V1:
        db.execute(statement)


def v2_complete_pulls(db: Database) -> None:
    """Schema v2: when each source was last pulled completely, so that epics deleted or moved
    out of the scope are noticed on a schedule (incremental pulls cannot see them go)."""
    db.execute(
        """create table complete_pulls (
            source text primary key,
            at text not null,
            run_id integer
        )"""
    )


def v3_ownership(db: Database) -> None:
    """Schema v3: who each source writes as, and the look-alikes of okrsync's comments and
    remote links that people or other tools left on tickets (reported, never touched)."""
    db.execute(
        """create table identities (
            source text primary key,
            kind text not null,              -- 'user' or 'app' (GitHub), 'jira'
            login text not null,
            display text not null,
            seen_at text not null
        )"""
    )
    db.execute(
        """create table lookalikes (
            source text not null,
            ticket_key text not null,
            kind text not null,              -- 'comment' or 'remote_link'
            ref text not null,               -- comment id or globalId
            author text not null,            -- comment author login or link application name
            reason text not null,
            first_seen text not null,
            last_seen text not null,
            primary key (source, ticket_key, kind, ref)
        )"""
    )


def v4_held_links(db: Database) -> None:
    """Schema v4: tickets whose goal links a revert undid and that the next syncs leave
    alone until their mapping changes (a rule or the ticket) or the hold is released."""
    db.execute(
        """create table held_links (
            source text not null,
            ticket_key text not null,
            kr_ids text not null,
            run_id integer not null,
            revert_run_id integer,
            held_at text not null,
            primary key (source, ticket_key)
        )"""
    )



def v5_outbox_parking(db: Database) -> None:
    """Schema v5: a write-back refused for one repo, project or ticket waits out a backoff
    (`next_attempt_at`) and, after `[sync] park_after` refusals, is parked (`parked_at`)
    instead of being retried every run; `outcome_unknown` marks an item whose last attempt
    may have landed (its answer was lost), so re-planning can tell a person's removal from a
    write that never happened. A row stays `status = 'pending'` while it waits or is parked."""
    for column in ("parked_at text", "next_attempt_at text",
                   "outcome_unknown integer not null default 0"):
        db.execute(f"alter table outbox add column {column}")


def v6_outbox_deferral(db: Database) -> None:
    """Schema v6: a pending write-back a tracker's rate limit holds back is deferred, not
    failed: until when its source may be written to again, and which limit said so."""
    db.execute("alter table outbox add column deferred_until text")
    db.execute("alter table outbox add column deferred_reason text")



def v7_suggestion_decisions(db: Database) -> None:
    """Schema v7: people's answers to suggestions. `accepted` links the epic like an explicit
    label; `rejected` stops that suggestion for that epic. One row per (epic, KR)."""
    db.execute(
        """create table suggestion_decisions (
            source text not null,
            ticket_key text not null,
            kr_id text not null,
            decision text not null,          -- accepted | rejected
            decided_by text not null,
            decided_at text not null,
            primary key (source, ticket_key, kr_id)
        )"""
    )


def v8_ticket_resolved(db: Database) -> None:
    """Schema v8: the tracker's resolution time of each epic, the ship date bet verdicts are
    measured from (okrsync's first sight of a done epic can be weeks later)."""
    db.execute("alter table tickets add column resolved text")


def v9_measured_values(db: Database) -> None:
    """Schema v9: key-result values measured from data sources live beside people's
    check-ins, each with its provenance (which kind of source, a digest of its query, when it
    was fetched; `at` is the time the value is for). One measured value per (KR, time, source
    query), so re-running a measurement or a backfill adds nothing new."""
    for statement in (
        "alter table checkins add column origin text not null default 'checkin'",
        "alter table checkins add column query_digest text",
        "alter table checkins add column fetched_at text",
        "create unique index checkins_measured on checkins (kr_id, at, origin, query_digest) "
        "where origin != 'checkin'",
    ):
        db.execute(statement)


def v10_review_rhythm(db: Database) -> None:
    """Schema v10: the review rhythm. `reminders`: one row per check-in reminder sent (a KR and
    the date its check-in was due), so each goes out once. `escalations`: one row per (rule,
    subject, week it opened), closed when its cause clears. `chat_deliveries`: every Slack or
    Teams message tried, with its outcome (a failure is recorded, never dropped)."""
    for statement in (
        """create table reminders (
            kr_id text not null,
            due text not null,
            owner text not null,
            sent_at text not null,
            channels text not null default '',
            primary key (kr_id, due)
        )""",
        """create table escalations (
            rule text not null,
            subject text not null,
            week text not null,
            notify text not null,
            detail text not null,
            opened_at text not null,
            closed_at text,
            primary key (rule, subject, week)
        )""",
        "create index escalations_open on escalations (rule, subject) where closed_at is null",
        """create table chat_deliveries (
            id integer primary key,
            channel text not null,
            kind text not null,
            subject text not null,
            status text not null,
            attempts integer not null,
            detail text not null default '',
            at text not null
        )""",
    ):
        db.execute(statement)


MIGRATIONS: list[Migration] = [
    v1_initial, v2_complete_pulls, v3_ownership, v4_held_links, v5_outbox_parking,
    v6_outbox_deferral, v7_suggestion_decisions, v8_ticket_resolved, v9_measured_values,
    v10_review_rhythm,
]
"""Append-only: index i takes the schema from version i to i + 1."""


def schema_version(db: Database) -> int:
    """The highest applied version; 0 for a new (empty) database."""
    db.execute(
        "create table if not exists schema_version "
        "(version integer primary key, applied_at text not null)"
    )
    row = db.execute("select max(version) from schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: Database, path: Path, migrations: Sequence[Migration] | None = None) -> int:
    """Apply every pending migration, each in its own transaction; return the new version.

    A database written by a newer okrsync is refused rather than guessed at.
    """
    steps = MIGRATIONS if migrations is None else migrations
    current = schema_version(db)
    if current > len(steps):
        raise StoreError(
            f"{path}: the store has schema version {current} but this okrsync understands "
            f"versions up to {len(steps)}",
            hint="upgrade okrsync, or point [store].path at another file",
        )
    for version in range(current + 1, len(steps) + 1):
        with db.atomic():
            steps[version - 1](db)
            db.execute(
                "insert into schema_version (version, applied_at) values (?, ?)",
                [version, SYSTEM.now().isoformat(timespec="microseconds")],
            )
    return len(steps)
