"""Read views for BI tools (Grafana, Metabase, Looker): stable names and columns over the
store's tables, so a dashboard charts untraceable work, links, bets, KR values and runs
without knowing the tables, and keeps working when a table grows a column.

The views are definitions, not data: `ensure_views` creates the missing ones each time a
store is opened for writing, in portable SQL (the same text on SQLite and PostgreSQL), so
they need no schema version. Changing a view's columns means a new view name; columns are
only ever added at the end. docs/store.md lists them.
"""

from __future__ import annotations

from syncer.store_base import SqlDatabase

VIEWS: dict[str, str] = {
    "okrsync_untraceable": (
        "select u.source, t.key as ticket_key, t.title, t.url, t.project, t.issue_type, "
        "t.state, t.assignee, u.since "
        "from untraceable u join tickets t on u.uid = t.source || ':' || t.key"
    ),
    "okrsync_links": (
        "select l.source, l.ticket_key, l.kr_id, l.origin, l.rule_id, l.reason, t.title, "
        "t.url, t.project, t.state "
        "from links l left join tickets t on t.source = l.source and t.key = l.ticket_key"
    ),
    "okrsync_bets": (
        "select source, ticket_key, kr_id, status, hypothesis, opened_at, active_at, ended_at, "
        "kr_start, kr_end, updated_at from bets"
    ),
    "okrsync_kr_values": (
        "select kr_id, at, value, origin, confidence, note from checkins "
        "union all "
        "select kr_id, at, value, 'snapshot', cast(null as real), '' from kr_snapshots"
    ),
    "okrsync_runs": (
        "select id, kind, started_at, finished_at, status, dry_run, summary from runs"
    ),
}
"""View name -> its query. Append-only: never drop or reorder a column of a shipped view."""


def view_names(db: SqlDatabase, postgres: bool) -> set[str]:
    if postgres:
        sql = ("select table_name from information_schema.views "
               "where table_schema = current_schema()")
    else:
        sql = "select name from sqlite_master where type = 'view'"
    return {str(r[0]) for r in db.execute(sql).fetchall()}


def ensure_views(db: SqlDatabase, *, postgres: bool) -> None:
    """Create every view of `VIEWS` the store does not have yet."""
    missing = [name for name in VIEWS if name not in view_names(db, postgres)]
    if not missing:
        return
    with db.atomic():
        for name in missing:
            db.execute(f"create view {name} as {VIEWS[name]}")
