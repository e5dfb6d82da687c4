"""The `okrsync` command line. Each command lives in its own module under `syncer/commands/`
and registers itself on `app`; this module owns only the app, discovery and error handling."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console
from rich.markup import escape

from syncer.errors import explain_error

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


def _load_commands() -> None:
    import syncer.commands

    for info in sorted(pkgutil.iter_modules(syncer.commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"syncer.commands.{info.name}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app; turn errors into a message and an exit code."""
    _load_commands()
    try:
        code = app(args=argv, standalone_mode=False)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the one place errors become user output
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            err_console.print("aborted")
            sys.exit(1)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        explained = explain_error(exc)
        err_console.print(f"[bold red]error:[/] {escape(explained.message)}", markup=True)
        if explained.hint:
            err_console.print(f"hint: {explained.hint}", markup=False)
        if "--verbose" in (argv or sys.argv) and explained.exit_code == 1:
            import traceback

            traceback.print_exception(exc)
        sys.exit(int(explained.exit_code))
    # With standalone_mode=False click returns typer.Exit's code instead of exiting.
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    # `python -m syncer.cli` runs this file as __main__; commands register on the importable
    # module's app, so hand over to it.
    from syncer import cli as _cli

    _cli.main()
