"""The shell around the suggester: read the organisation's links from the store, learn, and
suggest a key result for each untraceable epic with the evidence a person can check.

A person's decisions (`okrsync accept`) feed both ways: an accepted KR is a link (so an
example), a rejected one is never suggested again for that epic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from core.model import Catalog, Link, Origin, Ticket
from mappings.labels import is_ktlo
from mappings.rules import RuleSet, map_ticket
from mappings.suggest.features import Prefixes
from mappings.suggest.model import Evidence, Example, Ranked, Suggester, fit
from syncer.store_decisions import Decision, SuggestionDecision

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.store import Store


@dataclass(frozen=True)
class EpicSuggestion:
    """The suggestion for one untraceable epic: ranked KRs, evidence for the first one, the
    closest rule that names it, and the exact label that would link the epic."""

    ticket: Ticket
    team: str | None
    ranked: Ranked
    evidence: Evidence
    near_miss: str
    label: str

    @property
    def kr_id(self) -> str:
        return self.ranked.kr_ids[0]

    @property
    def confidence(self) -> float:
        return self.ranked.confidences[0]

    def why(self) -> str:
        """One line for reports: confidence, nearest linked epics, deciding words, near miss."""
        parts = [f"confidence {self.confidence:.2f}"]
        if self.evidence.neighbours:
            parts.append("like " + ", ".join(n.key for n in self.evidence.neighbours))
        if self.evidence.words:
            parts.append("words " + ", ".join(f'"{w}"' for w in self.evidence.words))
        if self.near_miss:
            parts.append(self.near_miss)
        return "; ".join(parts)


def prefixes_of(config: Config) -> Prefixes:
    return Prefixes(config.labels.explicit_prefix, config.labels.managed_prefix)


def team_name(config: Config, project: str) -> str | None:
    team = config.team_of(project)
    return team.name if team else None


def examples(tickets: Iterable[Ticket], links: Iterable[Link], config: Config) -> list[Example]:
    """Every active link (explicit label, rule or accepted suggestion) is one example."""
    by_uid = {t.uid: t for t in tickets}
    teams: dict[str, str | None] = {}
    out = []
    for link in links:
        if link.origin is Origin.OVERRIDE:
            continue
        ticket = by_uid.get(f"{link.source}:{link.ticket_key}")
        if ticket is not None:
            if ticket.project not in teams:
                teams[ticket.project] = team_name(config, ticket.project)
            out.append(Example(ticket, teams[ticket.project], link.kr_id))
    return out


def declared_ktlo(tickets: Iterable[Ticket], links: Iterable[Link],
                  config: Config) -> list[tuple[Ticket, str | None]]:
    """Unlinked epics declared run/maintenance work: known to serve no key result."""
    linked = {(lk.source, lk.ticket_key) for lk in links}
    return [(t, team_name(config, t.project)) for t in tickets
            if (t.source, t.key) not in linked and is_ktlo(t.labels, config.labels.ktlo)]


def learn(store: Store, catalog: Catalog, config: Config,
          tickets: Sequence[Ticket] | None = None) -> Suggester:
    """The suggester for the store's links (`tickets`: the store's, if already read)."""
    tickets = store.tickets() if tickets is None else tickets
    links = store.links()
    current = [lk for lk in links if catalog.is_current(lk.kr_id)]  # past cycles: history
    return fit(examples(tickets, current, config), catalog, prefixes_of(config),
               declared_ktlo(tickets, links, config))


def suggest_untraceable(
    store: Store, catalog: Catalog, config: Config, ruleset: RuleSet | None, *,
    team: str | None = None, source: str | None = None,
) -> tuple[Suggester, list[Ticket], list[EpicSuggestion]]:
    """Learn and suggest for every untraceable epic (of `team` / `source`), reading the
    store's tickets once: the model, the epics asked about and the suggestions."""
    tickets = store.tickets()
    model = learn(store, catalog, config, tickets)
    wanted = untraceable_tickets(store, tickets, team=team, source=source, config=config)
    found = suggest(model, wanted, config, catalog, ruleset=ruleset,
                    rejected=rejected_of(store.decisions()))
    return model, wanted, found


def near_miss(ticket: Ticket, kr_id: str, ruleset: RuleSet | None, catalog: Catalog) -> str:
    """The rule for `kr_id` that came closest to linking the epic, and what it lacked."""
    if ruleset is None:
        return ""
    mine = replace(ruleset, rules=tuple(r for r in ruleset.rules if r.kr_id == kr_id))
    if not mine.rules:
        return ""
    best = max(map_ticket(ticket, mine, catalog).explanations,
               key=lambda e: (e.satisfied / e.total, e.priority, e.rule_id))
    if best.satisfied == 0:
        return ""
    return (f"near-miss rule {best.rule_id} ({best.satisfied} of {best.total} conditions; "
            f"{best.detail})")


def suggest(
    model: Suggester,
    tickets: Sequence[Ticket],
    config: Config,
    catalog: Catalog,
    *,
    ruleset: RuleSet | None = None,
    rejected: Mapping[tuple[str, str], frozenset[str]] | None = None,
    min_confidence: float | None = None,
) -> list[EpicSuggestion]:
    """Suggestions for `tickets` at or above the threshold, in the tickets' order; a KR a
    person rejected for an epic is dropped from its ranking."""
    threshold = config.suggest.min_confidence if min_confidence is None else min_confidence
    rejected = rejected or {}
    by_project: dict[str, str | None] = {}
    for t in tickets:
        if t.project not in by_project:
            by_project[t.project] = team_name(config, t.project)
    teams = [by_project[t.project] for t in tickets]
    chosen: list[tuple[Ticket, str | None, Ranked]] = []
    for t, team, ranked in zip(tickets, teams, model.rank(tickets, teams), strict=True):
        no = rejected.get((t.source, t.key), frozenset())
        if no:
            keep = [(k, c) for k, c in zip(ranked.kr_ids, ranked.confidences, strict=True)
                    if k not in no]
            ranked = Ranked(tuple(k for k, _ in keep), tuple(c for _, c in keep), ranked.margin)
        if ranked.kr_ids and ranked.confidences[0] > 0 and ranked.confidences[0] >= threshold:
            chosen.append((t, team, ranked))
    evidence = model.evidence([c[0] for c in chosen], [c[1] for c in chosen],
                              [c[2].kr_ids[0] for c in chosen])
    prefix = config.labels.explicit_prefix
    return [
        EpicSuggestion(t, team, ranked, ev, near_miss(t, ranked.kr_ids[0], ruleset, catalog),
                       f"{prefix}{ranked.kr_ids[0]}")
        for (t, team, ranked), ev in zip(chosen, evidence, strict=True)
    ]


def rejected_of(decisions: Iterable[SuggestionDecision]) -> dict[tuple[str, str], frozenset[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for d in decisions:
        if d.decision is Decision.REJECTED:
            out.setdefault((d.source, d.ticket_key), set()).add(d.kr_id)
    return {k: frozenset(v) for k, v in out.items()}


def untraceable_tickets(store: Store, tickets: Iterable[Ticket], *, team: str | None = None,
                        source: str | None = None, config: Config) -> list[Ticket]:
    flagged = store.untraceable()
    return [t for t in tickets if t.uid in flagged and (source is None or t.source == source)
            and (team is None or team_name(config, t.project) == team)]
