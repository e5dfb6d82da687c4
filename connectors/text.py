"""Ticket text helpers shared by connectors: ADF / wiki / Markdown to plain text, hypothesis
extraction, and escaping for Markdown. Pure functions; ticket text is untrusted."""

from __future__ import annotations

import re
from typing import Any

MAX_DESCRIPTION = 20_000

DEFAULT_HYPOTHESIS_PATTERN = (
    r"(?im)^[\s*_#>\-]*(?:h\d\.\s*)?[*_]*hypothesis[*_]*\s*:[*_]*\s*(?P<h>\S.*?)\s*$"
    r"|(?P<s>\bwe\s+(?:believe|think)\b[^.\n]{0,400}?\bwill\b[^.\n]{0,400}?\bbecause\b[^.\n]{0,400})"
)

_BLOCK_NODES = {
    "paragraph", "heading", "listItem", "codeBlock", "blockquote", "panel", "tableRow",
    "rule", "mediaSingle", "expand", "nestedExpand", "taskItem", "decisionItem",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def printable(text: str) -> str:
    """Text safe on one terminal line or in a spreadsheet cell: every run of control
    characters (C0, DEL and C1: terminal escapes, OSC 8 links, bells, line breaks) becomes one
    space, so ticket text cannot clear a screen or forge a link or a line."""
    return _UNPRINTABLE.sub(" ", text)


def clean(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """Drop control characters (keep newlines and tabs) and cap the length."""
    return _CONTROL.sub("", text)[:limit]


def adf_to_text(node: Any, limit: int = MAX_DESCRIPTION) -> str:
    """Walk an Atlassian Document Format tree in document order and emit its text."""
    out: list[str] = []
    size = 0

    def walk(n: Any, depth: int) -> None:
        nonlocal size
        if size > limit or depth > 64:
            return
        if isinstance(n, list):
            for child in n:
                walk(child, depth + 1)
            return
        if not isinstance(n, dict):
            return
        kind = n.get("type")
        if kind == "text" and isinstance(n.get("text"), str):
            out.append(n["text"])
            size += len(n["text"])
        elif kind == "hardBreak":
            out.append("\n")
        elif kind in ("mention", "emoji", "inlineCard", "status", "date"):
            attrs = n.get("attrs") or {}
            if isinstance(attrs, dict):
                val = attrs.get("text") or attrs.get("shortName") or attrs.get("url") or ""
                out.append(str(val))
        walk(n.get("content", []), depth + 1)
        if kind in _BLOCK_NODES:
            out.append("\n")

    walk(node, 0)
    text = "".join(out)
    return clean(re.sub(r"\n{3,}", "\n\n", text).strip(), limit)


def wiki_to_text(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """Reduce Jira wiki markup to plain-ish text (headings and emphasis markers dropped)."""
    text = re.sub(r"(?m)^h[1-6]\.\s*", "", text)
    text = re.sub(r"\{(?:code|noformat|quote|panel)[^}]*\}", "", text)
    text = re.sub(r"(?<![\w*])\*(\S[^*\n]*?)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])_(\S[^_\n]*?)_(?![\w_])", r"\1", text)
    return clean(text.strip(), limit)


def valid_hypothesis_pattern(value: str) -> str:
    """`value` if it is a usable `hypothesis_pattern` (`[sync]` or a source's): a regex with a
    named group `h`; else ValueError, so a bad pattern fails `okrsync validate` instead of
    every sync. The one definition of the setting's rule."""
    if not value:
        return value
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"hypothesis_pattern is not a valid regex: {exc}") from None
    if "h" not in compiled.groupindex:
        raise ValueError("the pattern needs a named group `h`, e.g. (?P<h>.+)")
    return value


def extract_hypothesis(text: str, pattern: str | None = None) -> str | None:
    """The hypothesis line of a description: `Hypothesis: ...` lines or
    "We believe/think ... will ... because ..." sentences. None when absent."""
    if not text:
        return None
    rx = re.compile(pattern or DEFAULT_HYPOTHESIS_PATTERN)
    for m in rx.finditer(text[:MAX_DESCRIPTION]):
        groups = {k: v for k, v in m.groupdict().items() if v}
        found = groups.get("h") or groups.get("s") or (m.group(1) if rx.groups else m.group(0))
        if found:
            found = re.sub(r"[*_]+", "", found).strip()
            if found:
                return clean(found, 500)
    return None


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&@])")


def escape_markdown(text: str) -> str:
    """Escape untrusted text for GitHub-flavoured Markdown (also neutralises HTML and @mentions)."""
    text = clean(text.replace("\r", " ").replace("\n", " "), 1000)
    return _MD_SPECIAL.sub(r"\\\1", text)
