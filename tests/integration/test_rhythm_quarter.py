"""A simulated quarter of the review rhythm (13 weeks of 2024-Q1, an injected clock, a real
store file, no sleeping): owners who check in every Monday, one (bob) who stops in week 5
and comes back in week 9, a team (web) whose traceability drops in weeks 6-9, a confidence
drop and a confidence/pace disagreement. Every working day at 17:00 the rhythm runs; the
test checks the exact reminders and escalations, each recorded once and closed when its
cause clears, and every week's stored scorecard against figures it computes itself."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from core.model import CheckIn
from syncer.catalog import load_catalog
from syncer.config import load_config
from syncer.rhythm.run import SCORECARD_SNAPSHOT, tick
from syncer.store import Store
from tests.helpers.rhythm_helpers import put_epics, write_org

START = date(2024, 1, 1)  # a Monday; the quarter ends Sunday 2024-03-31
WEEKS = 13
QUARTER_DAYS = 91


def monday(week: int) -> date:
    """Week 1 is the quarter's first."""
    return START + timedelta(weeks=week - 1)


def moment(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def elapsed(day: date) -> float:
    return ((day - START).days + 1) / QUARTER_DAYS


def plan_checkins() -> list[CheckIn]:
    """Monday 10:00 check-ins: ann always (confident; her numbers fall behind from week 8,
    and she admits it in week 11), bob weeks 1-4 and 9-13, cat always (confidence falls
    from on track to off track in week 8)."""
    out = []
    for week in range(1, WEEKS + 1):
        day = monday(week)
        at = moment(day, 10)
        on_pace = round(100 * elapsed(day), 1)
        ann_value = on_pace if week < 8 else 20.0
        ann_conf = 0.8 if week < 11 else 0.5
        out.append(CheckIn("KR-A", ann_value, at, confidence=ann_conf, note="steady"))
        if week <= 4 or week >= 9:
            out.append(CheckIn("KR-B", on_pace, at, confidence=0.8, note="ok"))
        cat_conf = 0.8 if week < 8 else (0.2 if week == 8 else 0.3)
        out.append(CheckIn("KR-C", on_pace, at, confidence=cat_conf, note="fine"))
    return out


def web_linked(week: int) -> int:
    return 3 if 6 <= week <= 9 else 8


WEB_EPICS, PAY_EPICS = 10, 4


def reference_scorecards(day: date, checkins: list[CheckIn], week: int) -> dict[str, dict]:
    """The scorecard computed here from the simulation's own data (not the product's code)."""
    owners = {"KR-A": "pay", "KR-B": "pay", "KR-C": "web"}
    out: dict[str, dict] = {}
    for team in ("pay", "web"):
        krs = [k for k, t in owners.items() if t == team]
        fresh, lags, stated = 0, [], 0
        for kr in krs:
            mine = [c for c in checkins if c.kr_id == kr and c.at.date() <= day]
            last = max(c.at.date() for c in mine)
            fresh += day < last + timedelta(days=7)
            lags.append((day - last).days)
            stated += mine[-1].confidence is not None
        total, linked = (PAY_EPICS, PAY_EPICS) if team == "pay" else (WEB_EPICS, web_linked(week))
        out[team] = {"traceable": linked / total, "hypothesis": 1.0,
                     "fresh_checkins": fresh / len(krs),
                     "median_lag_days": float(statistics.median(lags)),
                     "confidence_stated": stated / len(krs)}
    return out


pytestmark = pytest.mark.usefixtures("store_backend_env")


@pytest.fixture
def quarter(tmp_path: Path) -> tuple[Store, list, dict]:
    config = load_config(write_org(tmp_path))
    catalog = load_catalog(config.catalog_path)
    checkins = plan_checkins()
    store = Store.open(config.store_target)
    results = []
    fridays: dict[int, date] = {}
    for week in range(1, WEEKS + 1):
        put_epics(store, "PAY", PAY_EPICS, PAY_EPICS, now=moment(monday(week), 8))
        put_epics(store, "WEB", WEB_EPICS, web_linked(week), now=moment(monday(week), 8),
                  kr_id="KR-C")
        for offset in range(5):
            day = monday(week) + timedelta(days=offset)
            for c in checkins:
                if c.at.date() == day:
                    store.add_checkin(c)
            results.append((day, tick(store, catalog, config, now=moment(day, 17),
                                      environ={}, sleep=_no_sleep)))
        fridays[week] = monday(week) + timedelta(days=4)
    yield store, results, fridays
    store.close()


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"the simulation must not sleep ({seconds} s)")


