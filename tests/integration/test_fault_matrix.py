"""The fault matrix: every fault kind the sandboxes inject, at 10 % and 50 %, during the pull
and during the apply phase of a real sync over HTTP.

Each cell asserts the promise in docs/reliability.md: the faulty run either exits 0 with the
same managed remote state as an uninterrupted run of the same organisation, or exits 1 with
every write-back it did not finish still pending in the store (or the failing source marked
unhealthy, so nothing was planned for it); a following clean run exits 0 and reaches the
reference state, and a third run writes nothing. No cell may leave a duplicate label, remote
link or goal-link comment.

`lost` runs the request (a write lands) and then drops the connection before the answer: the
cells that count duplicates most. Every wait okrsync makes (backoff, Retry-After, pacing holds,
for both trackers) goes through a `SkippingClock`: it returns at once and moves okrsync's time
ahead, so the matrix measures behaviour, not waiting; the sandboxes do not enforce the waits
they ask for, and `slow` still takes real time on the server (it must overrun a real timeout).

The phase is targeted with the engine's progress hook: faults are switched on or off the moment
every source has finished pulling. With `OKRSYNC_FAULT_MATRIX_OUT` set, each cell appends one
JSON line with its figures; `scripts/fault_matrix_table.py` turns that file into the table in
docs/reliability.md.

Every cell runs on SQLite; on PostgreSQL a representative subset runs (`PG_CELLS`): every
fault kind once at 50 %, the phases alternating, so each kind meets the PostgreSQL store in
one phase. The full 32 cells again on PostgreSQL would add minutes of the same HTTP faults
to CI while the store's part of a cell (pending write-backs kept, nothing applied twice) is
the same in every cell of a kind.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from connectors import http
from core.clock import SkippingClock
from sandbox import Sandbox, sandbox
from syncer import store_pg
from syncer.engine import RunSummary, run_sync
from syncer.store import Store
from tests.helpers.e2e import config, managed_only, project, remote_state
from tests.helpers.store_backends import sqlite_store

SEED = 21
KINDS = ("429", "secondary", "500", "502", "503", "slow", "drop", "lost")
RATES = (0.1, 0.5)
PHASES = ("pull", "apply")
# Small limits so a cell stays a few seconds: three retries, rate-limit waits up to 5 s, and a
# timeout (0.5 s) the sandbox's slow answers (1 s) overrun, so `slow` exercises timeouts. Pages
# of 2 epics make the pull phase many requests long, so faults can hit it.
TUNING = "max_retries = 3\nmax_rate_limit_wait = 5\ntimeout = {timeout}\npage_size = 2\n"
SLOW_SECONDS = 1
SLOW_TIMEOUT = 0.5

_REFERENCE: dict[tuple[int, int], dict[str, Any]] = {}


@pytest.fixture(autouse=True)
def _instant_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """okrsync's clock in this module: waits are counted, never slept."""
    monkeypatch.setattr(http, "DEFAULT_CLOCK", SkippingClock())


def epics_for(kind: str, rate: float) -> int:
    """Waiting kinds (Retry-After, timeouts) at 50 % get a smaller organisation to stay bounded."""
    if rate >= 0.5 and kind in ("429", "secondary", "slow"):
        return 12
    return 30


def spec_for(kind: str, rate: float) -> str:
    if kind == "slow":
        return f"slow:{rate}:{SLOW_SECONDS}"
    return f"{kind}:{rate}"


def tuned_project(directory: Path, sb: Sandbox, *, timeout: float = 3) -> Path:
    path = project(directory, sb)
    text = path.read_text()
    for kind in ("jira", "github"):
        marker = f'kind = "{kind}"\n'
        assert marker in text
        text = text.replace(marker, marker + TUNING.format(timeout=timeout))
    path.write_text(text)
    return path


def reference(tmp: Path, epics: int) -> dict[str, Any]:
    """The managed remote state an uninterrupted sync reaches; one per organisation size."""
    key = (SEED, epics)
    if key not in _REFERENCE:
        with sandbox(epics=epics, seed=SEED) as ref, sqlite_store():
            summary = run_sync(config(tuned_project(tmp / f"ref-{epics}", ref), ref))
            assert summary.exit_code == 0, summary.failed
            assert summary.applied > 0
            _REFERENCE[key] = managed_only(remote_state(ref))
    return _REFERENCE[key]


class PhaseSwitch:
    """A progress hook that turns faults on or off once every source has finished pulling."""

    def __init__(self, sb: Sandbox, spec: str, phase: str, sources: int) -> None:
        self.sb, self.spec, self.phase = sb, spec, phase
        self.sources = sources
        self.finished: set[str] = set()
        self.switched = False
        self.pull_faults = 0

    def start(self) -> None:
        self.sb.set_faults(self.spec if self.phase == "pull" else None)

    def __call__(self, source: str, phase: str, count: int) -> None:
        if phase in ("done", "failed"):
            self.finished.add(source)
            if len(self.finished) == self.sources and not self.switched:
                self.switched = True
                self.pull_faults = faults_injected(self.sb)
                self.sb.set_faults(None if self.phase == "pull" else self.spec)


