"""The domain model: plain, immutable values shared by the connectors, the rule engine,
the planner, the store and the reports. No I/O here.

Everything after a connector sees only these values, never raw tracker JSON.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from core.cycles import Cycle

if TYPE_CHECKING:
    from core.kr_source import KrSource


class TicketState(StrEnum):
    """Where an epic is in its life, from Jira status category + resolution or GitHub state."""

    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    WONT_DO = "wont_do"


@dataclass(frozen=True)
class Ticket:
    """An epic pulled from a source. `key` is `WEB-123` (Jira) or `acme/app#45` (GitHub).

    `project` is the Jira project key or the GitHub `owner/repo`. Datetimes are UTC-aware.
    `description` is plain text (ADF / wiki / Markdown reduced), capped by the connector.
    """

    source: str
    key: str
    remote_id: str
    url: str
    title: str
    project: str
    issue_type: str
    labels: tuple[str, ...]
    state: TicketState
    updated: datetime
    created: datetime | None = None
    components: tuple[str, ...] = ()
    assignee: str | None = None
    hypothesis: str | None = None
    size: float | None = None
    description: str = ""
    resolved: datetime | None = None
    """When the tracker says the epic was resolved (Jira `resolutiondate`, GitHub
    `closed_at`): a shipped bet's ship date, which okrsync's first sight of it is not."""

    @property
    def uid(self) -> str:
        """Stable identity across the whole store: source + key."""
        return f"{self.source}:{self.key}"


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Objective:
    id: str
    title: str
    owner: str
    cycle: str
    sponsor: str = ""
    """Who a stalled objective escalates to (issue 20); empty: its owner."""


@dataclass(frozen=True)
class KeyResult:
    id: str
    objective_id: str
    title: str
    owner: str
    metric: str
    unit: str
    baseline: float
    target: float
    direction: Direction = Direction.UP
    min_move: float | None = None
    """δ, the smallest change of this KR that matters; None: a share of the target gap."""
    checkin: str = "weekly"
    """How often its owner checks in: weekly, biweekly or monthly (docs/rhythm.md)."""
    source: KrSource | None = field(default=None, compare=False)
    """Where the KR's value is measured from (`okrsync measure`); None: check-ins only."""


@dataclass(frozen=True)
class VerdictSettings:
    """`[verdicts]` in okrs.toml: when a shipped bet is judged and how strictly
    (docs/verdicts.md). `placebos` fake ship dates are tried; at most `max_pre_weeks` before
    the ship date are fitted."""

    evaluate_after_weeks: int = 4
    min_pre: int = 8
    min_post: int = 4
    min_move_share: float = 0.1
    placebos: int = 5
    max_pre_weeks: int = 26
    confidence: float = 0.95


@dataclass(frozen=True)
class Catalog:
    """Objectives and key results of one or more cycles, validated (unique ids, owners...)."""

    objectives: tuple[Objective, ...]
    key_results: tuple[KeyResult, ...]
    verdicts: VerdictSettings = VerdictSettings()
    cycles: tuple[Cycle, ...] = ()
    """`[[cycle]]` tables; empty: no cycles, every key result is current (`core.cycles`)."""
    current_cycle: str | None = None
    """The id of the current cycle, resolved when the catalog was loaded; None: no cycles."""

    def cycle(self, cycle_id: str) -> Cycle | None:
        return next((c for c in self.cycles if c.id == cycle_id), None)

    def cycle_of(self, kr_id: str) -> str | None:
        """The cycle a key result belongs to (its objective's); None when unknown."""
        kr = self.kr(kr_id)
        objective = self.objective(kr.objective_id) if kr is not None else None
        return objective.cycle if objective is not None else None

    def is_current(self, kr_id: str) -> bool:
        """Whether a KR belongs to the current cycle; every KR does without cycles."""
        return self.current_cycle is None or self.cycle_of(kr_id) == self.current_cycle

    def kr(self, kr_id: str) -> KeyResult | None:
        for kr in self.key_results:
            if kr.id == kr_id:
                return kr
        return None

    def objective(self, objective_id: str) -> Objective | None:
        for obj in self.objectives:
            if obj.id == objective_id:
                return obj
        return None

    @property
    def kr_ids(self) -> frozenset[str]:
        return frozenset(kr.id for kr in self.key_results)


