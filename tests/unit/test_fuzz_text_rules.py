"""Fuzzing the untrusted-text parsers and the rule matcher with hypothesis: they never crash,
their outputs stay bounded, and escaping holds for any input."""

from __future__ import annotations

import functools
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.text import (
    MAX_DESCRIPTION,
    adf_to_text,
    escape_markdown,
    extract_hypothesis,
    wiki_to_text,
)
from core.model import Catalog, Ticket, TicketState
from mappings.rules import RuleSet, load_rules, map_ticket
from sandbox.data import demo_catalog_toml, demo_rules_toml
from syncer.catalog import load_catalog

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~&@")

text = st.text(st.characters(codec="utf-8"), max_size=400)
hostile = st.lists(st.sampled_from([
    "<script>", "</script>", "[x](javascript:alert(1))", "![i](http://e/x.png)", "@everyone",
    "<img src=x onerror=1>", "`", "\\", "Hypothesis:", "We believe", " will ", " because ",
    "*", "_", "h1. ", "{code}", "\n", "\r\n", "\x00", "\x1b[31m", "\u202e", "&amp;", "|",
]) | text, max_size=30).map("".join)

json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | hostile
adf_node = st.recursive(
    json_leaf,
    lambda children: st.lists(children, max_size=5) | st.fixed_dictionaries(
        {"type": st.sampled_from(["doc", "paragraph", "text", "hardBreak", "mention", "emoji",
                                  "codeBlock", "listItem", "bulletList", "status", "unknown"])},
        optional={"text": json_leaf, "content": children,
                  "attrs": st.dictionaries(st.sampled_from(["text", "shortName", "url"]),
                                           json_leaf, max_size=3) | json_leaf},
    ),
    max_leaves=40,
)


def unescaped(escaped: str) -> str:
    """What is left of `escaped` once every backslash-escaped character is taken out."""
    return re.sub(r"\\.", "", escaped, flags=re.S)


@FUZZ
@given(adf_node)
def test_adf_to_text_never_crashes_and_stays_bounded(node: Any) -> None:
    out = adf_to_text(node)
    assert isinstance(out, str)
    assert len(out) <= MAX_DESCRIPTION
    assert not CONTROL.search(out)


@FUZZ
@given(hostile, st.integers(min_value=0, max_value=500))
def test_wiki_to_text_never_crashes_and_respects_the_limit(raw: str, limit: int) -> None:
    out = wiki_to_text(raw, limit)
    assert len(out) <= limit
    assert not CONTROL.search(out)


@FUZZ
@given(hostile)
def test_extract_hypothesis_is_bounded_clean_text_or_none(raw: str) -> None:
    found = extract_hypothesis(raw)
    if found is not None:
        assert 0 < len(found) <= 500
        assert not CONTROL.search(found)


@FUZZ
@given(hostile)
def test_a_hypothesis_line_is_always_found(raw: str) -> None:
    body = re.sub(r"[\r\n]", " ", raw).strip() or "x"
    found = extract_hypothesis(f"intro\nHypothesis: fast pages {body}\n")
    assert found is not None and found.startswith("fast pages")


@FUZZ
@given(hostile)
def test_escape_markdown_leaves_no_markdown_or_html_syntax(raw: str) -> None:
    out = escape_markdown(raw)
    assert len(out) <= 2 * 1000
    assert "\n" not in out and "\r" not in out
    assert not CONTROL.search(out)
    rest = unescaped(out)
    assert not (set(rest) & MD_SPECIAL), rest
    # Escaping loses nothing but control characters and line breaks.
    kept = CONTROL.sub("", raw.replace("\r", " ").replace("\n", " "))[:1000]
    assert re.sub(r"\\(.)", r"\1", out, flags=re.S) == kept


# -- the rule matcher ----------------------------------------------------------------------


@functools.cache
def demo_inputs() -> tuple[Catalog, RuleSet]:
    folder = Path(tempfile.mkdtemp(prefix="okrsync-fuzz-"))
    (folder / "okrs.toml").write_text(demo_catalog_toml())
    (folder / "rules.toml").write_text(demo_rules_toml())
    catalog = load_catalog(folder / "okrs.toml")
    return catalog, load_rules(folder / "rules.toml", catalog)


