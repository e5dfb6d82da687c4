"""The dashboard app in-process (Starlette's test client) over a real store: every page and its
JSON twin, filters, escaping, security headers, read-only routes and optional auth."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from core.model import CheckIn
from syncer.config import WebSection, load_config
from syncer.store import Store
from syncer.web.app import CSP, create_app
from syncer.web.charts import Series, line_chart
from syncer.web.pages import Filters, parse_filters, untraceable_rows
from tests.helpers.config_helpers import clear_okrsync_env
from tests.helpers.reports_helpers import (
    EVIL,
    NOW,
    SECRET_PASSWORD,
    SECRET_TOKEN,
    WEEK,
    load_into,
    scenario,
    write_config,
)
from tests.helpers.store_backends import clear_env_but_store

PAGES = ("/portfolio", "/untraceable", "/teams", "/rhythm", "/runs")


@pytest.fixture()
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                store_target: Path | str) -> Iterator[Path]:
    """The scenario's store on each backend, and a config pointed at it."""
    clear_env_but_store(monkeypatch, store_target)
    path = write_config(tmp_path)
    with Store.open(load_config(path).store_target) as store:
        load_into(store, scenario())
        run = store.start_run("sync", dry_run=False, now=NOW)
        store.finish_run(run, status="failures", now=NOW, summary={
            "sources": [{"name": "jira", "healthy": False, "pulled": 0, "requests": 3,
                         "reason": "pull failed: GET /search -> 500"}]})
    yield path


def client(config_path: Path, **web: object) -> TestClient:
    config = load_config(config_path)
    if web:
        config = replace(config, web=WebSection(**web))  # type: ignore[arg-type]
    return TestClient(create_app(config, now=lambda: NOW))


def test_every_page_and_its_json_twin(config_path: Path) -> None:
    c = client(config_path)
    for path in PAGES:
        page = c.get(path)
        assert page.status_code == 200, page.text
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "<script" not in page.text.lower() and " style=" not in page.text
        twin = c.get(path, params={"format": "json"})
        assert twin.status_code == 200 and twin.headers["content-type"] == "application/json"
    portfolio = c.get("/portfolio", params={"format": "json"}).json()
    assert portfolio["week"] == WEEK
    assert [kr["id"] for o in portfolio["bets"]["objectives"] for kr in o["krs"]] == [
        "KR-1", "KR-2", "KR-3"]
    html = c.get("/portfolio").text
    assert html.count('class="chart kr-chart"') == 3
    runs = c.get("/runs", params={"format": "json"}).json()
    assert runs["sources"][0]["healthy"] is False
    assert "GET /search -> 500" in runs["errors"][0]["error"]
    assert c.get("/", follow_redirects=False).headers["location"] == "/portfolio"


def test_untraceable_filters_sorts_and_escapes(config_path: Path) -> None:
    c = client(config_path)
    everything = c.get("/untraceable", params={"format": "json"}).json()
    assert everything["count"] == everything["total"] == 3
    assert [r["key"] for r in everything["rows"]] == ["WEB-10", "PAY-10", "acme/app#5"]
    by_age = c.get("/untraceable", params={"format": "json", "sort": "age"}).json()
    assert [r["key"] for r in by_age["rows"]] == ["PAY-10", "acme/app#5", "WEB-10"]
    pay = c.get("/untraceable", params={"format": "json", "team": "payments"}).json()
    assert [(r["key"], r["label_to_add"]) for r in pay["rows"]] == [("PAY-10", "okr:KR-2")]
    old = c.get("/untraceable", params={"format": "json", "min_age": "30"}).json()
    assert old["count"] == 0
    gh = c.get("/untraceable", params={"source": "github"}).text
    assert re.search(r'id="row-count">1<', gh)
    html = c.get("/untraceable").text
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;x&#34;" in html
    assert c.get("/untraceable", params={"format": "json"}).json()["rows"][0]["title"] == EVIL


def test_nothing_can_be_written_and_no_secret_is_shown(config_path: Path) -> None:
    c = client(config_path)
    for path in PAGES:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert c.request(method, path).status_code == 405
        for fmt in ("html", "json"):
            body = c.get(path, params={"format": fmt}).text
            assert SECRET_TOKEN not in body and SECRET_PASSWORD not in body


def test_a_bad_week_is_a_clear_400(config_path: Path) -> None:
    c = client(config_path)
    page = c.get("/portfolio", params={"week": "2026-W99"})
    assert page.status_code == 400 and "not an ISO week" in page.text
    future = c.get("/teams", params={"week": "2030-W01", "format": "json"})
    assert future.status_code == 400 and "has not started yet" in future.json()["error"]