def find_kr(catalog: Catalog, kr_id: str) -> KeyResult | None:
    """Look a KR up case-insensitively; the catalog's spelling is the one returned."""
    exact = catalog.kr(kr_id)
    if exact is not None:
        return exact
    folded = kr_id.casefold()
    for kr in catalog.key_results:
        if kr.id.casefold() == folded:
            return kr
    return None



class Origin(StrEnum):
    LABEL = "label"
    RULE = "rule"
    OVERRIDE = "override"
    ACCEPTED = "accepted"


@dataclass(frozen=True)
class Link:
    """(ticket, key result, origin). `rule_id` is set when origin is RULE; `reason` explains it."""

    source: str
    ticket_key: str
    kr_id: str
    origin: Origin
    rule_id: str | None = None
    reason: str = ""

    @property
    def origin_text(self) -> str:
        return f"rule:{self.rule_id}" if self.origin is Origin.RULE else self.origin.value


@dataclass(frozen=True)
class BrokenLink:
    """A ticket label naming a key result that is not in the catalog."""

    source: str
    ticket_key: str
    label: str
    kr_id: str


@dataclass(frozen=True)
class GoalRef:
    """What a goal link says on a ticket: the objective, the key result, its owner and target."""

    kr_id: str
    kr_title: str
    objective_id: str
    objective_title: str
    owner: str
    target: str
    url: str = ""


class WriteBackKind(StrEnum):
    ADD_LABEL = "add_label"
    REMOVE_LABEL = "remove_label"
    SET_GOAL_LINKS = "set_goal_links"
    REMOVE_GOAL_LINKS = "remove_goal_links"


@dataclass(frozen=True)
class WriteBack:
    """A remote change the service wants.

    - ADD_LABEL / REMOVE_LABEL: `label` is the managed label.
    - REMOVE_GOAL_LINKS: remove every goal link the service wrote (used by `revert`): Jira
      deletes the remote links in `previous`, GitHub deletes its comment (`remote_ref`).
    - SET_GOAL_LINKS: `goals` is the full set of goal links the ticket should show (empty: the
      last link ended); `previous` lists the KR ids the service had linked before, so Jira can
      delete remote links that ended and GitHub can mark its comment ended.
      `remote_ref` is what the connector returned last time (e.g. the GitHub comment id).
    Applying a write-back twice has the same effect as once.
    """

    source: str
    ticket_key: str
    kind: WriteBackKind
    label: str = ""
    goals: tuple[GoalRef, ...] = ()
    previous: tuple[str, ...] = ()
    remote_ref: str | None = None
    ticket_title: str = ""
    hypothesis_found: bool = False

    @property
    def key(self) -> str:
        """Identity in the outbox: one pending write-back per (ticket, kind, label)."""
        return f"{self.source}|{self.ticket_key}|{self.kind.value}|{self.label}"

    @property
    def digest(self) -> str:
        """Content hash: same digest means the same remote effect."""
        payload = asdict(self)
        payload.pop("remote_ref", None)
        raw = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(raw).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WriteBack:
        return cls(
            source=data["source"],
            ticket_key=data["ticket_key"],
            kind=WriteBackKind(data["kind"]),
            label=data.get("label", ""),
            goals=tuple(GoalRef(**g) for g in data.get("goals", ())),
            previous=tuple(data.get("previous", ())),
            remote_ref=data.get("remote_ref"),
            ticket_title=data.get("ticket_title", ""),
            hypothesis_found=bool(data.get("hypothesis_found", False)),
        )


