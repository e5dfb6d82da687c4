"""KR data sources: validation in okrs.toml (file and key named), which times a run asks for,
digests that never cover credentials, and the CSV / JSON readers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.kr_source import Csv, Sql, parse_source
from syncer.catalog import load_catalog, parse_catalog
from syncer.measure.fetch import FetchContext, SourceFailed, fetch_values, scrub, secrets_of, select
from syncer.measure.run import times_to_ask, week_starts
from tests.helpers.config_helpers import CATALOG_TOML

NOW = datetime(2026, 11, 25, 14, 37, tzinfo=UTC)  # a Wednesday

WITH_SOURCE = CATALOG_TOML.replace('''  direction = "up"
''', '''  direction = "up"
  min_move = 1.5

  [objective.key_result.source]
  kind = "csv"
  path = "kr1.csv"
''', 1)


def test_a_catalog_source_is_validated_and_kept_on_its_kr(tmp_path: Path) -> None:
    (tmp_path / "okrs.toml").write_text(WITH_SOURCE)
    catalog = load_catalog(tmp_path / "okrs.toml")
    kr = catalog.kr("KR-1")
    assert kr is not None and isinstance(kr.source, Csv) and kr.min_move == 1.5
    assert catalog.kr("KR-2") is not None and catalog.kr("KR-2").source is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("change", "key", "words"), [
    ('kind = "csv"', "source", "kind"),
    ('path = "kr1.csv"', "source", "exactly one of `path` or `url`"),
])
def test_a_bad_source_names_the_file_and_key(tmp_path: Path, change: str, key: str,
                                             words: str) -> None:
    text = WITH_SOURCE.replace(change, 'kind = "spreadsheet"' if "kind" in change else "")
    (tmp_path / "okrs.toml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_catalog(tmp_path / "okrs.toml")
    assert err.value.file and err.value.file.endswith("okrs.toml")
    assert err.value.key and err.value.key.startswith("objective[0].key_result[0].source")
    assert words in str(err.value) + " ".join(err.value.problems or [])


def test_sql_needs_exactly_one_url_and_its_digest_hides_the_password() -> None:
    with pytest.raises(ValueError, match="exactly one of `url` or `url_env`"):
        parse_source({"kind": "sql", "query": "select 1"})
    src = parse_source({"kind": "sql", "url": "postgresql://u:hunter22@db/x",
                        "query": "select 1"})
    assert isinstance(src, Sql)
    assert "hunter22" not in str(src.identity())
    other = parse_source({"kind": "sql", "url": "postgresql://u:changed99@db/x",
                          "query": "select 1"})
    assert other.digest() == src.digest()  # rotating a password is not a new series
    assert parse_source({"kind": "sql", "url": "postgresql://u:changed99@db/x",
                         "query": "select 2"}).digest() != src.digest()


def test_secrets_are_scrubbed_in_every_form() -> None:
    src = parse_source({"kind": "sql", "url_env": "DB", "query": "select 1"})
    secrets = secrets_of(src, {"DB": "postgresql://u:p%40ss%2Fw0rd@db/x"})
    text = "failed for postgresql://u:p%40ss%2Fw0rd@db/x with p@ss/w0rd"
    assert "w0rd" not in scrub(text, secrets)


def test_first_run_backfills_twelve_mondays_then_only_the_current_hour() -> None:
    first = times_to_ask(NOW, can_backfill=True, stored=set(), backfill_weeks=None)
    mondays = week_starts(NOW, 12)
    assert first == sorted({*mondays, datetime(2026, 11, 25, 14, tzinfo=UTC)})
    assert all(m.weekday() == 0 and m.hour == 0 for m in mondays)
    assert mondays[-1] == datetime(2026, 11, 23, tzinfo=UTC)
    assert times_to_ask(NOW, can_backfill=True, stored=set(first), backfill_weeks=None) == []
    assert times_to_ask(NOW, can_backfill=False, stored=set(), backfill_weeks=12) == [
        datetime(2026, 11, 25, 14, tzinfo=UTC)]
    later = times_to_ask(NOW.replace(hour=16), can_backfill=True, stored=set(first),
                         backfill_weeks=12)
    assert later == [datetime(2026, 11, 25, 16, tzinfo=UTC)]


def test_csv_gives_the_latest_row_at_or_before_each_time(tmp_path: Path) -> None:
    (tmp_path / "kr1.csv").write_text("date,value\n2026-11-01,41\n2026-11-15,44.5\n")
    src = parse_source({"kind": "csv", "path": "kr1.csv"})
    times = [datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC), NOW]
    got = asyncio.run(fetch_values(src, times, FetchContext(base_dir=tmp_path)))
    assert got == {times[1]: 41.0, NOW: 44.5}


def test_csv_with_a_bad_value_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "kr1.csv").write_text("date,value\n2026-11-01,41\n2026-11-08,n/a\n")
    src = parse_source({"kind": "csv", "path": "kr1.csv"})
    with pytest.raises(SourceFailed, match=r"kr1.csv:3: value is not a number"):
        asyncio.run(fetch_values(src, [NOW], FetchContext(base_dir=tmp_path)))


def test_select_walks_dotted_paths_and_list_indexes() -> None:
    doc = {"data": {"items": [{"v": 1}, {"v": 2.5}]}}
    assert select(doc, "data.items.1.v") == 2.5
    with pytest.raises(SourceFailed, match="stopped at `x`"):
        select(doc, "data.x")


def test_verdict_settings_come_from_the_catalog() -> None:
    import tomllib

    data = tomllib.loads(CATALOG_TOML + "\n[verdicts]\nmin_pre = 10\nevaluate_after_weeks = 6\n")
    catalog = parse_catalog(data)
    assert (catalog.verdicts.min_pre, catalog.verdicts.evaluate_after_weeks) == (10, 6)


def test_the_daemon_measures_on_its_first_loop_then_every_measure_every_seconds() -> None:
    from syncer.daemon import measure_due

    assert measure_due(None, 100.0, 3600)
    assert not measure_due(100.0, 3000.0, 3600)
    assert measure_due(100.0, 3700.0, 3600)
    assert not measure_due(None, 100.0, 0)
