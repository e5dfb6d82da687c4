"""The OKR catalog (`okrs.toml`): objectives and key results, validated before anything links.

A link is only as good as the key result it names, so the catalog refuses ambiguity up front:
unique ids (case-insensitively, because labels are compared that way), a named owner on every
objective and key result, a target that differs from the baseline and agrees with the direction.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.cycles import Cycle, current_cycle, overlaps
from core.errors import ConfigError
from core.kr_source import KINDS, KrSource
from core.model import Catalog, Direction, KeyResult, Objective, VerdictSettings
from core.tomlfile import dotted, line_of, read_toml

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"


class _KeyResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    owner: str
    metric: str = Field(min_length=1)
    unit: str = ""
    baseline: float
    target: float
    direction: Direction | None = None
    min_move: float | None = Field(default=None, gt=0)
    source: KrSource | None = None
    checkin: Literal["weekly", "biweekly", "monthly"] = "weekly"

    @field_validator("owner")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("every key result needs a named owner")
        return value.strip()

    @field_validator("baseline", "target")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class _ObjectiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    owner: str
    cycle: str | None = None
    sponsor: str = ""
    key_result: list[_KeyResultIn] = Field(default_factory=list)

    @field_validator("owner")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("every objective needs a named owner")
        return value.strip()


class _VerdictsIn(BaseModel):
    """`[verdicts]`: when a shipped bet is judged and how strictly (docs/verdicts.md)."""

    model_config = ConfigDict(extra="forbid")

    evaluate_after_weeks: int = Field(default=4, ge=1, le=52)
    min_pre: int = Field(default=8, ge=4, le=104)
    min_post: int = Field(default=4, ge=2, le=52)
    min_move_share: float = Field(default=0.1, gt=0, le=1)


class _CycleIn(BaseModel):
    """`[[cycle]]`: one OKR cycle, both days inclusive (docs/config.md, "Cycles")."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    start: date
    end: date
    current: bool = False


_CYCLE_TABLES = "list[_CycleIn]"
"""How pydantic names the `[[cycle]]` branch of `_CatalogIn.cycle` in an error's location."""


class _CatalogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cycle: str | list[_CycleIn] | None = None
    verdicts: _VerdictsIn = _VerdictsIn()
    objective: list[_ObjectiveIn] = Field(default_factory=list)


def load_catalog(path: Path | str, *, today: date | None = None) -> Catalog:
    """Read and validate `okrs.toml`; every problem is listed in one ConfigError. `today`
    (default: the UTC date) decides the current cycle."""
    file = Path(path)
    data, text = read_toml(file, what="OKR catalog", hint="`okrsync init DIR` writes a starter")
    return parse_catalog(data, text, file=str(file), today=today)


