"""`okrsync forget SOURCE`: remove a source that left the config from the store.

A source removed from (or renamed in) `okrsync.toml` leaves its epics, links, bets and ledger
in the store; reports would keep counting them and `status` calls them orphaned. Forgetting
deletes them from the store only: nothing on any tracker is touched (okrsync's labels, links
and comments stay where they are; a renamed source adopts them on its first sync).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from core.clock import SYSTEM
from syncer.cli import app
from syncer.commands.sync import CONFIG_OPTION


@app.command()
def forget(
    source: str = typer.Argument(..., help="The stored source to remove (see `okrsync status`)."),
    config: Path | None = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the rows removed as JSON."),
) -> None:
    """Remove a source that is no longer configured from the store: its epics, links, bets,
    ledger, overrides and pending write-backs. Touches nothing remote; the journal and run
    history stay."""

    from core.errors import UserError
    from syncer.config import load_config
    from syncer.lock import run_lock
    from syncer.store import Store

    cfg = load_config(config, credentials=False)
    if source in cfg.sources:
        raise UserError(f"source {source!r} is still configured; remove it from the config "
                        "first", file=str(cfg.path), key=f"sources.{source}")
    store = Store.open(cfg.store_target, busy_timeout=cfg.store_busy_timeout)
    try:
        stored = sorted(store.orphaned_sources(cfg.sources))
        if source not in stored:
            known = ", ".join(stored) or "none"
            raise UserError(f"the store holds no epics of an unconfigured source named "
                            f"{source!r} (orphaned sources: {known})", key="SOURCE")
        with run_lock(cfg.store_target, [source], command="forget"):
            run_id = store.start_run("forget", dry_run=False, now=SYSTEM.now())
            removed = store.forget(source)
            store.finish_run(run_id, status="ok", summary={"source": source, "removed": removed},
                             now=SYSTEM.now())
    finally:
        store.close()
    if as_json:
        print(json.dumps({"source": source, "removed": removed}, indent=2))
        return
    parts = ", ".join(f"{n} {t}" for t, n in removed.items() if n)
    Console(highlight=False).print(
        f"forgot source {escape(source)}: removed {escape(parts) or 'nothing'} from the store "
        "(nothing remote was touched)")
