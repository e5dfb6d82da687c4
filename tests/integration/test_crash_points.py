"""Crash points: `okrsync sync` child processes SIGKILLed at seeded random moments.

Each kill may land anywhere: while importing, pulling, planning, writing the outbox or in the
middle of applying write-backs. After every kill the store passes SQLite's integrity check, and
a clean rerun exits 0 and reaches exactly the remote state of an uninterrupted run, with no
duplicate label, remote link or goal-link comment. On both backends: on PostgreSQL the kill
also drops the worker's session mid-transaction and its advisory run lock, which the rerun
must find released.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox import sandbox
from syncer.engine import run_sync
from syncer.store import Store, store_exists
from tests.helpers.e2e import ROOT, config, env_for, managed_only, project, remote_state
from tests.helpers.store_backends import lose_store, sqlite_store

SEED = 1234
ORG_SEED = 31
EPICS = 40
ROUNDS = 3  # fresh organisations; each is killed KILLS_PER_ROUND times before the clean rerun
KILLS_PER_ROUND = 2


def no_duplicates(state: dict[str, Any]) -> bool:
    return all(
        len(v["labels"]) == len(set(v["labels"]))
        and len(v.get("links", [])) == len(set(v.get("links", [])))
        and len(v.get("goal_comments", [])) <= 1
        for v in state.values()
    )


def kill_after(cfg_path: Path, sb: Any, delay: float) -> int | None:
    """Start a real `okrsync sync`, SIGKILL it after `delay` s; its exit code if it beat us."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer.cli", "sync", "--config", str(cfg_path)],
        env=env_for(sb), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    finished = proc.poll()
    if finished is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    return finished


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend_env")
def test_seeded_sigkills_always_converge_to_the_uninterrupted_state(tmp_path: Path) -> None:
    with sandbox(epics=EPICS, seed=ORG_SEED) as ref, sqlite_store():
        clean = run_sync(config(project(tmp_path / "ref", ref), ref))
        assert clean.exit_code == 0
        expected = managed_only(remote_state(ref))

    rng = random.Random(SEED)
    killed_mid_run = 0
    for round_no in range(ROUNDS):
        with sandbox(epics=EPICS, seed=ORG_SEED) as sb:
            cfg_path = project(tmp_path / f"round-{round_no}", sb)
            db = config(cfg_path, sb).store_target
            if round_no:
                lose_store(db)  # a fresh organisation starts a fresh store
            # Slow answers stretch each run over a few seconds so the kills spread across it.
            sb.set_faults("slow:0.4:0.5")
            for kill in range(KILLS_PER_ROUND):
                # A run takes ~1 s to start and ~3.5 s in all; a later kill hits a shorter run
                # that first retries what the previous kill left pending.
                finished = kill_after(cfg_path, sb, rng.uniform(0.7, 2.8 if kill == 0 else 1.8))
                killed_mid_run += finished is None
                if store_exists(db):
                    with Store.open(db) as store:
                        assert store.integrity_check() == "ok"
                assert no_duplicates(remote_state(sb))
            sb.set_faults(None)
            rerun = run_sync(config(cfg_path, sb))
            assert rerun.exit_code == 0, rerun.failed
            state = remote_state(sb)
            assert no_duplicates(state)
            assert managed_only(state) == expected
            with Store.open(db) as store:
                assert store.pending() == []
                assert store.integrity_check() == "ok"
            assert run_sync(config(cfg_path, sb)).applied == 0
    assert killed_mid_run >= ROUNDS * KILLS_PER_ROUND - 2, "most kills must hit a running sync"
