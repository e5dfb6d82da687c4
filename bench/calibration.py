"""How often the bet verdict is right, on simulated key-result series.

    python bench/calibration.py [--series 1000] [--seed 7] [--smoke] [--json FILE]

Each family of weekly series (white noise; noise on a linear trend; AR(1) noise, ρ = 0.5) is
drawn `--series` times in three scenarios, and every series is judged by
`syncer.verdicts.judge` exactly as a shipped bet would be:

- no effect: the KR keeps its pre-ship course (MOVED should be rare: ≤ 5 %);
- true effect of 2δ: the KR steps up by twice its smallest meaningful change at the ship
  date (MOVED should be common: ≥ 80 %);
- too few points: fewer weekly points before shipping than `min_pre` (INSUFFICIENT_DATA always).

The noise's standard deviation is δ / `--snr` (default 4: a week's noise is a quarter of the
change that matters). A sweep over smaller ratios shows where the method runs out of power.
Figures are printed (a confusion table per family) and written to `--json`; nothing is asserted
on them here. `--smoke` draws a handful of series so the test suite keeps this script working.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.model import Direction  # noqa: E402
from syncer.verdicts import BetFacts, Outcome, Point, VerdictSettings, judge  # noqa: E402

SHIP = datetime(2026, 6, 3, 12, tzinfo=UTC)
DELTA = 2.0
PRE = 12


@dataclass(frozen=True)
class Family:
    name: str
    trend: float
    rho: float


FAMILIES = (Family("noise", 0.0, 0.0), Family("trend", 0.3, 0.0), Family("ar1", 0.0, 0.5))
SCENARIOS = ("no effect", "effect 2δ", "too few points")


def simulate(rng: np.random.Generator, family: Family, *, effect: float, pre: int,
             sigma: float, settings: VerdictSettings) -> list[Point]:
    """One weekly series: `pre` points before the ship date, the window after it."""
    n = pre + settings.evaluate_after_weeks + 1
    noise = np.empty(n)
    prev = 0.0
    scale = sigma * np.sqrt(1 - family.rho ** 2)
    for i in range(n):
        prev = family.rho * prev + rng.normal(0.0, scale)
        noise[i] = prev
    return [
        Point(SHIP + timedelta(weeks=i - pre, hours=6),
              40.0 + family.trend * i + noise[i] + (effect if i >= pre else 0.0))
        for i in range(n)
    ]


def run_cell(rng: np.random.Generator, family: Family, scenario: str, series: int,
             sigma: float, settings: VerdictSettings) -> Counter[str]:
    effect = 2 * DELTA if scenario == "effect 2δ" else 0.0
    pre = settings.min_pre - 3 if scenario == "too few points" else PRE
    now = SHIP + timedelta(weeks=settings.evaluate_after_weeks + 1)
    counts: Counter[str] = Counter()
    for _ in range(series):
        points = simulate(rng, family, effect=effect, pre=pre, sigma=sigma, settings=settings)
        verdict = judge(BetFacts("bench", False, SHIP), points, direction=Direction.UP,
                        delta=DELTA, now=now, settings=settings)
        counts[verdict.outcome.value] += 1
    return counts


def table(title: str, rows: dict[str, Counter[str]], series: int) -> str:
    cols = [o.value for o in Outcome if o is not Outcome.KILLED]
    short = {"MOVED": "moved", "MOVED_WRONG_WAY": "wrong way", "NO_EFFECT": "no effect",
             "INCONCLUSIVE": "inconcl.", "INSUFFICIENT_DATA": "insuff."}
    lines = [title, f"{'true scenario':<16}" + "".join(f"{short[c]:>11}" for c in cols)]
    for name, counts in rows.items():
        lines.append(f"{name:<16}" + "".join(
            f"{100 * counts.get(c, 0) / series:>10.1f}%" for c in cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--snr", type=float, default=4.0, help="δ / noise standard deviation")
    parser.add_argument("--smoke", action="store_true", help="a few series per cell")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    series = 4 if args.smoke else args.series
    settings = VerdictSettings()
    rng = np.random.default_rng(args.seed)
    sigma = DELTA / args.snr
    print(f"{series} series per cell; δ = {DELTA:g}, noise σ = {sigma:g} (δ/σ = {args.snr:g}); "
          f"{PRE} weekly points before shipping, {settings.evaluate_after_weeks}-week window")
    started = time.perf_counter()
    results: dict[str, Any] = {"series": series, "delta": DELTA, "sigma": sigma, "families": {}}
    for family in FAMILIES:
        rows = {s: run_cell(rng, family, s, series, sigma, settings) for s in SCENARIOS}
        print()
        print(table(f"{family.name} (trend {family.trend:g}/week, ρ = {family.rho:g})", rows,
                    series))
        results["families"][family.name] = {s: dict(c) for s, c in rows.items()}
    sweep: dict[str, float] = {}
    if not args.smoke:
        print("\npower sweep (ar1, effect 2δ): share MOVED by δ/σ")
        for snr in (1.0, 2.0, 3.0, 4.0, 6.0):
            counts = run_cell(rng, FAMILIES[2], "effect 2δ", series // 4, DELTA / snr, settings)
            sweep[f"{snr:g}"] = counts.get("MOVED", 0) / (series // 4)
            print(f"  δ/σ = {snr:<4g} MOVED {100 * sweep[f'{snr:g}']:.1f}%")
    results["power_sweep_ar1"] = sweep
    elapsed = time.perf_counter() - started
    fits = sum(sum(c.values()) for f in results["families"].values() for c in f.values())
    print(f"\n{fits} verdicts in {elapsed:.1f} s ({1000 * elapsed / max(fits, 1):.1f} ms each)")
    results["elapsed_s"] = round(elapsed, 2)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
