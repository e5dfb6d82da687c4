"""Read key-result ids back out of goal-link text the way a person reading the ticket would."""

from __future__ import annotations

import re

_KR_ID = re.compile(r"\bKR(?:\\?-[A-Za-z0-9]+)+")


def kr_ids_in(text: str) -> set[str]:
    """Every `KR-...` id the text shows, Markdown backslash escapes removed. Ids carry a
    number, which keeps placeholders such as `okr:<KR-ID>` in help text out."""
    found = {match.replace("\\", "") for match in _KR_ID.findall(text)}
    return {kr for kr in found if any(ch.isdigit() for ch in kr)}
