"""A cycle rollover seen before it happens (`okrsync cycle rollover --to ID`): the links that
move, the open epics that need a new KR, the ended epics kept in their cycle, and the write
budget with the time the trackers' limits impose on it.

The preview plans the stored epics (the last pull) as the next sync would with `--to` as the
current cycle, through the same planner; nothing is written. Applying is a sync: the write-
backs go through the outbox and are paced like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connectors.base import SourceConfig
from connectors.limits import GITHUB_CONTENT_LIMITS
from connectors.pacing import minimum_seconds, parse_limits
from core.errors import ConfigError
from core.model import Catalog, WriteBack, WriteBackKind
from syncer.backlog import SourceBudget, duration_text, write_budget
from syncer.cycles import frozen_cycle
from syncer.plan import Plan

if TYPE_CHECKING:
    from mappings.rules import RuleSet
    from syncer.config import Config
    from syncer.store import Store

PUBLISHED_SPACING = 1.0
"""GitHub's advice: content writes one at a time, at least a second apart."""


@dataclass(frozen=True)
class Move:
    """One epic's goal links moving from past KRs to current ones."""

    ticket: str
    source: str
    from_krs: tuple[str, ...]
    to_krs: tuple[str, ...]


@dataclass
class Rollover:
    """What rolling over to `to` would do (see the module docstring)."""

    to: str
    current: str | None
    moves: list[Move] = field(default_factory=list)
    needs_kr: dict[str, tuple[str, ...]] = field(default_factory=dict)
    suggestions: dict[str, str] = field(default_factory=dict)
    frozen: int = 0
    writebacks: list[WriteBack] = field(default_factory=list)
    budget: list[SourceBudget] = field(default_factory=list)
    published_seconds: dict[str, float] = field(default_factory=dict)
    """Per GitHub source: the least time at github.com's published limits (80/min, 500/h)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "to": self.to, "current": self.current, "frozen_epics": self.frozen,
            "moves": [{"ticket": m.ticket, "source": m.source, "from": list(m.from_krs),
                       "to": list(m.to_krs)} for m in self.moves],
            "needs_kr": [{"ticket": uid, "was": list(krs),
                          "suggestion": self.suggestions.get(uid)}
                         for uid, krs in self.needs_kr.items()],
            "writebacks": len(self.writebacks),
            "by_kind": dict(sorted(_kinds(self.writebacks).items())),
            "budget": [{"source": b.source, "by_kind": dict(b.by_kind), "content": b.content,
                        "label_creations": b.label_creations, "seconds": round(b.seconds, 1),
                        "published_seconds": round(self.published_seconds.get(b.source, 0), 1)
                        if b.source in self.published_seconds else None,
                        "message": b.line()} for b in self.budget],
        }


def _kinds(writebacks: Sequence[WriteBack]) -> dict[str, int]:
    out: dict[str, int] = {}
    for wb in writebacks:
        out[wb.kind.value] = out.get(wb.kind.value, 0) + 1
    return out


def rolled_catalog(catalog: Catalog, to: str, *, file: str) -> Catalog:
    """The catalog with `to` as its current cycle; an unknown id is a ConfigError."""
    if catalog.cycle(to) is None:
        known = ", ".join(c.id for c in catalog.cycles)
        msg = (f"no cycle {to!r} in the catalog (cycles: {known})" if known
               else "the catalog has no [[cycle]]; add the cycles before a rollover")
        raise ConfigError(msg, file=file, key="--to")
    return replace(catalog, current_cycle=to)


def require_current(catalog: Catalog, to: str, *, file: str) -> None:
    """Applying needs `to` to be the catalog's own current cycle, so the next sync keeps it:
    the one containing today, or marked `current = true` (an early rollover)."""
    if catalog.current_cycle == to:
        return
    index = next(i for i, c in enumerate(catalog.cycles) if c.id == to)
    cycle = catalog.cycles[index]
    raise ConfigError(
        f"cycle {to} is not current yet (current: {catalog.current_cycle}); to roll over "
        f"before {cycle.start}, mark it `current = true` (the preview, --dry-run, works "
        "without)", file=file, key=f"cycle[{index}].current")


def published_seconds(budget: SourceBudget) -> float:
    """The least time `budget`'s content writes take at github.com's published limits."""
    return minimum_seconds(budget.content + budget.label_creations,
                           parse_limits(GITHUB_CONTENT_LIMITS), PUBLISHED_SPACING)


def collect(rollover: Rollover, part: Plan, writebacks: Sequence[WriteBack],
            catalog: Catalog) -> None:
    """Add one planned batch to the preview: its goal-link moves and epics needing a KR."""
    rollover.writebacks.extend(writebacks)
    for wb in writebacks:
        if wb.kind is not WriteBackKind.SET_GOAL_LINKS or not wb.previous:
            continue
        was = tuple(k for k in wb.previous if not catalog.is_current(k))
        now = tuple(g.kr_id for g in wb.goals)
        if was and now:
            rollover.moves.append(Move(wb.ticket_key, wb.source, was, now))
    rollover.needs_kr.update(part.needs_kr)


def preview(config: Config, store: Store, catalog: Catalog, rules: RuleSet,
            sources: Mapping[str, SourceConfig], *, to: str, current: str | None,
            now: datetime | None = None) -> Rollover:
    """Plan the stored epics with `catalog` (already rolled to `to`); nothing is written."""
    from mappings.rules import suggest_krs
    from syncer.inputs import plan_settings
    from syncer.planning import make_planner, plan_batches

    now = now or datetime.now(UTC)
    rollover = Rollover(to=to, current=current)
    healthy = frozenset(name for name, src in sources.items() if src.enabled)
    planner = make_planner(store, catalog, rules, plan_settings(config), healthy=healthy,
                           now=now, replan=False)
    for batch in plan_batches(store, planner):
        collect(rollover, batch.plan, batch.plan.writebacks, catalog)
    for ticket in store.tickets():
        if frozen_cycle(ticket, catalog) is not None:
            rollover.frozen += 1
        if ticket.uid in rollover.needs_kr and len(rollover.suggestions) < SUGGESTED:
            found = suggest_krs(ticket, rules, catalog, limit=1)
            if found:
                kr_id, why = found[0]
                rollover.suggestions[ticket.uid] = f"{kr_id} ({why})"
    rollover.budget = write_budget(rollover.writebacks, sources)
    rollover.published_seconds = {b.source: published_seconds(b) for b in rollover.budget
                                  if sources[b.source].kind == "github"}
    return rollover


SUGGESTED = 200
"""Epics needing a KR that get a suggestion in the preview (the report suggests for all)."""


def budget_lines(rollover: Rollover) -> list[str]:
    """The write budget in people's words, with the time at GitHub's published limits."""
    lines = [b.line() for b in rollover.budget]
    configured = {b.source: b.seconds for b in rollover.budget}
    for name, seconds in sorted(rollover.published_seconds.items()):
        if round(seconds) == round(configured.get(name, -1.0)):
            continue  # the source paces by the published limits already
        lines.append(f"{name}: at GitHub's published limits (80/min, 500/h, 1 s apart): at "
                     f"least {duration_text(seconds)}")
    return lines or ["no write-backs"]
