"""Config-like inputs have a size cap: a catalog pointing at /dev/zero (or a huge file) is a
clear exit 2 naming the file, not a read until memory runs out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.tomlfile import MAX_INPUT_BYTES
from syncer.cli import main
from tests.helpers.reports_helpers import CATALOG_TOML


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OKRSYNC_"):
            monkeypatch.delenv(name, raising=False)


def _validate(cfg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        main(["validate", "--config", str(cfg)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("which", ["catalog", "rules"])
def test_dev_zero_as_an_input_file_is_a_clear_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    (tmp_path / "okrs.toml").write_text(CATALOG_TOML)
    (tmp_path / "rules.toml").write_text("")
    paths = {"catalog": "okrs.toml", "rules": "rules.toml", which: "/dev/zero"}
    cfg = tmp_path / "okrsync.toml"
    cfg.write_text(f'[okrs]\ncatalog = "{paths["catalog"]}"\nrules = "{paths["rules"]}"\n')
    code, out = _validate(cfg, capsys)
    assert code == 2, out
    assert "/dev/zero" in out and "larger than 16 MiB" in out
    assert "Traceback" not in out and "bug" not in out


def test_a_config_file_over_the_cap_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "okrsync.toml"
    with cfg.open("w") as f:
        f.write("# " + "x" * (MAX_INPUT_BYTES + 10) + "\n")
    code, out = _validate(cfg, capsys)
    assert code == 2 and "okrsync.toml" in out and "larger than" in out
