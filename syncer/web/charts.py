"""Small SVG charts drawn on the server: a KR's value over the weeks against its baseline and
target, a confidence trend, and shares over time. Pure: numbers in, markup out.

Every string placed in the SVG is escaped; the charts use presentation attributes only (no
`style`), so a Content-Security-Policy without 'unsafe-inline' still draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#0969da", "#bc4c00", "#1f883d", "#8250df", "#cf222e", "#9a6700", "#57606a")


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float | None, ...]
    colour: str = PALETTE[0]


@dataclass(frozen=True)
class Frame:
    width: int = 320
    height: int = 120
    left: int = 34
    right: int = 8
    top: int = 10
    bottom: int = 20


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _scale(lo: float, hi: float) -> tuple[float, float]:
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.08
    return lo - pad, hi + pad


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    guides: Sequence[tuple[str, float, str]] = (),
    frame: Frame = Frame(),
    lo: float | None = None,
    hi: float | None = None,
    percent: bool = False,
    css_class: str = "chart",
) -> Markup:
    """Lines over `labels` (weeks), with dashed horizontal `guides` (name, value, colour) such
    as a KR's baseline and target. Gaps (None) break a line; a lone point is a dot."""
    values = [v for s in series for v in s.values if v is not None] + [g[1] for g in guides]
    low, high = _scale(min(values, default=0.0), max(values, default=1.0))
    low = low if lo is None else lo
    high = high if hi is None else hi
    n = max(1, len(labels) - 1)
    inner_w = frame.width - frame.left - frame.right
    inner_h = frame.height - frame.top - frame.bottom

    def x(i: int) -> float:
        return frame.left + inner_w * (i / n if len(labels) > 1 else 0.5)

    def y(v: float) -> float:
        return frame.top + inner_h * (1 - (v - low) / (high - low))

    def tick(v: float) -> str:
        return f"{v * 100:.0f}%" if percent else _fmt(v)

    parts = [
        f'<svg class="{escape(css_class)}" viewBox="0 0 {frame.width} {frame.height}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{frame.left}" y1="{frame.top + inner_h}" x2="{frame.width - frame.right}" '
        f'y2="{frame.top + inner_h}" stroke="#d0d7de"/>',
    ]
    if not guides:  # with guides, their own labels (baseline, target) give the scale
        parts += [
            f'<text x="{frame.left - 4}" y="{frame.top + 4}" text-anchor="end" font-size="9" '
            f'fill="#57606a">{escape(tick(high))}</text>',
            f'<text x="{frame.left - 4}" y="{frame.top + inner_h}" text-anchor="end" '
            f'font-size="9" fill="#57606a">{escape(tick(low))}</text>',
        ]
    for name, value, colour in guides:
        gy = y(value)
        parts.append(
            f'<line x1="{frame.left}" y1="{gy:.1f}" x2="{frame.width - frame.right}" '
            f'y2="{gy:.1f}" stroke="{escape(colour)}" stroke-dasharray="4 3"/>'
            f'<text x="{frame.width - frame.right}" y="{gy - 2:.1f}" text-anchor="end" '
            f'font-size="9" fill="{escape(colour)}">{escape(name)} {escape(tick(value))}</text>'
        )
    for i, label in enumerate(labels):
        if len(labels) <= 6 or i in (0, len(labels) - 1) or i % 3 == 0:
            anchor = "start" if i == 0 and len(labels) > 1 else (
                "end" if i == len(labels) - 1 and len(labels) > 1 else "middle")
            parts.append(
                f'<text x="{x(i):.1f}" y="{frame.height - 6}" text-anchor="{anchor}" '
                f'font-size="9" fill="#57606a">{escape(label)}</text>'
            )
    for s in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append((x(i), y(v)))
        for run in (r for r in runs if r):
            if len(run) == 1:
                parts.append(f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="2.5" '
                             f'fill="{escape(s.colour)}"/>')
                continue
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
            parts.append(f'<polyline points="{points}" fill="none" stroke="{escape(s.colour)}" '
                         f'stroke-width="2"/>')
        last = next(((i, v) for i, v in reversed(list(enumerate(s.values))) if v is not None),
                    None)
        if last is not None:
            parts.append(f'<circle cx="{x(last[0]):.1f}" cy="{y(last[1]):.1f}" r="3" '
                         f'fill="{escape(s.colour)}"><title>{escape(s.name)}: '
                         f"{escape(tick(last[1]))}</title></circle>")
    parts.append("</svg>")
    return Markup("".join(parts))


def legend(series: Sequence[Series]) -> Markup:
    """Names and colours of the lines, as HTML (no inline style: a small SVG swatch each)."""
    items = "".join(
        f'<li><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
        f'fill="{escape(s.colour)}"/></svg> {escape(s.name)}</li>'
        for s in series
    )
    return Markup(f'<ul class="legend">{items}</ul>')


def meter(fraction: float | None, *, label: str, width: int = 120) -> Markup:
    """A progress bar (0–100 %), drawn as SVG so it needs no inline style."""
    filled = 0 if fraction is None else round(width * min(1.0, max(0.0, fraction)))
    return Markup(
        f'<svg class="meter" width="{width}" height="8" viewBox="0 0 {width} 8" role="img" '
        f'aria-label="{escape(label)}"><rect width="{width}" height="8" rx="4" fill="#eaeef2"/>'
        f'<rect width="{filled}" height="8" rx="4" fill="#1f883d"/></svg>'
    )
