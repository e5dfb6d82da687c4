"""`okrsync status`: what the store holds and how the last runs went, without running anything.

Read-only in effect (it never takes the run lock, so it works while a sync runs); the one
write it can cause is migrating an older store to the current schema on open.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.base import SourceConfig
from connectors.text import printable
from core.clock import SYSTEM
from syncer import lock_pg, store_pg
from syncer.backlog import backlog_json
from syncer.cli import app
from syncer.lock import describe_holder, lock_holder
from syncer.owning import ownership_status
from syncer.source_health import HISTORY_RUNS, failed_sources, source_health
from syncer.store import Store, store_exists, store_label
from syncer.store_rows import RunRow

TERMINAL_PENDING = 20


def _run_json(row: RunRow) -> dict[str, Any]:
    """A run as status shows it: when, how it ended, its counts, requests and duration."""
    summary = row.summary
    counts = {
        k: (len(v) if isinstance(v, list) else v)
        for k, v in summary.items()
        if k in {"tickets", "linked", "untraceable", "ktlo", "broken", "new_overrides",
                 "applied", "unchanged", "failed", "pending"}
        and isinstance(v, int | list)
    }
    sources = summary.get("sources")
    requests = None
    if isinstance(sources, list):
        requests = sum(int(s.get("requests", 0)) for s in sources if isinstance(s, dict))
        counts["pulled"] = sum(int(s.get("pulled", 0)) for s in sources if isinstance(s, dict))
    duration = summary.get("duration")
    if not isinstance(duration, int | float):
        duration = row.duration
    return {
        "id": row.id,
        "status": row.status,
        "dry_run": row.dry_run,
        "started_at": row.started_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "duration": duration,
        "requests": requests,
        "counts": counts,
        "error": _error_of(summary),
    }


def _error_of(summary: dict[str, Any]) -> str | None:
    """Why a run failed: the error that ended it, else each failed source and its reason."""
    if summary.get("error"):
        return str(summary["error"])
    failed = failed_sources(summary)
    return "; ".join(f"{name}: {why}" for name, why in failed) or None


def _lock_of(store: Path | str, sources: Iterable[str]) -> dict[str, Any] | None:
    """Who holds the run lock: the SQLite store's holder, or for a PostgreSQL store the
    first source lock held (with `sources` naming every source locked now)."""
    if not store_pg.is_url(store):
        return lock_holder(store)
    held = lock_pg.lock_holders(str(store), sources)
    if not held:
        return None
    first = dict(next(iter(held.values())))
    first["sources"] = sorted(held)
    return first


def collect_status(store_path: Path | str, configured: Iterable[str] | None = None,
                   sources: Mapping[str, SourceConfig] | None = None) -> dict[str, Any]:
    """Everything `okrsync status` reports, as JSON-able data; `configured` (the config's
    source names) shows every configured source even before its first run, and lets it name
    stored sources that are no longer configured; `sources` give the deferred backlog its
    ETA."""
    names = None if configured is None else list(configured)
    out: dict[str, Any] = {
        "store": {"path": store_label(store_path), "exists": store_exists(store_path),
                  "schema_version": None},
        "lock": _lock_of(store_path, names or ()),
    }
    if not store_exists(store_path):
        return out
    with Store.open_read_only(store_path) as store:
        counts = store.counts()
        out["store"]["schema_version"] = store.version
        out["tickets"] = store.tickets_per_source()
        out["tickets_total"] = counts["tickets"]
        out["skipped"] = counts["skipped"]
        out["last_runs"] = {kind: _run_json(r) for kind, r in sorted(store.last_runs().items())}
        health = source_health(store.sync_history(HISTORY_RUNS), names or ())
        out["sources"] = {
            name: {**h.to_json(), **store.outbox_counts(name)} for name, h in health.items()
        }
        out["outbox"] = store.outbox_counts()
        out["held"] = [
            {"source": h.source, "ticket": h.ticket_key, "kr_ids": list(h.kr_ids),
             "reverted_run": h.run_id, "held_at": h.held_at.isoformat()}
            for h in store.held_links()
        ]
        out["pending"] = [
            {
                "id": item.id,
                "key": item.writeback.key,
                "source": item.writeback.source,
                "ticket": item.writeback.ticket_key,
                "kind": item.writeback.kind.value,
                "attempts": item.attempts,
                "last_error": item.last_error,
                "queued_at": item.created_at.isoformat() if item.created_at else None,
                "parked_at": item.parked_at.isoformat() if item.parked_at else None,
                "next_attempt_at": (item.next_attempt_at.isoformat()
                                    if item.next_attempt_at else None),
            }
            for item in store.pending()
        ]
        out["deferred"] = backlog_json(store.deferrals(SYSTEM.now()), sources or {})
        out["overrides"] = counts["overrides"]
        out["broken_links"] = counts["broken_links"]
        out["untraceable"] = counts["untraceable"]
        out["ownership"] = ownership_status(
            store, out["tickets"] if names is None else names)
        out["escalations"] = open_escalations_json(store)
        out["chat_failures"] = failed_chat_json(store)
    return out


def failed_chat_json(store: Store, last: int = 10) -> list[dict[str, Any]]:
    """The latest chat / reminder-mail deliveries that failed after their retries."""
    if store.version < 10:
        return []
    failed = [d for d in store.chat_deliveries() if d.status == "failed"][-last:]
    return [{"channel": d.channel, "kind": d.kind, "subject": d.subject,
             "attempts": d.attempts, "detail": d.detail, "at": d.at.isoformat()}
            for d in failed]


def open_escalations_json(store: Store) -> list[dict[str, Any]]:
    """The rhythm's open escalations (none in a store older than schema v10)."""
    if store.version < 10:
        return []
    from syncer.rhythm.review import escalation_json

    return [escalation_json(e) for e in store.escalations(open_only=True)]


