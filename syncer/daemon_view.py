"""What the daemon shows about each source on `/healthz` and `/metrics`: read from the store
after every run (read-only), and rendered as JSON or the Prometheus text format."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.errors import StoreError
from syncer.source_health import HISTORY_RUNS, SourceHealth, source_health
from syncer.store_health import OUTBOX_COUNT_KEYS


@dataclass(frozen=True)
class SourceView:
    """One source's health and figures as the daemon last read them."""

    health: SourceHealth
    figures: Mapping[str, int] = field(default_factory=dict)
    outbox: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**self.health.to_json(), **dict(self.figures), **dict(self.outbox)}


def read_sources(store_path: Path | str) -> dict[str, SourceView]:
    """Every source the store knows, read through a read-only connection (the daemon never
    writes the store itself); empty when there is no usable store yet."""
    from syncer.store import Store, store_exists

    if not store_exists(store_path):
        return {}
    try:
        with Store.open_read_only(store_path) as store:
            health = source_health(store.sync_history(HISTORY_RUNS))
            figures = store.source_figures()
            names = sorted(set(health) | set(figures))
            return {
                name: SourceView(
                    health=health.get(name, SourceHealth(name)),
                    figures=figures.get(name, {"epics": 0, "linked": 0, "untraceable": 0}),
                    outbox=store.outbox_counts(name),
                )
                for name in names
            }
    except StoreError:
        return {}


def read_open_escalations(store_path: Path | str) -> dict[str, int]:
    """Open escalations per rule (the rhythm, schema v10), read-only; empty without a store."""
    from syncer.store import Store, store_exists

    if not store_exists(store_path):
        return {}
    try:
        with Store.open_read_only(store_path) as store:
            if store.version < 10:
                return {}
            out: dict[str, int] = {}
            for e in store.escalations(open_only=True):
                out[e.rule] = out.get(e.rule, 0) + 1
            return out
    except StoreError:
        return {}


def health_body(
    *, age: float | None, uptime: float, stale_after: float, consecutive_failures: int,
    unhealthy_after: int, last_exit_code: int | None, pending_writebacks: int, syncing: bool,
    sources: Mapping[str, SourceView],
) -> tuple[int, dict[str, Any]]:
    """The `/healthz` answer: 503 "failing" after `unhealthy_after` failed runs in a row, 503
    "stale" when no run succeeded for `stale_after` seconds, else 200 "ok"."""
    status = "ok"
    if consecutive_failures >= unhealthy_after:
        status = "failing"
    elif (age is not None and age > stale_after) or (age is None and uptime >= stale_after):
        status = "stale"
    body = {
        "status": status,
        "last_success_age_seconds": None if age is None else round(age, 1),
        "last_exit_code": last_exit_code,
        "pending_writebacks": pending_writebacks,
        "consecutive_failures": consecutive_failures,
        "unhealthy_after": unhealthy_after,
        "syncing": syncing,
        "sources": {name: view.to_json() for name, view in sorted(sources.items())},
    }
    return (200 if status == "ok" else 503), body


SOURCE_GAUGES = {
    "epics": "Epics of the source in the store.",
    "linked": "Epics of the source linked to a key result.",
    "untraceable": "Epics of the source flagged untraceable.",
}


@dataclass(eq=False)
class _Snapshot(Collector):
    """The daemon's state at scrape time, as metric families."""

    runs: Mapping[str, int]
    last_success_at: float | None
    pending_writebacks: int
    last_duration: float
    consecutive_failures: int
    reports_sent: int
    sources: Mapping[str, SourceView]
    reviews_sent: int = 0
    escalations: Mapping[str, int] = field(default_factory=dict)

    def collect(self) -> Iterator[Metric]:
        runs = CounterMetricFamily("okrsync_sync_runs", "Sync runs by result.", labels=["result"])
        for result, n in sorted(self.runs.items()):
            runs.add_metric([result], n)
        yield runs
        yield GaugeMetricFamily("okrsync_last_success_timestamp_seconds",
                                "Unix time of the last clean sync.", self.last_success_at or 0)
        yield GaugeMetricFamily("okrsync_pending_writebacks",
                                "Write-backs waiting in the outbox.", self.pending_writebacks)
        yield GaugeMetricFamily("okrsync_last_sync_duration_seconds",
                                "Duration of the last sync.", self.last_duration)
        yield GaugeMetricFamily("okrsync_consecutive_failures",
                                "Failed syncs in a row (drives backoff and /healthz).",
                                self.consecutive_failures)
        yield CounterMetricFamily("okrsync_reports_sent", "Weekly reports sent by this daemon.",
                                  self.reports_sent)
        yield CounterMetricFamily("okrsync_reviews_sent",
                                  "Rhythm reviews (weekly, monthly, quarterly) sent.",
                                  self.reviews_sent)
        open_esc = GaugeMetricFamily("okrsync_open_escalations",
                                     "The rhythm's open escalations, by rule.", labels=["rule"])
        for rule, n in sorted(self.escalations.items()):
            open_esc.add_metric([rule], n)
        yield open_esc
        yield from self._per_source()

    def _per_source(self) -> Iterator[Metric]:
        def family(name: str, doc: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"okrsync_source_{name}", doc, labels=["source"])

        up = family("up", "1 when the source's latest pull succeeded, else 0.")
        success = family("last_success_timestamp_seconds",
                         "Unix time of the source's last successful pull (0: never).")
        failures = family("consecutive_failures", "The source's failed pulls in a row.")
        figures = {k: family(k, doc) for k, doc in SOURCE_GAUGES.items()}
        outbox = {k: family(f"{k}_writebacks", f"The source's {k} write-backs.")
                  for k in OUTBOX_COUNT_KEYS}
        for name, view in sorted(self.sources.items()):
            h = view.health
            up.add_metric([name], 0 if h.failing else 1)
            success.add_metric(
                [name], h.last_success_at.timestamp() if h.last_success_at else 0)
            failures.add_metric([name], h.consecutive_failures)
            for key, fam in figures.items():
                fam.add_metric([name], view.figures.get(key, 0))
            for key, fam in outbox.items():
                fam.add_metric([name], view.outbox.get(key, 0))
        yield from (up, success, failures, *figures.values(), *outbox.values())


def metrics_text(
    *, runs: Mapping[str, int], last_success_at: float | None, pending_writebacks: int,
    last_duration: float, consecutive_failures: int, reports_sent: int,
    sources: Mapping[str, SourceView], reviews_sent: int = 0,
    escalations: Mapping[str, int] | None = None,
) -> str:
    """The `/metrics` page in the Prometheus text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(
        runs=runs, last_success_at=last_success_at, pending_writebacks=pending_writebacks,
        last_duration=last_duration, consecutive_failures=consecutive_failures,
        reports_sent=reports_sent, sources=sources, reviews_sent=reviews_sent,
        escalations=escalations or {},
    ))
    return generate_latest(registry).decode()
