"""The `okrsync` command line. Each command lives in its own module under `syncer/commands/`
and registers itself on `app`; this module owns only the app, discovery and error handling."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from core.errors import TRACEBACK_ENV, ExitCode, explain_error

app = typer.Typer(
    name="okrsync",
    help=(
        "Keep goals and work connected: pull epics from Jira and GitHub, map them to OKR key "
        "results with label rules, write goal links back onto the tickets, and report "
        "untraceable work and bet outcomes.\n\n"
        "Start with `okrsync demo`, then `okrsync init DIR` for your own config."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def exit_with(code: int) -> NoReturn:
    """The one way a command ends with an exit code (README's table): click turns it into
    the process's code, after the command's output."""
    raise typer.Exit(int(code))


def _load_commands() -> None:
    import syncer.commands

    for info in sorted(pkgutil.iter_modules(syncer.commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"syncer.commands.{info.name}")


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("okrsync")
        except PackageNotFoundError:  # run from a checkout that was never installed
            from syncer import __version__ as installed
        typer.echo(f"okrsync {installed}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    pass


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app; turn errors into a message and an exit code.

    Click runs in standalone mode, so usage errors (unknown option or command, bad value,
    missing argument) are click's own message with its suggestion and exit 2, whichever click
    typer uses (newer typers bundle their own copy, so matching its exception classes from
    here would miss them). Only okrsync's errors and unexpected ones reach the handler below.
    """
    _load_commands()
    try:
        app(args=argv, prog_name="okrsync", standalone_mode=True)
    except SystemExit:
        raise
    except BaseException as exc:  # the one place errors become user output
        explained = explain_error(exc)
        err_console.print(f"[bold red]error:[/] {escape(explained.message)}", markup=True)
        if explained.hint:
            err_console.print(f"hint: {explained.hint}", markup=False)
        if os.environ.get(TRACEBACK_ENV) and explained.exit_code == ExitCode.FAILURES:
            import traceback

            traceback.print_exception(exc)
        sys.exit(int(explained.exit_code))
    sys.exit(0)


if __name__ == "__main__":
    # `python -m syncer.cli` runs this file as __main__; commands register on the importable
    # module's app, so hand over to it.
    from syncer import cli as _cli

    _cli.main()