def print_status(console: Console, data: dict[str, Any]) -> None:
    store = data["store"]
    console.print(f"store: {escape(store['path'])}")
    if data["lock"]:
        console.print(f"a run is in progress: {escape(describe_holder(data['lock']))}")
    if not store["exists"]:
        console.print("no store yet: the first `okrsync sync` creates it")
        return
    console.print(f"schema version {store['schema_version']}")
    per_source = ", ".join(f"{escape(s)} {n}" for s, n in data["tickets"].items()) or "none"
    console.print(f"tickets: {data['tickets_total']} ({per_source}); "
                  f"{data['skipped']} unreadable payloads skipped")
    if data["last_runs"]:
        table = Table(title="last runs")
        for col in ("kind", "run", "status", "started (UTC)", "duration", "requests", "counts"):
            table.add_column(col, no_wrap=col.startswith("started"))
        for kind, run in data["last_runs"].items():
            counts = ", ".join(f"{k} {v}" for k, v in run["counts"].items())
            table.add_row(
                escape(kind), str(run["id"]),
                escape(run["status"]) + (" (dry run)" if run["dry_run"] else ""),
                run["started_at"].replace("T", " ")[:16],
                "-" if run["duration"] is None else f"{run['duration']:.1f}s",
                "-" if run["requests"] is None else str(run["requests"]),
                escape(counts),
            )
        console.print(table)
    else:
        console.print("no runs yet")
    print_sources(console, data["sources"])
    pending = data["pending"]
    outbox = data["outbox"]
    resume = " (`okrsync resume` retries parked ones)" if outbox.get("parked") else ""
    waiting = f", {outbox['waiting']} waiting to retry" if outbox.get("waiting") else ""
    console.print(f"pending write-backs: {len(pending)} "
                  f"({outbox['parked']} parked, {outbox['deferred']} deferred{waiting}){resume}")
    for item in pending[:TERMINAL_PENDING]:
        error = f" - last error: {item['last_error']}" if item["last_error"] else ""
        state = ""
        if item.get("parked_at"):
            state = ", parked"
        elif item.get("next_attempt_at"):
            state = f", next try {item['next_attempt_at'].replace('T', ' ')[:16]}"
        console.print(
            f"  #{item['id']} {_show(item['source'])} {_show(item['ticket'])} {item['kind']} "
            f"(attempts {item['attempts']}{state}){_show(error)}"
        )
    if len(pending) > TERMINAL_PENDING:
        console.print(f"  ... and {len(pending) - TERMINAL_PENDING} more (see --json)")
    for deferral in data.get("deferred", []):
        console.print(f"  [yellow]{escape(deferral['message'])}[/]")
        if deferral["eta"]:
            console.print(f"    {escape(deferral['eta'])}")
    held = data["held"]
    if held:
        noun = "ticket" if len(held) == 1 else "tickets"
        console.print(f"held by a revert: {len(held)} {noun} (`okrsync revert --release RUN` "
                      "lets the next sync re-apply)")
        for h in held[:TERMINAL_PENDING]:
            krs = ", ".join(h["kr_ids"]) or "no KR"
            console.print(f"  {_show(h['source'])} {_show(h['ticket'])}: {_show(krs)} "
                          f"(run {h['reverted_run']})")
        if len(held) > TERMINAL_PENDING:
            console.print(f"  ... and {len(held) - TERMINAL_PENDING} more (see --json)")
    console.print(f"overrides: {data['overrides']}, broken links: {data['broken_links']}, "
                  f"untraceable epics: {data['untraceable']}")
    escalations = data.get("escalations") or []
    if escalations:
        console.print(f"[yellow]open escalations:[/] {len(escalations)} "
                      "(`okrsync review weekly` has the details)")
        for e in escalations[:TERMINAL_PENDING]:
            console.print(f"  {_show(e['rule'])} {_show(e['subject'])} → "
                          f"{_show(e['notify'] or 'nobody configured')} since "
                          f"{e['opened_at'][:10]}")
    for d in data.get("chat_failures") or []:
        console.print(f"[red]not delivered:[/] {_show(d['channel'])} {_show(d['kind'])} "
                      f"{_show(d['subject'])} at {_when(d['at'])}: {_show(d['detail'])}")
    print_ownership(console, data.get("ownership") or {})


