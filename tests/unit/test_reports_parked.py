"""Parked write-backs in the weekly report: every format lists them, escaped, and the JSON
validates against the documented schema; a team's part leaves them out."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import jsonschema

from syncer.reports import Format, render
from syncer.reports.model import ParkedItem
from tests.unit.test_reports import build

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report.schema.json").read_text())
PARKED = ParkedItem(key="acme/api#3", source="github", kind="add_label",
                    reason="POST -> 403: Repository was archived <b>so</b> is read-only.",
                    attempts=5, since=datetime(2026, 11, 30, 8, 0, tzinfo=UTC))


def test_parked_write_backs_are_listed_in_every_format() -> None:
    report = replace(build(), parked=(PARKED,))
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    data = json.loads(render(report, Format.JSON))
    assert list(validator.iter_errors(data)) == []
    assert data["parked"] == [{"key": "acme/api#3", "source": "github", "kind": "add_label",
                               "reason": PARKED.reason, "attempts": 5,
                               "since": "2026-11-30T08:00:00+00:00"}]
    html = render(report, Format.HTML)
    assert "acme/api#3" in html and "<b>so</b>" not in html and "&lt;b&gt;so" in html
    for fmt in (Format.MARKDOWN, Format.TEXT):
        text = render(report, fmt)
        assert "Write-backs okrsync stopped trying" in text and "acme/api" in text
        assert "refused 5 times" in text
    assert json.loads(render(report.for_team("web"), Format.JSON))["parked"] == []
    assert "stopped trying" not in render(build(), Format.MARKDOWN)
