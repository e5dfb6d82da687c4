"""What a run did, as values: each source's pull (`SourceOutcome`) and the whole run
(`RunSummary`), as the CLI prints them and the store records them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core.errors import ExitCode
from core.model import WriteBack
from syncer.batch_plan import RunPlan
from syncer.pull_verdict import PullVerdict


@dataclass
class SourceOutcome:
    """How one source's pull went; `healthy` sources may be written to and flagged."""

    name: str
    pulled: int = 0
    skipped: int = 0
    stored_before: int = 0
    complete: bool = False
    retired: int = 0
    healthy: bool = True
    reason: str = ""
    warning: str = ""
    notice: str = ""
    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    rate_limit_wait: float = 0.0
    verdict: PullVerdict = field(default_factory=lambda: PullVerdict(healthy=True), repr=False)


@dataclass
class RunSummary:
    """What a run did, as the CLI prints it and the store records it."""

    run_id: int
    dry_run: bool
    sources: list[SourceOutcome] = field(default_factory=list)
    tickets: int = 0
    linked: int = 0
    untraceable: int = 0
    ktlo: int = 0
    broken: int = 0
    new_overrides: int = 0
    planned: list[WriteBack] = field(default_factory=list)
    planned_count: int = 0
    applied: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    pending: int = 0
    parked: int = 0
    waiting: int = 0
    due: int = 0
    deferred: list[dict[str, Any]] = field(default_factory=list)
    write_budget: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    duration: float = 0.0
    pull_seconds: float = 0.0
    apply_seconds: float = 0.0
    plan: RunPlan | None = field(default=None, repr=False)
    """A dry run's whole plan, as `okrsync plan --json` prints it."""

    @property
    def exit_code(self) -> ExitCode:
        """1 when a source was unhealthy, a write-back failed in this run, or pending ones
        that were due were left; parked ones, ones waiting out a backoff, ones a rate limit
        deferred (all shown by `status`) and dropped ones (journalled) do not fail the run."""
        unhealthy = any(not s.healthy for s in self.sources)
        if unhealthy or self.failed or (self.due > 0 and not self.dry_run):
            return ExitCode.FAILURES
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        data = asdict(replace(self, plan=None, sources=[]))
        data.pop("plan")
        data["sources"] = [_outcome_json(s) for s in self.sources]
        data["planned"] = [wb.to_json() for wb in self.planned]
        data["failed"] = [{"writeback": k, "error": e} for k, e in self.failed]
        data["dropped"] = [{"writeback": k, "reason": r} for k, r in self.dropped]
        data["exit_code"] = int(self.exit_code)
        return data


def _outcome_json(outcome: SourceOutcome) -> dict[str, Any]:
    data = asdict(replace(outcome, verdict=PullVerdict(healthy=True)))
    data.pop("verdict")
    return data
