"""Run the okrsync command line inside the test process (typer's `CliRunner` isolation).

For tests of what a command prints and the exit code it chooses, where no process boundary
is under test: the same `syncer.cli.main` the console script calls, with its error handling,
without paying an interpreter start and the imports per call. Tests of signals, SIGKILL,
locks held by another process or the installed entry point keep a real child process.
The result has the shape of `subprocess.run`'s, so either can stand behind a test helper.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.github_auth import forget_grants
from connectors.pacing import forget_pacers
from syncer import store_pg
from syncer.cli import main


def run_okrsync(*args: str, env: Mapping[str, str | None] | None = None,
                cwd: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    """`okrsync ARGS` with `env` overriding the environment (None unsets a variable)."""
    runner = CliRunner()
    with (contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext(),
          runner.isolation(env=dict(env or {})) as (out, err, _)):
        if _loop_running():  # e.g. Playwright's: the commands start their own loops
            with concurrent.futures.ThreadPoolExecutor(1) as one:
                code = one.submit(_exit_code_of, args).result()
        else:
            code = _exit_code_of(args)
        sys.stdout.flush()  # `print` leaves text in the isolation's wrapper until flushed
        sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return subprocess.CompletedProcess(["okrsync", *args], code, stdout, stderr)


def _exit_code_of(args: tuple[str, ...]) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def without_okrsync_env(environ: Mapping[str, str]) -> dict[str, str | None]:
    """Overrides that unset every `OKRSYNC_*` variable, as a clean child environment would."""
    return {k: None for k in environ if k.upper().startswith("OKRSYNC_")}


def fresh_process_state() -> None:
    """Drop what a new okrsync process would start without: the per-credential pacers, the
    GitHub installation tokens minted so far and the PostgreSQL pools."""
    forget_pacers()
    forget_grants()
    store_pg.close_pools()


def run_as_new_process(*args: str, env: Mapping[str, str],
                       cwd: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    """What `subprocess.run(["okrsync", *args], env=env)` would give, run in this process:
    the `OKRSYNC_*` variables are exactly `env`'s, and the process-wide state is fresh."""
    fresh_process_state()
    overrides: dict[str, str | None] = dict(without_okrsync_env(os.environ))
    overrides.update({k: v for k, v in env.items()
                      if k.upper().startswith("OKRSYNC_") or os.environ.get(k) != v})
    return run_okrsync(*args, env=overrides, cwd=cwd)


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`syncer.cli.main(argv)` under pytest's own capture: (exit code, stdout, stderr)."""
    code = _exit_code_of(tuple(argv))
    out, err = capsys.readouterr()
    return code, out, err
