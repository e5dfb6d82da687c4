"""The demo's key-result history and shipped bets, so `okrsync demo` shows real verdicts.

Four epics of the sandbox organisation are shipped bets with explicit `okr:` labels and a
resolution date in the past, and their four key results have 16 weeks of weekly values,
served as CSV by a loopback HTTP server for the length of the demo (each of those KRs' `csv`
source points at it; the other KRs keep the demo's simulated check-ins). The series are
synthetic, shaped so the four verdict classes a user should recognise appear: a step after
the bet shipped (MOVED), a flat line (NO_EFFECT), an accelerating curve that already "moved"
at placebo dates (INCONCLUSIVE), and a bet whose window is still running (INSUFFICIENT_DATA).
The verdicts themselves are computed, not scripted.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core.model import Catalog, Direction, KeyResult
from syncer.verdicts import min_move

HISTORY_WEEKS = 16


@dataclass(frozen=True)
class PlantedBet:
    kr_id: str
    weeks_ago: int
    shape: str
    key: str = ""
    shipped_at: datetime | None = None


PLANTED = (
    PlantedBet("KR-ONB-1", 7, "step"),
    PlantedBet("KR-SRCH-1", 6, "flat"),
    PlantedBet("KR-REL-2", 7, "curve"),
    PlantedBet("KR-DATA-1", 2, "step"),
)


def plant_shipped_bets(sb: Any, now: datetime) -> list[PlantedBet]:
    """Ship one Jira epic per planted bet, resolved `weeks_ago` weeks ago (mid-week), with
    an explicit `okr:` label naming its KR."""
    from sandbox.jira_state import JiraState

    keys = sorted(sb.jira.keys(), key=lambda k: (k.split("-")[0], int(k.split("-")[1])))
    out = []
    with sb.jira.lock:
        for bet, key in zip(PLANTED, keys, strict=False):
            rec = sb.jira.require(key)
            shipped = (now - timedelta(weeks=bet.weeks_ago)).replace(
                hour=15, minute=0, second=0, microsecond=0)
            rec.labels = [f"okr:{bet.kr_id}"]
            rec.resolution = None
            JiraState.set_status(rec, "Done")
            rec.resolved_ms = int(shipped.timestamp() * 1000)
            sb.jira.touch(rec)
            out.append(PlantedBet(bet.kr_id, bet.weeks_ago, bet.shape, key, shipped))
    return out


def _series(kr: KeyResult, bet: PlantedBet | None, mondays: list[datetime],
            rng: random.Random) -> list[tuple[datetime, float]]:
    delta = min_move(kr.baseline, kr.target, kr.min_move)
    sign = -1.0 if kr.direction is Direction.DOWN else 1.0
    out = []
    for i, at in enumerate(mondays):
        after = bet is not None and bet.shipped_at is not None and at >= bet.shipped_at
        shape = bet.shape if bet else "noise"
        if shape == "step":
            value = rng.gauss(0, delta / 6) + (3 * delta if after else 0.0)
        elif shape == "flat":
            value = rng.gauss(0, delta / 10)
        elif shape == "curve":
            value = 0.05 * delta * i * i
        else:
            value = rng.gauss(0, delta / 3) + 0.1 * delta * i
        out.append((at, round(kr.baseline + sign * value, 4)))
    return out


def kr_history(catalog: Catalog, planted: list[PlantedBet], now: datetime,
               seed: int = 7) -> dict[str, str]:
    """Per KR with a planted bet, a CSV (`date,value`) of its last 16 Monday values."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    mondays = [monday - timedelta(weeks=k) for k in range(HISTORY_WEEKS - 1, -1, -1)]
    by_kr = {b.kr_id: b for b in planted}
    rng = random.Random(seed)
    out = {}
    for kr in catalog.key_results:
        if kr.id not in by_kr:
            continue
        rows = _series(kr, by_kr[kr.id], mondays, rng)
        out[kr.id] = "date,value\n" + "".join(f"{d:%Y-%m-%d},{v}\n" for d, v in rows)
    return out


@contextlib.contextmanager
def serve_history(csvs: dict[str, str]) -> Iterator[str]:
    """Serve `/kr/<KR-ID>.csv` on 127.0.0.1 (an ephemeral port); yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            match = re.fullmatch(r"/kr/([A-Za-z0-9._\-]+)\.csv", self.path)
            body = csvs.get(match.group(1), "") if match else ""
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/csv; charset=utf-8")
            self.send_header("Content-Length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="okrsync-demo-kr", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def with_csv_sources(catalog_toml: str, base_url: str, kr_ids: Collection[str]) -> str:
    """The demo catalog with a `csv` source on each of `kr_ids`, pointing at the server."""
    pattern = re.compile(r'(id = "(KR-[^"]+)"\n(?:[^\[].*\n)*?direction = "\w+"\n)')

    def add(m: re.Match[str]) -> str:
        if m.group(2) not in kr_ids:
            return m.group(1)
        return (f'{m.group(1)}\n[objective.key_result.source]\nkind = "csv"\n'
                f'url = "{base_url}/kr/{m.group(2)}.csv"\n')

    return pattern.sub(add, catalog_toml)


def show_verdicts(console: Any, config: Any, *, now: datetime) -> dict[str, Any]:
    """Print each ended bet's verdict with its effect and reason; return the counts by
    verdict and one reason of each."""
    from collections import Counter

    from rich.markup import escape
    from rich.table import Table

    from syncer.catalog import load_catalog
    from syncer.reports.verdicts import build_verdicts
    from syncer.store import Store

    catalog = load_catalog(config.catalog_path)
    with Store.open(config.store_target, busy_timeout=config.store_busy_timeout) as store:
        section = build_verdicts(catalog=catalog, bets=store.bets(),
                                 tickets={t.uid: t for t in store.tickets()},
                                 checkins=store.checkins(), now=now)
    table = Table(title="Bet verdicts (did the KR move after the epic shipped?)")
    for col in ("epic", "KR", "verdict", "why"):
        table.add_column(col, overflow="fold")
    order = {"MOVED": 0, "NO_EFFECT": 1, "INCONCLUSIVE": 2, "MOVED_WRONG_WAY": 3}
    items = sorted(section.items, key=lambda i: (order.get(i.outcome, 9), i.kr_id, i.key))
    judged = [i for i in items if i.outcome not in ("INSUFFICIENT_DATA", "KILLED")]
    for item in judged + [i for i in items if i.outcome == "INSUFFICIENT_DATA"][:3]:
        table.add_row(escape(item.key), escape(item.kr_id), item.outcome,
                      escape(item.reason))
    console.print(table)
    return {"counts": dict(Counter(i.outcome for i in section.items)),
            "examples": {i.outcome: f"{i.key}: {i.reason}" for i in reversed(items)}}
