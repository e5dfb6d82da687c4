"""A review as text (80 columns), Markdown, self-contained HTML (inline SVG charts, no
external assets, readable at phone width) or JSON. Every ticket, note and name is untrusted:
HTML-escaped, Markdown-escaped, or stripped of control characters for text."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable, Sequence
from enum import StrEnum

from markupsafe import Markup, escape

from connectors.text import escape_markdown, printable
from syncer.reports.render import num, pct
from syncer.rhythm.review import Review, ReviewKind, Trend
from syncer.web.charts import PALETTE, Frame, Series, legend, line_chart


class ReviewFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    HTML = "html"
    MARKDOWN = "markdown"


def title_of(review: Review) -> str:
    team = f" — team {review.team}" if review.team else ""
    return f"{review.kind.value.capitalize()} review {review.period}{team}"


def _value(value: float | None, unit: str) -> str:
    shown = num(None if value is None else float(f"{value:.4g}"))
    return shown + (f" {unit}" if unit and value is not None else "")


def _kr_cells(review: Review) -> list[list[str]]:
    return [[k.kr_id, k.title, k.owner, _value(k.value, k.unit), _value(k.target, k.unit),
             pct(k.progress),
              k.confidence_status, k.pace, ("due " if not k.missing else "MISSING since ")
              + k.due] for k in review.krs]


KR_HEAD = ["KR", "title", "owner", "value", "target", "progress", "confidence", "pace",
           "check-in"]
CARD_HEAD = ["team", "traceable", "hypothesis", "fresh", "lag (d)", "stated", "lagging"]
ESC_HEAD = ["rule", "subject", "to", "opened", "state", "detail"]


def _card_cells(review: Review) -> list[list[str]]:
    return [[c["team"], pct(c["traceable"]), pct(c["hypothesis"]), pct(c["fresh_checkins"]),
             num(c["median_lag_days"]), pct(c["confidence_stated"]),
             "yes" if c["lagging"] else "no"] for c in review.scorecard]


def _esc_cells(review: Review) -> list[list[str]]:
    return [[e["rule"], e["subject"], e["notify"] or "–", e["opened_at"][:10],
             "open" if e["open"] else f"closed {e['closed_at'][:10]}", e["detail"]]
            for e in review.escalations]


def _trend_text(labels: Sequence[str], trends: Sequence[Trend], as_pct: bool) -> list[str]:
    fmt: Callable[[float | None], str] = pct if as_pct else num
    return [f"{t.name}: " + ", ".join(f"{w} {fmt(v)}" for w, v in zip(labels, t.values,
                                                                        strict=False))
            for t in trends]


def render_text(review: Review) -> str:
    out = [printable(title_of(review)), f"cycle {review.cycle}, as of {review.generated_at}", ""]

    def section(name: str, lines: Sequence[str]) -> None:
        out.append(name)
        for line in lines or ["(none)"]:
            kept = re.sub(r"(\d) (%|d\b)", "\\1\u00a0\\2", printable(line))
            out.extend(textwrap.wrap(kept, 78, initial_indent="  ",
                                     subsequent_indent="    ") or [""])
        out.append("")

    section("Key results", [f"{k.kr_id} {k.title} ({k.owner}): {_value(k.value, k.unit)} "
                            f"of {_value(k.target, k.unit)}, "
                            f"{pct(k.progress)} of the way; confidence {k.confidence_status}, "
                            f"pace {k.pace}; check-in "
                            + ("MISSING since " if k.missing else "due ") + k.due
                            for k in review.krs])
    section("Adoption scorecard", [
        f"{c['team']}: traceable {pct(c['traceable'])}, hypothesis {pct(c['hypothesis'])}, "
        f"fresh check-ins {pct(c['fresh_checkins'])}, median lag {num(c['median_lag_days'])} d,"
        f" confidence stated {pct(c['confidence_stated'])}"
        + (f" — LAGGING: {'; '.join(c['reasons'])}" if c["lagging"] else "")
        for c in review.scorecard])
    section("Escalations", [" ".join(row[:5]) + f": {row[5]}" for row in _esc_cells(review)])
    if review.kind is ReviewKind.WEEKLY:
        section("Blockers and notes", [f"{b.kr_id} {b.at[:10]}: {b.note}"
                                       for b in review.blockers])
    else:
        section("Confidence trend", _trend_text(review.weeks, review.confidence_trend, True))
        section("Traceable trend", _trend_text(review.traceable_weeks, review.traceable_trend,
                                               True))
    if review.kind is ReviewKind.QUARTERLY:
        section("Bets", _verdict_lines(review))
        section("What changed", list(review.changes))
    return "\n".join(out).rstrip() + "\n"


def _verdict_lines(review: Review) -> list[str]:
    v = review.verdicts
    lines = [f"hit rate {pct(v.get('hit_rate'))} ({v.get('moved', 0)} of {v.get('judged', 0)} "
             f"judged bets moved their KR); killed {v.get('killed', 0)}"]
    lines += [f"{b['key']} {b['title']} → {b['kr_id']}: {b['outcome']}"
              for b in v.get("items", [])]
    return lines


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return escape_markdown(printable(text)).replace("|", "\\|")

    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out if rows else ["(none)"]


def render_markdown(review: Review) -> str:
    out = [f"# {escape_markdown(title_of(review))}", "",
           f"Cycle {escape_markdown(review.cycle)}, as of {review.generated_at}", "",
           "## Key results", "", *_md_table(KR_HEAD, _kr_cells(review)), "",
           "## Adoption scorecard", "", *_md_table(CARD_HEAD, _card_cells(review)), "",
           "## Escalations", "", *_md_table(ESC_HEAD, _esc_cells(review)), ""]
    if review.kind is ReviewKind.WEEKLY:
        out += ["## Blockers and notes", "",
                *_md_table(["KR", "at", "note"], [[b.kr_id, b.at[:10], b.note]
                                                  for b in review.blockers]), ""]
    else:
        out += ["## Confidence trend", ""]
        out += [f"- {escape_markdown(printable(line))}"
                for line in _trend_text(review.weeks, review.confidence_trend, True)]
        out += ["", "## Traceable trend", ""]
        out += [f"- {escape_markdown(printable(line))}"
                for line in _trend_text(review.traceable_weeks, review.traceable_trend, True)]
        out.append("")
    if review.kind is ReviewKind.QUARTERLY:
        out += ["## Bets", ""] + [f"- {escape_markdown(printable(x))}"
                                  for x in _verdict_lines(review)]
        out += ["", "## What changed", ""] + [f"- {escape_markdown(printable(x))}"
                                              for x in review.changes]
        out.append("")
    return "\n".join(out)


CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;padding:12px;color:#1f2328;max-width:960px}
h1{font-size:1.3em;margin:0 0 4px}h2{font-size:1.1em;margin:20px 0 6px}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #d0d7de;vertical-align:top;
overflow-wrap:break-word}
@media (max-width:600px){thead{display:none}tr{display:block;padding:6px 0;
border-bottom:1px solid #d0d7de}td{display:block;border:0;padding:1px 0}
td::before{content:attr(data-label) ": ";font-weight:600;color:#57606a}}
.chart{width:100%;max-width:640px;height:auto}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:.9em}
.muted{color:#57606a}.bad{color:#cf222e;font-weight:600}
"""


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> Markup:
    if not rows:
        return Markup('<p class="muted">none</p>')
    body = "".join("<tr>" + "".join(f'<td data-label="{escape(h)}">{escape(c)}</td>'
                                    for h, c in zip(head, row, strict=False)) + "</tr>"
                   for row in rows)
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return Markup(f'<div class="scroll"><table><thead><tr>{header}</tr></thead>'
                  f"<tbody>{body}</tbody></table></div>")


