"""`okrsync init [DIR]`: write a commented starter okrsync.toml, okrs.toml and rules.toml."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from core.errors import UserError
from syncer.cli import app

STARTER_FILES = ("okrsync.toml", "okrs.toml", "rules.toml")


def starter_text(name: str) -> str:
    """The packaged starter file `name` (one of STARTER_FILES)."""
    return resources.files("syncer").joinpath("starter", name).read_text(encoding="utf-8")


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Folder to write the files into."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that already exist."),
) -> None:
    """Write a commented starter `okrsync.toml`, `okrs.toml` and `rules.toml` into DIR.

    The three files validate as written (`okrsync validate --config DIR/okrsync.toml`); add a
    source under `[sources.*]`, your objectives and your rules, and keep tokens in `OKRSYNC_*`
    environment variables. Refuses to overwrite existing files unless `--force`.
    """
    target = directory.expanduser()
    if target.exists() and not target.is_dir():
        raise UserError(f"{target} exists and is not a folder", file=str(target))
    existing = [target / n for n in STARTER_FILES if (target / n).exists()]
    if existing and not force:
        raise UserError(
            "refusing to overwrite " + ", ".join(str(p) for p in existing),
            file=str(existing[0]),
            hint="pass --force to overwrite, or choose another folder",
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in STARTER_FILES:
            (target / name).write_text(starter_text(name), encoding="utf-8")
    except OSError as exc:
        msg = f"cannot write the starter files: {exc.strerror}"
        raise UserError(msg, file=str(target)) from None
    config = target / "okrsync.toml"
    typer.echo(f"wrote {', '.join(str(target / n) for n in STARTER_FILES)}")
    typer.echo(f"next: okrsync validate --config {config}")