def assert_no_duplicates(state: dict[str, Any]) -> None:
    for uid, item in state.items():
        assert len(item["labels"]) == len({lb.lower() for lb in item["labels"]}), uid
        links = item.get("links", [])
        assert len(links) == len(set(links)), uid
        assert len(item.get("goal_comments", [])) <= 1, uid


def record(cell: dict[str, Any]) -> None:
    out = os.environ.get("OKRSYNC_FAULT_MATRIX_OUT")
    if not out:
        return
    with open(out, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(cell, sort_keys=True) + "\n")
        fcntl.flock(fh, fcntl.LOCK_UN)


def faults_injected(sb: Sandbox) -> int:
    return sum(sum(int(n) for n in acc["faults"].values()) for acc in sb.accounting().values())


def requests_made(sb: Sandbox) -> int:
    return sum(int(acc["requests"]) for acc in sb.accounting().values())


def check_unfinished_is_pending(
    summary: RunSummary, store: Store, state: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Exit 1: whatever differs from the reference is pending, or its source was unhealthy."""
    pending = store.pending()
    pending_keys = {item.writeback.key for item in pending}
    pending_uids = {f"{item.writeback.source}:{item.writeback.ticket_key}" for item in pending}
    unhealthy = {s.name for s in summary.sources if not s.healthy}
    assert pending or unhealthy, "exit 1 must leave something pending or name a failed source"
    for key, _error in summary.failed:
        assert key in pending_keys, f"failed write-back {key} was lost from the outbox"
    for uid, item in state.items():
        if item != expected[uid]:
            source = uid.split(":", 1)[0]
            assert uid in pending_uids or source in unhealthy, (
                f"{uid} differs from the reference but nothing for it is pending"
            )


CELLS = [(k, r, p) for k in KINDS for r in RATES for p in PHASES]
PG_CELLS = [(k, 0.5, PHASES[i % 2]) for i, k in enumerate(KINDS)]
BACKEND_CELLS = [(*c, "sqlite") for c in CELLS] + [(*c, "postgresql") for c in PG_CELLS]


@pytest.mark.parametrize(("kind", "rate", "phase", "store_target"), BACKEND_CELLS,
                         ids=[f"{k}-{r}-{p}-{b}" for k, r, p, b in BACKEND_CELLS],
                         indirect=["store_target"])
@pytest.mark.usefixtures("store_backend_env")
def test_fault_cell_converges_without_duplicates(
    kind: str, rate: float, phase: str, store_target: Path | str, tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    epics = epics_for(kind, rate)
    expected = reference(tmp_path_factory.mktemp("reference"), epics)
    spec = spec_for(kind, rate)
    with sandbox(epics=epics, seed=SEED) as sb:
        cfg_path = tuned_project(tmp_path, sb, timeout=SLOW_TIMEOUT if kind == "slow" else 3)
        switch = PhaseSwitch(sb, spec, phase, sources=2)
        switch.start()
        started = time.monotonic()
        faulty = run_sync(config(cfg_path, sb), progress=switch)
        seconds = time.monotonic() - started
        sb.set_faults(None)
        assert switch.switched, "every source must report the end of its pull"
        injected = faults_injected(sb)
        requests = requests_made(sb)
        state = remote_state(sb)
        assert_no_duplicates(state)
        db = config(cfg_path, sb).store_target
        with Store.open(db) as store:
            pending = len(store.pending())
            assert store.integrity_check() == "ok"
            if faulty.exit_code == 0:
                assert pending == 0
                assert managed_only(state) == expected
            else:
                assert int(faulty.exit_code) == 1
                check_unfinished_is_pending(faulty, store, managed_only(state), expected)

        clean = run_sync(config(cfg_path, sb))
        assert clean.exit_code == 0, clean.failed
        after = remote_state(sb)
        assert_no_duplicates(after)
        assert managed_only(after) == expected
        quiet = run_sync(config(cfg_path, sb))
        assert quiet.planned == [] and quiet.applied == 0
        with Store.open(db) as store:
            assert store.pending() == []

    record({
        "kind": kind, "rate": rate, "phase": phase, "epics": epics, "spec": spec,
        "backend": "postgresql" if store_pg.is_url(store_target) else "sqlite",
        "exit_code": int(faulty.exit_code), "pending": pending,
        "failed": len(faulty.failed), "applied": faulty.applied,
        "unhealthy": sorted(s.name for s in faulty.sources if not s.healthy),
        "pull_retries": sum(s.retries for s in faulty.sources),
        "faults_injected": injected, "requests": requests,
        "pull_faults": switch.pull_faults, "apply_faults": injected - switch.pull_faults,
        "rerun_applied": clean.applied, "converged": True,
        "seconds": round(seconds, 1),
    })
    in_phase = switch.pull_faults if phase == "pull" else injected - switch.pull_faults
    assert in_phase == injected, "faults must hit only the targeted phase"
    assert in_phase > 0 or rate < 0.5, "a 50 % fault rate must hit the targeted phase"
