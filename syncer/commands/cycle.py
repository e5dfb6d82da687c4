"""`okrsync cycle rollover --to ID [--dry-run]`: move open work to the next OKR cycle on
purpose, after seeing what moves and what it costs (`syncer.rollover`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from syncer.cli import app

if TYPE_CHECKING:
    from syncer.rollover import Rollover

cycle_app = typer.Typer(help="OKR cycles: roll open work over to the next cycle.",
                        no_args_is_help=True)
app.add_typer(cycle_app, name="cycle")

SHOWN = 20
"""Moves and epics needing a KR listed by name; `--json` lists all."""


@cycle_app.command("rollover")
def rollover(
    to: str = typer.Option(..., "--to", help="The [[cycle]] id to roll over to."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the rollover (from the last pull); write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the preview (and run) as JSON."),
) -> None:
    """Show the whole rollover to cycle `--to` (links that move, open epics that need a new
    KR, ended epics kept in their cycle, the write budget and the time the trackers' limits
    impose), then apply it as a sync: through the outbox, paced. Goal comments and remote
    links are edited in place; a label changes only where the KR changed.

    The preview plans the epics of the last pull. Applying needs `--to` to be the current
    cycle (today falls in it, or it is marked `current = true` in okrs.toml).

    Exit codes: as `okrsync sync` (0 ok, 1 failures, 2 invalid config or `--to`, 3 locked).
    """
    from mappings.rules import load_rules
    from syncer.catalog import load_catalog
    from syncer.config import load_config
    from syncer.engine import run_sync, selected_sources
    from syncer.rollover import preview, require_current, rolled_catalog
    from syncer.store import Store

    cfg = load_config(config)
    catalog = load_catalog(cfg.catalog_path)
    rolled = rolled_catalog(catalog, to, file=str(cfg.catalog_path))
    if not dry_run:
        require_current(catalog, to, file=str(cfg.catalog_path))
    rules = load_rules(cfg.rules_path, rolled, explicit_prefix=cfg.labels.explicit_prefix)
    sources = selected_sources(cfg, None)
    store = Store.open(cfg.store_target, busy_timeout=cfg.store_busy_timeout)
    try:
        seen = preview(cfg, store, rolled, rules, sources, to=to, current=catalog.current_cycle)
    finally:
        store.close()
    console = Console(stderr=as_json, highlight=False, width=80)
    if not as_json:
        _print(console, seen)
    if dry_run:
        if as_json:
            print(json.dumps({"dry_run": True, **seen.to_json()}, indent=2))
        raise typer.Exit(0)
    summary = run_sync(cfg)
    if as_json:
        print(json.dumps({"dry_run": False, **seen.to_json(), "run": summary.to_json()},
                         indent=2, default=str))
    else:
        from syncer.commands.sync import print_summary

        print_summary(console, summary)
    raise typer.Exit(int(summary.exit_code))


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _print(console: Console, seen: Rollover) -> None:
    from syncer.rollover import budget_lines

    console.print(f"[bold]rollover to {escape(seen.to)}[/] (current: "
                  f"{escape(seen.current or '-')}; from the last pull)")
    console.print(f"{_n(len(seen.moves), 'epic')} move to the new cycle's key results:")
    for move in seen.moves[:SHOWN]:
        console.print(f"  {escape(move.ticket)}: {escape(', '.join(move.from_krs))} -> "
                      f"{escape(', '.join(move.to_krs))}")
    if len(seen.moves) > SHOWN:
        console.print(f"  ... {len(seen.moves) - SHOWN} more (--json lists all)")
    console.print(f"{_n(len(seen.needs_kr), 'open epic')} need a new KR (no current rule or "
                  "label links them):")
    for uid, krs in list(seen.needs_kr.items())[:SHOWN]:
        hint = seen.suggestions.get(uid)
        console.print(f"  {escape(uid)}: was {escape(', '.join(krs))}"
                      + (f"; suggested {escape(hint)}" if hint else ""))
    if len(seen.needs_kr) > SHOWN:
        console.print(f"  ... {len(seen.needs_kr) - SHOWN} more (--json lists all)")
    console.print(f"{_n(seen.frozen, 'ended epic')} stay in the cycle they ran in "
                  "(no write-back)")
    console.print(f"[bold]write budget[/]: {len(seen.writebacks):,} write-backs")
    for line in budget_lines(seen):
        console.print(f"  {escape(line)}")
