"""`okrsync checkins`: every stored value of the key results, with where it came from."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from syncer.cli import app


@app.command()
def checkins(
    kr: str | None = typer.Option(None, "--kr", metavar="ID", help="Only this key result."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the values as a JSON list."),
) -> None:
    """List key-result values oldest first: people's check-ins (`origin` checkin) and values
    measured from data sources (`origin` the source kind, with the digest of its query and
    when it was fetched). The ID is what `okrsync checkin --edit/--delete` take."""
    from core.errors import UserError
    from core.model import find_kr
    from syncer.catalog import load_catalog
    from syncer.config import load_config
    from syncer.store import Store

    cfg = load_config(config, credentials=False)
    kr_id = None
    if kr is not None:
        found = find_kr(load_catalog(cfg.catalog_path), kr.strip())
        if found is None:
            raise UserError(f"unknown key result {kr!r}", file=str(cfg.catalog_path), key="--kr")
        kr_id = found.id
    with Store.open(cfg.store_target, busy_timeout=cfg.store_busy_timeout) as store:
        values = store.checkins(kr_id)
    if as_json:
        typer.echo(json.dumps([{
            "id": v.id, "kr_id": v.kr_id, "value": v.value, "at": v.at.isoformat(),
            "origin": v.origin, "confidence": v.confidence, "note": v.note,
            "query_digest": v.query_digest,
            "fetched_at": v.fetched_at.isoformat() if v.fetched_at else None,
        } for v in values], indent=2))
        return
    if not values:
        typer.echo("no values yet: `okrsync checkin KR VALUE` or `okrsync measure`")
        return
    typer.echo(f"{'id':>5}  {'kr':<10} {'at (UTC)':<16} {'value':>9}  {'origin':<12} "
               "provenance")
    for v in values:
        if v.measured:
            fetched = f"{v.fetched_at:%m-%d %H:%M}" if v.fetched_at else "?"
            prov = f"{(v.query_digest or '?')[:8]} @{fetched}"
        else:
            prov = v.note[:21]
        typer.echo(f"{v.id or 0:>5}  {v.kr_id[:10]:<10} {v.at:%Y-%m-%d %H:%M} {v.value:>9.4g}"
                   f"  {v.origin[:12]:<12} {prov}")