def label_strategy() -> st.SearchStrategy[str]:
    catalog, _ = demo_inputs()
    krs = [kr.id for kr in catalog.key_results]
    known = st.sampled_from(["checkout", "cart", "payments", "onboarding", "search", "ktlo",
                             "epic", "signup", "perf"])
    explicit = st.sampled_from(krs).map(lambda k: "okr:" + k)
    odd_case = st.sampled_from(krs).map(lambda k: "OKR:" + k.lower())
    managed = st.sampled_from(krs).map(lambda k: "goal:" + k)
    broken = st.text(max_size=12).map(lambda s: "okr:" + s)
    return known | explicit | odd_case | managed | broken | hostile


tickets = st.builds(
    Ticket,
    source=st.sampled_from(["jira", "github"]),
    key=st.sampled_from(["WEB-1", "PAY-2", "acme/web#3", "acme/app#4"]) | hostile,
    remote_id=st.just("1"),
    url=st.just("https://example.com/x"),
    title=hostile,
    project=st.sampled_from(["WEB", "PAY", "acme/web", "acme/app"]) | hostile,
    issue_type=st.sampled_from(["Epic", "Story", ""]) | hostile,
    labels=st.lists(st.deferred(label_strategy), max_size=8).map(tuple),
    state=st.sampled_from(list(TicketState)),
    updated=st.just(datetime(2026, 10, 1, tzinfo=UTC)),
    components=st.lists(st.sampled_from(["checkout", "search", "api"]) | hostile,
                        max_size=3).map(tuple),
)


@FUZZ
@given(tickets)
def test_map_ticket_never_crashes_and_links_only_catalog_krs(ticket: Ticket) -> None:
    catalog, rules = demo_inputs()
    mapping = map_ticket(ticket, rules, catalog)
    ids = {kr.id for kr in catalog.key_results}
    linked = [link.kr_id for link in mapping.links]
    assert set(linked) <= ids
    assert len(linked) == len(set(linked)), "one link per key result"
    explicit = {lb.split(":", 1)[1].lower() for lb in ticket.labels
                if lb.lower().startswith("okr:")}
    valid_explicit = {k for k in ids if k.lower() in explicit}
    if valid_explicit:
        assert set(linked) == valid_explicit, "valid explicit labels decide alone"
    else:
        assert len(linked) <= 1, "without explicit labels one rule decides"
    assert len(mapping.explanations) == len(rules.rules)
    assert map_ticket(ticket, rules, catalog) == mapping, "deterministic"


WORDS = ["a*", "b?", "ab", "B", "c", "[ab]c", "*"]
words = st.lists(st.sampled_from(["a", "ab", "b", "bc", "c", "AB", "abc"]), max_size=3)


@st.composite
def rule_sets(draw: st.DrawFn) -> RuleSet:
    """Rules over every condition kind, with globs that collide with the ticket values."""
    from mappings.rules import Rule

    patterns = st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(tuple)
    rules = []
    for i in range(draw(st.integers(1, 5))):
        fields = {c: draw(patterns) for c in draw(st.sets(st.sampled_from(
            ["sources", "projects", "issue_types", "components", "labels_any", "labels_all",
             "labels_none"]), min_size=1))}
        if draw(st.booleans()):
            fields["title_regex"] = draw(st.sampled_from(["^a", "b$", "c+"]))
        kr = draw(st.sampled_from(["KR-1", "KR-2", "KR-GONE"]))
        rules.append(Rule(id=f"r{i}", kr_id=kr, priority=draw(st.integers(0, 3)), **fields))
    return RuleSet(rules=tuple(rules))


@settings(max_examples=300, deadline=None)
@given(rule_sets(), words, words, st.sampled_from(["a", "ab", "c"]),
       st.sampled_from(["a", "bc"]), st.sampled_from(["ab", "abc", "c"]))
def test_the_quick_mapping_a_sync_uses_decides_exactly_like_explain(
    ruleset: RuleSet, labels: list[str], components: list[str], project: str,
    source: str, title: str,
) -> None:
    catalog, _ = demo_inputs()
    from dataclasses import replace

    catalog = replace(catalog, key_results=tuple(
        replace(kr, id=f"KR-{i}") for i, kr in enumerate(catalog.key_results[:2], start=1)))
    ticket = Ticket(source=source, key="K-1", remote_id="1", url="u", title=title,
                    project=project, issue_type=project.upper(), labels=tuple(labels),
                    state=TicketState.TODO, updated=datetime(2026, 1, 1, tzinfo=UTC),
                    components=tuple(components))
    full = map_ticket(ticket, ruleset, catalog)
    quick = map_ticket(ticket, ruleset, catalog, explain=False)
    assert (quick.links, quick.broken) == (full.links, full.broken)
    assert quick.explanations == ()
