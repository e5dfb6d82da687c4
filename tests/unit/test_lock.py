"""The run lock with real processes: a live holder blocks, a killed holder does not.

SQLite only: this is the lock file next to the store (PostgreSQL's per-source advisory locks:
test_workers_per_source and the both-backend end-to-end tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.errors import ExitCode, LockHeld, StoreError
from syncer.lock import RunLock, lock_file, lock_holder

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import sys, time
from syncer.lock import RunLock
lock = RunLock(sys.argv[1], command="child-sync")
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


@contextmanager
def child_holding(path: Path) -> Iterator[subprocess.Popen[str]]:
    """A separate process that takes the lock and sleeps; killed on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def test_lock_file_is_next_to_the_store(tmp_path: Path) -> None:
    assert lock_file(tmp_path / "okrsync.db") == tmp_path / "okrsync.db.lock"
    assert lock_file(tmp_path / "okrsync.db.lock") == tmp_path / "okrsync.db.lock"


def test_holder_details_are_written_while_held_and_cleared_after(tmp_path: Path) -> None:
    store = tmp_path / "sub" / "okrsync.db"
    with RunLock(store, command="sync") as lock:
        assert lock.held
        holder = json.loads(lock_file(store).read_text())
        assert holder["pid"] == os.getpid()
        assert holder["command"] == "sync"
        assert holder["host"] and holder["started_at"].endswith("+00:00")
        assert oct(lock_file(store).stat().st_mode & 0o777) == oct(0o600)
    assert not lock.held
    assert lock_file(store).read_text() == ""
    with RunLock(store):  # free again
        pass


def test_a_second_lock_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with RunLock(tmp_path / "okrsync.db", command="sync"), pytest.raises(LockHeld) as info:
        RunLock(tmp_path / "okrsync.db").acquire()
    assert f"pid {os.getpid()}" in str(info.value)
    assert info.value.exit_code is ExitCode.LOCKED


def test_a_live_holder_in_another_process_raises_lock_held_naming_it(tmp_path: Path) -> None:
    store = tmp_path / "okrsync.db"
    with child_holding(store) as child:
        with pytest.raises(LockHeld) as info, RunLock(store, command="sync"):
            pytest.fail("must not get the lock")
        message = str(info.value)
        assert f"pid {child.pid}" in message
        assert "child-sync" in message and "since 20" in message
        assert str(lock_file(store)) in message
        holder = lock_holder(store)
        assert holder is not None and holder["pid"] == child.pid


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    store = tmp_path / "okrsync.db"
    with child_holding(store) as child:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    # the file still names the dead child, but the kernel dropped its lock
    assert json.loads(lock_file(store).read_text())["pid"] == child.pid
    assert lock_holder(store) is None
    with RunLock(store, command="sync"):
        assert json.loads(lock_file(store).read_text())["pid"] == os.getpid()


def test_lock_holder_is_none_without_a_lock_file(tmp_path: Path) -> None:
    assert lock_holder(tmp_path / "nothing.db") is None


def test_release_is_idempotent(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / "okrsync.db")
    lock.acquire()
    lock.release()
    lock.release()
    assert not lock.held


def test_an_unwritable_lock_location_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot create the run lock"):
        RunLock(tmp_path / "file" / "okrsync.db").acquire()


def test_a_status_probe_does_not_turn_a_starting_run_away(tmp_path: Path) -> None:
    import fcntl
    import threading

    store = tmp_path / "okrsync.db"
    lock_file(store).write_text("")
    fd = os.open(lock_file(store), os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # what lock_holder does, for an instant
    timer = threading.Timer(0.05, lambda: (fcntl.flock(fd, fcntl.LOCK_UN), os.close(fd)))
    timer.start()
    try:
        with RunLock(store, command="sync") as lock:
            assert lock.held
    finally:
        timer.join()
