"""`okrsync runs` and `okrsync revert`: what recent runs did, and undoing one of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from syncer.cli import app, exit_with
from syncer.commands.sync import CONFIG_OPTION, describe


def _row(run: Any) -> dict[str, Any]:
    s = run.summary or {}
    return {
        "id": run.id,
        "kind": run.kind,
        "started_at": str(run.started_at),
        "finished_at": str(run.finished_at) if run.finished_at else None,
        "status": run.status,
        "dry_run": bool(run.dry_run),
        "pulled": sum(src.get("pulled", 0) for src in s.get("sources", [])),
        "requests": sum(src.get("requests", 0) for src in s.get("sources", [])),
        "applied": s.get("applied", 0),
        "failed": len(s.get("failed", [])),
        "pending": s.get("pending", 0),
        "duration": s.get("duration"),
    }


@app.command()
def runs(
    config: Path | None = CONFIG_OPTION,
    limit: int = typer.Option(20, min=1, help="How many recent runs."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List recent runs: when, what kind, pulled, requests, write-backs applied and pending."""
    from syncer.config import load_config
    from syncer.store import Store

    cfg = load_config(config, credentials=False)
    store = Store.open(cfg.store_target, busy_timeout=cfg.store_busy_timeout)
    try:
        rows = [_row(r) for r in store.runs(limit)]
    finally:
        store.close()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"last {len(rows)} runs")
    for col in ("id", "kind", "started", "status", "pulled", "requests", "applied", "failed",
                "pending", "seconds"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]), r["kind"] + (" (dry)" if r["dry_run"] else ""), r["started_at"][:19],
            escape(str(r["status"])), str(r["pulled"]), str(r["requests"]), str(r["applied"]),
            str(r["failed"]), str(r["pending"]), str(r["duration"] or ""),
        )
    Console(highlight=False).print(table)


@app.command()
def revert(
    run_id: int = typer.Argument(..., help="The run to undo (see `okrsync runs`)."),
    config: Path | None = CONFIG_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be undone only."),
    release: bool = typer.Option(
        False, "--release",
        help="Lift the holds of an earlier revert of RUN_ID: the next sync re-applies.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Undo the write-backs one run applied: remove the labels it added, restore those it
    removed, put goal links back as they were — through the same outbox, so a revert that is
    interrupted finishes on the next run. Labels a person has changed since are left alone.

    The reverted tickets are held: later syncs leave them as reverted until a rule or the
    ticket changes what they map to, or `okrsync revert --release RUN_ID`.
    """
    from syncer.config import load_config
    from syncer.revert import release_holds, revert_run

    cfg = load_config(config)
    if release:
        released = release_holds(cfg, run_id)
        if as_json:
            print(json.dumps({"run_id": run_id, "released": released}))
        else:
            Console(highlight=False).print(
                f"released {released} held tickets of run {run_id}: the next sync plans "
                "them from the rules again")
        raise typer.Exit(0)
    outcome = revert_run(cfg, run_id, dry_run=dry_run)
    if as_json:
        print(json.dumps(outcome.to_json(), indent=2, default=str))
    else:
        console = Console(highlight=False)
        verb = "would undo" if dry_run else "undid"
        console.print(f"revert of run {run_id} {verb} {len(outcome.planned)} write-backs "
                      f"({len(outcome.left_alone)} left alone because people changed them since)")
        for wb in outcome.planned:
            console.print(f"  {escape(wb.source)} {escape(wb.ticket_key)}: {escape(describe(wb))}")
        for why in outcome.left_alone:
            console.print(f"  left alone: {escape(why)}")
        if not dry_run:
            console.print(f"applied {outcome.applied}, pending {outcome.pending}")
        if outcome.held:
            verb = "would hold" if dry_run else "held"
            console.print(
                f"{verb} {outcome.held} tickets: the next syncs leave them as reverted until "
                f"a rule or the ticket changes what they map to, or `okrsync revert --release "
                f"{run_id}`")
    exit_with(outcome.exit_code)
