"""`okrsync suggest` (key results for untraceable epics, rules from them, their evaluation) and
`okrsync accept` (a person's answer to a suggestion)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from core.clock import SYSTEM
from core.errors import UserError
from syncer.cli import app
from syncer.commands.explain import _clean

_CONFIG = typer.Option(
    None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
)


def _open(config: Path | None) -> tuple[Any, Any, Any, Any]:
    from syncer.config import load_config
    from syncer.inputs import resolve_inputs
    from syncer.store import Store, store_exists

    cfg = load_config(config)
    if not store_exists(cfg.store_target):
        raise UserError(f"no store at {cfg.store_path} yet", hint="run `okrsync sync` first")
    inputs = resolve_inputs(cfg)
    store = Store.open(cfg.store_target, busy_timeout=cfg.store_busy_timeout)
    return cfg, inputs.catalog, inputs.rules, store


def suggestion_json(s: Any) -> dict[str, Any]:
    return {
        "source": s.ticket.source, "key": s.ticket.key, "title": s.ticket.title,
        "team": s.team, "kr_id": s.kr_id, "confidence": s.confidence, "label": s.label,
        "ranked": [{"kr_id": k, "confidence": c}
                   for k, c in zip(s.ranked.kr_ids, s.ranked.confidences, strict=True)],
        "nearest": [{"source": n.source, "key": n.key, "title": n.title,
                     "similarity": n.similarity} for n in s.evidence.neighbours],
        "words": list(s.evidence.words), "near_miss": s.near_miss,
    }


@app.command("suggest")
def suggest_command(
    team: str | None = typer.Option(None, "--team", help="Only epics of this team."),
    source: str | None = typer.Option(None, "--source", help="Only epics of this source."),
    rules: bool = typer.Option(False, "--rules", help="Print [[rule]] TOML that would link "
                               "groups of untraceable epics sharing a label/project/component."),
    evaluate: bool = typer.Option(False, "--evaluate", help="Leave-one-out on the linked "
                                  "epics: precision@1, precision@3, coverage, old vs new."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = _CONFIG,
) -> None:
    """Suggest a key result for each untraceable epic, learned from the epics already linked,
    with the evidence to check and the exact label to add. Below `[suggest] min_confidence`
    okrsync abstains."""
    from syncer import suggestions as sg

    cfg, catalog, ruleset, store = _open(config)
    with store:
        if team is not None and team not in cfg.teams:
            raise UserError(f"unknown team {team!r} (configured: {', '.join(cfg.teams)})",
                            key="--team")
        if source is not None and source not in cfg.sources:
            raise UserError(f"unknown source {source!r}", key="--source")
        if evaluate:
            _evaluate(sg.learn(store, catalog, cfg), cfg, catalog, ruleset, as_json)
            return
        model, tickets, found = sg.suggest_untraceable(store, catalog, cfg, ruleset, team=team,
                                                       source=source)
        if rules:
            _rules(found, store.tickets(), cfg, catalog, ruleset, as_json,
                   sg.leaning(model, tickets, cfg))
            return
    if as_json:
        typer.echo(json.dumps({"min_confidence": cfg.suggest.min_confidence,
                               "untraceable": len(tickets),
                               "suggestions": [suggestion_json(s) for s in found]}, indent=2))
        return
    console = Console(highlight=False, width=min(Console().width, 80))
    table = Table(title=f"{len(found)} of {len(tickets)} untraceable epics have a suggestion "
                  f"(confidence ≥ {cfg.suggest.min_confidence:.2f})", title_justify="left")
    for col in ("epic", "label to add", "why"):
        table.add_column(col, overflow="fold")
    for s in found:
        table.add_row(Text(_clean(f"{s.ticket.key} {s.ticket.title}")), Text(s.label),
                      Text(_clean(s.why())))
    console.print(table)
    console.print("Accept one with `okrsync accept KEY KR-ID` (or --reject).", markup=False)


def _evaluate(model: Any, cfg: Any, catalog: Any, ruleset: Any, as_json: bool) -> None:
    from mappings.rules import suggest_krs
    from mappings.suggest.evaluate import evaluate

    def old(ticket: Any) -> list[str]:
        return [k for k, _ in suggest_krs(ticket, ruleset, catalog)]

    result = evaluate(model, min_confidence=cfg.suggest.min_confidence, old_method=old)
    data = result.to_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console = Console(highlight=False, width=80)
    table = Table(title=f"Leave-one-out on {result.learned[next(iter(result.learned))].epics} "
                  f"linked epics (threshold {result.min_confidence:.2f})", title_justify="left")
    for col in ("team", "method", "p@1", "p@3", "coverage"):
        table.add_column(col)

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f}"

    rows = [("overall", data["overall"])]
    rows += [(name, {"learned": figs, "previous": data["teams"]["previous"].get(name, {})})
             for name, figs in data["teams"]["learned"].items()]
    for name, pair in rows:
        for method in ("learned", "previous"):
            f = pair.get(method) or {}
            table.add_row(Text(name), method, pct(f.get("precision_at_1")),
                          pct(f.get("precision_at_3")), pct(f.get("coverage")))
    console.print(table)


def _rules(found: Any, tickets: Any, cfg: Any, catalog: Any, ruleset: Any,
           as_json: bool, leaning: Any) -> None:
    from mappings.suggest.features import input_labels
    from mappings.suggest.rules_from import propose_rules, rule_toml
    from syncer.suggestions import prefixes_of

    prefixes = prefixes_of(cfg)
    proposals = propose_rules(
        [(s.ticket, s.kr_id) for s in found], tickets, ruleset, catalog,
        feature_labels=[input_labels(s.ticket, prefixes) for s in found],
        ktlo=cfg.labels.ktlo, managed_prefix=cfg.labels.managed_prefix, leaning=leaning)
    if as_json:
        typer.echo(json.dumps([{
            "toml": rule_toml(p), "rule_id": p.rule.id, "kr_id": p.rule.kr_id,
            "catches": [{"source": t.source, "key": t.key, "title": t.title} for t in p.catches],
            "moves": [{"source": t.source, "key": t.key, "from": old} for t, old in p.moves],
        } for p in proposals], indent=2))
        return
    if not proposals:
        typer.echo("# no group of 3+ untraceable epics shares a label, project or component "
                   "and a suggested key result")
    typer.echo("\n".join(rule_toml(p) for p in proposals), nl=False)


@app.command("accept")
def accept_command(
    key: str = typer.Argument(..., help="The epic (WEB-123 or acme/app#45)."),
    kr_id: str = typer.Argument(..., metavar="KR-ID", help="The key result."),
    reject: bool = typer.Option(False, "--reject", help="Stop suggesting this KR for this epic."),
    by: str = typer.Option("", "--by", help="Who decides (default: $USER)."),
    config: Path | None = _CONFIG,
) -> None:
    """Accept a suggestion: the epic is linked (origin `accepted`) and the next sync writes it
    back like an explicit label. With --reject the suggestion stops for that epic."""
    from core.model import find_kr
    from syncer.store_decisions import Decision, SuggestionDecision

    cfg, catalog, _, store = _open(config)
    kr = find_kr(catalog, kr_id)
    if kr is None:
        raise UserError(f"unknown key result {kr_id!r} (not in {cfg.catalog_path.name})",
                        key="KR-ID")
    with store:
        ticket = store.find_ticket(key)
        if ticket is None:
            raise UserError(f"ticket {key!r} is not in the store", key="KEY")
        who = by or os.environ.get("USER") or "unknown"
        decision = Decision.REJECTED if reject else Decision.ACCEPTED
        store.record_decision(SuggestionDecision(ticket.source, ticket.key, kr.id, decision,
                                                 who, SYSTEM.now()))
    verb = "rejected" if reject else "accepted (linked at the next sync)"
    typer.echo(f"{ticket.key}: {kr.id} {verb} by {who}")
