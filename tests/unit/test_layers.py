"""The architecture's two mechanical rules, checked on the source: time comes only through
`core.clock`, and the packages form layers without circles (docs/architecture.md)."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "mappings", "connectors", "sandbox", "syncer")
ALLOWED = {
    "core": set(),
    "mappings": {"core"},
    "connectors": {"core"},
    # The fake trackers reuse the real connectors' pure pacing and limit helpers.
    "sandbox": {"core", "connectors"},
    "syncer": {"core", "mappings", "connectors", "sandbox"},
}
CLOCK_CALLS = {
    ("time", "time"), ("time", "monotonic"), ("time", "sleep"), ("time", "perf_counter"),
    ("time", "time_ns"), ("time", "monotonic_ns"), ("asyncio", "sleep"), ("datetime", "now"),
    ("datetime", "utcnow"), ("date", "today"),
}
SEAM = Path("core/clock.py")


def modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def direct_clock_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """`time.time`, `datetime.now`, `asyncio.sleep` ... read or called, and the same names
    imported bare (`from time import sleep`)."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in CLOCK_CALLS):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
        if isinstance(node, ast.ImportFrom) and node.module in ("time", "asyncio"):
            found.extend((node.lineno, f"from {node.module} import {alias.name}")
                         for alias in node.names if (node.module, alias.name) in CLOCK_CALLS)
    return found


def test_the_scan_finds_every_form_of_a_direct_clock_call() -> None:
    source = ("import time, asyncio\nfrom datetime import datetime\nfrom time import sleep\n"
              "a = time.time()\nb = datetime.now()\nf = time.monotonic\n"
              "async def g():\n    await asyncio.sleep(1)\n")
    found = sorted(what for _, what in direct_clock_uses(ast.parse(source)))
    assert found == ["asyncio.sleep", "datetime.now", "from time import sleep",
                     "time.monotonic", "time.time"]


def test_product_code_reads_time_only_through_the_clock_seam() -> None:
    offenders = []
    for package in PACKAGES:
        for path in modules(package):
            rel = path.relative_to(ROOT)
            if rel == SEAM:
                continue
            offenders.extend(f"{rel}:{line}: {what}"
                             for line, what in direct_clock_uses(ast.parse(path.read_text())))
    assert not offenders, "take a core.clock.Clock instead:\n" + "\n".join(offenders)


def imported_packages(path: Path, package: str) -> set[str]:
    """Our top-level packages `path` imports (relative imports stay inside `package`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [package] if node.level else [node.module or ""]
        found.update(n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES)
    return found - {package}


@functools.cache
def package_graph() -> dict[str, frozenset[str]]:
    """Parsed once per test process: every package's imports."""
    return {package: frozenset().union(*(imported_packages(p, package)
                                         for p in modules(package)))
            for package in PACKAGES}


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_the_layers_below_it(package: str) -> None:
    imports = package_graph()[package]
    assert imports <= ALLOWED[package], (
        f"{package} imports {sorted(imports - ALLOWED[package])}, outside its layer")


def find_circle(graph: Mapping[str, AbstractSet[str]]) -> tuple[str, ...] | None:
    """A path that comes back to where it started, or None when the graph has none."""
    done: set[str] = set()

    def visit(node: str, trail: tuple[str, ...]) -> tuple[str, ...] | None:
        if node in trail:
            return (*trail, node)
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            circle = visit(target, (*trail, node))
            if circle:
                return circle
        done.add(node)
        return None

    return next((c for c in (visit(n, ()) for n in sorted(graph)) if c), None)


def test_there_is_no_import_circle_between_packages() -> None:
    circle = find_circle(package_graph())
    assert circle is None, "import circle: " + " -> ".join(circle or ())


def test_the_circle_check_sees_a_circle() -> None:
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ("a", "b", "c", "a")
    assert find_circle({"a": {"b"}, "b": set(), "c": {"b"}}) is None
