"""The run lock: one okrsync run per store at a time (cron firing twice, a daemon and a manual
run), so two runs never apply the same outbox or move the same cursors.

An exclusive, non-blocking `flock` on `<store>.lock`. The kernel drops the lock when the
holding process dies, however it dies, so a lock file left behind by a killed run is simply
locked again: there is no stale-pid guessing. The file holds the holder's pid, host, start
time and command only so the second run can say who is in the way.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from core.clock import SYSTEM, Clock
from core.errors import LockHeld, StoreError

LOCK_SUFFIX = ".lock"
PROBE_RETRIES = 4
PROBE_RETRY_SECONDS = 0.05


def lock_file(path: Path | str) -> Path:
    """The lock file for a store path (or for the store of a path already ending in `.lock`),
    next to the store's resolved path: a store reached through a symlink, or through two
    spellings of one folder, is locked by the same file."""
    path = Path(path)
    store = Path(str(path)[: -len(LOCK_SUFFIX)]) if path.name.endswith(LOCK_SUFFIX) else path
    return Path(f"{os.path.realpath(store)}{LOCK_SUFFIX}")


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 4096)
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe_holder(holder: dict[str, Any]) -> str:
    """`pid 123 on host-a since 2026-01-05T08:00:00+00:00 (sync)`, or what is known of it."""
    if not holder:
        return "another process (it has not written its details yet)"
    text = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
    if holder.get("started_at"):
        text += f" since {holder['started_at']}"
    if holder.get("command"):
        text += f" ({holder['command']})"
    return text


class HeldLock(ABC):
    """What every run lock shares: taken on entering `with`, dropped on leaving it, however
    the block ended."""

    @abstractmethod
    def acquire(self) -> None: ...

    @abstractmethod
    def release(self) -> None: ...

    @property
    @abstractmethod
    def held(self) -> bool: ...

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class RunLock(HeldLock):
    """`with RunLock(store_path, command="sync"):` — raises LockHeld if another run holds it.

    `path` is the store path (the lock is `<path>.lock`) or the lock file itself.
    """

    def __init__(self, path: Path | str, *, command: str = "", clock: Clock = SYSTEM) -> None:
        self.path = lock_file(path)
        self.command = command
        self.clock = clock
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"{self.path}: cannot create the run lock: {exc.strerror or exc}"
            ) from exc
        try:
            self._flock(fd)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeld(
                f"another okrsync run holds the lock {self.path}: {describe_holder(holder)}",
                hint="wait for it to finish; a lock left by a dead process is released "
                "automatically",
            ) from None
        except BaseException:
            os.close(fd)
            raise
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": self.clock.now().isoformat(timespec="seconds"),
            "command": self.command,
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(holder).encode("utf-8"))
        self._fd = fd

    def _flock(self, fd: int) -> None:
        """Exclusive, non-blocking; a few short retries cover `lock_holder`'s brief probe."""
        for _ in range(PROBE_RETRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                self.clock.block(PROBE_RETRY_SECONDS)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        """Clear the holder details and drop the lock (the file stays: deleting a lock file
        while another process waits on it would let two runs hold 'the' lock)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None


def run_lock(store: Path | str, sources: Iterable[str], *, command: str = "",
             ) -> AbstractContextManager[object]:
    """The lock a run over `sources` takes: the store-wide `flock` of a SQLite store (SQLite
    has one writer at a time anyway), or one advisory lock per source in a PostgreSQL store,
    so workers for different sources run side by side."""
    from syncer import lock_pg, store_pg

    if store_pg.is_url(store):
        return lock_pg.SourceLocks(str(store), sources, command=command)
    return RunLock(store, command=command)


def lock_holder(path: Path | str) -> dict[str, Any] | None:
    """Who holds the lock now (their details), or None when nobody does. Never blocks.

    It probes with a shared lock held for an instant; `RunLock` retries briefly, so a run
    starting at that moment is not turned away.
    """
    target = lock_file(path)
    if not target.exists():
        return None
    try:
        fd = os.open(target, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