def _chart(labels: Sequence[str], trends: Sequence[Trend], title: str) -> Markup:
    if not labels or not trends:
        return Markup('<p class="muted">no data yet</p>')
    series = [Series(t.name, t.values, PALETTE[i % len(PALETTE)])
              for i, t in enumerate(trends)]
    chart = line_chart(labels, series, title=title, lo=0.0, hi=1.0, percent=True,
                       frame=Frame(width=640, height=200))
    return Markup(f'<figure class="trend">{chart}{legend(series)}</figure>')


def render_html(review: Review) -> str:
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title_of(review))}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title_of(review))}</h1>",
        f'<p class="muted">cycle {escape(review.cycle)}, as of {escape(review.generated_at)}'
        "</p>",
    ]
    if review.lagging:
        parts.append(f'<p class="bad">Lagging: {escape(", ".join(review.lagging))}</p>')
    if review.kind is not ReviewKind.WEEKLY:
        parts += ["<h2>Confidence trend per objective</h2>",
                  _chart(review.weeks, review.confidence_trend, "Confidence trend")]
    parts += ["<h2>Key results</h2>", _html_table(KR_HEAD, _kr_cells(review)),
              "<h2>Adoption scorecard</h2>", _html_table(CARD_HEAD, _card_cells(review)),
              "<h2>Escalations</h2>", _html_table(ESC_HEAD, _esc_cells(review))]
    if review.kind is ReviewKind.WEEKLY:
        parts += ["<h2>Blockers and notes</h2>",
                  _html_table(["KR", "at", "note"],
                              [[b.kr_id, b.at[:10], b.note] for b in review.blockers])]
    else:
        parts += ["<h2>Traceable trend per team</h2>",
                  _chart(review.traceable_weeks, review.traceable_trend, "Traceable share")]
    if review.kind is ReviewKind.QUARTERLY:
        parts += ["<h2>Bets</h2>", "<ul>" + "".join(f"<li>{escape(x)}</li>"
                                                      for x in _verdict_lines(review)) + "</ul>",
                  "<h2>What changed</h2>", _html_table(["change"],
                                                       [[c] for c in review.changes])]
    parts.append("</body></html>\n")
    return "\n".join(str(p) for p in parts)


def render_review(review: Review, fmt: ReviewFormat) -> str:
    if fmt is ReviewFormat.JSON:
        return json.dumps(review.to_json(), indent=2) + "\n"
    if fmt is ReviewFormat.HTML:
        return render_html(review)
    if fmt is ReviewFormat.MARKDOWN:
        return render_markdown(review)
    return render_text(review)
