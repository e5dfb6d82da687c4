"""Check-in reminders: one per key result whose check-in is due and missing, to its owner,
with the current value and the exact command that checks in."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from syncer.rhythm.krstatus import KrStatus


@dataclass(frozen=True)
class Reminder:
    kr_id: str
    owner: str
    due: str
    """ISO date the check-in was due: with `kr_id`, the reminder's identity (sent once)."""
    title: str
    value: float | None
    unit: str
    command: str


def checkin_command(kr_id: str, value: float | None) -> str:
    """The one line that checks in, the current value filled in when there is one."""
    shown = f"{value:g}" if value is not None else "VALUE"
    return (f"okrsync checkin {shlex.quote(kr_id)} {shown} --confidence 0.7 "
            "--note \"what changed\"")


def due_reminders(krs: Sequence[KrStatus]) -> list[Reminder]:
    return [Reminder(k.kr.id, k.kr.owner, k.due.due.isoformat(), k.kr.title, k.value,
                     k.kr.unit, checkin_command(k.kr.id, k.value))
            for k in krs if k.due.missing]


def reminder_text(r: Reminder) -> str:
    """Plain text of one reminder (chat formats escape it themselves)."""
    value = "no value yet" if r.value is None else f"{r.value:g}{' ' + r.unit if r.unit else ''}"
    return (f"Check-in due for {r.kr_id} \"{r.title}\" (due {r.due}, now {value}). "
            f"Check in: {r.command}")
