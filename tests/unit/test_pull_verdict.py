"""The safety stop and completeness of a pull, decided as a value without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syncer.pull_verdict import PullFacts, PullVerdict, due_complete_pulls, judge_pull

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def facts(**kw: object) -> PullFacts:
    base: dict[str, object] = {"returned": 100, "stored_before": 100, "complete": True,
                               "scheduled": False, "min_ratio": 0.5}
    return PullFacts(**(base | kw))  # type: ignore[arg-type]


def test_an_incremental_pull_is_healthy_and_forgets_nothing() -> None:
    assert judge_pull(facts(complete=False, returned=1)) == PullVerdict(healthy=True)


def test_a_failed_pull_is_unhealthy_with_its_reason_and_touches_nothing() -> None:
    verdict = judge_pull(facts(failure="pull failed: 500"))
    assert verdict == PullVerdict(healthy=False, reason="pull failed: 500")


def test_a_complete_pull_forgets_what_it_no_longer_returned() -> None:
    verdict = judge_pull(facts(returned=60))
    assert verdict.healthy and verdict.forget_unseen and verdict.complete_pull_done
    assert not verdict.reason and not verdict.warning


def test_an_asked_for_complete_pull_that_shrank_is_a_safety_stop() -> None:
    verdict = judge_pull(facts(returned=49))
    assert not verdict.healthy
    assert verdict.reason.startswith("safety stop: a full pull returned 49 epics")
    assert not verdict.forget_unseen and not verdict.complete_pull_done


def test_a_scheduled_complete_pull_that_shrank_warns_and_forgets_nothing() -> None:
    verdict = judge_pull(facts(returned=10, scheduled=True))
    assert verdict.healthy and not verdict.forget_unseen
    assert verdict.complete_pull_done, "the schedule counts its period from this pull"
    assert "nothing forgotten" in verdict.warning


def test_an_empty_store_never_trips_the_stop() -> None:
    verdict = judge_pull(facts(returned=0, stored_before=0))
    assert verdict.healthy and verdict.forget_unseen


def test_complete_pulls_are_due_after_their_period() -> None:
    last = {"jira": NOW - timedelta(hours=1), "github": NOW - timedelta(hours=25), "new": None}
    assert due_complete_pulls(last, 24, NOW) == {"github", "new"}
    assert due_complete_pulls(last, 0, NOW) == frozenset(), "0 turns the schedule off"
