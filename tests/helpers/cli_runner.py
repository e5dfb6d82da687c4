"""Run the okrsync command line inside the test process (typer's `CliRunner` isolation).

For tests of what a command prints and the exit code it chooses, where no process boundary
is under test: the same `syncer.cli.main` the console script calls, with its error handling,
without paying an interpreter start and the imports per call. Tests of signals, SIGKILL,
locks held by another process or the installed entry point keep a real child process.
The result has the shape of `subprocess.run`'s, so either can stand behind a test helper.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from typer.testing import CliRunner

from syncer.cli import main


def run_okrsync(*args: str, env: Mapping[str, str | None] | None = None,
                cwd: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    """`okrsync ARGS` with `env` overriding the environment (None unsets a variable)."""
    runner = CliRunner()
    with (contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext(),
          runner.isolation(env=dict(env or {})) as (out, err, _)):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()  # `print` leaves text in the isolation's wrapper until flushed
        sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return subprocess.CompletedProcess(["okrsync", *args], code, stdout, stderr)


def without_okrsync_env(environ: Mapping[str, str]) -> dict[str, str | None]:
    """Overrides that unset every `OKRSYNC_*` variable, as a clean child environment would."""
    return {k: None for k in environ if k.upper().startswith("OKRSYNC_")}
