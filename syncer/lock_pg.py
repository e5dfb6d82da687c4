"""The run lock of a PostgreSQL store: one session advisory lock per source, so workers for
different sources run at once and two for the same source exclude each other.

The locks are held by a connection of their own (not the pool's), opened for the run. The
server drops a session's advisory locks when its connection ends, however the process died,
so a killed worker's source is free again at once, as with the SQLite store's `flock`. The
connection's `application_name` says who holds the lock, for the second worker's message and
for `okrsync status`.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable
from typing import Any

import psycopg

from core.clock import SYSTEM
from core.errors import LockHeld
from syncer.lock import HeldLock, describe_holder
from syncer.store_pg import conninfo, display_url, pg_error

LOCK_SPACE = 0x6F6B72
"""The first key of okrsync's advisory locks; the second is the hash of the source name."""

HOLDER_PREFIX = "okrsync "


def _holder_name(command: str, sources: Iterable[str]) -> str:
    started = SYSTEM.now().isoformat(timespec="seconds")
    return (f"{HOLDER_PREFIX}{command} pid={os.getpid()} host={socket.gethostname()} "
            f"since={started} sources={','.join(sources)}")[:63]


def parse_holder(name: str) -> dict[str, Any]:
    """The holder details an `application_name` carries (see `_holder_name`)."""
    out: dict[str, Any] = {}
    if not name.startswith(HOLDER_PREFIX):
        return out
    words = name[len(HOLDER_PREFIX):].split()
    if words:
        out["command"] = words[0]
    for word in words[1:]:
        key, _, value = word.partition("=")
        if key == "pid" and value.isdigit():
            out["pid"] = int(value)
        elif key == "host":
            out["host"] = value
        elif key == "since":
            out["started_at"] = value
    return out


_HOLDERS_SQL = (
    "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid "
    "where l.locktype = 'advisory' and l.objsubid = 2 and l.classid::bigint = %s and "
    "l.objid::bigint = (hashtext(%s)::bigint & 4294967295) and l.granted limit 1"
)


class SourceLocks(HeldLock):
    """`with SourceLocks(url, ["jira"], command="sync"):` — LockHeld naming the source and
    its holder when another run holds one of them; all or none are taken."""

    def __init__(self, url: str, sources: Iterable[str], *, command: str = "") -> None:
        self.url = url
        self.sources = sorted(set(sources))
        self.command = command
        self._conn: psycopg.Connection[Any] | None = None

    def acquire(self) -> None:
        info, kwargs = conninfo(self.url)
        kwargs["application_name"] = _holder_name(self.command, self.sources)
        try:
            conn = psycopg.connect(info, **kwargs)
        except psycopg.Error as exc:
            raise pg_error(self.url, exc) from exc
        try:
            for source in self.sources:
                row = conn.execute("select pg_try_advisory_lock(%s, hashtext(%s))",
                                   [LOCK_SPACE, source]).fetchone()
                if not (row and row[0]):
                    holder = source_lock_holder(conn, source)
                    raise LockHeld(
                        f"another okrsync run holds the lock of source {source!r} in "
                        f"{display_url(self.url)}: {describe_holder(holder)}",
                        hint="wait for it to finish; a lock of a dead process is released "
                             "automatically",
                    )
        except psycopg.Error as exc:
            conn.close()
            raise pg_error(self.url, exc) from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    @property
    def held(self) -> bool:
        return self._conn is not None


def source_lock_holder(conn: psycopg.Connection[Any], source: str) -> dict[str, Any]:
    row = conn.execute(_HOLDERS_SQL, [LOCK_SPACE, source]).fetchone()
    return parse_holder(str(row[0])) if row else {}


def lock_holders(url: str, sources: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per source whose lock is held now: its holder's details (for `okrsync status`)."""
    info, kwargs = conninfo(url)
    try:
        with psycopg.connect(info, **kwargs) as conn:
            out = {}
            for source in sorted(set(sources)):
                row = conn.execute(_HOLDERS_SQL, [LOCK_SPACE, source]).fetchone()
                if row:
                    out[source] = parse_holder(str(row[0]))
            return out
    except psycopg.Error as exc:
        raise pg_error(url, exc) from exc
