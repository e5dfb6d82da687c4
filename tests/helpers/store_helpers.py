"""Small value builders for store tests (tickets, write-backs, goal refs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.model import GoalRef, Ticket, TicketState, WriteBack, WriteBackKind

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    """T0 plus some minutes: readable, ordered timestamps."""
    return T0 + timedelta(minutes=minutes)


def ticket(key: str = "WEB-1", source: str = "jira", labels: tuple[str, ...] = (),
           **kw: object) -> Ticket:
    values: dict[str, object] = {
        "source": source, "key": key, "remote_id": f"id-{key}",
        "url": f"https://example.test/{key}", "title": f"Epic {key}", "project": "WEB",
        "issue_type": "Epic", "labels": labels, "state": TicketState.TODO, "updated": T0,
    }
    values.update(kw)
    return Ticket(**values)  # type: ignore[arg-type]


def goal(kr_id: str) -> GoalRef:
    return GoalRef(kr_id=kr_id, kr_title=f"KR {kr_id}", objective_id="O1",
                   objective_title="Grow", owner="Dana", target="40 → 60 %")


def add_label(label: str, key: str = "WEB-1", source: str = "jira") -> WriteBack:
    return WriteBack(source, key, WriteBackKind.ADD_LABEL, label=label)


def remove_label(label: str, key: str = "WEB-1", source: str = "jira") -> WriteBack:
    return WriteBack(source, key, WriteBackKind.REMOVE_LABEL, label=label)


def set_goals(*kr_ids: str, key: str = "WEB-1", source: str = "jira",
              previous: tuple[str, ...] = (), remote_ref: str | None = None) -> WriteBack:
    return WriteBack(source, key, WriteBackKind.SET_GOAL_LINKS,
                     goals=tuple(goal(k) for k in kr_ids), previous=previous,
                     remote_ref=remote_ref)
