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
from mappings.suggest.features import DESCRIPTION_CHARS, Prefixes
from mappings.suggest.model import Example, Suggester, fit
from mappings.suggest.ranker import Evidence, Ranked, Ranker
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


def ranker_for(store: Store, catalog: Catalog, config: Config) -> Ranker:
    """The model for the store's links: the kept one if it was fitted on the same training
    set, else a fresh fit (kept for the next run)."""
    from syncer.suggest_cache import load_model, model_path, save_model, training_digest

    rows = store.training_rows(DESCRIPTION_CHARS)
    teams = {project: team_name(config, project) for project in {r[5] for r in rows}}
    digest = training_digest(rows, catalog, prefixes_of(config), config.labels.ktlo, teams)
    path = model_path(config.store_path)
    kept = load_model(path, digest)
    if kept is not None:
        return kept
    ranker = learn(store, catalog, config).ranker
    save_model(path, digest, ranker)
    return ranker


def suggest_untraceable(
    store: Store, catalog: Catalog, config: Config, ruleset: RuleSet | None, *,
    team: str | None = None, source: str | None = None,
) -> tuple[Ranker, list[Ticket], list[EpicSuggestion]]:
    """Suggest for every untraceable epic (of `team` / `source`) with the kept or a fresh
    model, reading only the untraceable epics in full: the model, the epics asked about and
    the suggestions."""
    model = ranker_for(store, catalog, config)
    wanted = [t for t in store.untraceable_tickets()
              if (source is None or t.source == source)
              and (team is None or team_name(config, t.project) == team)]
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
    model: Ranker | Suggester,
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
    ranker = model.ranker if isinstance(model, Suggester) else model
    q = ranker.vectors(tickets, teams)
    chosen: list[tuple[int, Ranked]] = []
    for i, (t, ranked) in enumerate(zip(tickets, ranker.rank_vectors(q), strict=True)):
        no = rejected.get((t.source, t.key), frozenset())
        if no:
            keep = [(k, c) for k, c in zip(ranked.kr_ids, ranked.confidences, strict=True)
                    if k not in no]
            ranked = Ranked(tuple(k for k, _ in keep), tuple(c for _, c in keep), ranked.margin)
        if ranked.kr_ids and ranked.confidences[0] > 0 and ranked.confidences[0] >= threshold:
            chosen.append((i, ranked))
    evidence = ranker.evidence_vectors(q[[i for i, _ in chosen]],
                                       [r.kr_ids[0] for _, r in chosen])
    prefix = config.labels.explicit_prefix
    return [
        EpicSuggestion(tickets[i], teams[i], ranked, ev,
                       near_miss(tickets[i], ranked.kr_ids[0], ruleset, catalog),
                       f"{prefix}{ranked.kr_ids[0]}")
        for (i, ranked), ev in zip(chosen, evidence, strict=True)
    ]


def leaning(model: Ranker | Suggester, tickets: Sequence[Ticket],
            config: Config) -> dict[str, str]:
    """Ticket uid -> the KR each epic leans to, where that KR is more likely than serving
    no KR at all, whatever the threshold (what a proposed rule's agreement is judged by)."""
    teams = [team_name(config, t.project) for t in tickets]
    return {t.uid: r.kr_ids[0] for t, r in zip(tickets, model.rank(tickets, teams), strict=True)
            if r.kr_ids and r.confidences[0] > max(0.0, 1.0 - sum(r.confidences))}


def rejected_of(decisions: Iterable[SuggestionDecision]) -> dict[tuple[str, str], frozenset[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for d in decisions:
        if d.decision is Decision.REJECTED:
            out.setdefault((d.source, d.ticket_key), set()).add(d.kr_id)
    return {k: frozenset(v) for k, v in out.items()}
