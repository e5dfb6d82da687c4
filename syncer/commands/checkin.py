"""`okrsync checkin KR-ID VALUE`: record a key result's current value in the store."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from core.clock import SYSTEM
from core.errors import UserError
from core.model import CheckIn
from syncer.cli import app

if TYPE_CHECKING:
    from syncer.store import Store


def _parse_at(value: str | None, now: datetime) -> datetime:
    """A check-in's time: now, or a past ISO date/time (a value can't be known ahead)."""
    if not value:
        return now
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"--at {value!r} is not an ISO date/time (e.g. 2026-11-02 or 2026-11-02T09:00Z)",
            key="--at",
        ) from None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if at > now:
        raise UserError(f"--at {value} is in the future; check in a value once it is known",
                        key="--at")
    return at


def _person_checkin(store: Store, checkin_id: int, option: str) -> CheckIn:
    entry = store.checkin(checkin_id)
    if entry is None:
        raise UserError(f"no check-in with id {checkin_id} (`okrsync checkins` lists them)",
                        key=option)
    if entry.measured:
        raise UserError(f"value {checkin_id} was measured by its {entry.origin} source, not "
                        "checked in; only people's check-ins can be changed", key=option)
    return entry


@app.command()
def checkin(
    kr_id: str | None = typer.Argument(None, metavar="KR-ID",
                                       help="Key result id from okrs.toml."),
    value: float | None = typer.Argument(None, help="The key result's value, in its unit."),
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
    edit: int | None = typer.Option(
        None, "--edit", metavar="ID",
        help="Correct check-in ID (from `okrsync checkins`) to KR-ID VALUE; keeps its time "
             "unless --at is given."),
    delete: int | None = typer.Option(
        None, "--delete", metavar="ID", help="Delete check-in ID (no KR-ID or VALUE)."),
) -> None:
    """Record a check-in: the key result's value now. Bets use check-ins to tell whether a
    key result moved while an epic ran; the weekly report shows the trend.

    The KR id must exist in the catalog (case does not matter). Example:
    `okrsync checkin KR-1 47.5 --confidence 0.7 --note "new checkout live in DE"`.
    """
    import math

    from core.model import find_kr
    from syncer.catalog import load_catalog
    from syncer.config import load_config
    from syncer.store import Store

    now = SYSTEM.now()
    if delete is not None:
        if edit is not None or kr_id is not None or value is not None:
            raise UserError("--delete ID takes no KR-ID, VALUE or --edit", key="--delete")
        cfg = load_config(config, credentials=False)
        with Store.open(cfg.store_target, busy_timeout=cfg.store_busy_timeout) as store:
            gone = _person_checkin(store, delete, "--delete")
            store.delete_checkin(delete)
        typer.echo(f"deleted check-in {delete} ({gone.kr_id} = {gone.value:g} at "
                   f"{gone.at:%Y-%m-%d %H:%M} UTC)")
        return
    if kr_id is None or value is None:
        raise UserError("give KR-ID and VALUE (or --delete ID)", key="KR-ID")
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
    with Store.open(cfg.store_target, busy_timeout=cfg.store_busy_timeout) as store:
        if edit is not None:
            old = _person_checkin(store, edit, "--edit")
            entry = CheckIn(kr_id=kr.id, value=value, at=_parse_at(at, now) if at else old.at,
                            confidence=confidence, note=note or old.note, id=edit)
            store.edit_checkin(entry)
        else:
            entry = CheckIn(kr_id=kr.id, value=value, at=_parse_at(at, now),
                            confidence=confidence, note=note)
            entry = replace(entry, id=store.add_checkin(entry))
    if as_json:
        typer.echo(json.dumps({
            "id": entry.id, "kr_id": entry.kr_id, "value": entry.value, "at": entry.at.isoformat(),
            "confidence": entry.confidence, "note": entry.note,
        }))
        return
    unit = f" {kr.unit}" if kr.unit else ""
    verb = f"corrected check-in {edit}:" if edit is not None else "checked in"
    typer.echo(f"{verb} {kr.id} = {value:g}{unit} at {entry.at:%Y-%m-%d %H:%M} UTC "
               f"(baseline {kr.baseline:g}, target {kr.target:g})")
