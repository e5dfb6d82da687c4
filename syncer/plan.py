"""The planner: from tickets, catalog, rules and the ledger of what the service applied before,
decide the links, bets and the exact write-backs to make. Pure: no I/O, no clock, no store.

What it may write is the product's promise to people, so the rules are strict:

- Explicit `okr:` labels always link and are never touched; managed labels (`goal:<KR>`) are
  outputs only.
- The service removes only labels in `applied.labels` (its ledger), and only while they are
  still on the ticket.
- A ledger label missing from the ticket is a person's override: recorded once (a new
  `Override`), its rule link dropped, the label never re-added. An explicit label for the same
  KR still links (explicit labels win), but the managed label stays off.
- A managed label a person added by hand is neither added again nor claimed.
- One `SET_GOAL_LINKS` per ticket whose linked KRs or goal text (see `goals_digest`) differ
  from the ledger's; a ticket whose last link ended gets one with `goals=()`.
- Sources not in `healthy_sources` still get their links, broken links and bets computed, but
  no write-backs, no new overrides and no untraceable flags: missing data is not "nothing there".
- A write-back whose `key` is already pending in the outbox is not planned again.
- A ticket a revert held (`applied.held`) gets no write-backs while its mapping gives the same
  KRs as at the revert; once a rule or the ticket changes that, the hold is released
  (`Plan.released_holds`) and the ticket is planned as usual.

Write-backs come out sorted by (source, ticket key, kind, label): per ticket, label adds, then
label removes, then the goal-links write. The bet lifecycle lives in `syncer.bets`.

The store must record `goals_digest(writeback.goals)` as `AppliedGoalLinks.digest` when it marks
a SET_GOAL_LINKS done; an empty ledger digest (unknown) compares KR ids only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from core.model import (
    AppliedState,
    Bet,
    BrokenLink,
    Catalog,
    GoalRef,
    KeyResult,
    Link,
    Origin,
    Override,
    Ticket,
    TicketState,
    WriteBack,
    WriteBackKind,
)
from mappings.labels import is_ktlo, kr_of_managed, managed_label
from syncer.bets import advance_bet, end_unlinked_bet
from syncer.catalog import kr_target_text
from syncer.cycles import frozen_cycle, history_links, needs_new_kr

if TYPE_CHECKING:
    from mappings.rules import RuleSet

Mapper = Callable[[Ticket], tuple[tuple[Link, ...], tuple[BrokenLink, ...]]]
"""Maps one ticket to (links: explicit first then the deciding rule, broken links)."""

_KIND_ORDER = {
    WriteBackKind.ADD_LABEL: 0,
    WriteBackKind.REMOVE_LABEL: 1,
    WriteBackKind.SET_GOAL_LINKS: 2,
    WriteBackKind.REMOVE_GOAL_LINKS: 3,
}


def writeback_order(wb: WriteBack) -> tuple[str, str, int, str]:
    """Per ticket: label adds, then label removes, then the goal-links write."""
    return (wb.source, wb.ticket_key, _KIND_ORDER[wb.kind], wb.label)


@dataclass(frozen=True)
class PlanSettings:
    """Label conventions and the goal-link URL templates (`{kr_id}`, `{objective_id}`): each
    source's own from `source_link_templates`, else `link_url_template`."""

    explicit_prefix: str = "okr:"
    managed_prefix: str = "goal:"
    ktlo: tuple[str, ...] = ("ktlo",)
    link_url_template: str = ""
    source_link_templates: Mapping[str, str] = field(default_factory=dict)

    def link_template(self, source: str) -> str:
        return self.source_link_templates.get(source) or self.link_url_template


@dataclass(frozen=True)
class Plan:
    """Everything one planning pass decided.

    `links`: the desired links after overrides, per ticket (sorted by source, key), explicit
    first. `untraceable`: uids of healthy-source tickets with no link that are neither ktlo nor
    won't-do. `ktlo`: uids of every ticket carrying a ktlo label, linked or not, any source.
    `overrides`: only the ones detected in this pass. `bets`: only new or changed ones.
    """

    links: tuple[Link, ...] = ()
    broken: tuple[BrokenLink, ...] = ()
    untraceable: frozenset[str] = frozenset()
    ktlo: frozenset[str] = frozenset()
    overrides: tuple[Override, ...] = ()
    bets: tuple[Bet, ...] = ()
    writebacks: tuple[WriteBack, ...] = ()
    released_holds: tuple[tuple[str, str], ...] = ()
    """Held tickets whose mapping changed: their hold ends and they are planned as usual."""
    needs_kr: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Open epics on a past cycle's KR that nothing current links: uid -> those KRs."""


