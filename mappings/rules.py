"""The rule engine: `rules.toml` schema, matching, precedence and explanations. Pure code.

Precedence (documented in docs/config.md, relied on by the planner):

1. Every explicit `okr:<KR-ID>` label naming a catalog KR links (ids compare case-insensitively;
   the catalog's spelling wins). A label naming an unknown KR is a `BrokenLink`, not an error.
2. If at least one explicit label is valid, rules add nothing.
3. Otherwise the matching rule with the highest priority decides; ties go to the smallest rule
   id, so the order of rules in the file never matters.

Managed labels (`goal:*`) are the service's outputs and are ignored as inputs.

With `[[cycle]]` in the catalog a ticket is mapped in one cycle (`mapping_cycle`: the current
one, or the past one an ended epic ran in): only rules whose `cycles` include it decide, and an
explicit label naming another cycle's KR is history: neither a link nor a broken link.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.cycles import ended_in
from core.errors import ConfigError
from core.model import BrokenLink, Catalog, Link, Origin, Ticket, TicketState, find_kr
from core.tomlfile import line_of, read_toml
from mappings.labels import explicit_kr, glob_match, is_managed

GLOB_CONDITIONS = ("sources", "projects", "issue_types", "components")
LABEL_CONDITIONS = ("labels_all", "labels_any", "labels_none")
#: The order conditions are checked in; an explanation names the first one that failed.
CONDITIONS = (*GLOB_CONDITIONS, *LABEL_CONDITIONS, "title_regex")
_META_KEYS = ("id", "kr", "priority", "note", "cycles")
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")


@dataclass(frozen=True)
class Rule:
    """One `[[rule]]`: if every non-empty condition holds, the ticket serves `kr_id`."""

    id: str
    kr_id: str
    priority: int = 0
    sources: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    issue_types: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    labels_all: tuple[str, ...] = ()
    labels_any: tuple[str, ...] = ()
    labels_none: tuple[str, ...] = ()
    title_regex: str = ""
    note: str = ""
    cycles: tuple[str, ...] = ()
    """The cycles the rule links in (default: the current one); empty without cycles."""
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.title_regex and self._regex is None:
            object.__setattr__(self, "_regex", re.compile(self.title_regex, re.IGNORECASE))

    @property
    def conditions(self) -> tuple[str, ...]:
        """The names of the conditions this rule sets, in checking order."""
        return tuple(c for c in CONDITIONS if getattr(self, c))


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    path: str = ""
    explicit_prefix: str = "okr:"


@dataclass(frozen=True)
class RuleExplanation:
    """Why one rule did or did not link a ticket.

    `matched`: every condition held. `decided`: this rule produced the link. When it did not
    match, `failed` names the first condition that failed and `detail` says how; when it
    matched but lost, `detail` says to what. `satisfied` counts the conditions that held.
    """

    rule_id: str
    kr_id: str
    priority: int
    matched: bool
    decided: bool
    failed: str | None
    detail: str
    satisfied: int
    total: int


@dataclass(frozen=True)
class Mapping:
    """Where one ticket maps: links (explicit first, then the deciding rule), broken explicit
    labels, and one explanation per rule in precedence order."""

    links: tuple[Link, ...]
    broken: tuple[BrokenLink, ...]
    explanations: tuple[RuleExplanation, ...]


# --------------------------------------------------------------------------- loading


def load_rules(path: Path | str, catalog: Catalog, *, explicit_prefix: str = "okr:") -> RuleSet:
    """Read and validate `rules.toml` against the catalog; problems name file, key and line."""
    file = Path(path)
    data, text = read_toml(file, what="rules file", hint="`okrsync init DIR` writes a starter")
    return parse_rules(data, catalog, text=text, file=str(file), explicit_prefix=explicit_prefix)


def parse_rules(
    data: dict[str, Any],
    catalog: Catalog,
    *,
    text: str = "",
    file: str = "rules.toml",
    explicit_prefix: str = "okr:",
) -> RuleSet:
    """Validate already-parsed rules data (`text` is only used to find line numbers)."""

    def fail(msg: str, loc: tuple[str | int, ...], key: str) -> ConfigError:
        return ConfigError(msg, file=file, key=key, line=line_of(text, loc) if text else None)

    for top in data:
        if top != "rule":
            raise fail(f"unknown top-level key {top!r} (rules are [[rule]] tables)", (top,), top)
    raw = data.get("rule", [])
    if not isinstance(raw, list):
        raise fail("`rule` must be an array of tables: write [[rule]]", ("rule",), "rule")
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, table in enumerate(raw):
        at: tuple[str | int, ...] = ("rule", i)
        if not isinstance(table, dict):
            raise fail("each rule must be a table", at, f"rule[{i}]")
        rule = _parse_rule(table, i, catalog, fail)
        if rule.id.casefold() in seen:
            raise fail(
                f"duplicate rule id {rule.id!r} (also rule[{seen[rule.id.casefold()]}])",
                (*at, "id"),
                f"rule[{i}].id",
            )
        seen[rule.id.casefold()] = i
        rules.append(rule)
    return RuleSet(rules=tuple(rules), path=file, explicit_prefix=explicit_prefix)


_Fail = Callable[[str, tuple[str | int, ...], str], ConfigError]


def _parse_rule(table: dict[str, Any], i: int, catalog: Catalog, fail: _Fail) -> Rule:
    at: tuple[str | int, ...] = ("rule", i)
    for key in table:
        if key not in _META_KEYS and key not in CONDITIONS:
            raise fail(
                f"unknown key {key!r}; rule keys are {', '.join(_META_KEYS + CONDITIONS)}",
                (*at, key),
                f"rule[{i}].{key}",
            )
    rule_id = table.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        raise fail(
            "every rule needs an id: letters, digits, . _ : - (e.g. r-checkout)",
            (*at, "id"),
            f"rule[{i}].id",
        )
    name = f"rule {rule_id!r}"
    kr_in = table.get("kr")
    if not isinstance(kr_in, str) or not kr_in.strip():
        raise fail(f"{name} needs a kr (a key result id)", (*at, "kr"), f"rule[{i}].kr")
    kr = find_kr(catalog, kr_in.strip())
    if kr is None:
        raise fail(
            f"{name} names unknown key result {kr_in!r} (not in the catalog)",
            (*at, "kr"),
            f"rule[{i}].kr",
        )
    priority = table.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise fail(f"{name}: priority must be an integer", (*at, "priority"), f"rule[{i}].priority")
    note = table.get("note", "")
    if not isinstance(note, str):
        raise fail(f"{name}: note must be a string", (*at, "note"), f"rule[{i}].note")
    values: dict[str, tuple[str, ...]] = {}
    for cond in (*GLOB_CONDITIONS, *LABEL_CONDITIONS):
        value = table.get(cond, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(
                f"{name}: {cond} must be a list of non-empty strings",
                (*at, cond),
                f"rule[{i}].{cond}",
            )
        values[cond] = tuple(value)
    regex = table.get("title_regex", "")
    if not isinstance(regex, str):
        raise fail(f"{name}: title_regex must be a string", (*at, "title_regex"),
                   f"rule[{i}].title_regex")
    compiled = None
    if regex:
        try:
            compiled = re.compile(regex, re.IGNORECASE)
        except re.error as exc:
            raise fail(
                f"{name}: title_regex is not a valid regular expression: {exc}",
                (*at, "title_regex"),
                f"rule[{i}].title_regex",
            ) from None
    rule = Rule(
        id=rule_id,
        kr_id=kr.id,
        priority=priority,
        title_regex=regex,
        note=note,
        cycles=_rule_cycles(table, i, name, kr.id, catalog, fail),
        _regex=compiled,
        **values,
    )
    if not rule.conditions:
        raise fail(
            f"{name} has no condition and would match every ticket; add one of "
            f"{', '.join(CONDITIONS)}",
            at,
            f"rule[{i}]",
        )
    return rule


def _rule_cycles(table: dict[str, Any], i: int, name: str, kr_id: str, catalog: Catalog,
                 fail: _Fail) -> tuple[str, ...]:
    """The cycles a rule links in: as written, else the current one; each must be a catalog
    cycle, and its key result must belong to one of them (an old rule left pointing at last
    quarter's KR is a mistake, not a link)."""
    at: tuple[str | int, ...] = ("rule", i, "cycles")
    key = f"rule[{i}].cycles"
    raw = table.get("cycles")
    known = [c.id for c in catalog.cycles]
    if raw is None:
        if not known:
            return ()
        cycles = (catalog.current_cycle or known[-1],)
    else:
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
            raise fail(f"{name}: cycles must be a list of cycle ids", at, key)
        if not known:
            raise fail(f"{name} names cycles but the catalog has no [[cycle]]", at, key)
        unknown = [c for c in raw if c not in known]
        if unknown:
            raise fail(f"{name} names unknown cycle {unknown[0]!r} (cycles: "
                       f"{', '.join(known)})", at, key)
        cycles = tuple(dict.fromkeys(raw))
    kr_cycle = catalog.cycle_of(kr_id)
    if kr_cycle not in cycles:
        how = "cycles defaults to the current cycle" if raw is None else "its cycles"
        raise fail(f"{name} names key result {kr_id} of cycle {kr_cycle} but links in "
                   f"{', '.join(cycles)} ({how}); point it at a key result of "
                   f"{', '.join(cycles)}, or set cycles = [\"{kr_cycle}\"] to keep it as "
                   "history", ("rule", i, "kr") if raw is None else at,
                   f"rule[{i}].kr" if raw is None else key)
    return cycles


def mapping_cycle(ticket: Ticket, catalog: Catalog) -> str | None:
    """The cycle a ticket is mapped in: an epic that ended before the current cycle started
    in the cycle it ran in, every other one in the current cycle; None without cycles."""
    if catalog.current_cycle is None:
        return None
    if ticket.state in (TicketState.DONE, TicketState.WONT_DO):
        ended = ticket.resolved or ticket.updated
        past = ended_in(catalog.cycles, catalog.current_cycle, ended.date())
        if past is not None:
            return past
    return catalog.current_cycle


def _applies(rule: Rule, cycle: str | None) -> bool:
    return cycle is None or not rule.cycles or cycle in rule.cycles


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class _Check:
    name: str
    ok: bool
    detail: str


def _quote(values: Sequence[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _globs(name: str, patterns: Sequence[str], values: Sequence[str], what: str) -> _Check:
    hits = [p for p in patterns if any(glob_match(v, p) for v in values)]
    if hits:
        return _Check(name, True, f"{name} matched {_quote(hits)}")
    have = _quote(values) or "(none)"
    return _Check(name, False, f"{name}: {what} {have} not in {_quote(patterns)}")


_GLOB_WHAT = {"sources": "source", "projects": "project", "issue_types": "issue type",
              "components": "components", "labels_any": "labels"}
"""The conditions that hold when any of their globs matches one of the ticket's values."""


def _values(cond: str, ticket: Ticket, labels: Sequence[str]) -> Sequence[str]:
    """What a glob condition matches against."""
    if cond == "sources":
        return (ticket.source,)
    if cond == "projects":
        return (ticket.project,)
    if cond == "issue_types":
        return (ticket.issue_type,)
    if cond == "components":
        return ticket.components
    return labels


def _check(rule: Rule, cond: str, ticket: Ticket, labels: Sequence[str]) -> _Check:
    if cond in _GLOB_WHAT:
        return _globs(cond, getattr(rule, cond), _values(cond, ticket, labels),
                      _GLOB_WHAT[cond])
    if cond == "labels_all":
        missing = [p for p in rule.labels_all if not any(glob_match(v, p) for v in labels)]
        if missing:
            return _Check(cond, False, f"labels_all: no label matches {_quote(missing)}")
        return _Check(cond, True, f"labels_all matched {_quote(rule.labels_all)}")
    if cond == "labels_none":
        bad = [v for v in labels if any(glob_match(v, p) for p in rule.labels_none)]
        if bad:
            return _Check(cond, False, f"labels_none: ticket has {_quote(bad)}")
        return _Check(cond, True, f"labels_none: none of {_quote(rule.labels_none)}")
    # title_regex
    found = rule._regex.search(ticket.title) if rule._regex else None
    if found:
        return _Check(cond, True, f'title_regex matched "{found.group(0)}"')
    return _Check(cond, False, f"title_regex: /{rule.title_regex}/ not found in the title")


def _holds(rule: Rule, cond: str, ticket: Ticket, labels: Sequence[str]) -> bool:
    """`_check(...).ok` without building its explanation: what a sync needs, many times."""
    if cond == "title_regex":
        return bool(rule._regex and rule._regex.search(ticket.title))
    if cond == "labels_all":
        return all(any(glob_match(v, p) for v in labels) for p in rule.labels_all)
    if cond == "labels_none":
        return not any(glob_match(v, p) for v in labels for p in rule.labels_none)
    patterns: Sequence[str] = getattr(rule, cond)
    return any(glob_match(v, p) for p in patterns for v in _values(cond, ticket, labels))


def _input_labels(ticket: Ticket, managed_prefix: str) -> tuple[str, ...]:
    return tuple(label for label in ticket.labels if not is_managed(label, managed_prefix))


def _evaluate(rule: Rule, ticket: Ticket, labels: Sequence[str]) -> list[_Check]:
    return [_check(rule, cond, ticket, labels) for cond in rule.conditions]


def _precedence(rule: Rule) -> tuple[int, str]:
    return (-rule.priority, rule.id)


def map_ticket(
    ticket: Ticket, ruleset: RuleSet, catalog: Catalog, *, managed_prefix: str = "goal:",
    explain: bool = True,
) -> Mapping:
    """Decide which KRs a ticket serves and why, following the documented precedence.

    With `explain=False` (a sync) the same links and broken labels come back without the
    per-rule explanations: rules stop at the deciding one and only its reason is written."""
    labels = _input_labels(ticket, managed_prefix)
    cycle = mapping_cycle(ticket, catalog)
    explicit: dict[str, Link] = {}
    broken: dict[tuple[str, str], BrokenLink] = {}
    for label in labels:
        written = explicit_kr(label, ruleset.explicit_prefix)
        if written is None:
            continue
        kr = find_kr(catalog, written)
        if kr is None:
            broken.setdefault(
                (label, written), BrokenLink(ticket.source, ticket.key, label, written)
            )
        elif cycle is not None and catalog.cycle_of(kr.id) != cycle:
            continue  # another cycle's KR: history, neither a link now nor a broken one
        elif kr.id not in explicit:
            explicit[kr.id] = Link(
                ticket.source, ticket.key, kr.id, Origin.LABEL, reason=f"label {label}"
            )
    links = [explicit[k] for k in sorted(explicit, key=lambda k: (k.casefold(), k))]
    if not explain:
        return Mapping(tuple(links) or _decide(ticket, ruleset, catalog, labels, cycle),
                       tuple(broken[k] for k in sorted(broken)), ())

    explanations: list[RuleExplanation] = []
    winner: Rule | None = None
    for rule in sorted(ruleset.rules, key=_precedence):
        checks = _evaluate(rule, ticket, labels)
        if not _applies(rule, cycle):
            checks.insert(0, _Check("cycles", False,
                                    f"cycles: links in {', '.join(rule.cycles)}, the epic is "
                                    f"mapped in {cycle}"))
        satisfied = sum(c.ok for c in checks)
        failed = next((c for c in checks if not c.ok), None)
        in_catalog = catalog.kr(rule.kr_id) is not None
        matched = failed is None and in_catalog
        decided = matched and not explicit and winner is None
        if failed is not None:
            detail = failed.detail
        elif not in_catalog:
            detail = f"key result {rule.kr_id} is no longer in the catalog"
        elif explicit:
            detail = "explicit labels win: " + ", ".join(
                link.reason for link in links
            )
        elif winner is not None:
            detail = f"rule {winner.id} (priority {winner.priority}) decides"
        else:
            detail = "; ".join(c.detail for c in checks)
            winner = rule
            links.append(
                Link(
                    ticket.source,
                    ticket.key,
                    rule.kr_id,
                    Origin.RULE,
                    rule_id=rule.id,
                    reason=f"rule {rule.id} (priority {rule.priority}): {detail}",
                )
            )
        explanations.append(
            RuleExplanation(
                rule_id=rule.id,
                kr_id=rule.kr_id,
                priority=rule.priority,
                matched=matched,
                decided=decided,
                failed=None if failed is None else failed.name,
                detail=detail,
                satisfied=satisfied,
                total=len(checks),
            )
        )
    return Mapping(
        links=tuple(links),
        broken=tuple(broken[k] for k in sorted(broken)),
        explanations=tuple(explanations),
    )


def _decide(
    ticket: Ticket, ruleset: RuleSet, catalog: Catalog, labels: Sequence[str],
    cycle: str | None,
) -> tuple[Link, ...]:
    """The deciding rule's link for a ticket without explicit labels, if any rule matches."""
    for rule in sorted(ruleset.rules, key=_precedence):
        if (_applies(rule, cycle)
                and all(_holds(rule, c, ticket, labels) for c in rule.conditions)
                and catalog.kr(rule.kr_id) is not None):
            detail = "; ".join(c.detail for c in _evaluate(rule, ticket, labels))
            return (Link(ticket.source, ticket.key, rule.kr_id, Origin.RULE, rule_id=rule.id,
                         reason=f"rule {rule.id} (priority {rule.priority}): {detail}"),)
    return ()


# --------------------------------------------------------------------------- suggestions

#: Conditions specific enough that holding one makes a rule worth suggesting.
_SPECIFIC = frozenset({"projects", "components", "labels_any", "labels_all", "title_regex"})
_STOPWORDS = frozenset(
    {"the", "and", "for", "with", "from", "into", "that", "this", "our", "your", "their", "are"}
    | {"was", "were", "will", "new", "make", "more", "less", "all", "any", "per", "via", "epic"}
)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.casefold()) if len(w) >= 3} - _STOPWORDS


def suggest_krs(
    ticket: Ticket,
    ruleset: RuleSet,
    catalog: Catalog,
    *,
    limit: int = 5,
    managed_prefix: str = "goal:",
) -> list[tuple[str, str]]:
    """KRs an unlinked ticket might serve, best first, each with why: the rules that came
    closest (most conditions held), then KRs whose title or metric shares words with the title.
    """
    labels = _input_labels(ticket, managed_prefix)
    scored: list[tuple[float, int, str, Rule, int]] = []
    for rule in ruleset.rules:
        if catalog.kr(rule.kr_id) is None or not catalog.is_current(rule.kr_id):
            continue
        checks = _evaluate(rule, ticket, labels)
        held = sum(c.ok for c in checks)
        if any(c.ok for c in checks if c.name in _SPECIFIC):
            scored.append((-held / len(checks), -rule.priority, rule.id, rule, held))
    out: dict[str, str] = {}
    for _, _, _, rule, held in sorted(scored, key=lambda s: s[:3]):
        if rule.kr_id not in out:
            total = len(rule.conditions)
            out[rule.kr_id] = f"rule {rule.id} matched {held} of {total} conditions"
    title_words = _words(ticket.title)
    overlaps: list[tuple[int, str, list[str]]] = []
    for kr in catalog.key_results:
        shared = sorted(title_words & _words(f"{kr.title} {kr.metric}"))
        if shared and kr.id not in out and catalog.is_current(kr.id):
            overlaps.append((-len(shared), kr.id, shared))
    for _, kr_id, shared in sorted(overlaps):
        out[kr_id] = "title shares " + ", ".join(f'"{w}"' for w in shared)
    return list(out.items())[:limit]
