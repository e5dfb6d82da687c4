"""Config problems as people read them: every one in a single pass, each naming its key (and
the variable when the environment set it), a "did you mean" for a misspelt key or section, and
the variable to set for a missing secret. Input values are never echoed: they may be secrets.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from core.config_env import env_name, env_setting
from core.errors import ConfigError
from core.tomlfile import dotted, line_of

_BACKTICKED = re.compile(r"`([a-z_]+)`")


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    line: int | None = None
    env: str | None = None

    def __str__(self) -> str:
        where = f" (from env {self.env})" if self.env else ""
        at = f" (line {self.line})" if self.line is not None and not self.env else ""
        return f"{self.key}{at}: {self.message}{where}"


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """` (did you mean `jql`?)` for the closest known name, or ""."""
    close = difflib.get_close_matches(name.casefold(), [k.casefold() for k in known], n=1,
                                      cutoff=0.6)
    if not close:
        return ""
    original = next(k for k in known if k.casefold() == close[0])
    return f" (did you mean `{original}`?)"


def secret_fields(model: type[BaseModel]) -> list[str]:
    """Fields of `model` that hold a secret (typed SecretStr, alone or optional)."""
    out = []
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        args = getattr(annotation, "__args__", ())
        if annotation is SecretStr or SecretStr in args:
            out.append(name)
    return out


def _model_at(model: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    current = model
    for part in path:
        info = current.model_fields.get(str(part))
        annotation: Any = info.annotation if info else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    return current


def problems_of(
    exc: ValidationError,
    model: type[BaseModel],
    text: str,
    prefix: tuple[str | int, ...] = (),
    environ: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Each of pydantic's errors for `model` (validated at `prefix` of the file) as a Problem."""
    out: list[Problem] = []
    env_vars = environ if environ is not None else {}
    for err in exc.errors(include_input=False, include_url=False):
        inner = tuple(p for p in err["loc"] if isinstance(p, str | int))
        loc = prefix + inner
        message = str(err["msg"]).removeprefix("Value error, ")
        owner = _model_at(model, inner[:-1]) if inner else None
        secrets = secret_fields(owner) if owner else []
        if err["type"] == "extra_forbidden":
            known = [n for n in owner.model_fields if n != "name"] if owner else []
            kind = "section" if not loc[:-1] else "key"
            message = f"unknown {kind}" + did_you_mean(str(loc[-1]), known)
        elif err["type"] == "missing" and inner and inner[-1] in secrets:
            message = (f"missing; set it in the environment as {env_name(loc)} "
                       "(secrets never go in the file)")
        elif not inner:
            whole = _model_at(model, ())
            named = [n for n in _BACKTICKED.findall(message) if whole and n in secret_fields(whole)]
            if named:
                message += "; secrets come from the environment: " + ", ".join(
                    env_name((*loc, n)) for n in named)
        env = env_setting(loc, env_vars)
        line = None if env else line_of(text, loc)
        out.append(Problem(dotted(loc) or dotted(prefix), message, line, env))
    return out


def config_error(problems: Sequence[Problem], file: Path) -> ConfigError:
    """One error for all the problems: the first as the headline (its key and line), and
    when there are more, every one listed with its own."""
    first = problems[0]
    message = first.message + (f" (from env {first.env})" if first.env else "")
    if len(problems) > 1:
        more = len(problems) - 1
        message += f"; and {more} more problem{'s' if more > 1 else ''}, all of them:"
    return ConfigError(
        message,
        file=str(file),
        key=first.key,
        line=first.line,
        problems=[str(p) for p in problems] if len(problems) > 1 else None,
    )


def problem(key: Sequence[str | int], message: str, text: str,
            environ: Mapping[str, str]) -> Problem:
    env = env_setting(key, environ)
    return Problem(dotted(key), message, None if env else line_of(text, key), env)
