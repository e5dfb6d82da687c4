"""Text that GitHub renders inertly: no @mention pings anyone, no #12 references an issue.

GitHub finds mentions and issue references in the rendered text *after* Markdown, when a
backslash escape is already gone, so `\\@dana` still pings Dana. What it never scans is the
inside of a code span. Ticket text therefore goes into a code span whose backtick fence is
longer than any backtick run in the text, so no title can close it early (CommonMark: a span
ends only at a backtick string of the same length). Pure functions.
"""

from __future__ import annotations

import re

from connectors.text import clean, escape_markdown

_BACKTICKS = re.compile(r"`+")
_RISKY = re.compile(
    r"[@#]|\bGH-\d|\b[0-9a-f]{7,40}\b|https?:|www\.|\w\.\w+\.\w", re.IGNORECASE)


def code_span(text: str, *, in_table: bool = False) -> str:
    """`text` as one code span on one line ('' for blank text). In a table cell a `|` would
    end the cell even inside the span, so it is escaped the way GFM tables honour there."""
    text = clean(text.replace("\r\n", " ").replace("\r", " ").replace("\n", " "), 1000)
    if not text.strip():
        return ""
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"


def inert(text: str, *, in_table: bool = False) -> str:
    """Plain escaped Markdown for ordinary text; a code span when it holds anything GitHub
    would turn into a mention, a reference or a link (`@x`, `#1`, `GH-1`, a SHA, a URL)."""
    if _RISKY.search(text):
        return code_span(text, in_table=in_table)
    return escape_markdown(text)
