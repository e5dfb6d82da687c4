"""The rhythm's pure rules: cycle windows, cadence and working days, confidence and pace
bands, scorecard shares, escalation thresholds, and config errors naming file and key."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.model import Catalog, CheckIn, KeyResult, Objective
from syncer.config import load_config
from syncer.rhythm.cadence import add_interval, due_state, working_days_after
from syncer.rhythm.escalation import OVERDUE_LEAD, OVERDUE_SPONSOR, findings
from syncer.rhythm.krstatus import kr_statuses
from syncer.rhythm.pace import Status, confidence_status, pace_status
from syncer.rhythm.people import Org
from syncer.rhythm.period import cycle_window
from syncer.rhythm.reminders import checkin_command
from syncer.rhythm.scorecard import Epic, scorecard
from syncer.rhythm.settings import EscalationSection, ScorecardSection

CAT = Catalog(
    objectives=(Objective("O1", "Grow", "olga", "Q", sponsor="sam"),),
    key_results=(KeyResult("KR-1", "O1", "Signups", "ann", "n", "", 0, 100,
                           checkin="biweekly"),))
MON_FRI = frozenset(range(5))


def test_cycle_window_is_the_calendar_quarter() -> None:
    w = cycle_window(CAT, date(2026, 11, 15))
    assert (w.label, w.start, w.end, w.days) == ("2026-Q4", date(2026, 10, 1),
                                                 date(2026, 12, 31), 92)
    assert cycle_window(CAT, date(2026, 3, 31)).label == "2026-Q1"
    assert w.elapsed(date(2026, 9, 1)) == 0.0 and w.elapsed(date(2027, 1, 5)) == 1.0


def test_cadence_intervals_and_working_days() -> None:
    assert add_interval(date(2026, 1, 31), "monthly") == date(2026, 2, 28)
    assert add_interval(date(2026, 12, 15), "monthly") == date(2027, 1, 15)
    assert add_interval(date(2026, 1, 1), "biweekly") == date(2026, 1, 15)
    assert working_days_after(date(2026, 11, 27), date(2026, 11, 30), MON_FRI) == 1  # Fri→Mon
    assert working_days_after(date(2026, 11, 27), date(2026, 11, 30), frozenset(range(7))) == 3
    w = cycle_window(CAT, date(2026, 11, 1))
    d = due_state("KR-1", "weekly", None, w, date(2026, 10, 7), MON_FRI)
    assert (d.due, d.missing) == (date(2026, 10, 8), False)


def test_confidence_and_pace_bands() -> None:
    assert [confidence_status(c) for c in (None, 0.3, 0.4, 0.69, 0.7)] == [
        None, Status.OFF_TRACK, Status.AT_RISK, Status.AT_RISK, Status.ON_TRACK]
    assert pace_status(0.5, 0.6) is Status.ON_TRACK
    assert pace_status(0.5, 0.75) is Status.AT_RISK
    assert pace_status(0.5, 0.76) is Status.OFF_TRACK
    assert pace_status(None, 0.5) is None


def test_measured_values_are_data_not_check_ins() -> None:
    w = cycle_window(CAT, date(2026, 11, 1))
    measured = CheckIn("KR-1", 40, datetime(2026, 10, 20, tzinfo=UTC), origin="prometheus")
    [k] = kr_statuses(CAT, [measured], Org(), w, date(2026, 11, 2), MON_FRI,
                      lambda c: c.at.date())
    assert k.value == 40 and k.due.missing and k.confidence is None
    assert k.due.due == date(2026, 10, 15)  # biweekly from the cycle start


def test_overdue_thresholds_reach_lead_then_sponsor() -> None:
    w = cycle_window(CAT, date(2026, 11, 1))
    org = Org({"ann": "pay"}, {"pay": "lena"}, {"O1": "sam"})
    person = CheckIn("KR-1", 10, datetime(2026, 10, 1, 9, tzinfo=UTC), confidence=0.8)
    day_of = lambda c: c.at.date()  # noqa: E731
    rules = {}
    for day in (date(2026, 10, 15), date(2026, 10, 19), date(2026, 10, 26)):
        ks = kr_statuses(CAT, [person], org, w, day, MON_FRI, day_of)
        rules[day] = {(f.rule, f.notify) for f in findings(ks, [], [], [], org,
                                                              EscalationSection())}
    assert rules[date(2026, 10, 15)] == set()  # due that day
    assert rules[date(2026, 10, 19)] == {(OVERDUE_LEAD, "lena")}  # Fri, Mon: 2 working days
    assert rules[date(2026, 10, 26)] == {(OVERDUE_LEAD, "lena"), (OVERDUE_SPONSOR, "sam")}


def test_scorecard_judges_only_what_it_can_count() -> None:
    card = scorecard("web", [Epic("web", True, False), Epic("pay", False, False)], [],
                     ScorecardSection())
    assert (card.epics, card.traceable, card.hypothesis, card.fresh_checkins) == (
        1, 1.0, 0.0, None)
    assert card.lagging and card.reasons == ("hypothesis 0% < 50%",)


def test_checkin_command_quotes_the_kr() -> None:
    assert checkin_command("KR 1", 4.5) == ("okrsync checkin 'KR 1' 4.5 --confidence 0.7 "
                                            "--note \"what changed\"")
    assert checkin_command("KR-1", None).startswith("okrsync checkin KR-1 VALUE")


@pytest.mark.parametrize(("toml", "key"), [
    ('[rhythm]\nworking_days = ["mon", "funday"]\n', "rhythm.working_days"),
    ('[escalation]\noverdue_lead_days = 0\n', "escalation.overdue_lead_days"),
    ('[scorecard]\nmin_traceable = 1.5\n', "scorecard.min_traceable"),
    ('[review]\nmonthly_cron = "soon"\n', "review.monthly_cron"),
    ('[chat]\nteams_webhook_env = "https://x.webhook.office.com/abc"\n',
     "chat.teams_webhook_env"),
    ('[people.ann]\nphone = "1"\n', "people.ann.phone"),
    ('[chat]\nslack_webhook_env = "OKRSYNC_SLACK"\n', "chat.slack_webhook_env"),
])
def test_bad_rhythm_config_names_file_and_key(tmp_path: Path, toml: str, key: str) -> None:
    cfg = tmp_path / "okrsync.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    text = str(err.value)
    assert key in text and str(cfg) in text
    assert "x.webhook.office.com/abc" not in text
