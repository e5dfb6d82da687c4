"""The goal-link comment text: what it says, that it is stable, and that ticket text is escaped."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from connectors.github_comment import MARKER, has_marker, render_goal_comment, safe_url
from core.model import GoalRef
from tests.helpers.github_render_rules import render

KR1 = GoalRef("KR-1", "Checkout p95 under 2 s", "O-1", "Fast shopping", "Dana Lee", "40 → 60 %",
              "https://okr.example/kr/KR-1")
KR2 = GoalRef("KR-2", "Fewer refunds", "O-1", "Fast shopping", "Sam Roe", "8 → 4 %")


def _rows(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("|---|---|---|---|") + 1
    return [ln for ln in lines[start:] if ln.startswith("| ")]


def test_lists_each_kr_with_objective_owner_and_target() -> None:
    text = render_goal_comment([KR2, KR1], ticket_title="Rework cart", hypothesis_found=True)
    assert text.startswith(MARKER + "\n")
    assert "serves 2 key results" in text
    rows = _rows(text)
    assert len(rows) == 2
    assert "KR\\-1" in rows[0] and "KR\\-2" in rows[1]  # stable order by KR id
    assert "Fast shopping" in rows[0]
    assert "Dana Lee" in rows[0] and "40 → 60 %" in rows[0]
    assert "(https://okr.example/kr/KR-1)" in rows[0]
    assert "**Hypothesis:** found" in text
    assert "`okr:<KR-ID>`" in text and "`goal:<KR-ID>`" in text


def test_missing_hypothesis_says_how_to_add_one() -> None:
    text = render_goal_comment([KR1], hypothesis_found=False)
    assert "**Hypothesis:** none found" in text
    assert "serves 1 key result:" in text


def test_deterministic_whatever_the_input_order() -> None:
    a = render_goal_comment([KR1, KR2], ticket_title="x")
    b = render_goal_comment((KR2, KR1), ticket_title="x")
    assert a == b


def test_ended_keeps_marker_and_names_previous_krs() -> None:
    text = render_goal_comment([], ticket_title="Rework cart", previous=["KR-2", "KR-1"])
    assert has_marker(text)
    assert "Goal links ended" in text
    assert "**KR\\-1**, **KR\\-2**" in text
    assert "| Objective" not in text


def test_ticket_title_cannot_inject_markup() -> None:
    evil = "x](http://evil) <img src=x onerror=alert(1)> @everyone | col `code`\n# head"
    text = render_goal_comment([KR1], ticket_title=evil)
    line = next(ln for ln in text.splitlines() if ln.startswith("This epic"))
    assert "(``x](http://evil) <img" in line  # the whole title is one code span: inert text
    assert line.count("``") == 2 and "\n# head" not in text
    html = render(text)
    assert "<img" not in html and 'href="http://evil"' not in html
    assert "&lt;img src=x" in html


def test_catalog_text_cannot_break_the_table() -> None:
    goal = GoalRef("KR|9", "a | b", "O|1", "o\nbj", "x|y", "1|2")
    (row,) = _rows(render_goal_comment([goal]))
    assert row.replace("\\|", "").count("|") == 5  # four cells, no extra columns
    assert row.count("\\|") == 5
    assert "o bj" in row  # no line break inside a cell


def test_prefixes_in_code_spans_cannot_break_out() -> None:
    text = render_goal_comment([KR1], explicit_prefix="o`k:", managed_prefix="g:")
    assert "`o'k:<KR-ID>`" in text


def test_safe_url_only_http() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("ftp://x/y") is None
    assert safe_url("https://x.example/a b(c)") == "https://x.example/a%20b%28c%29"
    goal = GoalRef("KR-1", "t", "O", "o", "w", "1", url="javascript:alert(1)")
    assert "javascript" not in render_goal_comment([goal])


def test_marker_must_open_the_body() -> None:
    assert has_marker(MARKER + "\nhello")
    assert has_marker("  \n" + MARKER)
    assert not has_marker("> " + MARKER)
    assert not has_marker("I saw " + MARKER)


_text = st.text(max_size=40)


@given(title=_text, kr_title=_text, owner=_text, found=st.booleans())
def test_any_text_keeps_one_marker_and_no_raw_html(
    title: str, kr_title: str, owner: str, found: bool
) -> None:
    goal = GoalRef("KR-1", kr_title, "O-1", "obj", owner, "1 → 2")
    text = render_goal_comment([goal], ticket_title=title, hypothesis_found=found)
    assert text == render_goal_comment([goal], ticket_title=title, hypothesis_found=found)
    html = render(text)
    assert html.count("<!--") == 1 and html.startswith("<!-- okrsync:goal-links -->")
    assert _only_markup(html)


_MARKUP = re.compile(r"</?(?:h3|p|table|thead|tbody|tr|th|td|strong|code|a|sub|em)\b[^>]*>")


def _only_markup(html: str) -> bool:
    """Every tag in the rendered comment is one okrsync's own template produces."""
    rest = _MARKUP.sub("", html.replace("<!-- okrsync:goal-links -->", ""))
    return "<" not in rest
