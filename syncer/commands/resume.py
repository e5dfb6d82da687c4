"""`okrsync resume`: make parked write-backs (and ones backing off) due again, for example
once okrsync has been granted write access to the repo or project that refused them."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from core.clock import SYSTEM
from syncer.cli import app
from syncer.commands.sync import CONFIG_OPTION


@app.command()
def resume(
    ids: list[int] = typer.Argument(None, help="Outbox ids (see `okrsync status`); "
                                               "default: every parked one."),
    config: Path | None = CONFIG_OPTION,
    source: str | None = typer.Option(None, "--source", "-s",
                                      help="Only this source's write-backs."),
    as_json: bool = typer.Option(False, "--json", help="Print the count as JSON."),
) -> None:
    """Make parked write-backs due again: the next sync retries them. Changes nothing remote.

    A write-back refused `[sync] park_after` times (a 403 on one repo or project, a redirect)
    is parked: kept and shown by `status`, but not retried. Its attempts are kept, so one more
    refusal parks it again.
    """
    from core.errors import UserError
    from syncer.config import load_config
    from syncer.store import Store

    cfg = load_config(config)
    if source is not None and source not in cfg.sources:
        raise UserError(f"no source named {source}; configured: "
                        f"{', '.join(sorted(cfg.sources)) or 'none'}",
                        file=str(cfg.path), key="--source")
    with Store.open(cfg.store_target, busy_timeout=cfg.store_busy_timeout) as store:
        count = store.resume(source=source, ids=ids or (), now=SYSTEM.now())
    if as_json:
        print(json.dumps({"resumed": count}))
    else:
        print(f"{count} write-back(s) due again; the next `okrsync sync` retries them")