def print_ownership(console: Console, own: dict[str, Any]) -> None:
    """Who each source writes as, and what needs attention: look-alikes, orphaned sources."""
    for source, who in own.get("identities", {}).items():
        console.print(f"{escape(source)} writes as {escape(who['login'])} ({who['kind']})")
    lookalikes = own.get("lookalikes", [])
    if lookalikes:
        console.print(f"[yellow]needs attention:[/] {len(lookalikes)} look-alikes of okrsync's "
                      "comments or links, left untouched:")
        for item in lookalikes[:TERMINAL_PENDING]:
            console.print(f"  {escape(item['source'])} {escape(item['ticket'])} "
                          f"{item['kind']} {escape(item['ref'])}: {escape(item['reason'])}")
    for source, count in own.get("orphaned_sources", {}).items():
        console.print(f"[yellow]needs attention:[/] source {escape(source)} is not configured "
                      f"but the store holds {count} of its epics (orphaned): "
                      f"`okrsync forget {escape(source)}` removes them from the store")


def print_sources(console: Console, sources: dict[str, dict[str, Any]]) -> None:
    """One row per source: its state, last success, last failure and why, its outbox."""
    if not sources:
        return
    table = Table(title="sources")
    for col in ("source", "state", "last success", "last failure", "pending"):
        table.add_column(col, no_wrap=col != "source")
    for name, s in sources.items():
        table.add_row(
            _show(name), s["state"], _when(s["last_success_at"]), _when(s["last_failure_at"]),
            _pending_cell(s),
        )
    console.print(table)
    for name, s in sources.items():
        if s["state"] == "failing" and s["last_reason"]:
            console.print(f"  {_show(name)} failing: {_show(s['last_reason'])}")


def _pending_cell(counts: dict[str, Any]) -> str:
    """"3", or "3 (1 parked, 2 deferred)" when some of them wait for a reason."""
    extras = [f"{counts[k]} {k}" for k in ("parked", "deferred") if counts.get(k)]
    return f"{counts['pending']}" + (f" ({', '.join(extras)})" if extras else "")


def _show(text: str) -> str:
    """Stored text (ticket keys, error messages) as one literal terminal line."""
    return escape(printable(text))


def _when(iso: str | None) -> str:
    return "-" if iso is None else iso.replace("T", " ")[:16]


@app.command()
def status(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Show the store: tickets per source, the last run of each kind, pending write-backs
    with their attempts and last error, overrides, broken links and untraceable epics.

    Safe while a sync runs; changes nothing remote.
    """
    from syncer.config import load_config

    cfg = load_config(config, credentials=False)
    data = collect_status(cfg.store_target, cfg.sources, sources=cfg.sources)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print_status(Console(highlight=False), data)
