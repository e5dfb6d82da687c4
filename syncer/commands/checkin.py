"""`okrsync checkin KR-ID VALUE`: record a key result's current value in the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from syncer.cli import app
from syncer.errors import UserError
from syncer.model import CheckIn


def _parse_at(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"--at {value!r} is not an ISO date/time (e.g. 2026-11-02 or 2026-11-02T09:00Z)",
            key="--at",
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@app.command()
def checkin(
    kr_id: str = typer.Argument(..., metavar="KR-ID", help="Key result id from okrs.toml."),
    value: float = typer.Argument(..., help="The key result's current value, in its unit."),
    confidence: float | None = typer.Option(
        None, "--confidence", help="How sure the owner is the target will be hit, 0..1."
    ),
    note: str = typer.Option("", "--note", help="What changed, in a sentence."),
    at: str | None = typer.Option(
        None, "--at", help="When the value was measured (ISO; default now, UTC)."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the stored check-in as JSON."),
) -> None:
    """Record a check-in: the key result's value now. Bets use check-ins to tell whether a
    key result moved while an epic ran; the weekly report shows the trend.

    The KR id must exist in the catalog (case does not matter). Example:
    `okrsync checkin KR-1 47.5 --confidence 0.7 --note "new checkout live in DE"`.
    """
    import math

    from syncer.catalog import find_kr, load_catalog
    from syncer.config import load_config
    from syncer.store import Store

    if not math.isfinite(value):
        raise UserError(f"VALUE must be a finite number, not {value}", key="VALUE")
    if confidence is not None and not 0.0 <= confidence <= 1.0:
        raise UserError(f"--confidence must be between 0 and 1, not {confidence}",
                        key="--confidence")
    cfg = load_config(config, credentials=False)
    catalog = load_catalog(cfg.catalog_path)
    kr = find_kr(catalog, kr_id.strip())
    if kr is None:
        known = ", ".join(k.id for k in catalog.key_results)
        raise UserError(
            f"unknown key result {kr_id!r}; the catalog has: {known}",
            file=str(cfg.catalog_path),
            key="KR-ID",
        )
    entry = CheckIn(kr_id=kr.id, value=value, at=_parse_at(at), confidence=confidence,
                    note=note)
    with Store.open(cfg.store_path) as store:
        store.add_checkin(entry)
    if as_json:
        typer.echo(json.dumps({
            "kr_id": entry.kr_id, "value": entry.value, "at": entry.at.isoformat(),
            "confidence": entry.confidence, "note": entry.note,
        }))
        return
    unit = f" {kr.unit}" if kr.unit else ""
    typer.echo(f"checked in {kr.id} = {value:g}{unit} at {entry.at:%Y-%m-%d %H:%M} UTC "
               f"(baseline {kr.baseline:g}, target {kr.target:g})")