class ApplyStatus(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    DROPPED = "dropped"  # journal only: the write-back was given up (ticket gone, unwanted)


@dataclass(frozen=True)
class ApplyResult:
    """What a connector did for one write-back. `remote_ref` is kept for the next write-back."""

    status: ApplyStatus
    remote_ref: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Skipped:
    """A ticket payload the connector could not read; recorded, never silently dropped."""

    source: str
    key: str
    reason: str


@dataclass(frozen=True)
class Page:
    """One page of a pull. `cursor` is the opaque cursor to store once this page is stored."""

    tickets: tuple[Ticket, ...]
    skipped: tuple[Skipped, ...] = ()
    cursor: str | None = None
    scope: str = ""


CHECKIN_ORIGIN = "checkin"


@dataclass(frozen=True)
class CheckIn:
    """A KR's value at `at`: a person's check-in (`origin` "checkin"), or a value measured from
    the KR's data source (`origin` its kind, with the query's digest and when it was fetched).
    `id` is the store's row id (None before it is stored)."""

    kr_id: str
    value: float
    at: datetime
    confidence: float | None = None
    note: str = ""
    origin: str = CHECKIN_ORIGIN
    query_digest: str | None = None
    fetched_at: datetime | None = None
    id: int | None = field(default=None, compare=False)

    @property
    def measured(self) -> bool:
        return self.origin != CHECKIN_ORIGIN


@dataclass(frozen=True)
class DoctorCheck:
    """One line of `okrsync doctor`: what was checked, whether it passed, and detail."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class RequestStats:
    """Request accounting kept by the shared HTTP layer (per source)."""

    requests: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    by_status: dict[int, int] = field(default_factory=dict)
    not_modified: int = 0
    retries: int = 0
    rate_limit_waits: float = 0.0
    elapsed: float = 0.0
    quota_remaining: int | None = None


class BetStatus(StrEnum):
    """A bet's life: planned (epic to do), active (in progress), shipped (done), killed."""

    PLANNED = "planned"
    ACTIVE = "active"
    SHIPPED = "shipped"
    KILLED = "killed"


class Verdict(StrEnum):
    MOVED = "moved"
    FLAT = "flat"
    UNKNOWN = "unknown"
    KILLED = "killed"


@dataclass(frozen=True)
class Bet:
    """A link seen over time: the epic bets that it will move its key result.

    `kr_start` / `kr_end` are the KR's values when the bet went active and when it ended
    (from check-ins or snapshots); None when unknown.
    """

    source: str
    ticket_key: str
    kr_id: str
    status: BetStatus
    hypothesis: str | None
    opened_at: datetime
    active_at: datetime | None = None
    ended_at: datetime | None = None
    kr_start: float | None = None
    kr_end: float | None = None


@dataclass(frozen=True)
class Override:
    """A person removed a label the service applied: kept, reported, never re-added."""

    source: str
    ticket_key: str
    label: str
    kr_id: str
    at: datetime


@dataclass(frozen=True)
class AppliedGoalLinks:
    """The goal links the service last wrote on one ticket (from the ledger)."""

    kr_ids: tuple[str, ...]
    remote_ref: str | None = None
    digest: str = ""


@dataclass(frozen=True)
class AppliedState:
    """What the service applied before, as plain values for the pure planner.

    `labels`: (source, ticket_key, label) the service added and has not removed.
    `goal_links`: (source, ticket_key) -> the goal links it last wrote there.
    `overrides`: (source, ticket_key, label) people removed; never re-added.
    `pending`: keys (`WriteBack.key`) of write-backs still waiting in the outbox.
    `held`: (source, ticket_key) -> the KR ids its mapping gave when a revert held it; no
    write-back is planned for it while the mapping still gives exactly these.
    """

    labels: frozenset[tuple[str, str, str]] = frozenset()
    goal_links: dict[tuple[str, str], AppliedGoalLinks] = field(default_factory=dict)
    overrides: frozenset[tuple[str, str, str]] = frozenset()
    pending: frozenset[str] = frozenset()
    held: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
