"""Ticket and catalog text quoted in the goal-link comment pings nobody and references nothing,
checked with GitHub's documented filter rules (tests/helpers/github_render_rules.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.github_comment import render_goal_comment
from connectors.inert import code_span
from connectors.text import escape_markdown
from core.model import GoalRef
from tests.helpers.github_render_rules import pings_and_refs, render, scanned_text

KR = GoalRef("KR-1", "Checkout p95 under 2 s", "O-1", "Fast shopping", "Dana Lee", "40 → 60 %",
             "https://okr.example/kr/KR-1")
TITLES = [
    "Ping @acme/security-team and @dana about #12",
    "Follow-up of owner/repo#3 and GH-12",
    "Ask dana@example.com or @sam. Then #7!",
    "Backticks `@dana` and ``#12`` and a lone ` tick @eve",
    "```@fence #1```",
    "`",
    "ends with a tick @x`",
    " padded @y ",
    "pipe | in @z | title #9",
]


def test_the_checker_sees_what_github_would_ping() -> None:
    """The rules themselves: plain and backslash-escaped text still pings (GitHub runs its
    filters after Markdown), a code span does not."""
    assert "@dana" in pings_and_refs("hello @dana")
    assert "@acme/security-team" in pings_and_refs("hi @acme/security-team")
    assert any("#12" in r for r in pings_and_refs("see \\#12"))
    assert "@dana" in pings_and_refs(escape_markdown("ask @dana"))
    assert any("GH-5" in r for r in pings_and_refs(escape_markdown("GH-5")))
    assert pings_and_refs("`@dana #12 owner/repo#3`") == []


@pytest.mark.parametrize("title", TITLES)
def test_ticket_titles_ping_nobody_and_stay_whole(title: str) -> None:
    text = render_goal_comment([KR], ticket_title=title)
    assert pings_and_refs(text) == []
    _, code = scanned_text(text)
    assert title.strip() in [c.strip() for c in code], "the title is one unbroken code span"


@pytest.mark.parametrize("title", TITLES)
def test_catalog_text_pings_nobody_even_in_table_cells(title: str) -> None:
    goal = GoalRef("KR-1", title, "O-1", title, title, title)
    text = render_goal_comment([goal], ticket_title=title)
    assert pings_and_refs(text) == []
    assert render(text).count("<tr>") == 2  # the header and one row: no cell broke out


def test_ordinary_catalog_text_stays_plain() -> None:
    text = render_goal_comment([KR])
    scanned, code = scanned_text(text)
    assert "Dana Lee" in "".join(scanned)
    assert "Dana Lee" not in "".join(code)


def test_ended_comment_pings_nobody() -> None:
    text = render_goal_comment([], ticket_title="Ping @dana #4", previous=("KR-1",))
    assert pings_and_refs(text) == []


@given(st.text(max_size=60))
def test_any_title_pings_nobody_and_injects_no_html(title: str) -> None:
    text = render_goal_comment([KR], ticket_title=title)
    assert pings_and_refs(text) == []
    html = render(text)
    assert "<img" not in html and "<script" not in html and 'href="javascript' not in html


def test_code_span_fence_outgrows_the_longest_backtick_run() -> None:
    assert code_span("a ``b`` c") == "```a ``b`` c```"
    assert code_span("`x") == "`` `x ``"
    assert code_span("  ") == ""
