"""Pacing: the pure sliding-log budgets and the per-credential shell, on an injected clock."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.limits import github_endpoint, github_pace, jira_pace
from connectors.pacing import (
    Deferred,
    Lane,
    Limit,
    Pace,
    Pacer,
    earliest,
    minimum_seconds,
    parse_limits,
    record,
    settle,
)


class Clock:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)


def test_limit_parse_and_errors() -> None:
    assert Limit.parse("80/60") == Limit(80, 60.0)
    assert str(Limit.parse(" 500/3600 ")) == "500/3600"
    for bad in ("80", "0/60", "80/0", "a/b", "80/-1"):
        with pytest.raises(ValueError, match="COUNT/SECONDS"):
            Limit.parse(bad)


def test_earliest_waits_for_the_oldest_send_in_a_full_window() -> None:
    limits = parse_limits(["3/10"])
    log = ()
    for t in (0.0, 1.0, 2.0):
        assert earliest(log, limits, t) == t
        log = record(log, t, 1, limits)
    assert earliest(log, limits, 3.0) == 10.0  # the send at 0 leaves the window at 10
    assert earliest(log, limits, 3.0, margin=0.5) == 10.5


def test_record_forgets_what_no_window_sees() -> None:
    limits = parse_limits(["2/5", "3/20"])
    log = record(record(record((), 0.0, 1, limits), 1.0, 1, limits), 30.0, 1, limits)
    assert log == ((30.0, 1),)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=80),
       st.integers(min_value=1, max_value=6), st.floats(min_value=0.5, max_value=10))
def test_sending_at_earliest_never_exceeds_any_window(gaps: list[float], count: int,
                                                      seconds: float) -> None:
    """Whatever the arrival pattern, sends placed at `earliest` keep every window (a token
    bucket of the same figures would let twice the count through one window)."""
    limits = (Limit(count, seconds), Limit(count * 3, seconds * 4))
    log: tuple[tuple[float, int], ...] = ()
    sent: list[float] = []
    now = 0.0
    for gap in gaps:
        now += gap
        at = earliest(log, limits, max(now, sent[-1] if sent else now))
        log = record(log, at, 1, limits)
        sent.append(at)
        now = at
    for limit in limits:
        for start in sent:
            inside = [t for t in sent if start <= t < start + limit.seconds]
            assert len(inside) <= limit.count


def test_minimum_seconds_is_the_window_arithmetic() -> None:
    assert minimum_seconds(0, parse_limits(["40/2"])) == 0
    assert minimum_seconds(40, parse_limits(["40/2"])) == 0  # one burst fits
    assert minimum_seconds(4000, parse_limits(["40/2", "250/20"])) == 15 * 20
    assert minimum_seconds(11, (), spacing=1.0) == 10


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_serial_writes_keep_spacing_and_budget() -> None:
    clock = Clock()
    pacer = Pacer(spacing=1.0, clock=clock, sleep=clock.sleep, margin=0.0)
    lane = Lane("content", parse_limits(["3/10"]), 1, "GitHub content limit")
    write = Pace((lane,), serial=True)
    sent: list[float] = []

    async def go() -> None:
        for _ in range(5):
            async with pacer.slot(write, max_wait=60):
                sent.append(clock.now)

    run(go())
    start = sent[0]
    assert [round(t - start, 3) for t in sent] == [0, 1, 2, 10, 11]


def test_a_hold_stops_every_worker_once() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    read = Pace((Lane("points:GET /x"),))
    done: list[float] = []

    async def worker() -> None:
        async with pacer.slot(read, max_wait=60):
            done.append(clock.now)

    async def go() -> None:
        pacer.hold(clock.now + 30, "HTTP 403 secondary rate limit")
        await asyncio.gather(*(worker() for _ in range(4)))

    start = clock.now
    run(go())
    assert all(t >= start + 30 for t in done)
    assert len(done) == 4


def test_a_wait_beyond_the_cap_is_deferred_with_its_limit() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, margin=0.0)
    lane = Lane("content", parse_limits(["2/3600"]), 1, "GitHub content limit")
    write = Pace((lane,), serial=True)

    async def go() -> None:
        for _ in range(3):
            async with pacer.slot(write, max_wait=300, source="github", what="POST /x"):
                pass

    with pytest.raises(Deferred) as caught:
        run(go())
    assert caught.value.limit == "GitHub content limit"
    assert caught.value.until == pytest.approx(clock.now + 3600)
    assert clock.slept == []  # nothing waited into the block


def test_pacing_off_keeps_holds_but_no_budget() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, enabled=False)
    lane = Lane("content", parse_limits(["1/3600"]), 1)

    async def go() -> None:
        for _ in range(3):
            async with pacer.slot(Pace((lane,), serial=True), max_wait=1):
                pass
        pacer.hold(clock.now + 0.5, "429")
        async with pacer.slot(Pace((lane,)), max_wait=1):
            pass

    run(go())
    assert clock.slept == [pytest.approx(0.5)]


def test_github_lanes_content_and_points_by_endpoint() -> None:
    pace_of = github_pace(["80/60", "500/3600"], "900/60")
    comment = pace_of("POST", "/repos/acme/app/issues/12/comments")
    assert comment.serial and {lane.key for lane in comment.lanes} == {
        "content", "points:POST /repos/{o}/{r}/issues/{n}/comments"}
    assert next(lane.cost for lane in comment.lanes if lane.key.startswith("points")) == 5
    delete = pace_of("DELETE", "/repos/acme/app/issues/12/labels/goal:KR-1")
    assert delete.serial and "content" not in {lane.key for lane in delete.lanes}
    read = pace_of("GET", "/repos/acme/app/issues")
    assert not read.serial and [lane.cost for lane in read.lanes] == [1]
    ghes = github_endpoint("GET", "/api/v3/repos/a/b/labels/x")
    assert ghes == "GET /repos/{o}/{r}/labels/{name}"


def test_jira_lanes_answer_to_their_ratelimit_reason() -> None:
    pace_of = jira_pace(["20/2", "100/30"], {"PUT": "50/1", "GET": "100/1"})
    write = pace_of("POST", "/rest/api/3/issue/web-1/remotelink")
    reasons = {lane.key: lane.reason for lane in write.lanes}
    assert reasons["issue:WEB-1"] == "jira-per-issue-on-write"
    assert reasons["burst:POST /rest/api/{v}/issue/{key}/remotelink"] == "jira-burst-based"
    read = pace_of("GET", "/rest/api/3/issue/WEB-1")
    assert not any(lane.key.startswith("issue:") for lane in read.lanes)


def test_settle_moves_a_send_to_when_its_answer_came() -> None:
    log = ((1.0, 1), (2.0, 5), (3.0, 1))
    assert settle(log, 2.0, 3.5) == ((1.0, 1), (3.0, 1), (3.5, 5))
    assert settle(log, 9.0, 10.0) == log


def test_a_slow_answer_pushes_the_next_send_past_the_servers_window() -> None:
    """The server counts a request when it arrives; a window started from the answer can
    only be later, so latency never lets the next send land inside it."""
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, margin=0.0)
    lane = Lane("content", parse_limits(["1/10"]), 1)
    sent: list[float] = []

    async def go() -> None:
        for _ in range(2):
            async with pacer.slot(Pace((lane,), serial=True), max_wait=60):
                sent.append(clock.now)
                clock.now += 3  # the answer takes 3 s

    run(go())
    assert sent[1] - sent[0] == 13
