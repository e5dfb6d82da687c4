"""`okrsync store migrate --to postgresql://...`: move the SQLite store into PostgreSQL.

Run it once, with no sync running (it holds the SQLite store's run lock), then set
`[store] url` (or `OKRSYNC_STORE__URL`) to the same URL. The password comes from
`OKRSYNC_STORE__PASSWORD`, never from the command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from syncer.cli import app
from syncer.commands.sync import CONFIG_OPTION

store_app = typer.Typer(help="Maintain the store: move a SQLite store into PostgreSQL.",
                        no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("migrate")
def migrate(
    to: str = typer.Option(..., "--to", help="The PostgreSQL store: postgresql://user@host/db "
                                             "(password in OKRSYNC_STORE__PASSWORD)."),
    config: Path | None = CONFIG_OPTION,
    source_path: Path | None = typer.Option(
        None, "--from", help="The SQLite store to copy (default: the config's [store].path)."),
    as_json: bool = typer.Option(False, "--json", help="Print the per-table counts as JSON."),
) -> None:
    """Copy every table of the SQLite store (ledger, outbox, journal, history) into an empty
    PostgreSQL store in one transaction, and verify the row count of every table. Exit 0 when
    every count matches; 1 when the server cannot be reached; 2 for a bad URL, a target that
    already holds data, or counts that differ (the copy is then rolled back); 3 when a run
    holds the SQLite store's lock."""
    from urllib.parse import urlsplit

    from core.errors import UserError
    from syncer.config import load_config
    from syncer.lock import RunLock
    from syncer.store import Store
    from syncer.store_copy import copy_store
    from syncer.store_pg import display_url, is_url

    if not is_url(to):
        raise UserError("--to must be a postgresql:// URL", key="--to")
    if urlsplit(to).password is not None:
        raise UserError("--to must not hold the password (it would show in the process list)",
                        key="--to", hint="set OKRSYNC_STORE__PASSWORD instead")
    cfg = load_config(config, credentials=False)
    path = source_path or cfg.store_path
    if not path.exists():
        raise UserError(f"no SQLite store at {path}", key="--from")
    with RunLock(path, command="store migrate"), Store.open(path) as source, \
            Store.open(to) as target:
        report = copy_store(source, target)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    table = Table(title=f"{path} -> {display_url(to)}")
    for col in ("table", "sqlite", "postgresql", "check"):
        table.add_column(col, justify="left" if col in ("table", "check") else "right")
    for name, (a, b) in report.rows.items():
        table.add_row(name, str(a), str(b), "ok" if a == b else "DIFFERS")
    console = Console(width=80)
    console.print(table)
    console.print(f"copied {sum(a for a, _ in report.rows.values())} rows in "
                  f"{report.seconds:.1f}s; every count verified. Next: set [store] url.")
