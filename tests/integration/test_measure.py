"""`okrsync measure` against real peers: a PostgreSQL table of daily values, the Jira and
GitHub sandboxes' count endpoints, and a loopback HTTP server for the failing answers."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sandbox import Sandbox, sandbox
from syncer.measure.run import run_measure
from syncer.store import Store
from tests.helpers.e2e import config, okrsync, project
from tests.helpers.postgres import PostgresServer, postgres_server  # noqa: F401

CATALOG = """cycle = "2026-Q4"

[[objective]]
id = "O1"
title = "Activation"
owner = "Dana Lee"

[[objective.key_result]]
id = "KR-ACT"
title = "Activated accounts"
owner = "Dana Lee"
metric = "accounts"
baseline = 100
target = 300

[objective.key_result.source]
kind = "sql"
url_env = "KR_DB_URL"
query = "select value from kr_daily where day <= cast({{at}} as date) order by day desc limit 1"

[[objective.key_result]]
id = "KR-EPICS"
title = "Epics opened"
owner = "Dana Lee"
metric = "epics"
baseline = 0
target = 500

[objective.key_result.source]
kind = "jira_count"
source = "jira"
jql = "project in ({projects}) AND created <= {{at}}"

{extra}
"""


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with sandbox(epics=40, seed=3) as box:
        yield box


def _daily_table(pg: PostgresServer, name: str) -> str:
    db = pg.new_database(name)
    start = date.today() - timedelta(days=120)
    with pg.connect(db) as conn:
        conn.execute("create table kr_daily (day date primary key, value numeric not null)")
        with conn.cursor() as cur:
            cur.executemany("insert into kr_daily values (%s, %s)",
                            [(start + timedelta(days=i), 100 + i) for i in range(121)])
    return db


def _workspace(tmp: Path, sb: Sandbox, extra: str = "") -> Path:
    cfg = project(tmp, sb)
    projects = ", ".join(sorted({k.split("-", 1)[0] for k in sb.jira.keys()}))  # noqa: SIM118
    (tmp / "okrs.toml").write_text(CATALOG.format(projects=projects, extra=extra))
    return cfg


def _rows(target: Path | str) -> list[tuple[str, str, float, str, str | None, str | None]]:
    with Store.open(target) as store:
        rows = store.db.execute("select kr_id, at, value, origin, query_digest, fetched_at "
                                "from checkins order by kr_id, at").fetchall()
    return [tuple(r) for r in rows]


def test_backfill_12_weeks_from_postgres_and_a_jql_count_then_nothing_new(
    tmp_path: Path, sb: Sandbox, postgres_server: PostgresServer,  # noqa: F811
    store_backend_env: Path | str,
) -> None:
    """On both store backends (the KR data source is PostgreSQL either way)."""
    db = _daily_table(postgres_server, "measure_backfill")
    cfg = _workspace(tmp_path, sb)
    env = {"KR_DB_URL": postgres_server.url(db)}
    first = okrsync("measure", "--backfill", "12", "--json", "--config", str(cfg), sb=sb,
                    extra_env=env)
    assert first.returncode == 0, first.stderr
    assert postgres_server.password not in first.stdout + first.stderr
    report = {r["kr_id"]: r for r in json.loads(first.stdout)["krs"]}
    assert {r["error"] for r in report.values()} == {None}
    target = config(cfg, sb).store_target
    rows = _rows(target)
    for kr_id, kind in (("KR-ACT", "sql"), ("KR-EPICS", "jira_count")):
        mine = [r for r in rows if r[0] == kr_id]
        weeks = {datetime.fromisoformat(r[1]).isocalendar()[:2] for r in mine}
        assert len(weeks) == 12, (kr_id, mine)
        assert {r[3] for r in mine} == {kind}
        assert {r[4] for r in mine} == {report[kr_id]["query_digest"]}
        assert all(r[5] for r in mine)
        values = [r[2] for r in mine]
        assert values == sorted(values)  # cumulative: daily values and created-so-far counts
    act = {datetime.fromisoformat(r[1]).date(): r[2] for r in rows if r[0] == "KR-ACT"}
    start = date.today() - timedelta(days=120)
    assert all(v == 100 + (d - start).days for d, v in act.items())
    assert report["KR-EPICS"]["values"][-1]["value"] == len(sb.jira.keys())

    again = okrsync("measure", "--backfill", "12", "--json", "--config", str(cfg), sb=sb,
                    extra_env=env)
    assert again.returncode == 0, again.stderr
    assert [(r["asked"], r["added"]) for r in json.loads(again.stdout)["krs"]] == [(0, 0),
                                                                                   (0, 0)]
    assert _rows(target) == rows

    listed = okrsync("checkins", "--kr", "KR-ACT", "--json", "--config", str(cfg), sb=sb)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert len(entries) == len([r for r in rows if r[0] == "KR-ACT"])
    assert {e["origin"] for e in entries} == {"sql"}
    assert all(e["query_digest"] and e["fetched_at"] for e in entries)


def test_a_wrong_password_fails_naming_the_kr_and_source_and_never_shows_it(
    tmp_path: Path, sb: Sandbox, postgres_server: PostgresServer,  # noqa: F811
) -> None:
    """SQLite store only: the check reads every byte the store holds (`iterdump`)."""
    db = _daily_table(postgres_server, "measure_wrong_pw")
    cfg = _workspace(tmp_path, sb)
    wrong = "Wr0ng:p@ss/word"
    from urllib.parse import quote

    url = postgres_server.url(db, password=quote(wrong, safe=""))
    run = okrsync("measure", "--config", str(cfg), sb=sb, extra_env={"KR_DB_URL": url})
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout + run.stderr
    assert "KR-ACT" in out and "sql" in out and "FAILED" in out
    assert "password authentication failed" in out
    assert wrong not in out and quote(wrong, safe="") not in out
    rows = _rows(tmp_path / "okrsync.db")
    assert not [r for r in rows if r[0] == "KR-ACT"]
    assert [r for r in rows if r[0] == "KR-EPICS"]  # the healthy source still measured
    with sqlite3.connect(tmp_path / "okrsync.db") as store:
        dump = "\n".join(store.iterdump())
    assert wrong not in dump and quote(wrong, safe="") not in dump
    assert "password authentication failed" in dump  # the failure is recorded in the run


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the stdlib's name
        answers = {"/metrics.json": (200, b'{"data": {"activation": 0.42}}'),
                   "/broken": (500, b"upstream exploded"),
                   "/words": (200, b'{"data": {"activation": "about half"}}')}
        status, body = answers.get(self.path.split("?")[0], (404, b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def answers() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _json_kr(kr_id: str, url: str) -> str:
    return f"""[[objective]]
