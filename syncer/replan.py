"""Pull first, then decide: pending write-backs re-planned against the fresh pull.

A write-back left pending by an earlier run (failed, refused, killed mid-run) carries the
intent of that run. Replayed as it is, it fights what people did since: a label a person
just removed is added again, an epic that left the scope gets written to. So after the pull
each pending item is held against the fresh plan of its ticket:

- the plan wants the same write → kept as it is (its attempts and backoff carry over);
- the plan wants a different write with the same key → re-derived: the plan's version
  replaces it (a goal-links write also ends the links the pending one may have written);
- the plan wants no write, but the ticket already shows what the item would do (the label is
  there, or gone) → kept: applying it reads first and only confirms it into the ledger;
- the plan no longer wants it, or the ticket is no longer stored → dropped, journalled.

Before planning, `removed_after_lost` finds the adds whose last answer was lost, on a ticket
changed since, that lack the label: a person removed it after it may have landed. The caller
records those as the person's overrides (so the plan drops their links) and drops the items.

Tickets whose payload lacked a field okrsync plans from (`connectors.fields`) get no write-back
and no override, and their pending items are left alone, until a pull sees the field again.
Items of sources that are not healthy in this run, and revert's REMOVE_GOAL_LINKS, are left
alone too. Pure: the caller reads the store and applies the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace
from datetime import datetime

from core.model import GoalRef, Override, Ticket, WriteBack, WriteBackKind
from mappings.labels import kr_of_managed
from syncer.plan import Plan, writeback_order
from syncer.store_rows import OutboxItem, TicketId


@dataclass(frozen=True)
class Review:
    """The verdict on one planning batch: what to queue, what to drop, overrides found."""

    enqueue: tuple[WriteBack, ...] = ()
    drop: tuple[tuple[int, str], ...] = ()
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class ReviewContext:
    """What re-planning needs besides the plan and the pending items."""

    tickets: Mapping[TicketId, Ticket]
    ledger_goals: Mapping[TicketId, tuple[tuple[str, ...], str | None]]
    healthy: Set[str]
    held: Set[TicketId]
    goals: Mapping[str, Mapping[str, GoalRef]]
    """Per source, the goal link of each KR (sources may have their own link template)."""
    managed_prefix: str
    now: datetime


def review(part: Plan, pending: Sequence[OutboxItem], ctx: ReviewContext) -> Review:
    """Re-plan `pending` (the items of this batch's range) against `part`, a plan made with
    `keep_pending=True`; see the module docstring."""
    wanted = {wb.key: wb for wb in part.writebacks
              if (wb.source, wb.ticket_key) not in ctx.held}
    overrides = [o for o in part.overrides if (o.source, o.ticket_key) not in ctx.held]
    linked: dict[TicketId, list[str]] = {}
    for link in part.links:
        linked.setdefault((link.source, link.ticket_key), []).append(link.kr_id)
    pending_keys = {item.writeback.key for item in pending}
    enqueue = [wb for key, wb in wanted.items() if key not in pending_keys]
    drop: list[tuple[int, str]] = []
    for item in pending:
        wb = item.writeback
        ticket_id = (wb.source, wb.ticket_key)
        if (wb.source not in ctx.healthy or ticket_id in ctx.held
                or wb.kind is WriteBackKind.REMOVE_GOAL_LINKS):
            continue
        ticket = ctx.tickets.get(ticket_id)
        if ticket is None:
            drop.append((item.id, "dropped: the ticket is no longer in the source's scope"))
            continue
        verdict = _one(item, ticket, wanted.get(wb.key), linked.get(ticket_id, []), ctx)
        if isinstance(verdict, WriteBack):
            enqueue.append(verdict)
        elif verdict:
            drop.append((item.id, verdict))
    return Review(tuple(sorted(enqueue, key=writeback_order)), tuple(drop), tuple(overrides))


def removed_after_lost(
    pending: Sequence[OutboxItem], tickets: Mapping[TicketId, Ticket], *, healthy: Set[str],
    held: Set[TicketId], managed_prefix: str, now: datetime,
) -> list[tuple[OutboxItem, Override]]:
    """Pending adds a person undid after they may have landed (see the module docstring),
    each with the override to record for it."""
    found: list[tuple[OutboxItem, Override]] = []
    for item in pending:
        wb = item.writeback
        ticket = tickets.get((wb.source, wb.ticket_key))
        if (wb.kind is not WriteBackKind.ADD_LABEL or ticket is None
                or wb.source not in healthy or (wb.source, wb.ticket_key) in held
                or wb.label.casefold() in {lb.casefold() for lb in ticket.labels}
                or not _lost_then_changed(item, ticket)):
            continue
        kr_id = kr_of_managed(wb.label, managed_prefix) or ""
        found.append((item, Override(wb.source, wb.ticket_key, wb.label, kr_id, now)))
    return found


def _one(item: OutboxItem, ticket: Ticket, want: WriteBack | None, linked: list[str],
         ctx: ReviewContext) -> WriteBack | str | None:
    """The verdict on one pending item: a write-back to queue in its place, a drop reason,
    or None to keep it."""
    wb = item.writeback
    on_ticket = wb.label.casefold() in {lb.casefold() for lb in ticket.labels}
    if wb.kind is WriteBackKind.ADD_LABEL:
        kr_id = kr_of_managed(wb.label, ctx.managed_prefix) or ""
        if want is not None or (on_ticket and kr_id in linked):
            return None
        return "dropped: the fresh plan no longer adds this label"
    if wb.kind is WriteBackKind.REMOVE_LABEL:
        if want is not None or not on_ticket:
            return None
        return "dropped: the fresh plan keeps this label"
    if want is not None:
        return None if want.digest == wb.digest else _rederived(want, wb)
    if {g.kr_id for g in wb.goals} == set(linked):
        return None
    ledger_ids, ledger_ref = ctx.ledger_goals.get((wb.source, wb.ticket_key), ((), None))
    goals = ctx.goals.get(wb.source, {})
    now_wanted = WriteBack(
        wb.source, wb.ticket_key, WriteBackKind.SET_GOAL_LINKS,
        goals=tuple(goals[k] for k in linked if k in goals),
        previous=ledger_ids, remote_ref=ledger_ref, ticket_title=ticket.title,
        hypothesis_found=bool(ticket.hypothesis and ticket.hypothesis.strip()),
    )
    return _rederived(now_wanted, wb)


def _rederived(want: WriteBack, stale: WriteBack) -> WriteBack:
    """The plan's goal-links write in place of a stale one: it also ends whatever the stale
    one may have written (its KRs join `previous`) and keeps the comment it may have made."""
    if want.kind is not WriteBackKind.SET_GOAL_LINKS:
        return want
    extra = tuple(g.kr_id for g in stale.goals if g.kr_id not in want.previous)
    return replace(want, previous=want.previous + extra,
                   remote_ref=want.remote_ref or stale.remote_ref)


def _lost_then_changed(item: OutboxItem, ticket: Ticket) -> bool:
    """The item's last attempt may have landed and the ticket changed after it."""
    return (item.outcome_unknown and item.updated_at is not None
            and ticket.updated > item.updated_at)
