"""The seam for a new tracker, measured: a throwaway tracker ("memo", an in-memory ticket
list served on loopback) joins the connector contract with nothing but its own two files.

`new_tracker/` holds those files laid out as they would sit in the repository; the fixture
puts that folder on the `connectors` and `sandbox` package paths (what dropping the
files into the repository does) and nothing else. Config loading, the registries and the
contract suite then find the tracker by its kind.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import connectors
import connectors.base
import sandbox
from connectors.base import load_all
from sandbox.trackers import sandbox_kinds
from syncer.config import load_config
from tests.contract.contract import ConnectorContract

NEW_TRACKER = Path(__file__).parent / "new_tracker"


@pytest.fixture(scope="module", autouse=True)
def memo_dropped_in() -> Iterator[None]:
    assert "memo" not in load_all()
    connectors.__path__.append(str(NEW_TRACKER / "connectors"))
    sandbox.__path__.append(str(NEW_TRACKER / "sandbox"))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        connectors.__path__.remove(str(NEW_TRACKER / "connectors"))
        sandbox.__path__.remove(str(NEW_TRACKER / "sandbox"))
        connectors.base._REGISTRY.pop("memo", None)
        for name in ("connectors.memo", "sandbox.memo"):
            sys.modules.pop(name, None)


class TestNewTrackerContract(ConnectorContract):
    kind = "memo"
    description = str(NEW_TRACKER / "memo-openapi.json")
    epics = 12


def test_a_new_tracker_touches_only_its_module_its_sandbox_and_one_registration_line(
) -> None:
    files = sorted(str(p.relative_to(NEW_TRACKER)) for p in NEW_TRACKER.rglob("*.py"))
    assert files == ["connectors/memo.py", "sandbox/memo.py"]
    registrations = [line for f in files for line in (NEW_TRACKER / f).read_text().splitlines()
                     if line.startswith("register(")]
    assert registrations == [
        'register("memo", MemoSourceConfig, MemoConnector, sandbox="sandbox.memo")']
    assert "memo" in load_all()
    assert "memo" in sandbox_kinds()


def test_a_config_names_the_new_kind_without_any_other_change(tmp_path: Path) -> None:
    config = tmp_path / "okrsync.toml"
    config.write_text(textwrap.dedent("""
        [sources.notes]
        kind = "memo"
        url = "http://127.0.0.1:9"
        token = "t0ken-value"
    """))
    loaded = load_config(config)
    assert type(loaded.sources["notes"]).__name__ == "MemoSourceConfig"
    assert loaded.sources["notes"].name == "notes"


def test_a_sync_runs_end_to_end_on_the_new_tracker(tmp_path: Path) -> None:
    """Engine, planner, store and outbox need no change: a real sync links, labels and
    writes goal links on the new tracker's tickets, and a second sync writes nothing."""
    from sandbox.trackers import start_tracker
    from syncer.engine import run_sync
    from tests.helpers.config_helpers import write_project

    with start_tracker("memo", epics=6) as fake:
        fake.tickets["MEMO-1"]["labels"].append("okr:KR-1")  # type: ignore[attr-defined]
        fake.tickets["MEMO-2"]["labels"].append("checkout")  # type: ignore[attr-defined]
        path = write_project(tmp_path, f"""
            [store]
            path = "okrsync.db"
            [okrs]
            catalog = "okrs.toml"
            rules = "rules.toml"
            [sources.notes]
            kind = "memo"
            url = "{fake.url}"
            token = "{fake.token}"
        """)
        first = run_sync(load_config(path))
        assert first.failed == []
        assert first.tickets == 6
        for key in ("MEMO-1", "MEMO-2"):
            assert "goal:KR-1" in fake.labels(key)
            assert fake.goal_kr_ids(key) == {"KR-1"}
        assert first.applied >= 4
        second = run_sync(load_config(path))
        assert second.failed == []
        assert second.applied == 0
