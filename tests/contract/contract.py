"""The contract every connector keeps, run against its own sandbox over real HTTP.

A tracker joins with a few lines (see tests/contract/README.md):

    class TestJira(ConnectorContract):
        kind = "jira"                                   # the registered connector kind
        description = "jira-cloud-platform-v3.json"     # its OpenAPI file in tests/fixtures/openapi

Everything else is found through the registries by kind: the connector and its config model
(`connectors.base.load_all()`), the sandbox (`sandbox.trackers.start_tracker`).
After every test, each request the connector sent and each answer the sandbox gave is checked
against the tracker's OpenAPI description (`tests/contract/openapi.py`).

To add a case: write a `test_*` method taking the `tracker` (a `FakeTracker`) and `connect`
(`connect(**overrides) -> Connector`) fixtures; drive the connector with `self.run(...)`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar, TypeVar

import pytest

from connectors.base import Connector, PullOptions, load_all
from core.errors import AuthError, NotFound, RateLimited, RemoteError, Unavailable
from core.model import ApplyStatus, GoalRef, Page, Ticket, WriteBack, WriteBackKind
from sandbox.trackers import FakeTracker, start_tracker
from tests.contract.openapi import description

T = TypeVar("T")
Connect = Callable[..., Connector]
LABEL = "goal:KR-CON-1"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def goal(kr_id: str) -> GoalRef:
    return GoalRef(kr_id=kr_id, kr_title="Checkout conversion", objective_id="O-GROW",
                   objective_title="Grow revenue", owner="Dana Lee", target="40 → 60 %",
                   url=f"https://okr.example/{kr_id}")


async def pull(conn: Connector, cursor: str | None = None, *, full: bool = False
               ) -> list[Page]:
    return [page async for page in conn.pull(cursor, PullOptions(full=full))]


def tickets(pages: list[Page]) -> list[Ticket]:
    return [t for page in pages for t in page.tickets]


def writes_since(tracker: FakeTracker, mark: int) -> list[str]:
    """Writes that landed since `mark` (a DELETE answered 404 changed nothing)."""
    return [str(e) for e in tracker.exchanges[mark:]
            if e.method in WRITE_METHODS and e.status < 400]


class ConnectorContract:
    kind: ClassVar[str]
    description: ClassVar[str]
    epics: ClassVar[int] = 60
    tracker_options: ClassVar[dict[str, Any]] = {}
    path_aliases: ClassVar[tuple[tuple[str, str], ...]] = ()

    # -- the fixture protocol --------------------------------------------------------------

    @pytest.fixture()
    def tracker(self) -> Iterator[FakeTracker]:
        with start_tracker(self.kind, epics=self.epics, seed=3,
                           **self.tracker_options) as fake:
            fake.exchanges.clear()
            yield fake
            self._check_against_description(fake)

    @pytest.fixture()
    def connect(self, tracker: FakeTracker) -> Iterator[Connect]:
        spec = load_all()[self.kind]
        made: list[Connector] = []
        self._loop = asyncio.new_event_loop()

        def make(**overrides: Any) -> Connector:
            settings = {"name": self.kind, "kind": self.kind, **tracker.source_settings(),
                        **overrides}
            conn = spec.factory(spec.config_model(**settings))
            made.append(conn)
            return conn

        yield make
        for conn in made:
            self.run(conn.aclose())
        self._loop.close()

    def run(self, coro: Awaitable[T]) -> T:
        """Drive the connector on the test's one event loop (its HTTP pool lives there)."""
        async def main() -> T:
            return await coro

        return self._loop.run_until_complete(main())

    answers_off_spec: bool = False

    def off_spec_answers_expected(self) -> None:
        """For a test that makes the sandbox answer what the real API never would (a broken
        payload): its requests are still checked, its answers are not."""
        self.answers_off_spec = True

    def _check_against_description(self, tracker: FakeTracker) -> None:
        checked = description(self.description, self.path_aliases).check_all(
            tracker.exchanges, answers=not self.answers_off_spec)
        assert checked.problems == [], "\n".join(checked.problems[:40])
        assert tracker.exchanges, "the test sent nothing to check"
        assert sum(checked.operations.values()) == len(tracker.exchanges)

    # -- pull ------------------------------------------------------------------------------

    def test_full_pull_returns_every_epic_once_over_several_pages(
            self, tracker: FakeTracker, connect: Connect) -> None:
        pages = self.run(pull(connect()))
        keys = [t.key for t in tickets(pages)]
        assert len(pages) >= 2
        assert len(keys) == len(set(keys))
        assert set(keys) == tracker.epic_keys()
        assert all(page.cursor for page in pages)
        for ticket in tickets(pages):
            assert ticket.source == self.kind
            assert sorted(ticket.labels) == sorted(tracker.labels(ticket.key))
            assert ticket.updated.tzinfo is not None
            assert ticket.url and ticket.remote_id and ticket.project

    def test_incremental_pull_returns_exactly_what_changed(
            self, tracker: FakeTracker, connect: Connect) -> None:
        conn = connect()
        cursor = self.run(pull(conn))[-1].cursor
        changed = sorted(tracker.epic_keys())[1:3]
        for key in changed:
            tracker.touch(key)
        second = self.run(pull(conn, cursor))
        assert sorted(t.key for t in tickets(second)) == changed
        assert all(t.title.endswith("(edited)") for t in tickets(second))
        after = second[-1].cursor if second else cursor
        assert tickets(self.run(pull(conn, after))) == []
        assert {t.key for t in tickets(self.run(pull(conn, after, full=True)))} == (
            tracker.epic_keys())

    def test_cursor_is_json_and_survives_a_new_connector(
            self, tracker: FakeTracker, connect: Connect) -> None:
        cursor = self.run(pull(connect()))[-1].cursor
        assert cursor is not None
        json.loads(cursor)
        assert tickets(self.run(pull(connect(), cursor))) == []

    def test_a_page_cursor_resumes_without_losing_epics(
            self, tracker: FakeTracker, connect: Connect) -> None:
        """A run that stops after storing its first page resumes from that page's cursor."""
        first, *_ = self.run(pull(connect()))
        rest = self.run(pull(connect(), first.cursor))
        assert {t.key for t in first.tickets} | {t.key for t in tickets(rest)} == (
            tracker.epic_keys())

    # -- write-backs -----------------------------------------------------------------------

    def test_add_label_twice_writes_once(self, tracker: FakeTracker, connect: Connect) -> None:
        conn, key = connect(), sorted(tracker.epic_keys())[0]
        wb = WriteBack(self.kind, key, WriteBackKind.ADD_LABEL, label=LABEL)
        assert self.run(conn.apply(wb)).status == ApplyStatus.APPLIED
        assert tracker.labels(key).count(LABEL) == 1
        mark = len(tracker.exchanges)
        assert self.run(conn.apply(wb)).status == ApplyStatus.UNCHANGED
        assert writes_since(tracker, mark) == []
        assert tracker.labels(key).count(LABEL) == 1

    def test_remove_label_twice_writes_once_and_keeps_peoples_labels(
            self, tracker: FakeTracker, connect: Connect) -> None:
        conn, key = connect(), sorted(tracker.epic_keys())[0]
        before = tracker.labels(key)
        self.run(conn.apply(WriteBack(self.kind, key, WriteBackKind.ADD_LABEL, label=LABEL)))
        wb = WriteBack(self.kind, key, WriteBackKind.REMOVE_LABEL, label=LABEL)
        assert self.run(conn.apply(wb)).status == ApplyStatus.APPLIED
        assert tracker.labels(key) == before
        mark = len(tracker.exchanges)
        assert self.run(conn.apply(wb)).status == ApplyStatus.UNCHANGED
        assert writes_since(tracker, mark) == []

    def test_goal_links_upsert_replace_and_remove_each_idempotent(
            self, tracker: FakeTracker, connect: Connect) -> None:
        conn, key = connect(), sorted(tracker.epic_keys())[0]
        steps = [
            (WriteBack(self.kind, key, WriteBackKind.SET_GOAL_LINKS, goals=(goal("KR-CON-1"),)),
             {"KR-CON-1"}),
            (WriteBack(self.kind, key, WriteBackKind.SET_GOAL_LINKS,
                       goals=(goal("KR-CON-1"), goal("KR-CON-2"))), {"KR-CON-1", "KR-CON-2"}),
            (WriteBack(self.kind, key, WriteBackKind.SET_GOAL_LINKS, goals=(goal("KR-CON-2"),),
                       previous=("KR-CON-1", "KR-CON-2")), {"KR-CON-2"}),
            (WriteBack(self.kind, key, WriteBackKind.REMOVE_GOAL_LINKS, previous=("KR-CON-2",)),
             set()),
        ]
        ref: str | None = None
        for wb, shown in steps:
            wb = WriteBack(wb.source, wb.ticket_key, wb.kind, goals=wb.goals,
                           previous=wb.previous, remote_ref=ref)
            result = self.run(conn.apply(wb))
            assert result.status == ApplyStatus.APPLIED, wb
            ref = result.remote_ref or ref
            assert tracker.goal_kr_ids(key) == shown
            mark = len(tracker.exchanges)
            again = self.run(conn.apply(WriteBack(wb.source, wb.ticket_key, wb.kind, goals=wb.goals,
                                             previous=wb.previous, remote_ref=ref)))
            assert again.status == ApplyStatus.UNCHANGED, wb
            assert writes_since(tracker, mark) == [], wb
            assert tracker.goal_kr_ids(key) == shown

    def test_doctor_checks_pass_and_change_no_ticket(
            self, tracker: FakeTracker, connect: Connect) -> None:
        def seen() -> dict[str, tuple[list[str], set[str]]]:
            return {k: (tracker.labels(k), tracker.goal_kr_ids(k)) for k in tracker.epic_keys()}

        before = seen()
        checks = self.run(connect().doctor())
        assert checks
        assert all(check.ok for check in checks), checks
        assert seen() == before

    # -- missing fields and errors ---------------------------------------------------------

    def test_payload_missing_a_needed_field_is_skipped_with_its_key(
            self, tracker: FakeTracker, connect: Connect) -> None:
        self.off_spec_answers_expected()
        broken = sorted(tracker.epic_keys())[2]
        tracker.break_ticket(broken)
        pages = self.run(pull(connect()))
        skipped = [s for page in pages for s in page.skipped]
        assert [s.key for s in skipped] == [broken]
        assert skipped[0].reason
        assert {t.key for t in tickets(pages)} == tracker.epic_keys() - {broken}

    def test_wrong_credentials_are_an_auth_error_that_does_not_echo_them(
            self, tracker: FakeTracker, connect: Connect) -> None:
        wrong = tracker.wrong_credentials()
        with pytest.raises(AuthError) as caught:
            self.run(pull(connect(**wrong)))
        for value in wrong.values():
            assert str(value) not in str(caught.value)
        assert caught.value.source == self.kind

    def test_write_to_a_missing_ticket_is_not_found(
            self, tracker: FakeTracker, connect: Connect) -> None:
        wb = WriteBack(self.kind, tracker.missing_key(), WriteBackKind.ADD_LABEL, label=LABEL)
        with pytest.raises(NotFound):
            self.run(connect().apply(wb))

    @pytest.mark.parametrize(("status", "error"), [(429, RateLimited), (500, Unavailable),
                                                   (503, Unavailable)])
    def test_server_refusals_map_to_the_error_tree(
            self, tracker: FakeTracker, connect: Connect, status: int,
            error: type[RemoteError]) -> None:
        conn = connect(max_retries=0, max_rate_limit_wait=0)
        tracker.answer_every_request_with(status)
        with pytest.raises(error) as caught:
            self.run(pull(conn))
        assert caught.value.source == self.kind
        tracker.answer_every_request_with(None)
        pacer = getattr(conn, "pacer", None)
        if pacer is not None:  # the refusal's Retry-After has passed, as a later run sees it
            pacer.holds.clear()
        assert {t.key for t in tickets(self.run(pull(conn)))} == tracker.epic_keys()