def parse_catalog(data: dict[str, Any], text: str = "", *, file: str = "okrs.toml",
                  today: date | None = None) -> Catalog:
    """Validate already-parsed catalog data (`text` is only used to find line numbers)."""
    try:
        parsed = _CatalogIn.model_validate(data)
    except ValidationError as exc:
        problems = []
        # `cycle` is a default cycle id or [[cycle]] tables: report only the form written
        wrong_form = "str" if isinstance(data.get("cycle"), list) else _CYCLE_TABLES
        for err in exc.errors(include_input=False, include_url=False):
            if tuple(err["loc"][:2]) == ("cycle", wrong_form):
                continue
            loc = tuple(p for p in err["loc"] if isinstance(p, str | int) and p not in KINDS
                        and (p not in ("str", _CYCLE_TABLES) or err["loc"][0] != "cycle"))
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            problems.append((loc, msg))
        raise _error(problems, file, text) from None

    problems_: list[tuple[tuple[str | int, ...], str]] = []
    cycles = _cycles(parsed.cycle, problems_)
    default_cycle = parsed.cycle if isinstance(parsed.cycle, str) else None
    seen: dict[str, tuple[str | int, ...]] = {}
    objectives: list[Objective] = []
    key_results: list[KeyResult] = []
    if not parsed.objective:
        problems_.append((("objective",), "the catalog has no [[objective]]"))
    for i, obj in enumerate(parsed.objective):
        here: tuple[str | int, ...] = ("objective", i)
        _unique(obj.id, here, seen, problems_)
        cycle = obj.cycle or default_cycle
        if not cycle:
            msg = (f"objective {obj.id} has no cycle (name one of the [[cycle]] ids)" if cycles
                   else f"objective {obj.id} has no cycle (set it, or a top-level cycle)")
            problems_.append(((*here, "cycle"), msg))
        elif cycles and not any(c.id == cycle for c in cycles):
            msg = (f"objective {obj.id} names unknown cycle {cycle!r} (cycles: "
                   f"{', '.join(c.id for c in cycles)})")
            problems_.append(((*here, "cycle"), msg))
        if not obj.key_result:
            problems_.append((here, f"objective {obj.id} has no [[objective.key_result]]"))
        objectives.append(Objective(obj.id, obj.title, obj.owner, cycle or "",
                                    sponsor=obj.sponsor.strip()))
        for j, kr in enumerate(obj.key_result):
            at: tuple[str | int, ...] = (*here, "key_result", j)
            _unique(kr.id, at, seen, problems_)
            direction = kr.direction
            if kr.target == kr.baseline:
                problems_.append(((*at, "target"), f"{kr.id}: target equals baseline"))
            elif direction is None:
                direction = Direction.UP if kr.target > kr.baseline else Direction.DOWN
            elif (direction is Direction.UP) != (kr.target > kr.baseline):
                problems_.append(
                    (
                        (*at, "direction"),
                        f"{kr.id}: direction {direction.value} but target {kr.target:g} is "
                        f"{'below' if kr.target < kr.baseline else 'above'} baseline "
                        f"{kr.baseline:g}",
                    )
                )
            key_results.append(
                KeyResult(
                    id=kr.id,
                    objective_id=obj.id,
                    title=kr.title,
                    owner=kr.owner,
                    metric=kr.metric,
                    unit=kr.unit,
                    baseline=kr.baseline,
                    target=kr.target,
                    direction=direction or Direction.UP,
                    min_move=kr.min_move,
                    source=kr.source,
                    checkin=kr.checkin,
                )
            )
    if problems_:
        raise _error(problems_, file, text)
    v = parsed.verdicts
    settings = VerdictSettings(evaluate_after_weeks=v.evaluate_after_weeks, min_pre=v.min_pre,
                               min_post=v.min_post, min_move_share=v.min_move_share)
    current = current_cycle(cycles, today or datetime.now(UTC).date())
    return Catalog(objectives=tuple(objectives), key_results=tuple(key_results),
                   verdicts=settings, cycles=tuple(cycles),
                   current_cycle=current.id if current is not None else None)


def _cycles(raw: str | list[_CycleIn] | None,
            problems: list[tuple[tuple[str | int, ...], str]]) -> list[Cycle]:
    """The `[[cycle]]` tables, checked: unique ids, start before end, no two sharing a day,
    at most one marked current."""
    if not isinstance(raw, list):
        return []
    cycles: list[Cycle] = []
    seen: dict[str, tuple[str | int, ...]] = {}
    where: dict[str, int] = {}
    for i, table in enumerate(raw):
        at: tuple[str | int, ...] = ("cycle", i)
        _unique(table.id, at, seen, problems)
        if table.end < table.start:
            problems.append(((*at, "end"), f"cycle {table.id} ends ({table.end}) before it "
                             f"starts ({table.start})"))
        where.setdefault(table.id, i)
        cycles.append(Cycle(table.id, table.start, table.end, table.current))
    for first, second in overlaps(cycles):
        problems.append((("cycle", where[second.id], "start"),
                         f"cycles {first.id} ({first.start} – {first.end}) and {second.id} "
                         f"({second.start} – {second.end}) overlap; a day belongs to one cycle"))
    marked = [i for i, c in enumerate(cycles) if c.current]
    if len(marked) > 1:
        names = ", ".join(cycles[i].id for i in marked)
        problems.append((("cycle", marked[1], "current"),
                         f"more than one cycle is marked current ({names}); mark only the one "
                         "you are rolling over to"))
    return cycles


def _unique(
    ident: str,
    at: tuple[str | int, ...],
    seen: dict[str, tuple[str | int, ...]],
    problems: list[tuple[tuple[str | int, ...], str]],
) -> None:
    folded = ident.casefold()
    if folded in seen:
        msg = f"duplicate id {ident!r} (first used at {dotted(seen[folded])})"
        problems.append(((*at, "id"), msg))
    else:
        seen[folded] = at


def _error(problems: list[tuple[tuple[str | int, ...], str]], file: str, text: str) -> ConfigError:
    loc, msg = problems[0]
    listed = [f"{dotted(p)}: {m}" for p, m in problems]
    return ConfigError(
        msg,
        file=file,
        key=dotted(loc),
        line=line_of(text, loc) if text else None,
        problems=listed if len(listed) > 1 else None,
    )




def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else f"{value:.6g}"


def kr_target_text(kr: KeyResult) -> str:
    """What goal links show: `40 → 60 %` (baseline → target, then the unit)."""
    text = f"{_number(kr.baseline)} → {_number(kr.target)}"
    return f"{text} {kr.unit}" if kr.unit else text
