"""Adoption: an empty ledger facing tickets that already carry okrsync's artifacts.

A lost store or a renamed source leaves okrsync with no memory of what it wrote, while the
tickets still show its managed labels, goal-link comments and remote links. Planning from an
empty ledger would fight people: a managed label a person removed would be re-added (nothing
says it was ever okrsync's), and okrsync's own labels would never be removed when a link ends.
So before planning, a source with an empty ledger and managed labels on its stored epics reads
each epic's own artifacts (`connectors.ownership.Owning.owned`) and rebuilds the ledger:

- a KR that okrsync's own comment or link names, whose managed label is on the ticket: the
  label is okrsync's (ledger row);
- such a KR whose managed label is absent: a person removed it, an override (never re-added);
- the goal links the artifacts show (and the GitHub comment id) become the goal-link row.

Managed labels no artifact of okrsync's names are left as they are: they may be a person's.
The decisions are `adopt_ticket` (pure); `adopt_sources` is the shell around it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import Connector
from connectors.ownership import Owned, Owning
from core.errors import RemoteError
from core.model import Override, Ticket
from mappings.labels import managed_label
from syncer.store import Store
from syncer.store_ownership import AdoptedTicket


def adopt_ticket(ticket: Ticket, owned: Owned, managed_prefix: str, now: datetime
                 ) -> AdoptedTicket:
    """What the ledger should have said about one ticket, from okrsync's own artifacts."""
    on_ticket = {label.casefold(): label for label in ticket.labels}
    labels: list[str] = []
    overrides: list[Override] = []
    for kr in owned.kr_ids:
        label = managed_label(kr, managed_prefix)
        present = on_ticket.get(label.casefold())
        if present is not None:
            labels.append(present)
        else:
            overrides.append(Override(ticket.source, ticket.key, label, kr, now))
    return AdoptedTicket(ticket.key, tuple(labels), owned.kr_ids, owned.remote_ref,
                         tuple(overrides))


ADOPT_BATCH = 200
"""Tickets whose artifacts are read at a time, so memory stays flat in the number of epics."""


@dataclass
class AdoptionOutcome:
    adopted: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def needs_adoption(store: Store, source: str, managed_prefix: str) -> bool:
    """okrsync was here before but its ledger does not know: no ledger row for the source,
    and some stored epic carries a managed label."""
    return store.ledger_is_empty(source) and store.has_managed_labels(source, managed_prefix)


async def adopt_sources(
    store: Store, connectors: Mapping[str, Connector], healthy: frozenset[str], *,
    managed_prefix: str, concurrency: Mapping[str, int], run_id: int, now: datetime,
) -> AdoptionOutcome:
    """Adopt okrsync's artifacts for every healthy source that needs it (one read per epic,
    once: afterwards the ledger is no longer empty)."""
    outcome = AdoptionOutcome()
    for name in sorted(healthy):
        conn = connectors.get(name)
        if not isinstance(conn, Owning) or not needs_adoption(store, name, managed_prefix):
            continue
        gate = asyncio.Semaphore(max(1, concurrency.get(name, 4)))

        async def read(ticket: Ticket, conn: Owning = conn,
                       gate: asyncio.Semaphore = gate) -> AdoptedTicket:
            async with gate:
                owned = await conn.owned(ticket.key)
            return adopt_ticket(ticket, owned, managed_prefix, now)

        rows: list[AdoptedTicket] = []
        try:
            tickets = store.iter_tickets(name)
            while batch := list(itertools.islice(tickets, ADOPT_BATCH)):
                done = await asyncio.gather(*(read(t) for t in batch))
                rows += [r for r in done if r.labels or r.goal_kr_ids or r.overrides
                         or r.remote_ref]
        except RemoteError as exc:
            outcome.failed[name] = f"adopting okrsync's earlier write-backs failed: {exc}"
            continue
        outcome.adopted[name] = store.adopt(name, rows, run_id, now=now)
    return outcome