id = "O-{kr_id}"
title = "Web"
owner = "Kim"

[[objective.key_result]]
id = "{kr_id}"
title = "Activation rate"
owner = "Kim"
metric = "share"
baseline = 0.3
target = 0.6

[objective.key_result.source]
kind = "http_json"
url = "{url}"
selector = "data.activation"
token_env = "KR_API_TOKEN"
"""


def test_a_500_and_a_non_numeric_answer_fail_cleanly_and_store_nothing(
    tmp_path: Path, sb: Sandbox, answers: str,
) -> None:
    extra = "\n".join([_json_kr("KR-OK", f"{answers}/metrics.json"),
                       _json_kr("KR-500", f"{answers}/broken"),
                       _json_kr("KR-WORDS", f"{answers}/words")])
    path = _workspace(tmp_path, sb, extra)
    cfg = config(path, sb)
    token = "tok-SECRET-0123456789"
    naps: list[float] = []

    async def nap(seconds: float) -> None:
        naps.append(seconds)

    results = {r.kr_id: r for r in run_measure(
        cfg, dry_run=False, now=datetime(2026, 11, 30, 10, 15, tzinfo=UTC), sleep=nap,
        environ={"KR_API_TOKEN": token, "KR_DB_URL": "postgresql+psycopg://x@127.0.0.1:1/x"})}
    assert results["KR-OK"].error is None and results["KR-OK"].values[0].value == 0.42
    assert "500" in (results["KR-500"].error or "")
    assert naps, "a 500 is retried (with the injected sleeper) before it fails"
    assert "not a number" in (results["KR-WORDS"].error or "")
    assert all(token not in (r.error or "") for r in results.values())
    measured = {r[0] for r in _rows(tmp_path / "okrsync.db")}
    assert "KR-OK" in measured and not measured & {"KR-500", "KR-WORDS"}


def test_measure_refuses_bad_input_with_exit_2(tmp_path: Path, sb: Sandbox) -> None:
    cfg = _workspace(tmp_path, sb)
    run = okrsync("measure", "--kr", "KR-NOPE", "--config", str(cfg), sb=sb)
    assert run.returncode == 2 and "KR-NOPE" in run.stderr and "Traceback" not in run.stderr
    bad = tmp_path / "okrs.toml"
    bad.write_text(bad.read_text().replace('kind = "sql"', 'kind = "sqll"'))
    run = okrsync("measure", "--config", str(cfg), sb=sb)
    assert run.returncode == 2 and "okrs.toml" in run.stderr and "source" in run.stderr