EXPECTED = [
    # rule, subject, notify, opened, closed
    ("overdue-lead", "KR-B", "lena", date(2024, 1, 31), date(2024, 2, 26)),
    ("team-lagging", "pay", "lena", date(2024, 2, 5), date(2024, 2, 26)),
    ("overdue-sponsor", "KR-B", "sam", date(2024, 2, 7), date(2024, 2, 26)),
    ("team-lagging", "web", "walt", date(2024, 2, 12), date(2024, 3, 4)),
    ("confidence-drop", "KR-C", "sam", date(2024, 2, 19), date(2024, 2, 26)),
    ("disagreement", "KR-A", "sam", date(2024, 2, 26), date(2024, 3, 11)),
]


def test_exactly_the_expected_reminders(quarter: tuple[Store, list, dict]) -> None:
    store, results, _ = quarter
    sent = [(r.kr_id, r.due, day) for day, res in results for r in res.reminded]
    assert sent == [("KR-B", "2024-01-29", date(2024, 1, 29))]
    assert [(k, d, o) for k, d, o, _, _ in store.reminders()] == [("KR-B", "2024-01-29", "bob")]
    reminder = next(r for _, res in results for r in res.reminded)
    assert reminder.value == pytest.approx(round(100 * elapsed(monday(4)), 1))
    assert reminder.command.startswith(f"okrsync checkin KR-B {reminder.value:g} --confidence")


def test_escalations_open_once_and_close_when_the_cause_clears(
        quarter: tuple[Store, list, dict]) -> None:
    store, results, _ = quarter
    rows = store.escalations()
    got = [(e.rule, e.subject, e.notify, e.opened_at.date(),
            e.closed_at.date() if e.closed_at else None) for e in rows]
    assert got == EXPECTED
    opened = [(e.rule, e.subject, day) for day, res in results for e in res.opened]
    assert opened == [(r, s, o) for r, s, _, o, _ in EXPECTED]
    closed = sorted((e.rule, e.subject, day) for day, res in results for e in res.closed)
    assert closed == sorted((r, s, c) for r, s, _, _, c in EXPECTED)
    assert store.escalations(open_only=True) == []
    for e in rows:
        assert e.week == f"{e.opened_at.isocalendar()[0]}-W{e.opened_at.isocalendar()[1]:02d}"


def test_weekly_scorecards_match_a_reference(quarter: tuple[Store, list, dict]) -> None:
    store, _, fridays = quarter
    snaps = {s.week: s.data for s in store.report_snapshots(SCORECARD_SNAPSHOT, 20)}
    assert len(snaps) == WEEKS
    checkins = plan_checkins()
    for week, friday in fridays.items():
        iso = friday.isocalendar()
        data = snaps[f"{iso[0]}-W{iso[1]:02d}"]
        expected = reference_scorecards(friday, checkins, week)
        for card in data["teams"]:
            want = expected[card["team"]]
            for key, value in want.items():
                assert card[key] == pytest.approx(value), (week, card["team"], key)
    lagging = {w: set(snaps[w]["lagging"]) for w in snaps}
    assert lagging["2024-W06"] == {"pay", "web"}
    assert lagging["2024-W02"] == set()