def test_token_auth(config_path: Path) -> None:
    c = client(config_path, auth="token", token=SecretStr("web-sentinel-TOKEN"))
    refused = c.get("/portfolio")
    assert refused.status_code == 401 and "web-sentinel" not in refused.text
    assert refused.headers["content-security-policy"] == CSP
    assert c.get("/portfolio", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = c.get("/portfolio", headers={"Authorization": "Bearer web-sentinel-TOKEN"})
    assert ok.status_code == 200 and "web-sentinel" not in ok.text


def test_reverse_proxy_header_auth(config_path: Path) -> None:
    c = client(config_path, auth="header", auth_header="X-Auth-User")
    assert c.get("/teams").status_code == 401
    assert c.get("/teams", headers={"X-Auth-User": "dana"}).status_code == 200


def test_filters_fall_back_to_all_on_odd_input() -> None:
    f = parse_filters({"state": "<x>", "min_age": "abc", "sort": "drop table"})
    assert f == Filters()
    assert parse_filters({"state": "done", "min_age": "90", "sort": "age"}) == Filters(
        state="done", min_age=90, sort="age")


def test_rows_put_in_flight_work_first() -> None:
    from tests.unit.test_reports import build

    report = build()
    rows = untraceable_rows(report, Filters(state=""))
    assert rows == sorted(rows, key=lambda i: not i.in_flight)


def test_charts_escape_names_and_draw_every_series() -> None:
    svg = str(line_chart(["W1", "W2", "W3"], [Series("<b>x</b>", (1.0, None, 3.0)),
                                             Series("y", (2.0, 2.5, 2.0))],
                         title='"><script>', guides=(("target", 4.0, "#1f883d"),)))
    assert "<script>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg
    assert svg.count("<polyline") == 1  # the series with a gap: two lone points, no line
    assert svg.count("<circle") == 2 + 1 + 1  # two lone dots, and each series' last point
    assert "stroke-dasharray" in svg and " style=" not in svg


def test_no_store_yet_is_said_and_none_is_created(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.reports_helpers import run_cli

    clear_okrsync_env(monkeypatch)
    path = write_config(tmp_path)
    c = client(path)
    page = c.get("/runs", params={"format": "json"})
    assert page.status_code == 400 and "no store" in page.json()["error"]
    assert c.get("/portfolio").status_code == 400
    assert run_cli(["serve", "--config", str(path), "--port", "0"]) == 2
    assert not (tmp_path / "okrsync.db").exists()


def test_a_sync_shows_on_the_next_page_load(config_path: Path) -> None:
    from tests.helpers.dashboard_helpers import add_hostile_epic

    c = client(config_path)
    before = c.get("/untraceable", params={"format": "json"}).json()["count"]
    assert c.get("/untraceable", params={"format": "json"}).json()["count"] == before
    add_hostile_epic(load_config(config_path).store_target)
    after = c.get("/untraceable", params={"format": "json"}).json()
    assert after["count"] == before + 1
    assert "WEB-9999" in {r["key"] for r in after["rows"]}


def test_an_unchanged_store_is_served_from_the_cache_on_both_backends(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache key is the SQLite file's stamp or the PostgreSQL server's snapshot: reloads
    with nothing written reuse the built report instead of reading the store again (before,
    every PostgreSQL page load rebuilt it). A page load may open the store once on a
    PostgreSQL server whose own maintenance committed meanwhile, hence two of three."""
    opened: list[object] = []
    real = Store.open_read_only.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Store], *args: object, **kwargs: object) -> Store:
        opened.append(args[0])
        return real(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Store, "open_read_only", classmethod(counted))
    c = client(config_path)
    first = c.get("/untraceable", params={"format": "json"}).json()
    assert len(opened) == 1
    hits = 0
    for _ in range(3):
        before = len(opened)
        assert c.get("/untraceable", params={"format": "json"}).json() == first
        hits += len(opened) == before
    assert hits >= 2
    with Store.open(load_config(config_path).store_target) as store:
        store.add_checkin(CheckIn(kr_id="KR-1", value=1.0, at=NOW))
    before = len(opened)
    c.get("/untraceable", params={"format": "json"})
    assert len(opened) == before + 1, "a write is a new stamp: the report is built again"


def test_a_hostile_filter_value_is_escaped_and_kept_in_links(config_path: Path) -> None:
    page = client(config_path).get("/untraceable", params={"team": 'a&b"<x>'})
    assert page.status_code == 200 and '<x>' not in page.text
    assert "team=a%26b%22%3Cx%3E" in page.text  # the JSON twin's link keeps the filter
    assert re.search(r'id="row-count">0<', page.text)
