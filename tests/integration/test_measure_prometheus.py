"""The `prometheus` KR source against a real Prometheus: an instant query for the current
hour, a range query with a one-week step for the backfill, and a non-finite answer refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from syncer.measure.run import run_measure, week_starts
from syncer.store import Store
from tests.helpers.config_helpers import write_project
from tests.helpers.prometheus import running_prometheus

CATALOG = """cycle = "2026-Q4"

[[objective]]
id = "O1"
title = "Reliable"
owner = "Jonas Berg"

[[objective.key_result]]
id = "KR-AVAIL"
title = "Availability"
owner = "Jonas Berg"
metric = "availability"
baseline = 99.0
target = 99.9

[objective.key_result.source]
kind = "prometheus"
url = "{url}"
query = "kr_availability"

[[objective.key_result]]
id = "KR-INF"
title = "Broken ratio"
owner = "Jonas Berg"
metric = "ratio"
baseline = 0
target = 1

[objective.key_result.source]
kind = "prometheus"
url = "{url}"
query = "kr_availability / 0"
"""


def value_at(t: int, start: int) -> float:
    return round(99.0 + (t - start) / 3600 * 0.0005, 4)


def test_prometheus_backfills_weekly_points_and_refuses_infinity(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    hour = int(now.replace(minute=0, second=0, microsecond=0).timestamp())
    start = hour - 16 * 7 * 86400
    history = [(t, value_at(t, start)) for t in range(start, hour + 1, 3600)]
    with running_prometheus(tmp_path / "prom", "kr_availability", history,
                            current=99.99) as url:
        cfg_path = write_project(tmp_path, catalog=CATALOG.format(url=url))
        from syncer.config import load_config

        cfg = load_config(cfg_path)
        results = {r.kr_id: r for r in run_measure(cfg, backfill_weeks=12, now=now)}
        again = run_measure(cfg, kr_id="KR-AVAIL", backfill_weeks=12, now=now)
    ok = results["KR-AVAIL"]
    assert ok.error is None, ok.error
    mondays = week_starts(now, 12)
    got = {v.at: v.value for v in ok.values}
    for monday in mondays:
        assert got[monday] == value_at(int(monday.timestamp()), start)
    current = now.replace(minute=0, second=0, microsecond=0)
    if current not in mondays:
        assert got[current] == value_at(hour, start)
    assert "not a finite number" in (results["KR-INF"].error or "")
    assert [(r.asked, r.added) for r in again] == [(0, 0)]
    with Store.open(cfg.store_path) as store:
        assert {c.kr_id for c in store.checkins()} == {"KR-AVAIL"}
        assert len(store.checkins("KR-AVAIL")) == len(got)
    assert timedelta(0) <= now - mondays[-1] < timedelta(days=7)
