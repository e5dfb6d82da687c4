"""GitHub's post-Markdown filters, as documented, to check what a comment would ping or link.

GitHub renders a comment with cmark-gfm, then runs its html-pipeline filters over the HTML:
`MentionFilter` (users and `@org/team`) and the issue-reference filter (`#12`,
`owner/repo#12`, `GH-12`). Both skip text inside `pre`, `code` and `a` elements
(html-pipeline's `IGNORE_PARENTS`), and both run *after* Markdown, so a backslash escape is
already gone. markdown-it-py with tables enabled stands in for cmark-gfm (both follow the
CommonMark and GFM table specs)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt

_IGNORE_PARENTS = {"pre", "code", "a", "style", "script"}
# html-pipeline MentionFilter::MentionPattern and the team form (`@org/team`).
MENTION = re.compile(
    r"(?:^|\W)@((?>[a-z0-9][a-z0-9-]*))(?:/[a-z0-9][a-z0-9_.-]*)?"
    r"(?=\.+[ \t\W]|\.+$|[^0-9a-zA-Z_.]|$)",
    re.IGNORECASE,
)
ISSUE_REF = re.compile(r"(?:^|[^\w/])(?:[\w.-]+/[\w.-]+)?#\d+\b|\bGH-\d+\b", re.IGNORECASE)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.scanned: list[str] = []
        self.code: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("br", "hr", "img", "input"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop() == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "code":
            self.code.append(data)
        if not _IGNORE_PARENTS & set(self.stack):
            self.scanned.append(data)


def render(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


def scanned_text(markdown: str) -> tuple[list[str], list[str]]:
    """(text GitHub's filters scan, the text of every code element) of a rendered comment."""
    parser = _Text()
    parser.feed(render(markdown))
    return parser.scanned, parser.code


def pings_and_refs(markdown: str) -> list[str]:
    """Every mention or issue reference GitHub would make from this comment."""
    scanned, _ = scanned_text(markdown)
    found: list[str] = []
    for text in scanned:
        found += [m.group(0).strip() for m in MENTION.finditer(text)]
        found += [m.group(0).strip() for m in ISSUE_REF.finditer(text)]
    return found
