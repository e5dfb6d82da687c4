"""How much the suggester's leave-one-out figures vary with the generated organisation's seed,
and how far each is from what any text-only suggester could reach on it.

For each seed and organisation this builds the store as `bench/suggest.py` does and prints
`okrsync suggest --evaluate`'s figures (in-process, the same code) at `[suggest]
min_confidence`, and the **ceiling**: precision@1 at 60 % coverage of an oracle that is told
each linked epic's theme (which the generator drew) and answers the themes whose usual KR is
most often right first, with that KR. With an epic's labels hidden, nothing a person wrote
tells two KRs of one theme apart (the generator draws the deciding label independently of
the title), so no suggester can beat that ceiling at 60 % coverage; the oracle even counts
each theme's usual KR from the very epics it is scored on, an advantage a real one lacks.

Organisations: `demo` and `paraphrased` as in `bench/suggest.py`; `story` is the
organisation `okrsync demo` builds (`generate(..., story=True)`: explicit `okr:` labels name
a KR of the epic's own theme instead of any KR, and no hostile titles); `story-paraphrased`
is that organisation with its titles and descriptions reworded as `paraphrased` rewords
`demo`'s.

    python bench/suggest_seeds.py                    # 300 epics, seeds 1-5 and 7
    python bench/suggest_seeds.py --smoke            # 120 epics, seed 1: keeps it working
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import paraphrase_org  # noqa: E402
import suggest as bench  # noqa: E402

from core.model import Ticket  # noqa: E402
from sandbox.data import THEMES, generate  # noqa: E402

COVERAGE = 0.6
_THEME_OF = {phrase.casefold(): theme for theme, (_, _, _, things) in THEMES.items()
             for thing in things for phrase in (thing, *paraphrase_org.PARAPHRASES[thing])}


def story_org(epics: int, seed: int) -> dict[str, Any]:
    return generate(epics, seed, story=True)


def story_paraphrased(epics: int, seed: int) -> dict[str, Any]:
    return paraphrase_org.paraphrased(epics, seed, story=True)


ORGS = {**bench.ORGS, "story": story_org, "story-paraphrased": story_paraphrased}


def theme_of(ticket: Ticket) -> str:
    """The generator's theme of an epic, from the thing its title or description names."""
    text = f"{ticket.title} {ticket.description}".casefold()
    return next((theme for phrase, theme in _THEME_OF.items() if phrase in text), "")


def ceiling(pairs: list[tuple[str, str]], coverage: float = COVERAGE) -> float | None:
    """precision@1 at `coverage` of the oracle over (theme, KR) pairs."""
    by_theme: dict[str, Counter[str]] = defaultdict(Counter)
    for theme, kr in pairs:
        by_theme[theme][kr] += 1
    groups = sorted(((c.most_common(1)[0][1], c.total()) for c in by_theme.values()),
                    key=lambda g: -g[0] / g[1])
    need, hits, count = coverage * len(pairs), 0.0, 0.0
    for right, total in groups:
        take = min(total, need - count)
        hits, count = hits + right * take / total, count + take
        if count >= need:
            return round(hits / count, 3)
    return None


def measure(org: str, epics: int, seed: int) -> dict[str, Any]:
    from mappings.rules import suggest_krs
    from mappings.suggest.evaluate import evaluate
    from syncer import suggestions as sg
    from syncer.config import load_config
    from syncer.inputs import resolve_inputs
    from syncer.store import Store

    bench.ORGS.setdefault(org, ORGS[org])
    with tempfile.TemporaryDirectory(prefix="okrsync-bench-seeds-") as tmp:
        cfg_path, _ = bench.build(Path(tmp), org, epics, seed)
        cfg = load_config(cfg_path)
        inputs = resolve_inputs(cfg)
        with Store.open(cfg.store_target) as store:
            model = sg.learn(store, inputs.catalog, cfg)

    def old(ticket: Ticket) -> list[str]:
        return [k for k, _ in suggest_krs(ticket, inputs.rules, inputs.catalog)]

    result = evaluate(model, min_confidence=cfg.suggest.min_confidence, old_method=old)
    figures = result.to_json()["overall"]["learned"]
    previous = result.to_json()["overall"]["previous"]
    pairs = [(theme_of(e.ticket), e.kr_id) for e in model.examples]
    return {"org": org, "seed": seed, "generated": epics, **figures, "ceiling": ceiling(pairs),
            "previous": previous,
            "meets": bool((figures["precision_at_1"] or 0) >= 0.7
                          and (figures["coverage"] or 0) >= COVERAGE)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epics", type=int, default=300)
    parser.add_argument("--seeds", default="1,2,3,4,5,7")
    parser.add_argument("--org", choices=sorted(ORGS), action="append")
    parser.add_argument("--smoke", action="store_true", help="120 epics, seed 1, for CI")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    epics = 120 if args.smoke else args.epics
    seeds = [1] if args.smoke else [int(s) for s in args.seeds.split(",")]
    results = [measure(org, epics, seed) for seed in seeds for org in (args.org or sorted(ORGS))]
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"suggest --evaluate by seed ({epics} epics)")
    for col in ("seed", "org", "linked", "p@1", "p@3", "cover", "ceiling p@1", "bar met",
                "before: p@1", "cover"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(str(r["seed"]), r["org"], str(r["epics"]), str(r["precision_at_1"]),
                      str(r["precision_at_3"]), str(r["coverage"]),
                      str(r["ceiling"]), "yes" if r["meets"] else "no",
                      str(r["previous"]["precision_at_1"]), str(r["previous"]["coverage"]))
    Console(width=120).print(table)
    if args.json:
        args.json.write_text(json.dumps({"results": results}, indent=2))


if __name__ == "__main__":
    main()
