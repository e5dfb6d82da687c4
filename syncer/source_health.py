"""How each source has been doing, from the recorded sync runs: the last success, the last
failure and its reason, how many runs in a row failed, and whether its data is stale.

Pure functions over run records, so `status`, the daemon's `/healthz` and `/metrics` and the
report's stale-data banner all tell the same story from the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from syncer.store_rows import RunRow

HISTORY_RUNS = 200
"""Sync runs read to find each source's last success: enough for days at the default interval."""


@dataclass(frozen=True)
class SourceHealth:
    """One source as its recorded runs describe it. `failing`: its latest pull failed."""

    name: str
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_reason: str = ""
    consecutive_failures: int = 0

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0

    @property
    def state(self) -> str:
        if self.failing:
            return "failing"
        return "ok" if self.last_success_at is not None else "never synced"

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "last_success_at": _iso(self.last_success_at),
            "last_failure_at": _iso(self.last_failure_at),
            "last_reason": self.last_reason or None,
            "consecutive_failures": self.consecutive_failures,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def failed_sources(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(source, reason) for each source a sync summary (`sync --json`, `runs.summary`) says
    failed: its pull, or write-backs that failed."""
    out: list[tuple[str, str]] = []
    failed_writes: dict[str, list[str]] = {}
    for item in summary.get("failed") or ():
        if isinstance(item, Mapping):
            source = str(item.get("writeback", "")).split("|", 1)[0]
            failed_writes.setdefault(source, []).append(str(item.get("error", "")))
    sources = summary.get("sources") or ()
    for entry in sources:
        if not isinstance(entry, Mapping):
            continue
        name = str(entry.get("name", ""))
        if not entry.get("healthy", True):
            out.append((name, str(entry.get("reason") or "failed")))
        elif name in failed_writes:
            errors = failed_writes[name]
            out.append((name, f"{len(errors)} write-back(s) failed: {errors[0]}"))
    return out


def source_health(
    runs: Iterable[RunRow], names: Iterable[str] = ()
) -> dict[str, SourceHealth]:
    """Each source's health from sync runs given newest first; `names` adds configured
    sources no run has pulled yet."""
    found: dict[str, dict[str, Any]] = {n: {} for n in names}
    settled: set[str] = set()
    for run in runs:
        if run.kind != "sync" or run.status == "running":
            continue
        entry_list = run.summary.get("sources")
        if not isinstance(entry_list, list):
            continue
        at = run.finished_at or run.started_at
        failures = dict(failed_sources(run.summary))
        for entry in entry_list:
            if not isinstance(entry, Mapping) or "name" not in entry:
                continue
            name = str(entry["name"])
            seen = found.setdefault(name, {})
            if name in failures:
                seen.setdefault("last_failure_at", at)
                seen.setdefault("last_reason", failures[name])
                if name not in settled:
                    seen["consecutive_failures"] = seen.get("consecutive_failures", 0) + 1
            else:
                seen.setdefault("last_success_at", at)
                settled.add(name)
    return {name: SourceHealth(name, **seen) for name, seen in sorted(found.items())}


def stale_sources(
    health: Mapping[str, SourceHealth], *, now: datetime, schedule: timedelta
) -> list[str]:
    """One sentence per source whose data is older than its sync schedule (or that never
    synced), for the report's banner."""
    lines = []
    for name, h in sorted(health.items()):
        if h.last_success_at is None and h.last_failure_at is None:
            continue
        if h.last_success_at is None:
            lines.append(f"{name}: no successful sync yet; its epics are missing or partial")
        elif now - h.last_success_at > schedule:
            age = _age(now - h.last_success_at)
            reason = f" (last failure: {h.last_reason})" if h.failing and h.last_reason else ""
            lines.append(f"{name}: data is {age} old, older than its sync schedule{reason}")
    return lines


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"

