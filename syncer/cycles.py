"""The planner's cycle steps (issue 24): frozen history for epics that ended in a past cycle,
and open epics left on a past cycle's key result. Pure functions over plain values.

- An epic that ended (shipped, killed) before the current cycle started is mapped in the cycle
  it ran in (`mappings.rules.mapping_cycle`) and gets no write-back: a cycle closing is no
  reason to touch it. When that cycle's rules and labels no longer link it (its rules were
  deleted), the links it had (ledger, bets) are kept, so its bet stays judged against them.
- An open epic whose earlier links (ledger, bets, an explicit label) name a past cycle's key
  result and that no current rule or label links **needs a new KR**: reported, never left
  silently on the dead one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.model import Catalog, Link, Origin, Ticket, TicketState, find_kr
from mappings.labels import explicit_kr
from mappings.rules import mapping_cycle

HISTORY_RULE = "cycle:"
"""`rule_id` prefix of a link kept from a past cycle (`cycle:2026-Q3`)."""


def frozen_cycle(ticket: Ticket, catalog: Catalog) -> str | None:
    """The past cycle an ended epic is frozen in; None when it is planned as usual."""
    cycle = mapping_cycle(ticket, catalog)
    return cycle if cycle is not None and cycle != catalog.current_cycle else None


def history_links(ticket: Ticket, cycle: str, links: Sequence[Link],
                  earlier_krs: Iterable[str], catalog: Catalog) -> tuple[Link, ...]:
    """A frozen epic's links: what its cycle's rules and labels give, else the KRs of that
    cycle it was linked to before."""
    if links:
        return tuple(links)
    kept = sorted({kr for kr in earlier_krs if catalog.cycle_of(kr) == cycle})
    return tuple(Link(ticket.source, ticket.key, kr, Origin.RULE,
                      rule_id=f"{HISTORY_RULE}{cycle}",
                      reason=f"kept from cycle {cycle}: the epic ended in it")
                 for kr in kept)


def past_krs(ticket: Ticket, earlier_krs: Iterable[str], catalog: Catalog,
             explicit_prefix: str = "okr:") -> tuple[str, ...]:
    """Past cycles' KRs an epic was linked to: earlier links and explicit labels."""
    if catalog.current_cycle is None:
        return ()
    named = list(earlier_krs)
    for label in ticket.labels:
        written = explicit_kr(label, explicit_prefix)
        kr = find_kr(catalog, written) if written is not None else None
        if kr is not None:
            named.append(kr.id)
    return tuple(sorted({kr for kr in named
                         if catalog.kr(kr) is not None and not catalog.is_current(kr)}))


def needs_new_kr(ticket: Ticket, desired_krs: Sequence[str], earlier_krs: Iterable[str],
                 catalog: Catalog, explicit_prefix: str = "okr:") -> tuple[str, ...]:
    """The past KRs of an open epic nothing current links (empty: it does not need one)."""
    if desired_krs or ticket.state in (TicketState.DONE, TicketState.WONT_DO):
        return ()
    return past_krs(ticket, earlier_krs, catalog, explicit_prefix)
