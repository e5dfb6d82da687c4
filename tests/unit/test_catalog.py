"""OKR catalog: parsing, validation with file/key/line, target text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from core.model import Direction, KeyResult, find_kr
from syncer.catalog import kr_target_text, load_catalog
from tests.helpers.config_helpers import CATALOG_TOML, write


def _load(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path / "okrs.toml", text)
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    assert info.value.file == str(path)
    return info.value


def test_loads_objectives_and_key_results(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path / "okrs.toml", CATALOG_TOML))
    assert [o.id for o in catalog.objectives] == ["O1", "O2"]
    assert [k.id for k in catalog.key_results] == ["KR-1", "KR-2", "KR-3"]
    kr1 = catalog.kr("KR-1")
    assert kr1 is not None
    assert (kr1.objective_id, kr1.owner, kr1.baseline, kr1.target) == ("O1", "Dana Lee", 40, 60)
    assert catalog.objectives[0].cycle == "2026-Q4"  # from the top-level default
    kr2 = catalog.kr("KR-2")
    assert kr2 is not None and kr2.direction is Direction.DOWN  # inferred: 12 -> 5


def test_starter_catalog_is_valid() -> None:
    from syncer.commands.init import starter_text

    text = starter_text("okrs.toml")
    import tomllib

    from syncer.catalog import parse_catalog

    catalog = parse_catalog(tomllib.loads(text), text)
    assert len(catalog.key_results) >= 2


def test_duplicate_kr_id_across_objectives_is_case_insensitive(tmp_path: Path) -> None:
    text = CATALOG_TOML.replace('id = "KR-3"', 'id = "kr-1"')
    err = _load(tmp_path, text)
    assert err.key == "objective[1].key_result[0].id"
    assert "kr-1" in err.message and "objective[0].key_result[0]" in err.message
    assert err.line == text.splitlines().index('  id = "kr-1"') + 1


def test_objective_and_kr_ids_share_one_namespace(tmp_path: Path) -> None:
    err = _load(tmp_path, CATALOG_TOML.replace('id = "O2"', 'id = "KR-2"'))
    assert err.key == "objective[1].id"


def test_kr_needs_a_named_owner(tmp_path: Path) -> None:
    text = CATALOG_TOML.replace('owner = "Sam Ortiz"', 'owner = "  "')
    err = _load(tmp_path, text)
    assert err.key == "objective[0].key_result[1].owner"
    assert "owner" in err.message
    assert err.line == text.splitlines().index('  owner = "  "') + 1


def test_missing_owner(tmp_path: Path) -> None:
    err = _load(tmp_path, CATALOG_TOML.replace('  owner = "Lee Park"\n', ""))
    assert err.key == "objective[1].key_result[0].owner"


def test_target_must_differ_from_baseline(tmp_path: Path) -> None:
    err = _load(tmp_path, CATALOG_TOML.replace("target = 60", "target = 40"))
    assert err.key == "objective[0].key_result[0].target"
    assert "baseline" in err.message


def test_direction_must_agree_with_target(tmp_path: Path) -> None:
    err = _load(tmp_path, CATALOG_TOML.replace('direction = "down"', 'direction = "up"'))
    assert err.key == "objective[1].key_result[0].direction"


def test_direction_must_be_up_or_down(tmp_path: Path) -> None:
    err = _load(tmp_path, CATALOG_TOML.replace('direction = "down"', 'direction = "sideways"'))
    assert err.key == "objective[1].key_result[0].direction"


def test_cycle_is_required_somewhere(tmp_path: Path) -> None:
    err = _load(tmp_path, CATALOG_TOML.replace('cycle = "2026-Q4"\n', ""))
    assert err.key == "objective[0].cycle"
    assert len(err.problems) == 2  # both objectives are reported at once


def test_unknown_key_and_bad_id(tmp_path: Path) -> None:
    err = _load(tmp_path, CATALOG_TOML.replace('unit = "%"', 'unit = "%"\ntargt = 3'))
    assert err.key == "objective[0].key_result[0].targt"
    assert err.message == "unknown key"
    err = _load(tmp_path, CATALOG_TOML.replace('id = "KR-1"', 'id = "KR 1"'))
    assert err.key == "objective[0].key_result[0].id"


def test_empty_catalog_and_objective_without_krs(tmp_path: Path) -> None:
    assert _load(tmp_path, 'cycle = "Q"\n').key == "objective"
    err = _load(tmp_path, '[[objective]]\nid = "O"\ntitle = "t"\nowner = "o"\ncycle = "Q"\n')
    assert err.key == "objective[0]" and err.line == 1


def test_malformed_toml(tmp_path: Path) -> None:
    err = _load(tmp_path, CATALOG_TOML.replace("baseline = 40", "baseline = 40 40"))
    assert err.line == CATALOG_TOML.splitlines().index("  baseline = 40") + 1


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_catalog(tmp_path / "nope.toml")
    assert "not found" in info.value.message


def test_find_kr_is_case_insensitive_and_returns_catalog_spelling(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path / "okrs.toml", CATALOG_TOML))
    kr = find_kr(catalog, "kr-3")
    assert kr is not None and kr.id == "KR-3"
    assert find_kr(catalog, "KR-9") is None


def _kr(baseline: float, target: float, unit: str) -> KeyResult:
    return KeyResult("K", "O", "t", "o", "m", unit, baseline, target)


def test_kr_target_text() -> None:
    assert kr_target_text(_kr(40, 60, "%")) == "40 → 60 %"
    assert kr_target_text(_kr(0.5, 1.25, "s")) == "0.5 → 1.25 s"
    assert kr_target_text(_kr(12, 5, "")) == "12 → 5"


@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
def test_kr_target_text_never_crashes(baseline: float, target: float, unit: str) -> None:
    text = kr_target_text(_kr(baseline, target, unit))
    assert " → " in text and text.endswith(unit)
