"""What the report says about untraceable work: the state of each epic, finished work apart
from work in flight, in every format."""

from __future__ import annotations

from datetime import timedelta

from core.model import TicketState
from syncer.reports import Format, render
from tests.helpers.reports_helpers import NOW, scenario, ticket
from tests.unit.test_reports import build


def with_done_epic() -> object:
    sc = scenario()
    sc.tickets.append(ticket("WEB-50", "Finished without a goal", state=TicketState.DONE,
                             size=40, created=NOW - timedelta(days=100)))
    sc.untraceable_since["jira:WEB-50"] = NOW - timedelta(days=30)
    return build(sc)


def test_done_work_is_listed_apart_after_work_in_flight() -> None:
    report = with_done_epic()
    u = report.untraceable  # type: ignore[attr-defined]
    assert [i.key for i in u.done] == ["WEB-50"]
    assert "WEB-50" not in {i.key for i in u.in_flight}
    assert u.items[-1].key == "WEB-50"  # biggest, yet after every epic in flight
    done = next(i for i in u.items if i.key == "WEB-50")
    assert done.age_days == 100  # from the epic's created date, not from when it was flagged
    for fmt, heading, key in ((Format.TEXT, "Done but untraceable:", "WEB-50"),
                              (Format.MARKDOWN, "### Done but untraceable", r"WEB\-50"),
                              (Format.HTML, "Done but untraceable (1)", "WEB-50")):
        out = render(report, fmt)  # type: ignore[arg-type]
        assert out.index("In flight") < out.index(heading) < out.index(key), fmt
    md = render(report, Format.MARKDOWN)  # type: ignore[arg-type]
    assert "| Epic | Title | State |" in md and "| done |" in md
