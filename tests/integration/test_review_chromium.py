"""`okrsync review monthly --format html` drawn by real Chromium (Debian's, via Playwright)
at desktop and phone width: no sideways scroll, the confidence trend chart drawn (an inline
SVG with a line per objective), hostile ticket and check-in text shown as text (no script
ran, no element injected), and no request for any external asset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncer.cli import main
from tests.helpers.chromium import WIDTHS
from tests.helpers.rhythm_helpers import EVIL, simulate_weeks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def monthly_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("monthly")
    config = simulate_weeks(folder, 6, title=EVIL, note=EVIL)
    out = folder / "monthly.html"
    try:
        main(["review", "monthly", "--format", "html", "--at", "2024-02-09T12:00:00Z",
              "--output", str(out), "-c", str(config)])
    except SystemExit as exc:
        assert not exc.code
    return out


@pytest.mark.parametrize("width", list(WIDTHS))
def test_monthly_review_in_chromium(browser: Any, monthly_html: Path, width: str,
                                    tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": WIDTHS[width], "height": 900})
    requests: list[str] = []
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(monthly_html.as_uri())
    page.wait_for_load_state("load")
    assert requests == [monthly_html.as_uri()]  # nothing external, not even an image
    assert dialogs == [] and errors == []
    assert page.evaluate("document.querySelectorAll('script, img').length") == 0
    assert page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth"), "sideways scroll"
    chart = page.locator("figure.trend svg").first
    assert chart.is_visible()
    assert page.evaluate("document.querySelector('figure.trend svg')"
                         ".querySelectorAll('polyline, circle').length") >= 1
    box = chart.bounding_box()
    assert box is not None and box["width"] <= WIDTHS[width]
    text = page.inner_text("body")
    assert "<script>alert(1)</script>" in text
    assert "Confidence trend per objective" in text
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('td')).fontSize)")
    assert size >= 12
    page.screenshot(path=str(tmp_path / f"review-monthly-{width}.png"), full_page=True)
    page.close()
