"""Control characters in ticket text (names, titles) never reach a terminal or a CSV cell:
terminal escapes such as OSC 8 links, screen clears (C0 and C1 forms) and bells are blanked."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

from syncer.reports.render import Format, render
from tests.helpers.reports_helpers import NOW, scenario, ticket
from tests.unit.test_reports import build

EVIL_NAME = "Dana\x1b]8;;https://evil.example/login\x1b\\Click here\x1b]8;;\x1b\\\x1b[2J\x07"
EVIL_TITLE = "Checkout\x9b2J revamp\rforged"


def test_terminal_and_csv_output_carry_no_control_characters() -> None:
    sc = scenario()
    sc.tickets.append(replace(ticket("WEB-12", EVIL_TITLE), assignee=EVIL_NAME))
    sc.untraceable_since["jira:WEB-12"] = NOW - timedelta(days=2)
    report = build(sc)
    for fmt in (Format.TERMINAL, Format.CSV, Format.TEXT):
        out = render(report, fmt)
        assert "WEB-12" in out, fmt
        assert "Click here" in out, fmt
        bad = {c for c in out if (ord(c) < 32 and c != "\n") or 0x7f <= ord(c) <= 0x9f}
        assert not bad, (fmt, bad)
    rows = list(csv.DictReader(io.StringIO(render(report, Format.CSV))))
    (row,) = [r for r in rows if r["key"] == "WEB-12"]
    assert row["title"] == "Checkout 2J revamp forged"
    assert row["assignee"].startswith("Dana ]8;;https://evil.example/login")
