"""One `okrsync measure` run: which times to ask each KR's source for (pure), asking, storing.

Times: the current hour, plus — on a KR's first measurement by a query, or with `--backfill
WEEKS` — the Monday 00:00 UTC of each of the last WEEKS weeks, when the source can answer for
the past. Times a query already has a value for are not asked again, so a second run adds
nothing new. A KR whose source fails stores nothing from this run; the failure is recorded in
the run's summary and reported, and other KRs go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from connectors.http import Sleep
from core.clock import SYSTEM
from core.model import Catalog, CheckIn, KeyResult
from syncer.measure.fetch import FetchContext, SourceFailed, fetch_values

if TYPE_CHECKING:
    from syncer.config import Config

DEFAULT_BACKFILL_WEEKS = 12


def week_starts(now: datetime, weeks: int) -> list[datetime]:
    """Monday 00:00 UTC of this week and of the `weeks - 1` before it, oldest first."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = day - timedelta(days=day.weekday())
    return [monday - timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]


def times_to_ask(now: datetime, *, can_backfill: bool, stored: set[datetime],
                 backfill_weeks: int | None) -> list[datetime]:
    """The moments to measure (see the module docstring), minus those already stored."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    wanted = {current}
    weeks = backfill_weeks if backfill_weeks is not None else (
        DEFAULT_BACKFILL_WEEKS if not stored else 0)
    if can_backfill and weeks > 0:
        wanted.update(week_starts(now, weeks))
    return sorted(wanted - stored)


@dataclass
class KrMeasurement:
    """What measuring one KR did."""

    kr_id: str
    kind: str
    digest: str
    asked: int = 0
    added: int = 0
    values: list[CheckIn] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kr_id": self.kr_id, "kind": self.kind, "query_digest": self.digest,
                "asked": self.asked, "added": self.added, "error": self.error,
                "values": [{"at": v.at.isoformat(), "value": v.value} for v in self.values]}


class MeasuredValues(Protocol):
    """The store methods a measurement uses (a `syncer.store.Store`)."""

    def measured_times(self, kr_id: str, origin: str, query_digest: str) -> set[datetime]: ...

    def add_measured(self, values: Sequence[CheckIn]) -> int: ...


async def measure_krs(krs: Sequence[KeyResult], store: MeasuredValues, ctx: FetchContext, *,
                      now: datetime, backfill_weeks: int | None,
                      dry_run: bool) -> list[KrMeasurement]:
    """Measure every KR that has a source; one failing KR never stops the others."""
    results: list[KrMeasurement] = []
    for kr in krs:
        source = kr.source
        if source is None:
            continue
        result = KrMeasurement(kr.id, source.kind, source.digest())
        results.append(result)
        stored = store.measured_times(kr.id, source.kind, result.digest)
        times = times_to_ask(now, can_backfill=source.can_backfill, stored=stored,
                             backfill_weeks=backfill_weeks)
        result.asked = len(times)
        if not times:
            continue
        try:
            values = await fetch_values(source, times, ctx)
        except SourceFailed as exc:
            result.error = str(exc)
            continue
        result.values = [
            CheckIn(kr.id, v, at, origin=source.kind, query_digest=result.digest,
                    fetched_at=now)
            for at, v in sorted(values.items())
        ]
        result.added = len(result.values) if dry_run else store.add_measured(result.values)
    return results


def uses_trackers(catalog: Catalog, kr_id: str | None = None) -> bool:
    """Whether measuring (one KR, or all) asks a configured tracker source, so the config
    must be loaded with its credentials."""
    folded = kr_id.strip().casefold() if kr_id else None
    return any(
        kr.source is not None and kr.source.kind in ("jira_count", "github_count")
        and (folded is None or kr.id.casefold() == folded)
        for kr in catalog.key_results
    )


def run_measure(config: Config, *, kr_id: str | None = None, dry_run: bool = False,
                backfill_weeks: int | None = None, now: datetime | None = None,
                sleep: Sleep = SYSTEM.sleep,
                environ: Mapping[str, str] | None = None) -> list[KrMeasurement]:
    """`okrsync measure`: load the catalog, measure, record the run in the store."""
    import os

    from core.errors import UserError
    from core.model import find_kr
    from syncer.catalog import load_catalog
    from syncer.store import Store

    catalog = load_catalog(config.catalog_path)
    krs = list(catalog.key_results)
    if kr_id is not None:
        kr = find_kr(catalog, kr_id.strip())
        if kr is None:
            known = ", ".join(k.id for k in catalog.key_results)
            raise UserError(f"unknown key result {kr_id!r}; the catalog has: {known}",
                            file=str(config.catalog_path), key="--kr")
        if kr.source is None:
            raise UserError(f"{kr.id} has no [objective.key_result.source] to measure",
                            file=str(config.catalog_path), key="--kr")
        krs = [kr]
    moment = now or SYSTEM.now()
    ctx = FetchContext(base_dir=config.catalog_path.parent,
                       environ=dict(os.environ if environ is None else environ),
                       trackers=config.sources, sleep=sleep)
    with Store.open(config.store_target, busy_timeout=config.store_busy_timeout) as store:
        run_id = store.start_run("measure", dry_run=dry_run, now=moment)
        results = asyncio.run(measure_krs(krs, store, ctx, now=moment,
                                          backfill_weeks=backfill_weeks, dry_run=dry_run))
        failed = [r for r in results if r.error]
        summary = {"krs": [{k: v for k, v in r.to_json().items() if k != "values"}
                           for r in results],
                   "added": sum(r.added for r in results), "failed": len(failed)}
        store.finish_run(run_id, status="failed" if failed else "ok", summary=summary,
                         now=SYSTEM.now() if now is None else moment)
    return results
