"""What the suggester reads of an epic and of a key result, as one text per document.

Free text (title, description) is kept as words; the epic's labels, project, components and
team become field tokens (`label_checkout`, `project_web`) so a label and the same word in a
title count apart. Link labels (`okr:`, `goal:`) are never features: they are the answer.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.model import Catalog, KeyResult, Ticket
from mappings.labels import explicit_kr, is_managed

DESCRIPTION_CHARS = 400
"""Only the start of a description: it is where the theme is said, and it bounds the cost."""

_NON_WORD = re.compile(r"[^\w]+")
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True)
class Prefixes:
    explicit: str = "okr:"
    managed: str = "goal:"


@functools.lru_cache(maxsize=65_536)
def field_token(field: str, value: str) -> str:
    """`label_data_quality` for label `data-quality`: one token the word tokenizer keeps."""
    return f"{field}_{_NON_WORD.sub('_', value.casefold()).strip('_')}"


def input_labels(ticket: Ticket, prefixes: Prefixes) -> tuple[str, ...]:
    """The ticket's labels that are features: not the ones that link it to a KR."""
    return tuple(
        label for label in ticket.labels
        if not is_managed(label, prefixes.managed)
        and explicit_kr(label, prefixes.explicit) is None
    )


FIELDS = "\x00"
"""Separates an epic's free text from its field tokens in one document string."""
LABEL = "label_"


def epic_text(ticket: Ticket, team: str | None, prefixes: Prefixes) -> str:
    """One document per epic: the title (twice: it is what people name work by), the start of
    the description, then the field tokens."""
    fields = [field_token("project", ticket.project)]
    fields.extend(field_token("component", c) for c in ticket.components)
    if team:
        fields.append(field_token("team", team))
    fields.extend(field_token("label", lab) for lab in input_labels(ticket, prefixes))
    text = " ".join((ticket.title, ticket.title, ticket.description[:DESCRIPTION_CHARS]))
    return f"{text.replace(FIELDS, ' ')}{FIELDS}{' '.join(fields)}"


def strip_accents(text: str) -> str:
    """`café` -> `cafe`, as scikit-learn's `strip_accents="unicode"` does."""
    decomposed = unicodedata.normalize("NFKD", text)
    if decomposed == text:
        return text
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """Lower-cased, accent-free words of two or more characters (scikit-learn's default
    tokenisation), spelled out here so that ranking with a stored model needs no
    scikit-learn: stop words are left out of the vocabulary when it is fitted, so words that
    are not in it are simply not counted."""
    return _TOKEN.findall(strip_accents(text.lower()))


def make_analyzer(words: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """Word n-grams over the free text, whole tokens for the fields (a label never pairs with
    a title word, so hiding an epic's labels is dropping their columns)."""

    def analyze(doc: str) -> list[str]:
        text, _, fields = doc.partition(FIELDS)
        return words(text) + fields.split()

    return analyze


def kr_text(kr: KeyResult, catalog: Catalog) -> str:
    """A key result's own words, the prior every KR starts with before any example."""
    objective = catalog.objective(kr.objective_id)
    metric = kr.metric.replace("_", " ")
    return " ".join((kr.title, metric, objective.title if objective else "")) + FIELDS


def display_term(term: str) -> str:
    """A feature name as a person reads it: `label_checkout` -> `label checkout`."""
    for field in ("label", "project", "component", "team"):
        if term.startswith(field + "_"):
            return f"{field} {term[len(field) + 1:]}"
    return term


def texts(tickets: Sequence[Ticket], teams: Sequence[str | None], prefixes: Prefixes) -> list[str]:
    return [epic_text(t, team, prefixes) for t, team in zip(tickets, teams, strict=True)]
