"""`syncer.ledger_effects.record`: confirmed write-backs applied in order to plain rows, each
returning the state before it, and only the rows they changed marked for writing."""

from __future__ import annotations

from core.model import ApplyResult, ApplyStatus, WriteBack, WriteBackKind
from syncer.ledger_effects import Rows, record
from tests.helpers.store_helpers import add_label, remove_label, set_goals

APPLIED = ApplyResult(ApplyStatus.APPLIED)


def test_an_add_then_a_remove_in_one_batch_leaves_the_label_removed() -> None:
    rows = Rows({}, {("jira", "WEB-1"): ["team-a"]})
    first = record(rows, add_label("goal:KR1"), APPLIED, 7, "t1")
    second = record(rows, remove_label("goal:KR1"), APPLIED, 7, "t2")
    assert first == {"label": "goal:KR1", "label_present": False, "ledger_active": False}
    assert second == {"label": "goal:KR1", "label_present": True, "ledger_active": True}
    key = ("jira", "WEB-1", "label", "goal:KR1")
    assert rows.ledger[key][7:] == ["t1", "t2", 7]  # applied_at, removed_at, run_id
    assert rows.labels[("jira", "WEB-1")] == ["team-a"]
    assert rows.changed_ledger == {key}


def test_removing_what_is_not_there_changes_nothing() -> None:
    rows = Rows({}, {("jira", "WEB-1"): ["team-a"]})
    record(rows, remove_label("goal:KR1"), APPLIED, 1, "t1")
    gone = WriteBack("jira", "WEB-1", WriteBackKind.REMOVE_GOAL_LINKS)
    assert record(rows, gone, APPLIED, 1, "t1") == {"goal_links": None}
    assert rows.changed_labels == set() and rows.changed_ledger == set()
    assert rows.ledger == {}


def test_goal_links_keep_the_earlier_reference_when_the_answer_names_none() -> None:
    key = ("jira", "WEB-1", "goal_links", "")
    rows = Rows({key: [*key, '["KR0"]', "comment-9", "d0", "t0", None, 1]}, {})
    before = record(rows, set_goals("KR1", "KR2"), APPLIED, 2, "t1")
    assert before["goal_links"] == {"kr_ids": ["KR0"], "remote_ref": "comment-9",
                                    "digest": "d0", "active": True}
    assert rows.ledger[key][4:6] == ['["KR1", "KR2"]', "comment-9"]
