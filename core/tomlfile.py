"""Reading okrsync's TOML files so every problem can name the file, the key and the line.

Config, catalog and rules all need the same two things: a decode error turned into a
`ConfigError` with the line tomllib reports, and a way back from a validation error's key path
(`objective[2].key_result[0].owner`, `sources.jira.max_retries`) to a line in the raw text.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import ConfigError

_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.\-]+)\s*=""")

KeyPath = Sequence[str | int]


MAX_INPUT_BYTES = 16 * 1024 * 1024
"""Largest config, catalog or rules file read: far above any real one, and a path to
`/dev/zero` or a log file is an error instead of a read until memory runs out."""


def read_toml(path: Path, *, what: str, hint: str = "") -> tuple[dict[str, Any], str]:
    """Read and parse `path`; return (data, raw text). Errors name the file and the line."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_INPUT_BYTES + 1)
        if len(raw) > MAX_INPUT_BYTES:
            raise ConfigError(
                f"{what} is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB; is this the "
                "right file?", file=str(path))
        text = raw.decode("utf-8").replace("\r\n", "\n")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=str(path), hint=hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what}: {type(exc).__name__}", file=str(path)) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        found = _AT_LINE.search(msg)
        line = int(found.group(1)) if found else None
        detail = _AT_LINE.sub("", msg).strip()
        if found:
            detail += f" (column {found.group(2)})"
        raise ConfigError(f"malformed TOML: {detail}", file=str(path), line=line) from None


def dotted(loc: KeyPath) -> str:
    """`("objective", 2, "owner")` -> `objective[2].owner`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        return name[1:-1]
    return name


def _split_name(name: str) -> list[str]:
    parts = re.findall(r""""[^"]*"|'[^']*'|[^.]+""", name)
    return [_unquote(p) for p in parts if p.strip()]


def key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Map every table header and key in `text` to its 1-based line, as key paths.

    Arrays of tables get their index: the third `[[objective]]` is `("objective", 2)`. This is
    a line finder for messages, not a parser: inline tables and multi-line values are skipped.
    """
    found: dict[tuple[str | int, ...], int] = {}
    counters: dict[tuple[str | int, ...], int] = {}
    current: tuple[str | int, ...] = ()
    in_multiline = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_multiline = False
            continue
        header = _HEADER.match(line)
        if header:
            is_array = header.group(1) == "[["
            parts = _split_name(header.group(2))
            resolved: list[str | int] = []
            for i, part in enumerate(parts):
                resolved.append(part)
                last = i == len(parts) - 1
                if last and is_array:
                    index = counters.get(tuple(resolved), -1) + 1
                    counters[tuple(resolved)] = index
                    for key in [k for k in counters if k[: len(resolved)] == tuple(resolved)]:
                        if len(key) > len(resolved):
                            del counters[key]
                    resolved.append(index)
                elif not last and tuple(resolved) in counters:
                    resolved.append(counters[tuple(resolved)])
            current = tuple(resolved)
            found.setdefault(current, lineno)
            continue
        assignment = _KEY.match(line)
        if assignment:
            path = current + tuple(_split_name(assignment.group(1)))
            found.setdefault(path, lineno)
            rest = line[assignment.end() :]
            if rest.count('"""') == 1 or rest.count("'''") == 1:
                in_multiline = True
    return found


def line_of(text: str, loc: KeyPath) -> int | None:
    """The line of `loc` in `text`, or of its closest enclosing table; None if unknown."""
    lines = key_lines(text)
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None
