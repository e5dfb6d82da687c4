"""Next quarter for the demo organisation: its catalog with the demo cycle closed and a new
cycle of new key results, and rules that link the new cycle (most of the old rules again,
under new KR ids) while the old ones stay as history. For the rollover scenario and bench.
"""

from __future__ import annotations

import re
from datetime import date

_CYCLE_LINE = re.compile(r'^cycle = "[^"]*"$', re.MULTILINE)
_ID_LINE = re.compile(r'^id = "([^"]+)"$', re.MULTILINE)
_KR_LINE = re.compile(r'^kr = "([^"]+)"$', re.MULTILINE)
SUFFIX = "-N"
"""What the new cycle's objective and KR ids add to the old ones."""


def new_id(old: str) -> str:
    return f"{old}{SUFFIX}"


def two_cycle_catalog(old_text: str, *, old: str, new: str, old_days: tuple[date, date],
                      new_days: tuple[date, date], mark_new_current: bool = False) -> str:
    """The demo catalog with `[[cycle]]` tables: its objectives in `old`, and a copy of
    them with new ids in `new`."""
    old_part = _CYCLE_LINE.sub(f'cycle = "{old}"', old_text)
    body = old_part[old_part.index("[[objective]]"):]
    new_part = _ID_LINE.sub(lambda m: f'id = "{new_id(m.group(1))}"',
                            _CYCLE_LINE.sub(f'cycle = "{new}"', body))
    current = "current = true\n" if mark_new_current else ""
    head = (f'[[cycle]]\nid = "{old}"\nstart = {old_days[0]}\nend = {old_days[1]}\n\n'
            f'[[cycle]]\nid = "{new}"\nstart = {new_days[0]}\nend = {new_days[1]}\n{current}\n')
    return head + old_part[old_part.index("[[objective]]"):] + "\n" + new_part


def two_cycle_rules(old_text: str, *, old: str, drop_krs: tuple[str, ...] = ()) -> str:
    """The demo rules kept for `old` (`cycles = [old]`), then the same rules again for the
    new cycle's KRs, except the rules of `drop_krs` (their open epics then need a new KR)."""
    kept = _KR_LINE.sub(lambda m: f'kr = "{m.group(1)}"\ncycles = ["{old}"]', old_text)
    blocks = old_text.split("[[rule]]")[1:]
    again = []
    for block in blocks:
        kr = _KR_LINE.search(block)
        if kr is None or kr.group(1) in drop_krs:
            continue
        block = _KR_LINE.sub(lambda m: f'kr = "{new_id(m.group(1))}"', block)
        block = _ID_LINE.sub(lambda m: f'id = "{m.group(1)}-next"', block)
        again.append("[[rule]]" + block)
    return kept + "\n" + "".join(again)
