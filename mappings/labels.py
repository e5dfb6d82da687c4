"""Label naming conventions: people's explicit `okr:<KR>` labels (inputs), the service's own
`goal:<KR>` labels (outputs) and run/maintenance (`ktlo`) markers.

Trackers treat labels case-insensitively in practice (and people type them by hand), so every
comparison here is case-insensitive; the KR id returned is as written and is resolved against
the catalog by the caller.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable


def glob_match(value: str, pattern: str) -> bool:
    """Case-insensitive shell-style glob (`payments-*`, `team-?`), the one used everywhere."""
    return fnmatch.fnmatchcase(value.casefold(), pattern.casefold())


def _after_prefix(label: str, prefix: str) -> str | None:
    if not prefix or len(label) <= len(prefix):
        return None
    if label[: len(prefix)].casefold() != prefix.casefold():
        return None
    rest = label[len(prefix) :].strip()
    return rest or None


def managed_label(kr_id: str, prefix: str = "goal:") -> str:
    """The label the service applies for a linked KR: `goal:KR-1`."""
    return f"{prefix}{kr_id}"


def is_managed(label: str, prefix: str = "goal:") -> bool:
    """Whether a label looks like one the service applies (an output, never an input)."""
    return label[: len(prefix)].casefold() == prefix.casefold() and bool(prefix)


def kr_of_managed(label: str, prefix: str = "goal:") -> str | None:
    """`goal:KR-1` -> `KR-1`; None when the label is not a managed label."""
    return _after_prefix(label, prefix)


def explicit_kr(label: str, prefix: str = "okr:") -> str | None:
    """`okr:KR-1` -> `KR-1` (as written); None when the label is not an explicit link."""
    return _after_prefix(label, prefix)


def is_ktlo(labels: Iterable[str], patterns: Iterable[str]) -> bool:
    """Whether any label marks run/maintenance work (globs, case-insensitive)."""
    pats = tuple(patterns)
    return any(glob_match(label, p) for label in labels for p in pats)
