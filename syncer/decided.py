"""Links from people's accepted suggestions, merged into what the rule engine decides.

An accepted suggestion counts like an explicit `okr:` label: it links, and when an epic has
one, rules add nothing (docs/config.md, precedence)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.model import BrokenLink, Link, Origin, Ticket
from syncer.plan import Mapper
from syncer.store_decisions import Decision, SuggestionDecision

Accepted = Mapping[tuple[str, str], list[SuggestionDecision]]


def accepted_of(decisions: Iterable[SuggestionDecision]) -> Accepted:
    out: dict[tuple[str, str], list[SuggestionDecision]] = {}
    for d in decisions:
        if d.decision is Decision.ACCEPTED:
            out.setdefault((d.source, d.ticket_key), []).append(d)
    return out


def with_accepted(mapper: Mapper, accepted: Accepted) -> Mapper:
    if not accepted:
        return mapper

    def decide(ticket: Ticket) -> tuple[tuple[Link, ...], tuple[BrokenLink, ...]]:
        links, broken = mapper(ticket)
        mine = accepted.get((ticket.source, ticket.key))
        if not mine:
            return links, broken
        explicit = [lk for lk in links if lk.origin is Origin.LABEL]
        have = {lk.kr_id for lk in explicit}
        extra = [Link(ticket.source, ticket.key, d.kr_id, Origin.ACCEPTED,
                      reason=f"suggestion accepted by {d.by} on {d.at:%Y-%m-%d %H:%M} UTC")
                 for d in sorted(mine, key=lambda d: d.kr_id) if d.kr_id not in have]
        return tuple(explicit + extra), broken

    return decide
