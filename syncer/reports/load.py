"""The imperative shell of reports: read the store and config, build the report (pure), and
keep this week's snapshot so trends survive later rule changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from core.model import Catalog, Ticket
from mappings.rules import suggest_krs
from syncer.backlog import backlog_json
from syncer.inputs import rules_of
from syncer.reports.build import ReportSettings, build_weekly_report
from syncer.reports.figures import bets_summary
from syncer.reports.model import ParkedItem, ReportKind, Suggestion, WeeklyReport
from syncer.reports.untraceable import Suggester, snapshot_summary
from syncer.reports.verdicts import build_verdicts
from syncer.reports.weeks import IsoWeek, parse_week, week_of
from syncer.source_health import HISTORY_RUNS, source_health, stale_sources
from syncer.store_ports import ReportReads

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.store import Store
    from syncer.store_rows import OutboxItem

SNAPSHOT_PREFIX = "weekly-"
"""Snapshot kinds: `weekly-all`, `weekly-untraceable`, `weekly-bets` (the report as JSON plus
the untraceable summary the trend reads); `unsent-<kind>` for mail that could not be sent."""


def settings_of(config: Config) -> ReportSettings:
    return ReportSettings(
        timezone=config.report.timezone,
        stale_weeks=config.report.stale_weeks,
        trend_weeks=config.report.trend_weeks,
        ktlo=tuple(config.labels.ktlo),
        explicit_prefix=config.labels.explicit_prefix,
    )


def resolve_week(week: IsoWeek | str | None, now: datetime, timezone: str) -> IsoWeek:
    """`--week` (or the current ISO week in the report's zone); future weeks are refused."""
    current = week_of(now, timezone)
    if week is None:
        return current
    wanted = parse_week(week) if isinstance(week, str) else week
    if wanted > current:
        raise UserError(
            f"week {wanted} has not started yet (this week is {current})", key="--week"
        )
    return wanted


def trend_history(store: ReportReads, weeks: int) -> list[dict[str, Any]]:
    """Earlier weeks' untraceable summaries, one per week (from any report kind that had one)."""
    found: dict[str, dict[str, Any]] = {}
    for kind in (ReportKind.ALL, ReportKind.UNTRACEABLE):
        for snap in store.report_snapshots(SNAPSHOT_PREFIX + kind.value, weeks + 1):
            summary = snap.data.get("summary")
            if isinstance(summary, Mapping) and snap.week not in found:
                found[snap.week] = {**summary, "week": snap.week}
    return [found[w] for w in sorted(found)]


def make_suggester(config: Config, catalog: Catalog, store: Store | None = None) -> Suggester:
    """Suggested KRs: learned from the store's links (`syncer.suggestions`), computed once for
    every untraceable epic; without a store, the rule engine's closest rules and shared words."""
    ruleset = rules_of(config, catalog)
    if store is None:
        def closest(ticket: Ticket) -> Sequence[tuple[str, str]]:
            return suggest_krs(ticket, ruleset, catalog)

        return closest
    from syncer import suggestions as sg

    _, _, found = sg.suggest_untraceable(store, catalog, config, ruleset)
    by_uid = {s.ticket.uid: s for s in found}

    def learned(ticket: Ticket) -> Sequence[Suggestion]:
        s = by_uid.get(ticket.uid)
        if s is None:
            return ()
        return (Suggestion(s.kr_id, s.why(), s.label, confidence=s.confidence,
                           nearest=tuple(n.key for n in s.evidence.neighbours),
                           words=s.evidence.words, near_miss=s.near_miss),)

    return learned


def build_report(
    store: Store,
    catalog: Catalog,
    config: Config,
    week: IsoWeek | str | None = None,
    *,
    kind: ReportKind = ReportKind.ALL,
    now: datetime | None = None,
    suggest: Suggester | None = None,
    save_snapshot: bool = True,
) -> WeeklyReport:
    """Load the inputs, build the report, and snapshot it when it is for the current week."""
    now = now or datetime.now(UTC)
    settings = settings_of(config)
    wk = resolve_week(week, now, settings.timezone)
    tickets = store.tickets()
    report = build_weekly_report(
        tickets=tickets,
        links=store.links(),
        broken=store.broken_links(),
        bets=store.bets(),
        overrides=store.overrides(),
        untraceable_since=store.untraceable(),
        checkins=store.checkins(),
        catalog=catalog,
        teams=config.teams,
        week=wk,
        now=now,
        trend=trend_history(store, settings.trend_weeks),
        settings=settings,
        kind=kind,
        suggest=suggest if suggest is not None else make_suggester(config, catalog, store),
    )
    backlog = backlog_json(store.deferrals(datetime.now(UTC)), config.sources)
    report = replace(report, backlog=tuple(
        f"{d['message']}, {d['eta']}" if d["eta"] else str(d["message"]) for d in backlog))
    if kind in (ReportKind.BETS, ReportKind.ALL):
        report = replace(report, verdicts=build_verdicts(
            catalog=catalog, bets=store.bets(), tickets={t.uid: t for t in tickets},
            checkins=store.checkins(), now=report.as_of))
    from syncer.owning import attention

    report = replace(report, attention=tuple(attention(store, config.sources)),
                     stale_sources=tuple(stale_data(store, config, now)),
                     parked=parked_items(store.pending()))
    if save_snapshot and wk == week_of(now, settings.timezone):
        save_snapshot_of(store, report, now=now)
    return report


def stale_data(store: ReportReads, config: Config, now: datetime) -> list[str]:
    """The banner: configured sources whose last successful pull is older than the sync
    schedule (`[daemon].interval_seconds` plus its jitter), or that only ever failed."""
    schedule = timedelta(
        seconds=config.daemon.interval_seconds + config.daemon.jitter_seconds)
    enabled = [name for name, src in config.sources.items() if src.enabled]
    health = source_health(store.sync_history(HISTORY_RUNS), enabled)
    return stale_sources({n: health[n] for n in enabled}, now=now, schedule=schedule)


def parked_items(pending: Sequence[OutboxItem]) -> tuple[ParkedItem, ...]:
    """The parked write-backs among `pending`, for the report's "needs attention"."""
    return tuple(
        ParkedItem(key=i.writeback.ticket_key, source=i.writeback.source,
                   kind=i.writeback.kind.value, reason=i.last_error or "", attempts=i.attempts,
                   since=i.parked_at)
        for i in pending if i.parked_at is not None
    )


def save_snapshot_of(store: Store, report: WeeklyReport, *, now: datetime) -> None:
    """Keep the report (for BI) and its untraceable summary (for future trends)."""
    data: dict[str, Any] = {"report": report.to_json()}
    if report.untraceable is not None:
        data["summary"] = {**snapshot_summary(report.untraceable, report.week),
                           **bets_summary(report)}
    store.save_report_snapshot(report.week, SNAPSHOT_PREFIX + report.kind.value, data, now=now)
