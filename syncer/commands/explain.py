"""`okrsync explain`: why an epic maps to the key results it maps to (and why not others)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer

from core.clock import SYSTEM
from core.errors import UserError
from core.model import Catalog, Ticket, TicketState
from mappings.rules import Mapping
from syncer.cli import app

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    """Ticket text is untrusted: strip control characters (terminal escapes) before printing."""
    return _CONTROL.sub("?", text)


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def explanation_data(
    ticket: Ticket,
    catalog: Catalog,
    mapping: Mapping,
    suggestions: list[tuple[str, str]],
    ktlo: bool,
) -> dict[str, Any]:
    """The JSON shape of `explain --json` (also what the terminal output is printed from)."""
    links = []
    for link in mapping.links:
        kr = catalog.kr(link.kr_id)
        links.append({
            "kr_id": link.kr_id,
            "kr_title": kr.title if kr else "",
            "objective_id": kr.objective_id if kr else "",
            "origin": link.origin_text,
            "rule_id": link.rule_id,
            "reason": link.reason,
        })
    return {
        "ticket": {
            "source": ticket.source, "key": ticket.key, "title": ticket.title,
            "project": ticket.project, "issue_type": ticket.issue_type,
            "labels": list(ticket.labels), "components": list(ticket.components),
        },
        "links": links,
        "broken": [{"label": b.label, "kr_id": b.kr_id} for b in mapping.broken],
        "rules": [
            {
                "rule_id": e.rule_id, "kr_id": e.kr_id, "priority": e.priority,
                "matched": e.matched, "decided": e.decided, "failed_condition": e.failed,
                "detail": e.detail, "satisfied": e.satisfied, "conditions": e.total,
            }
            for e in mapping.explanations
        ],
        "ktlo": ktlo,
        "suggestions": [{"kr_id": k, "why": why} for k, why in suggestions],
    }


def _print(data: dict[str, Any]) -> None:
    t = data["ticket"]
    typer.echo(f"{_clean(t['key'])}  {_clean(t['title'])!r}")
    typer.echo(f"  source {_clean(t['source'])}, project {_clean(t['project'])}, "
               f"type {_clean(t['issue_type'])}")
    typer.echo(f"  labels: {_clean(', '.join(t['labels'])) or '(none)'}")
    if t["components"]:
        typer.echo(f"  components: {_clean(', '.join(t['components']))}")
    typer.echo("")
    if data["links"]:
        typer.echo("links:")
        for i, link in enumerate(data["links"], start=1):
            typer.echo(f"  {i}. {link['kr_id']} {_clean(link['kr_title'])}  "
                       f"[{link['origin']}] {_clean(link['reason'])}")
    else:
        typer.echo("links: none" + (" (ktlo: run/maintenance work)" if data["ktlo"]
                                     else " - this epic is untraceable"))
    for broken in data["broken"]:  # a person's typo or a KR that left the catalog
        typer.echo(f"broken: label {_clean(broken['label'])!r} names unknown key result "
                   f"{_clean(broken['kr_id'])!r}")
    if data["rules"]:
        typer.echo("")
        typer.echo("rules (in precedence order):")
        width = max(len(r["rule_id"]) for r in data["rules"])
        for r in data["rules"]:
            verdict = "decided" if r["decided"] else ("matched" if r["matched"] else "no")
            typer.echo(f"  {r['rule_id']:<{width}}  p{r['priority']:<4} -> {r['kr_id']:<10} "
                       f"{verdict}: {_clean(r['detail'])}")
    if data.get("decisions"):
        typer.echo("")
        typer.echo("suggestion decisions:")
        for d in data["decisions"]:
            typer.echo(f"  {d['kr_id']}: {d['decision']} by {_clean(d['by'])} at {d['at']}")
    if data["suggestions"] and not data["links"]:
        typer.echo("")
        typer.echo("closest key results:")
        for s in data["suggestions"]:
            typer.echo(f"  {s['kr_id']}: {_clean(s['why'])}")


@app.command()
def explain(
    key: str | None = typer.Argument(
        None,
        metavar="KEY",
        help="A ticket in the store (WEB-123 or acme/app#45); omit to describe one.",
    ),
    source: str = typer.Option("cli", "--source", help="Source name of a described ticket."),
    project: str = typer.Option("", "--project", help="Jira project key or GitHub owner/repo."),
    labels: list[str] = typer.Option([], "--labels", help="Labels, comma-separated."),
    issue_type: str = typer.Option("Epic", "--type", help="Issue type."),
    components: list[str] = typer.Option([], "--component", help="Component(s), repeatable."),
    title: str = typer.Option("", "--title", help="Ticket title (for title_regex rules)."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="okrsync.toml (default: $OKRSYNC_CONFIG or ./okrsync.toml)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the explanation as JSON."),
) -> None:
    """Show which explicit label or rule links an epic to each key result, and for every other
    rule the first condition that failed.

    Either name a ticket already in the store (`okrsync explain WEB-123`) or describe one:
    `okrsync explain --source jira --project PAY --labels okr:KR-1,checkout --title "..."`.
    """
    from mappings.labels import is_ktlo
    from mappings.rules import map_ticket, suggest_krs
    from syncer.config import load_config
    from syncer.inputs import resolve_inputs

    described = bool(project or labels or components or title) or source != "cli"
    if key and described:
        raise UserError("give either a ticket KEY or --source/--project/--labels/..., not both",
                        key="KEY")
    cfg = load_config(config, credentials=False)
    inputs = resolve_inputs(cfg)
    catalog, ruleset = inputs.catalog, inputs.rules
    decisions: list[Any] = []
    if key:
        ticket, decisions = _stored_ticket(cfg.store_target, key)
    else:
        ticket = Ticket(
            source=source, key="(described)", remote_id="", url="", title=title,
            project=project, issue_type=issue_type, labels=_split(labels),
            state=TicketState.TODO, updated=SYSTEM.now(), components=_split(components),
        )
    mapping = map_ticket(ticket, ruleset, catalog, managed_prefix=cfg.labels.managed_prefix)
    if decisions:
        from dataclasses import replace

        from syncer.decided import accepted_of, with_accepted

        links, _ = with_accepted(lambda t: (mapping.links, mapping.broken),
                                 accepted_of(decisions))(ticket)
        mapping = replace(mapping, links=links)
    suggestions = [] if mapping.links else suggest_krs(ticket, ruleset, catalog)
    data = explanation_data(ticket, catalog, mapping, suggestions,
                            is_ktlo(ticket.labels, cfg.labels.ktlo))
    data["decisions"] = [{"kr_id": d.kr_id, "decision": d.decision.value, "by": d.by,
                          "at": d.at.isoformat()} for d in decisions]
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        _print(data)


def _stored_ticket(store_path: Path | str, key: str) -> tuple[Ticket, list[Any]]:
    """The stored ticket and people's decisions on suggestions for it."""
    from syncer.store import Store, store_exists

    if not store_exists(store_path):
        raise UserError(f"no store at {store_path} yet, so no ticket {key!r}",
                        hint="run `okrsync sync` first, or describe the ticket with --labels ...")

    with Store.open(store_path) as store:
        ticket = store.find_ticket(key)
        decisions = store.decisions(ticket.source, ticket.key) if ticket else []
    if ticket is None:
        raise UserError(f"ticket {key!r} is not in the store", key="KEY",
                        hint="check the key (WEB-123, acme/app#45) or run `okrsync sync`")
    return ticket, list(decisions)
