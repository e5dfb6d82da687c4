"""A real PostgreSQL server for tests: the Debian package's binaries, a throw-away data
directory made by `initdb`, started with `pg_ctl` on 127.0.0.1 as an unprivileged user
(PostgreSQL refuses to run as root), password authentication on.

Use the session fixture `postgres_server` (one server per test session, i.e. per xdist
worker): `from tests.helpers.postgres import postgres_server  # noqa: F401`, then ask for
`postgres_server` and create what the test needs in a database of its own (`new_database`).
Tests skip with the reason when no PostgreSQL is installed (`.ci/run` installs it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SUPERUSER = "okrsync_test"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        """A SQLAlchemy URL (psycopg 3 driver)."""
        secret = self.password if password is None else password
        return (f"postgresql+psycopg://{self.user}:{secret}@{self.host}:{self.port}/"
                f"{database}")

    def connect(self, database: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, dbname=database, autocommit=True)

    def new_database(self, name: str) -> str:
        """A fresh, empty database (dropped first if a previous test left it)."""
        with self.connect() as conn:
            conn.execute(f'drop database if exists "{name}"')
            conn.execute(f'create database "{name}"')
        return name


def _demote(user: str) -> dict[str, Any]:
    """subprocess keywords to run as `user` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    run_as = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(run_as)
        except KeyError:
            run_as = "nobody"
    demote = _demote(run_as)
    root = Path(tempfile.mkdtemp(prefix="okrsync-pg-"))
    data, sock = root / "data", root / "sock"
    password = secrets.token_urlsafe(12)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    sock.mkdir()
    if demote:
        for p in (root, sock, pwfile):
            os.chown(p, demote["user"], demote["group"])
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--pwfile", str(pwfile),
         "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True, env=env, cwd=root, **demote,
    )
    port = _free_port()
    log = root / "server.log"
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off "
               "-c shared_buffers=16MB -c max_connections=20")
    started = subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
         "-t", "60", "start"],
        capture_output=True, env=env, cwd=root, **demote,
    )
    if started.returncode != 0:
        detail = log.read_text() if log.exists() else started.stderr.decode()
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {detail[-2000:]}")
    try:
        yield PostgresServer("127.0.0.1", port, SUPERUSER, password)
    finally:
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                        "stop"], capture_output=True, env=env, cwd=root, **demote)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server
