"""Turn the fault matrix results into a Markdown table, optionally spliced into a doc.

    OKRSYNC_FAULT_MATRIX_OUT=/tmp/fm.jsonl pytest -n 2 tests/integration/test_fault_matrix.py
    python scripts/fault_matrix_table.py /tmp/fm.jsonl --into docs/reliability.md

The results file holds one JSON object per line (what the tests append) or one JSON list. With
`--into`, the table replaces whatever sits between the `<!-- fault-matrix:start -->` and
`<!-- fault-matrix:end -->` markers of that file; without it the table goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

START = "<!-- fault-matrix:start -->"
END = "<!-- fault-matrix:end -->"
KIND_ORDER = ("429", "secondary", "500", "502", "503", "slow", "drop", "lost")
KIND_TEXT = {
    "429": "429 + Retry-After",
    "secondary": "GitHub secondary limit",
    "500": "500",
    "502": "502",
    "503": "503",
    "slow": "slow answer (timeout)",
    "drop": "dropped connection",
    "lost": "lost answer (write landed)",
}


def load(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        return []
    if text.startswith("["):
        data = json.loads(text)
        return [dict(x) for x in data]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _order(cell: dict[str, Any]) -> tuple[int, float, int]:
    kind = str(cell["kind"])
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    return rank, float(cell["rate"]), 0 if cell["phase"] == "pull" else 1


def table(cells: list[dict[str, Any]]) -> str:
    """One row per cell, latest result wins when a cell ran more than once. The table is the
    SQLite matrix (all cells); the PostgreSQL subset's lines are left out of it."""
    latest: dict[tuple[str, float, str], dict[str, Any]] = {}
    for cell in cells:
        if cell.get("backend", "sqlite") != "sqlite":
            continue
        latest[(str(cell["kind"]), float(cell["rate"]), str(cell["phase"]))] = cell
    head = (
        "| fault | rate | phase | epics | faults hit | requests | faulty run exit | "
        "pending after | failed sources | rerun applied | converged |\n"
        "|---|---:|---|---:|---:|---:|---:|---:|---|---:|---|\n"
    )
    rows = []
    for cell in sorted(latest.values(), key=_order):
        kind = str(cell["kind"])
        rows.append(
            f"| {KIND_TEXT.get(kind, kind)} | {float(cell['rate']):.0%} | {cell['phase']} | "
            f"{cell.get('epics', '')} | {cell.get('faults_injected', '')} | "
            f"{cell.get('requests', '')} | {cell['exit_code']} | {cell['pending']} | "
            f"{', '.join(cell.get('unhealthy', [])) or '-'} | {cell.get('rerun_applied', '')} | "
            f"{'yes' if cell.get('converged') else 'NO'} |"
        )
    ok = sum(1 for c in latest.values() if c.get("converged"))
    summary = (
        f"\n{ok} of {len(latest)} cells converged to the clean run's end state with no duplicate "
        "label, link or comment.\n"
    )
    return head + "\n".join(rows) + "\n" + summary


def splice(doc: str, body: str) -> str:
    if START not in doc or END not in doc:
        raise SystemExit(f"the document has no {START} ... {END} markers")
    before, rest = doc.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{body}{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="JSON lines written by the fault matrix tests")
    parser.add_argument("--into", type=Path, help="Markdown file with the table markers")
    args = parser.parse_args(argv)
    cells = load(args.results)
    if not cells:
        print(f"{args.results}: no results", file=sys.stderr)
        return 1
    body = table(cells)
    if args.into:
        args.into.write_text(splice(args.into.read_text(encoding="utf-8"), body),
                             encoding="utf-8")
    else:
        sys.stdout.write(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
