"""What the suggester reads of the store, read leanly: a digest of its training set (to tell
whether a kept model still fits) and only the untraceable epics (to rank them)."""

from __future__ import annotations

from core.model import Ticket
from syncer.store_base import StoreBase, guarded
from syncer.store_rows import TICKET_COLUMNS, ticket_of

TrainingRow = tuple[str, str, str, str, str, str, str, str | None]
"""(source, key, title, description start, labels JSON, project, components JSON, the KR ids
it is linked to comma-joined, or None)."""

_COLS = ", ".join(f"t.{c}" for c in TICKET_COLUMNS)


class SuggestInputsStore(StoreBase):
    """`Store` methods for suggestions."""

    @guarded
    def training_rows(self, description_chars: int) -> list[TrainingRow]:
        """Every epic as the suggester reads it, with its links (a person's override is not
        one), in (source, key) order; text columns as stored, nothing parsed."""
        rows = self._rows(
            "select t.source, t.key, t.title, substr(t.description, 1, ?), t.labels, "
            "t.project, t.components, "
            + self.dialect.sorted_join(
                "kr_id", "from links l where l.source = t.source and l.ticket_key = t.key and "
                "l.origin != 'override'")
            + " from tickets t order by t.source, t.key",
            [description_chars])
        return [tuple(r) for r in rows]

    @guarded
    def untraceable_tickets(self) -> list[Ticket]:
        """The epics the last plan found untraceable, in (source, key) order."""
        rows = self._rows(
            f"select {_COLS} from tickets t join untraceable u "
            "on u.uid = t.source || ':' || t.key order by t.source, t.key")
        return [ticket_of(r) for r in rows]