def goals_digest(goals: Iterable[GoalRef]) -> str:
    """Content hash of a goal-link set, independent of order: same digest, same goal text."""
    rows = sorted((asdict(g) for g in goals), key=lambda row: json.dumps(row, sort_keys=True))
    raw = json.dumps(rows, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def goal_ref(kr: KeyResult, catalog: Catalog, link_url_template: str = "") -> GoalRef:
    """What the goal link for `kr` says on a ticket."""
    objective = catalog.objective(kr.objective_id)
    url = ""
    if link_url_template:
        url = link_url_template.format_map(_Placeholders(kr_id=kr.id, objective_id=kr.objective_id))
    return GoalRef(
        kr_id=kr.id,
        kr_title=kr.title,
        objective_id=kr.objective_id,
        objective_title=objective.title if objective else "",
        owner=kr.owner,
        target=kr_target_text(kr),
        url=url,
    )


class _Placeholders(dict[str, str]):
    """Leaves unknown `{names}` in a URL template as they are instead of failing the plan."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def rule_mapper(rules: RuleSet, catalog: Catalog, *, managed_prefix: str = "goal:") -> Mapper:
    """The production mapper: `mappings.rules.map_ticket` with this rule set and catalog."""
    from mappings.rules import map_ticket

    def mapper(ticket: Ticket) -> tuple[tuple[Link, ...], tuple[BrokenLink, ...]]:
        mapping = map_ticket(ticket, rules, catalog, managed_prefix=managed_prefix,
                             explain=False)
        return tuple(mapping.links), tuple(mapping.broken)

    return mapper


@dataclass
class _Ledger:
    """`AppliedState` indexed by ticket, with labels compared case-insensitively."""

    applied: AppliedState
    labels: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    overrides: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, applied: AppliedState) -> _Ledger:
        ledger = cls(applied)
        for source, key, label in sorted(applied.labels):
            ledger.labels.setdefault((source, key), []).append(label)
        for source, key, label in applied.overrides:
            ledger.overrides.setdefault((source, key), set()).add(label.casefold())
        return ledger

    def pending(self, writeback: WriteBack) -> bool:
        return writeback.key in self.applied.pending


@dataclass
class _Acc:
    """What the per-ticket steps append to; turned into a sorted `Plan` at the end."""

    links: list[Link] = field(default_factory=list)
    broken: list[BrokenLink] = field(default_factory=list)
    untraceable: set[str] = field(default_factory=set)
    ktlo: set[str] = field(default_factory=set)
    overrides: list[Override] = field(default_factory=list)
    bets: list[Bet] = field(default_factory=list)
    writebacks: list[WriteBack] = field(default_factory=list)
    released: list[tuple[str, str]] = field(default_factory=list)
    needs_kr: dict[str, tuple[str, ...]] = field(default_factory=dict)


def plan(
    tickets: Sequence[Ticket],
    catalog: Catalog,
    rules: RuleSet | None,
    applied: AppliedState,
    *,
    now: datetime,
    healthy_sources: frozenset[str],
    kr_values: Mapping[str, float],
    prior_bets: Sequence[Bet],
    settings: PlanSettings | None = None,
    mapper: Mapper | None = None,
    keep_pending: bool = False,
) -> Plan:
    """Decide links, bets and write-backs for `tickets` (rules in the module docstring).

    `mapper` replaces the rule engine (tests, `explain`); when None, `rules` must be given.
    `keep_pending` returns write-backs whose key is pending too, so the caller can re-plan
    the pending ones against this plan (`syncer.replan`).
    """
    settings = settings or PlanSettings()
    if mapper is None:
        if rules is None:
            raise ValueError("plan() needs either rules or a mapper")
        mapper = rule_mapper(rules, catalog, managed_prefix=settings.managed_prefix)
    krs = {kr.id: kr for kr in catalog.key_results}
    goals_by_source: dict[str, dict[str, GoalRef]] = {}

    def goals_of(source: str) -> dict[str, GoalRef]:
        if source not in goals_by_source:
            template = settings.link_template(source)
            goals_by_source[source] = {k: goal_ref(kr, catalog, template) for k, kr in krs.items()}
        return goals_by_source[source]

    ledger = _Ledger.of(applied)
    bets_by_ticket: dict[tuple[str, str], list[Bet]] = {}
    for bet in prior_bets:
        bets_by_ticket.setdefault((bet.source, bet.ticket_key), []).append(bet)
    acc = _Acc()
    for ticket in _latest(tickets):
        raw_links, broken = mapper(ticket)
        prior = bets_by_ticket.get((ticket.source, ticket.key), [])
        earlier = _earlier_krs(ticket, applied, prior)
        frozen = frozen_cycle(ticket, catalog)  # issue 24: an epic that ended in a past cycle
        if frozen is not None:
            raw_links = history_links(ticket, frozen, raw_links, earlier, catalog)
        links = [link for link in raw_links if link.kr_id in krs]
        broken += tuple(_unknown_kr(link, settings) for link in raw_links if link.kr_id not in krs)
        acc.broken.extend(broken)
        healthy = ticket.source in healthy_sources
        planned_before = len(acc.writebacks)
        desired = _plan_labels(ticket, links, ledger, settings, healthy and frozen is None, acc,
                               now)
        acc.links.extend(desired)
        desired_krs = tuple(link.kr_id for link in desired)
        held = applied.held.get((ticket.source, ticket.key))
        if held is not None and held == frozenset(link.kr_id for link in raw_links):
            del acc.writebacks[planned_before:]  # a revert holds it: write nothing
        elif healthy and frozen is None:
            if held is not None:
                acc.released.append((ticket.source, ticket.key))
            goal_links = _goal_links_writeback(ticket, desired_krs, goals_of(ticket.source),
                                               ledger)
            if goal_links is not None:
                acc.writebacks.append(goal_links)
        ktlo = is_ktlo(ticket.labels, settings.ktlo)
        if ktlo:
            acc.ktlo.add(ticket.uid)
        if healthy and not desired and not ktlo and ticket.state is not TicketState.WONT_DO:
            acc.untraceable.add(ticket.uid)
            stranded = needs_new_kr(ticket, desired_krs, earlier, catalog,
                                    settings.explicit_prefix)
            if stranded:
                acc.needs_kr[ticket.uid] = stranded
        acc.bets.extend(
            _changed_bets(
                ticket,
                desired_krs,
                prior,
                now=now,
                kr_values=kr_values,
            )
        )
    return Plan(
        links=tuple(acc.links),
        broken=tuple(acc.broken),
        untraceable=frozenset(acc.untraceable),
        ktlo=frozenset(acc.ktlo),
        overrides=tuple(sorted(acc.overrides, key=lambda o: (o.source, o.ticket_key, o.label))),
        bets=tuple(sorted(acc.bets, key=lambda b: (b.source, b.ticket_key, b.kr_id))),
        writebacks=tuple(
            sorted(
                (wb for wb in acc.writebacks if keep_pending or not ledger.pending(wb)),
                key=writeback_order,
            )
        ),
        released_holds=tuple(acc.released),
        needs_kr=dict(sorted(acc.needs_kr.items())),
    )


def _earlier_krs(ticket: Ticket, applied: AppliedState, prior: Sequence[Bet]) -> list[str]:
    """The KRs a ticket was linked to before this pass: its ledger goal links and its bets."""
    ledger = applied.goal_links.get((ticket.source, ticket.key))
    return [*(ledger.kr_ids if ledger is not None else ()), *(bet.kr_id for bet in prior)]


def _latest(tickets: Sequence[Ticket]) -> list[Ticket]:
    """One ticket per uid (the most recently updated), sorted by (source, key)."""
    latest: dict[tuple[str, str], Ticket] = {}
    for ticket in tickets:
        ident = (ticket.source, ticket.key)
        seen = latest.get(ident)
        if seen is None or ticket.updated >= seen.updated:
            latest[ident] = ticket
    return [latest[ident] for ident in sorted(latest)]


def _unknown_kr(link: Link, settings: PlanSettings) -> BrokenLink:
    """A link naming a KR outside the catalog cannot become a goal link: report it."""
    label = f"{settings.explicit_prefix}{link.kr_id}" if link.origin is Origin.LABEL else ""
    return BrokenLink(link.source, link.ticket_key, label, link.kr_id)


def _plan_labels(
    ticket: Ticket,
    links: Sequence[Link],
    ledger: _Ledger,
    settings: PlanSettings,
    healthy: bool,
    acc: _Acc,
    now: datetime,
) -> list[Link]:
    """Detect overrides, drop the links they suppress and plan label adds and removes.

    Returns the ticket's desired links: one per KR, explicit first.
    """
    ident = (ticket.source, ticket.key)
    on_ticket = {label.casefold() for label in ticket.labels}
    explicit_cf = settings.explicit_prefix.casefold()
    # Ledger rows spelled like explicit labels are never ours to remove or to call overrides.
    ours = [
        label
        for label in ledger.labels.get(ident, [])
        if not (explicit_cf and label.casefold().startswith(explicit_cf))
    ]
    overridden = set(ledger.overrides.get(ident, set()))
    if healthy:
        for override in _new_overrides(ticket, ours, on_ticket, overridden, ledger, settings, now):
            overridden.add(override.label.casefold())
            acc.overrides.append(override)
    overridden_krs = {
        kr.casefold()
        for kr in (kr_of_managed(label, settings.managed_prefix) for label in overridden)
        if kr is not None
    }
    desired: list[Link] = []
    seen: set[str] = set()
    for link in links:
        kr_key = link.kr_id.casefold()
        if kr_key in seen or (link.origin is not Origin.LABEL and kr_key in overridden_krs):
            continue
        seen.add(kr_key)
        desired.append(link)
    if healthy:
        ours_cf = {label.casefold() for label in ours}
        for link in desired:
            label = managed_label(link.kr_id, settings.managed_prefix)
            label_cf = label.casefold()
            if (
                label_cf in on_ticket  # there already, maybe put by a person: not claimed
                or label_cf in ours_cf
                or link.kr_id.casefold() in overridden_krs
                or (explicit_cf and label_cf.startswith(explicit_cf))
            ):
                continue
            acc.writebacks.append(WriteBack(*ident, WriteBackKind.ADD_LABEL, label=label))
        for label in ours:
            label_cf = label.casefold()
            label_kr = kr_of_managed(label, settings.managed_prefix)
            if (
                label_cf not in on_ticket
                or label_cf in overridden  # a person put it back after removing it: theirs now
                or (label_kr is not None and label_kr.casefold() in seen)
            ):
                continue
            acc.writebacks.append(WriteBack(*ident, WriteBackKind.REMOVE_LABEL, label=label))
    return desired


def _new_overrides(
    ticket: Ticket,
    ours: Sequence[str],
    on_ticket: set[str],
    overridden: set[str],
    ledger: _Ledger,
    settings: PlanSettings,
    now: datetime,
) -> list[Override]:
    """Ledger labels a person removed since the last run (not our own pending removals)."""
    found: list[Override] = []
    for label in ours:
        if label.casefold() in on_ticket or label.casefold() in overridden:
            continue
        removing = WriteBack(ticket.source, ticket.key, WriteBackKind.REMOVE_LABEL, label=label)
        if ledger.pending(removing):  # our own removal, applied but not yet marked done
            continue
        kr_id = kr_of_managed(label, settings.managed_prefix) or ""
        found.append(Override(ticket.source, ticket.key, label, kr_id, now))
    return found


def _goal_links_writeback(
    ticket: Ticket,
    desired_krs: Sequence[str],
    goals: Mapping[str, GoalRef],
    ledger: _Ledger,
) -> WriteBack | None:
    """The SET_GOAL_LINKS for this ticket, or None when the ledger already shows these goals."""
    previous = ledger.applied.goal_links.get((ticket.source, ticket.key))
    previous_ids = previous.kr_ids if previous is not None else ()
    wanted = tuple(goals[kr_id] for kr_id in desired_krs)
    if not wanted and not previous_ids:
        return None
    same_krs = {k.casefold() for k in previous_ids} == {k.casefold() for k in desired_krs}
    if (
        previous is not None
        and same_krs
        and (not previous.digest or previous.digest == goals_digest(wanted))
    ):
        return None
    return WriteBack(
        ticket.source,
        ticket.key,
        WriteBackKind.SET_GOAL_LINKS,
        goals=wanted,
        previous=tuple(previous_ids),
        remote_ref=previous.remote_ref if previous is not None else None,
        ticket_title=ticket.title,
        hypothesis_found=bool(ticket.hypothesis and ticket.hypothesis.strip()),
    )


def _changed_bets(
    ticket: Ticket,
    desired_krs: Sequence[str],
    prior: Sequence[Bet],
    *,
    now: datetime,
    kr_values: Mapping[str, float],
) -> list[Bet]:
    """New or changed bets for this ticket's links, and for prior bets whose link ended."""
    by_kr = {bet.kr_id: bet for bet in prior}
    changed: list[Bet] = []
    for kr_id in desired_krs:
        before = by_kr.pop(kr_id, None)
        after = advance_bet(before, ticket, kr_id, now=now, kr_value=kr_values.get(kr_id))
        if after != before:
            changed.append(after)
    for kr_id, before in sorted(by_kr.items()):
        after = end_unlinked_bet(before, ticket, now=now, kr_value=kr_values.get(kr_id))
        if after != before:
            changed.append(after)
    return changed
