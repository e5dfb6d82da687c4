"""How `OKRSYNC_*` environment variables map onto settings, and which ones okrsync never reads.

Any setting can come from the environment as `OKRSYNC_` + its dotted path joined by `__`
(`OKRSYNC_STORE__PATH`, `OKRSYNC_SOURCES__JIRA__TOKEN`). A variable that looks like a setting
but matches none (`OKRSYNC_STORE_PATH`) used to be ignored without a word, which put a store
in the wrong place; here it is a config error with the name that was probably meant.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any, get_args, get_origin

ENV_PREFIX = "OKRSYNC_"

OTHER_VARIABLES = {
    "OKRSYNC_CONFIG": "the config file to read (instead of ./okrsync.toml)",
    "OKRSYNC_TRACEBACK": "print the traceback of an unexpected error",
    "OKRSYNC_SANDBOX_TOKEN": "the token `okrsync demo` gives its sandboxes",
    "OKRSYNC_FAULT_MATRIX_OUT": "where the fault-matrix test writes its table",
    "OKRSYNC_TEST_WORKERS": "pytest workers for scripts/check",
    "OKRSYNC_CI_VENV": "the virtualenv .ci/run creates",
    "OKRSYNC_SCREENSHOTS": "where the dashboard's Chromium test saves its screenshots",
}
"""Variables okrsync's commands and scripts read that are not settings."""


def env_name(loc: Sequence[str | int]) -> str:
    """The variable that sets the setting at `loc`: ("sources", "jira", "token") ->
    OKRSYNC_SOURCES__JIRA__TOKEN."""
    return (ENV_PREFIX + "__".join(str(p) for p in loc)).upper()


def env_setting(loc: Sequence[str | int], environ: Mapping[str, str]) -> str | None:
    """The variable that did set `loc`, if one did (names are case-insensitive)."""
    wanted = env_name(loc)
    return next((name for name in environ if name.upper() == wanted), None)


def is_list_field(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(get_origin(arg) is list for arg in get_args(annotation))


def env_list(value: Any) -> Any:
    """A list given as text, as environment variables give it: a JSON array, or items
    separated by commas (`a@x.com,b@y.com`). Anything else is left to the field's validation."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            return value
    return [item.strip() for item in text.split(",") if item.strip()]


def unknown_variables(
    environ: Mapping[str, str], sections: Collection[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """(errors, warnings) for `OKRSYNC_*` variables that set nothing. An error is a variable
    that starts with a section's name but not as `OKRSYNC_<SECTION>__KEY` (a typo'd setting,
    given as (variable, message)); any other unknown variable is a warning. Unknown keys under
    a real section are left to validation, which names the key."""
    known_sections = {s.upper() for s in sections}
    errors: list[tuple[str, str]] = []
    warnings: list[str] = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in OTHER_VARIABLES:
            continue
        rest = upper[len(ENV_PREFIX):]
        head, sep, _ = rest.partition("__")
        if head in known_sections and (sep or rest == head):
            continue
        meant = _meant(rest, known_sections)
        if meant:
            errors.append((name, f"not a variable okrsync reads; did you mean {meant}? (a "
                                 "setting's variable is OKRSYNC_ + its dotted key joined by __)"))
        else:
            warnings.append(f"environment variable {name} is not a setting okrsync reads")
    return errors, warnings


def _meant(rest: str, sections: Collection[str]) -> str | None:
    """`STORE_PATH` -> OKRSYNC_STORE__PATH; `SOURCES_JIRA_TOKEN` -> OKRSYNC_SOURCES__JIRA__TOKEN;
    `SMPT__HOST` -> OKRSYNC_SMTP__HOST."""
    for section in sorted(sections, key=len, reverse=True):
        if rest.startswith(section + "_") and not rest.startswith(section + "__"):
            tail = rest[len(section) + 1:].lstrip("_")
            if section == "SOURCES" and "_" in tail and "__" not in tail:
                name, _, key = tail.partition("_")
                tail = f"{name}__{key}"
            return f"{ENV_PREFIX}{section}__{tail}"
    head, sep, tail = rest.partition("__")
    close = difflib.get_close_matches(head, list(sections), n=1, cutoff=0.75)
    if close and sep:
        return f"{ENV_PREFIX}{close[0]}__{tail}"
    return None
