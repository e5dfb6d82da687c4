"""Rules from suggestions: when several untraceable epics share a label, project or component
and the same suggested KR, the `[[rule]]` that would link them, with exactly what it would do.

What a proposed rule catches and moves is found by running the real rule engine over every
stored epic with and without it, so a rule pasted into rules.toml links the epics listed.
It gets a priority below every existing rule: it only decides where no rule does today.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from core.model import Catalog, Ticket
from mappings.rules import Rule, RuleSet, map_ticket

MIN_EPICS = 3
MIN_AGREEMENT = 0.8
"""Share of the epics a rule catches whose suggestion names the rule's KR."""
_FIELDS = (("labels_any", "label"), ("projects", "project"), ("components", "component"))


@dataclass(frozen=True)
class ProposedRule:
    rule: Rule
    catches: tuple[Ticket, ...]
    moves: tuple[tuple[Ticket, str], ...]
    """Linked epics whose KR would change, with the KR they have today."""


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", value).strip("-").lower() or "x"


def _values(ticket: Ticket, field: str, labels: Sequence[str]) -> Sequence[str]:
    if field == "projects":
        return (ticket.project,)
    if field == "components":
        return ticket.components
    return labels


def propose_rules(
    suggested: Sequence[tuple[Ticket, str]],
    tickets: Sequence[Ticket],
    ruleset: RuleSet,
    catalog: Catalog,
    *,
    feature_labels: Sequence[Sequence[str]],
    ktlo: Sequence[str],
    managed_prefix: str = "goal:",
    leaning: Mapping[str, str] | None = None,
) -> list[ProposedRule]:
    """`suggested`: (untraceable epic, its top KR); `feature_labels`: each one's labels that
    are features (not link labels), in the same order. `leaning`: ticket uid -> the KR an
    untraceable epic leans to even below the threshold (more likely than serving no KR);
    an epic a rule would catch agrees with it if it leans to the rule's KR."""
    groups: dict[tuple[str, str, str], list[Ticket]] = {}
    for (ticket, kr_id), labels in zip(suggested, feature_labels, strict=True):
        for field, _ in _FIELDS:
            for value in dict.fromkeys(_values(ticket, field, labels)):
                groups.setdefault((kr_id, field, value), []).append(ticket)
    top_kr = {**(leaning or {}), **{t.uid: kr for t, kr in suggested}}
    holders = _holders(tickets)
    floor = min((r.priority for r in ruleset.rules), default=0) - 1
    used = {r.id.casefold() for r in ruleset.rules}
    out: list[ProposedRule] = []
    for (kr_id, field, value), members in sorted(groups.items()):
        if len(members) < MIN_EPICS:
            continue
        word = dict(_FIELDS)[field]
        rule_id = f"suggested-{_slug(kr_id)}-{word}-{_slug(value)}"
        if rule_id.casefold() in used:
            continue
        rule = Rule(id=rule_id, kr_id=kr_id, priority=floor, labels_none=tuple(ktlo),
                    note=f"proposed by okrsync suggest: epics with {word} {value!r}",
                    labels_any=(value,) if field == "labels_any" else (),
                    projects=(value,) if field == "projects" else (),
                    components=(value,) if field == "components" else ())
        proposal = _simulate(rule, holders(field, value), ruleset, catalog, managed_prefix)
        agree = sum(1 for t in proposal.catches if top_kr.get(t.uid) == kr_id)
        if proposal.catches and agree / len(proposal.catches) >= MIN_AGREEMENT:
            out.append(proposal)
            used.add(rule_id.casefold())
    return out


def _holders(tickets: Sequence[Ticket]) -> Callable[[str, str], Sequence[Ticket]]:
    """The epics a one-value condition can match: those holding the value (case-insensitive),
    or every epic when the value is itself a glob. Only they can change when the rule is added."""
    index: dict[tuple[str, str], list[Ticket]] = {}
    for t in tickets:
        for field, _ in _FIELDS:
            for value in _values(t, field, t.labels):
                index.setdefault((field, value.casefold()), []).append(t)

    def holders(field: str, value: str) -> Sequence[Ticket]:
        if any(c in value for c in "*?["):
            return tickets
        return index.get((field, value.casefold()), [])

    return holders


def _simulate(rule: Rule, tickets: Sequence[Ticket], ruleset: RuleSet, catalog: Catalog,
              managed_prefix: str) -> ProposedRule:
    alone = replace(ruleset, rules=(rule,))
    grown = replace(ruleset, rules=(*ruleset.rules, rule))
    catches, moves = [], []
    for t in tickets:
        if not map_ticket(t, alone, catalog, managed_prefix=managed_prefix,
                          explain=False).links:
            continue
        before = map_ticket(t, ruleset, catalog, managed_prefix=managed_prefix, explain=False)
        after = map_ticket(t, grown, catalog, managed_prefix=managed_prefix, explain=False)
        old = {lk.kr_id for lk in before.links}
        new = {lk.kr_id for lk in after.links}
        if not old and new:
            catches.append(t)
        elif old != new:
            moves.append((t, ", ".join(sorted(old))))
    return ProposedRule(rule, tuple(catches), tuple(moves))


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


def rule_toml(proposal: ProposedRule) -> str:
    """The `[[rule]]` table as `okrsync validate` reads it; what it does, in comments (ticket
    text JSON-quoted there, so no title can end a comment line or forge a key)."""
    r = proposal.rule
    lines = [f"# catches {len(proposal.catches)} untraceable epic(s):"]
    lines += [f"#   {json.dumps(t.key)} {json.dumps(t.title, ensure_ascii=True)}"
              for t in proposal.catches]
    if proposal.moves:
        lines.append(f"# moves {len(proposal.moves)} linked epic(s):")
        lines += [f"#   {json.dumps(t.key)} from {old}" for t, old in proposal.moves]
    lines += ["[[rule]]", f"id = {json.dumps(r.id)}", f"kr = {json.dumps(r.kr_id)}",
              f"priority = {r.priority}"]
    for field, _ in _FIELDS:
        if getattr(r, field):
            lines.append(f"{field} = {_toml_list(getattr(r, field))}")
    if r.labels_none:
        lines.append(f"labels_none = {_toml_list(r.labels_none)}")
    lines.append(f"note = {json.dumps(r.note, ensure_ascii=True)}")
    return "\n".join(lines) + "\n"
