"""Judging a pull: whether a source may be written to and flagged in this run, and whether
its complete pull may forget what it no longer returned. Pure: the engine gathers the facts
while pulling and applies the verdict to the store.

Missing data is not "nothing there": a complete pull that returns far fewer epics than the
store holds (below `min_epics_ratio`) is a safety stop when someone asked for it (`--full`,
a lost cursor): the source is unhealthy for the run, nothing is removed or flagged. When only
the schedule made the pull complete, the source syncs as usual, nothing is forgotten, a
warning says so, and the schedule tries again next period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class PullFacts:
    """What one source's pull did, as the engine saw it."""

    returned: int
    """Epics the pull returned, skipped (malformed) ones included."""
    stored_before: int
    complete: bool
    """The pull started without a cursor: it saw every epic in scope."""
    scheduled: bool
    """Only the schedule (or a scope change) made it complete, nobody asked for it."""
    min_ratio: float
    failure: str = ""
    """Why the pull failed part way ("" when it finished)."""


@dataclass(frozen=True)
class PullVerdict:
    """What the run may do with a source after its pull."""

    healthy: bool
    reason: str = ""
    warning: str = ""
    forget_unseen: bool = False
    """Retire the stored epics this complete pull no longer returned."""
    complete_pull_done: bool = False
    """Record the complete pull, so the schedule counts its period from now."""


def judge_pull(facts: PullFacts) -> PullVerdict:
    """The safety stop and completeness of one pull; see the module docstring."""
    if facts.failure:
        return PullVerdict(healthy=False, reason=facts.failure)
    if not facts.complete:
        return PullVerdict(healthy=True)
    returned, before, ratio = facts.returned, facts.stored_before, facts.min_ratio
    shrunk = bool(before) and returned < ratio * before
    if shrunk and facts.scheduled:
        return PullVerdict(
            healthy=True, complete_pull_done=True,
            warning=(
                f"the scheduled complete pull returned {returned} epics but the store holds "
                f"{before} (below min_epics_ratio {ratio}); nothing forgotten. If the scope "
                "was narrowed on purpose, run `okrsync sync --full` once with a lower "
                "min_epics_ratio"
            ),
        )
    if shrunk:
        return PullVerdict(
            healthy=False,
            reason=(
                f"safety stop: a full pull returned {returned} epics but the store holds "
                f"{before} (below min_epics_ratio {ratio}); nothing removed or flagged for "
                "this source"
            ),
        )
    return PullVerdict(healthy=True, forget_unseen=True, complete_pull_done=True)


def due_complete_pulls(
    last_complete: Mapping[str, datetime | None], every_hours: float, now: datetime
) -> frozenset[str]:
    """The sources whose last complete pull is older than `every_hours` (0: never due)."""
    if every_hours <= 0:
        return frozenset()
    every = timedelta(hours=every_hours)
    return frozenset(name for name, last in last_complete.items()
                     if last is None or now - last >= every)
