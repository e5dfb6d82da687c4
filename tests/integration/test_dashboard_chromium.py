"""The dashboard and the digest email in real Chromium (Debian's, driven by Playwright):
`okrsync serve` on a demo store, every page at desktop and phone width with no console error,
no failed request and no sideways scroll; a chart per KR; filters that change the rows; a
hostile title shown as text. Screenshots go to $OKRSYNC_SCREENSHOTS (docs/images to refresh
the committed ones) or the test's temporary folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncer.catalog import load_catalog
from syncer.config import load_config
from syncer.reports.digest import MAX_HTML_BYTES, render_digest
from tests.helpers.chromium import WIDTHS
from tests.helpers.dashboard_helpers import (
    EVIL,
    HOSTILE_KEY,
    add_hostile_epic,
    demo_store,
    serving,
)
from tests.helpers.digest_helpers import big_report

PAGES = ("portfolio", "untraceable", "teams", "rhythm", "runs")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    config = demo_store(tmp_path_factory.mktemp("demo"))
    add_hostile_epic(load_config(config).store_path)
    with serving(config) as url:
        yield config, url


class Watch:
    """Console errors, failed requests, error responses and dialogs of one page."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        page.on("response", lambda r: self.problems.append(f"{r.status}: {r.url}")
                if r.status >= 400 else None)
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))


def shots_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("OKRSYNC_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def scroll_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


@pytest.mark.parametrize("device", WIDTHS)
def test_every_page_loads_cleanly(browser: Any, demo: tuple[Path, str], device: str,
                                  tmp_path: Path) -> None:
    config, url = demo
    width = WIDTHS[device]
    page = browser.new_page(viewport={"width": width, "height": 900})
    watch = Watch(page)
    for name in PAGES:
        response = page.goto(url + name)
        assert response is not None and response.status == 200
        assert page.evaluate("document.querySelectorAll('script').length") == 0
        assert scroll_width(page) <= width, f"{name} scrolls sideways at {width} px"
        page.screenshot(path=str(shots_dir(tmp_path) / f"dashboard-{name}-{width}.png"))
    assert watch.problems == []
    page.close()


def test_portfolio_draws_a_chart_per_key_result(browser: Any, demo: tuple[Path, str]) -> None:
    config, url = demo
    catalog = load_catalog(load_config(config).catalog_path)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url + "portfolio")
    charts = page.locator("svg.kr-chart")
    assert charts.count() == len(catalog.key_results)
    for n in range(charts.count()):
        box = charts.nth(n).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 60
        assert charts.nth(n).locator("polyline").count() >= 1  # twelve weeks of history
    page.close()


def test_filters_change_the_rows(browser: Any, demo: tuple[Path, str]) -> None:
    _, url = demo
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url + "untraceable")
    rows = page.locator("#untraceable-rows tbody tr")
    everything = int(page.locator("#row-count").inner_text())
    assert rows.count() == everything > 0
    page.select_option("select[name=state]", "done")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/untraceable?*state=done*")
    done = int(page.locator("#row-count").inner_text())
    assert 0 < done < everything and rows.count() == done
    assert page.locator("#untraceable-rows .chip.state").all_inner_texts() == ["done"] * done
    page.select_option("select[name=state]", "")
    page.select_option("select[name=team]", "platform")
    page.click("form.filters button[type=submit]")
    platform = int(page.locator("#row-count").inner_text())
    assert 0 < platform < everything
    page.close()


def test_a_hostile_title_renders_as_text(browser: Any, demo: tuple[Path, str]) -> None:
    _, url = demo
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page)
    page.goto(url + "untraceable?sort=size")
    row = page.locator("#untraceable-rows tr", has_text=HOSTILE_KEY)
    assert row.locator(".title").inner_text() == EVIL
    assert page.locator("img").count() == 0
    assert watch.problems == []
    page.close()


@pytest.mark.parametrize("epics", [500, 50_000])
def test_digest_email_reads_on_a_phone(browser: Any, tmp_path: Path, epics: int) -> None:
    report = big_report(epics, tmp_path)
    _, html = render_digest(report, dashboard_url="https://okr.example.com")
    assert len(html.encode()) <= MAX_HTML_BYTES
    page = browser.new_page(viewport={"width": 390, "height": 844})
    watch = Watch(page)
    page.set_content(html)
    assert scroll_width(page) <= 390
    assert page.locator("#key-results").is_visible()
    page.screenshot(path=str(tmp_path / f"digest-{epics}-390.png"), full_page=True)
    assert [p for p in watch.problems if "jira.example.com" not in p] == []
    page.close()


def test_the_demo_digest_on_a_phone(browser: Any, demo: tuple[Path, str],
                                    tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from syncer.mail import compose
    from syncer.reports.load import build_report
    from syncer.store import Store

    config_path, _ = demo
    config = load_config(config_path)
    with Store.open(config.store_path) as store:
        report = build_report(store, load_catalog(config.catalog_path), config,
                              save_snapshot=False)
    msg = compose(report, sender="okrsync@example.com", recipients=["lead@example.com"],
                  now=datetime.now(UTC), top=config.report.digest_top,
                  dashboard_url=config.report.dashboard_url)
    html_part = msg.get_body(("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    assert len(html.encode()) <= MAX_HTML_BYTES
    assert report.previous is not None  # the demo's history gives the tiles a last week
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_content(html)
    assert scroll_width(page) <= 390
    assert "vs last week" in page.locator("body").inner_text()
    page.screenshot(path=str(shots_dir(tmp_path) / "digest-390.png"), full_page=True)
    page.close()
