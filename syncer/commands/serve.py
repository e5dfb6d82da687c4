"""`okrsync serve`: the read-only dashboard over the store."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from core.errors import UserError
from syncer.cli import app


@app.command()
def serve(
    host: str | None = typer.Option(
        None, "--host", help="Address to listen on (default: [web].host, 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535,
        help="Port to listen on (default: [web].port, else 8080; 0: any free port).",
    ),
    config_path: Path | None = typer.Option(
        None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
    ),
) -> None:
    """Serve the dashboard: Portfolio, Untraceable, Teams and Runs, each with a JSON twin
    (`?format=json`).

    Read-only: it never writes to the trackers or the store. Listens on 127.0.0.1 unless
    `--host` or `[web].host` says otherwise; `[web].auth` adds a bearer token or a trusted
    reverse-proxy header (deploy/README.md). Prints the URL, then serves until Ctrl-C.
    """
    from syncer.config import load_config
    from syncer.web.server import Dashboard

    config = load_config(config_path, credentials=False)
    from syncer.store import store_exists

    if not store_exists(config.store_target):
        raise UserError(f"no store at {config.store_path}", file=str(config.path),
                        key="store.path", hint="run `okrsync sync` first")
    if config.web.auth == "token" and not config.web.token.get_secret_value():
        raise UserError("web.auth is \"token\" but no token is set", file=str(config.path),
                        key="web.token", hint="set OKRSYNC_WEB__TOKEN")
    where_host = host or config.web.host
    where_port = port if port is not None else (
        config.web.port if config.web.port is not None else 8080)
    try:
        dashboard = Dashboard(config, where_host, where_port)
    except OSError as exc:
        raise UserError(f"cannot listen on {where_host}:{where_port}: {exc.strerror}",
                        key="--port", hint="pick another --port (0: any free port)") from None
    print(f"okrsync dashboard: {dashboard.url}", flush=True)
    dashboard.serve()
    sys.stdout.flush()
