"""The write-back backlog in people's words: what is deferred, until when, and how long the
trackers' limits make the rest take. Pure functions over plain values; `sync`, `status`,
`/metrics` and the report footer all say it the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from connectors.base import SourceConfig
from connectors.pacing import Limit, minimum_seconds, parse_limits, steady_rate
from core.model import WriteBack, WriteBackKind
from syncer.store_deferral import Deferral

_CONTENT_KINDS = {
    WriteBackKind.ADD_LABEL: 1,
    WriteBackKind.SET_GOAL_LINKS: 1,
    WriteBackKind.REMOVE_LABEL: 0,
    WriteBackKind.REMOVE_GOAL_LINKS: 0,
}


def content_limits(config: SourceConfig) -> tuple[Limit, ...]:
    """The content-creation limits a source paces by (GitHub), else none."""
    return parse_limits(getattr(config, "content_limits", ()) or ())


def content_cost(wb: WriteBack, config: SourceConfig) -> int:
    """Content-creating requests one write-back costs at most: a label add and a goal-link
    comment (created or edited) are one each; removals are DELETEs; with the `label`
    carrier the goal links cost nothing. Jira has no content limit: 0."""
    if config.kind != "github":
        return 0
    if wb.kind is WriteBackKind.SET_GOAL_LINKS and getattr(
            config, "goal_link_carrier", "label+comment") == "label":
        return 0
    return _CONTENT_KINDS[wb.kind]


def rate_text(limit: Limit) -> str:
    """`500/h`, `80/min`, `40/2 s`."""
    if limit.seconds == 3600:
        return f"{limit.count}/h"
    if limit.seconds == 60:
        return f"{limit.count}/min"
    return f"{limit.count}/{limit.seconds:g} s"


def duration_text(seconds: float) -> str:
    """`~3 h 40 min`, `~12 min`, `~40 s`."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"~{seconds:.0f} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"~{hours} h {minutes} min" if hours else f"~{minutes} min"


def tightest(limits: Iterable[Limit]) -> Limit | None:
    """The limit with the lowest long-run rate: the one a big backlog is paced by."""
    return min(limits, key=lambda lim: lim.rate, default=None)


def eta_text(count: int, limits: tuple[Limit, ...]) -> str:
    """`done in ~3 h 40 min at 500/h`, or "" when nothing limits the source."""
    slowest = tightest(limits)
    if count <= 0 or slowest is None:
        return ""
    return f"done in {duration_text(count / slowest.rate)} at {rate_text(slowest)}"


def deferral_line(d: Deferral) -> str:
    """`github: 1,840 write-backs deferred until 14:05 UTC (GitHub content limit)`."""
    return (f"{d.source}: {d.count:,} write-back{'s' if d.count != 1 else ''} deferred until "
            f"{d.until:%H:%M} UTC ({d.reason or 'rate limit'})")


@dataclass
class SourceBudget:
    """What a planned set of write-backs costs one source against its limits."""

    source: str
    by_kind: Counter[str] = field(default_factory=Counter)
    content: int = 0
    label_creations: int = 0
    seconds: float = 0.0
    limits: tuple[Limit, ...] = ()

    @property
    def requests(self) -> int:
        return sum(self.by_kind.values())

    def line(self) -> str:
        kinds = ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in sorted(self.by_kind.items()))
        text = f"{self.source}: {self.requests:,} write-backs ({kinds})"
        if not self.limits:
            return text + "; no content limit"
        creations = (f" + up to {self.label_creations:,} label creations"
                     if self.label_creations else "")
        return (f"{text}; {self.content:,} content-creating{creations}, at least "
                f"{duration_text(self.seconds)} under "
                f"{', '.join(rate_text(lim) for lim in self.limits)}")


def write_budget(writebacks: Iterable[WriteBack], sources: Mapping[str, SourceConfig]
                 ) -> list[SourceBudget]:
    """Per source: write-backs by kind, how many create content, and the least time the
    source's content limits impose on them (`sync --dry-run` prints it)."""
    budgets: dict[str, SourceBudget] = {}
    labels: dict[str, set[tuple[str, str]]] = {}
    for wb in writebacks:
        config = sources.get(wb.source)
        if config is None:
            continue
        budget = budgets.get(wb.source)
        if budget is None:
            budget = budgets[wb.source] = SourceBudget(wb.source, limits=content_limits(config))
        budget.by_kind[wb.kind.value] += 1
        budget.content += content_cost(wb, config)
        if config.kind == "github" and wb.kind is WriteBackKind.ADD_LABEL:
            labels.setdefault(wb.source, set()).add(
                (wb.ticket_key.partition("#")[0].casefold(), wb.label.casefold()))
    for name, budget in budgets.items():
        budget.label_creations = len(labels.get(name, ()))
        spacing = float(getattr(sources[name], "write_spacing", 0.0) or 0.0)
        budget.seconds = minimum_seconds(budget.content + budget.label_creations,
                                         budget.limits, spacing)
    return [budgets[n] for n in sorted(budgets)]


def remaining_seconds(count: int, limits: tuple[Limit, ...]) -> float:
    """Seconds the tightest limit needs for `count` more sends (0 when unlimited)."""
    rate = steady_rate(limits)
    return 0.0 if count <= 0 or rate == float("inf") else count / rate


def backlog_json(deferrals: Mapping[str, Deferral], sources: Mapping[str, SourceConfig]
                 ) -> list[dict[str, object]]:
    """The deferred backlog as `sync --json`, `status --json` and reports carry it."""
    out: list[dict[str, object]] = []
    for d in sorted(deferrals.values(), key=lambda d: d.source):
        limits = content_limits(sources[d.source]) if d.source in sources else ()
        out.append({"source": d.source, "count": d.count, "until": d.until.isoformat(),
                    "reason": d.reason, "eta_seconds": round(remaining_seconds(d.count, limits)),
                    "eta": eta_text(d.count, limits), "message": deferral_line(d)})
    return out
