"""Test helpers for config/catalog/rules tests: a tiny registered connector kind, env isolation
and small file writers."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import SecretStr

from connectors.base import SourceConfig, register


class TestKindConfig(SourceConfig):
    """A source kind that exists only in tests, so config tests do not depend on connectors."""

    __test__ = False
    kind: Literal["testkind"] = "testkind"
    url: str = "http://127.0.0.1:1"
    token: SecretStr = SecretStr("")
    repos: list[str] = []


def _factory(config: SourceConfig) -> Any:
    raise NotImplementedError("tests never build this connector")


def register_testkind() -> None:
    register("testkind", TestKindConfig, _factory)


def clear_okrsync_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every OKRSYNC_* variable so the developer's shell cannot leak into a test."""
    for name in list(os.environ):
        if name.upper().startswith("OKRSYNC_"):
            monkeypatch.delenv(name, raising=False)


CATALOG_TOML = """\
cycle = "2026-Q4"

[[objective]]
id = "O1"
title = "Make checkout effortless"
owner = "Dana Lee"

  [[objective.key_result]]
  id = "KR-1"
  title = "Raise checkout conversion"
  owner = "Dana Lee"
  metric = "checkout conversion"
  unit = "%"
  baseline = 40
  target = 60
  direction = "up"

  [[objective.key_result]]
  id = "KR-2"
  title = "Cut payment failures"
  owner = "Sam Ortiz"
  metric = "failed payments per 1000"
  unit = ""
  baseline = 12
  target = 5

[[objective]]
id = "O2"
title = "Ship faster"
owner = "Lee Park"

  [[objective.key_result]]
  id = "KR-3"
  title = "Reduce lead time"
  owner = "Lee Park"
  metric = "lead time days"
  unit = "d"
  baseline = 10
  target = 4
  direction = "down"
"""

RULES_TOML = """\
[[rule]]
id = "r-checkout"
kr = "KR-1"
priority = 50
labels_any = ["checkout", "payments*"]

[[rule]]
id = "r-fail"
kr = "KR-2"
priority = 40
projects = ["PAY"]
title_regex = "fail|decline"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def write_project(folder: Path, config: str = "", *, catalog: str = CATALOG_TOML,
                  rules: str = RULES_TOML) -> Path:
    """Write okrsync.toml (given body), okrs.toml and rules.toml; return the config path."""
    write(folder / "okrs.toml", catalog)
    write(folder / "rules.toml", rules)
    return write(folder / "okrsync.toml", config)
