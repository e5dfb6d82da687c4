"""The subset of JQL the sandbox Jira understands: what okrsync's connector sends, no more.

Supported: `project`, `issuetype` (`type`), `labels`, `key` (`issuekey`), `status`,
`statusCategory` with `=`, `!=`, `in (...)`, `not in (...)`; `updated` / `created` with
`>=`, `>`, `<=`, `<`, `=` against epoch milliseconds (unquoted number) or a date literal
(`"yyyy-MM-dd HH:mm"`, `"yyyy/MM/dd HH:mm"`, `"yyyy-MM-dd"`, `"yyyy/MM/dd"`, interpreted in the
sandbox user's time zone, UTC); clauses joined by AND, with optional parentheses; and
`ORDER BY updated|created|key [ASC|DESC]` (comma separated). Anything else raises `JqlError`,
which the server answers with Jira's 400 "Error in the JQL Query" body.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>>=|<=|!=|=|>|<|~)
      | (?P<punct>[(),])
      | (?P<word>[^\s(),=!<>~"']+)
    )""",
    re.VERBOSE,
)

_LIST_FIELDS = {
    "project": "project",
    "issuetype": "issuetype",
    "type": "issuetype",
    "labels": "labels",
    "key": "key",
    "issuekey": "key",
    "id": "key",
    "status": "status",
    "statuscategory": "statusCategory",
}
_DATE_FIELDS = {"updated": "updated", "updateddate": "updated", "created": "created",
                "createddate": "created"}
_ORDER_FIELDS = {"updated": "updated", "created": "created", "key": "key", "issuekey": "key"}
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")


class JqlError(ValueError):
    """The query is outside the supported subset or malformed; the message is Jira-like."""


class Searchable(Protocol):
    """What a clause needs from an issue record."""

    key: str
    project: str
    issuetype: str
    labels: list[str]
    status: str
    status_category: str
    updated_ms: int
    created_ms: int


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    order: tuple[tuple[str, bool], ...] = field(default=())  # (field, descending)

    @property
    def bounded(self) -> bool:
        """Jira Cloud's search/jql rejects queries with no restriction at all."""
        return bool(self.clauses)

    def predicate(self) -> Callable[[Searchable], bool]:
        tests = [_compile(c) for c in self.clauses]
        return lambda issue: all(t(issue) for t in tests)

    def sort_key(self) -> Callable[[Searchable], tuple[int, ...]]:
        """A key for `sorted`; descending fields are negated so one sort does it all."""
        order = self.order or (("key", False),)
        if not any(f == "key" for f, _ in order):
            order = (*order, ("key", False))
        signs = [(name, -1 if desc else 1) for name, desc in order]

        def key(issue: Searchable) -> tuple[int, ...]:
            out: list[int] = []
            for name, sign in signs:
                if name == "key":
                    out += (sign * _project_rank(issue.key), sign * _key_number(issue.key))
                elif name == "updated":
                    out.append(sign * issue.updated_ms)
                else:
                    out.append(sign * issue.created_ms)
            return tuple(out)

        return key


def _key_number(key: str) -> int:
    _, _, num = key.rpartition("-")
    return int(num) if num.isdigit() else 0


def _project_rank(key: str) -> int:
    """Sort projects alphabetically inside an integer key (first 6 letters, base 64)."""
    project = key.rpartition("-")[0].upper()[:6].ljust(6)
    rank = 0
    for ch in project:
        rank = rank * 64 + (ord(ch) % 64)
    return rank


def parse_date(raw: str, field_name: str = "updated") -> int:
    """A JQL date literal or epoch ms to epoch ms (UTC)."""
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return int(parsed.timestamp() * 1000)
    raise JqlError(
        f"Date value '{raw}' for field '{field_name}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format "
        "e.g. '-5d', '4w 2d'."
    )


def _compile(clause: Clause) -> Callable[[Searchable], bool]:
    values = clause.values
    if clause.field in ("updated", "created"):
        bound = parse_date(values[0])
        attr = "updated_ms" if clause.field == "updated" else "created_ms"
        cmp: dict[str, Callable[[int], bool]] = {
            ">=": lambda v: v >= bound,
            ">": lambda v: v > bound,
            "<=": lambda v: v <= bound,
            "<": lambda v: v < bound,
            "=": lambda v: v == bound,
        }
        test = cmp[clause.op]
        return lambda i: test(getattr(i, attr))
    wanted = frozenset(v.lower() for v in values)
    negate = clause.op in ("!=", "not in")
    if clause.field == "labels":
        def has(i: Searchable) -> bool:
            return any(label.lower() in wanted for label in i.labels)
    else:
        attr = {"statusCategory": "status_category"}.get(clause.field, clause.field)

        def has(i: Searchable) -> bool:
            return str(getattr(i, attr)).lower() in wanted

    if negate:
        return lambda i: not has(i)
    return has


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize(text)
        self.pos = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}.")
            kind = m.lastgroup or ""
            value = m.group(kind)
            if kind == "str":
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            tokens.append((kind, value))
            pos = m.end()
        return tokens

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise JqlError("Error in the JQL Query: The query ended unexpectedly.")
        self.pos += 1
        return tok

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() in words

    def expect(self, kind: str, value: str) -> None:
        tok = self.take()
        if tok != (kind, value):
            raise JqlError(
                f"Error in the JQL Query: Expecting '{value}' but got '{tok[1]}'. "
                f"(line 1, character {self.pos})"
            )

    def parse(self) -> Query:
        clauses: list[Clause] = []
        if self.peek() is not None and not self.is_word("order"):
            clauses = self.expr()
        order: list[tuple[str, bool]] = []
        if self.is_word("order"):
            self.take()
            if not self.is_word("by"):
                raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
            self.take()
            order.append(self.order_item())
            while self.peek() == ("punct", ","):
                self.take()
                order.append(self.order_item())
        if self.peek() is not None:
            tok = self.take()
            word = tok[1]
            if word.lower() in ("or", "not"):
                raise JqlError(
                    f"Error in the JQL Query: the sandbox does not support '{word.upper()}'. "
                    "Only clauses joined by AND are supported."
                )
            raise JqlError(
                f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{word}'."
            )
        return Query(tuple(clauses), tuple(order))

    def expr(self) -> list[Clause]:
        clauses = self.term()
        while self.is_word("and"):
            self.take()
            clauses += self.term()
        return clauses

    def term(self) -> list[Clause]:
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.expr()
            self.expect("punct", ")")
            return inner
        return [self.clause()]

    def clause(self) -> Clause:
        kind, name = self.take()
        if kind not in ("word", "str"):
            raise JqlError(f"Error in the JQL Query: Expecting a field name but got '{name}'.")
        lname = name.lower()
        if lname in _DATE_FIELDS:
            op_kind, op = self.take()
            if op_kind != "op" or op not in (">=", ">", "<=", "<", "="):
                raise JqlError(
                    f"Error in the JQL Query: The operator '{op}' is not supported by the "
                    f"'{name}' field."
                )
            value = self.value()
            parse_date(value, name)
            return Clause(_DATE_FIELDS[lname], op, (value,))
        if lname not in _LIST_FIELDS:
            raise JqlError(
                f"Field '{name}' does not exist or you do not have permission to view it."
            )
        fname = _LIST_FIELDS[lname]
        if self.is_word("in"):
            self.take()
            return Clause(fname, "in", self.value_list())
        if self.is_word("not"):
            self.take()
            if not self.is_word("in"):
                raise JqlError("Error in the JQL Query: Expecting 'in' after 'not'.")
            self.take()
            return Clause(fname, "not in", self.value_list())
        op_kind, op = self.take()
        if op_kind != "op" or op not in ("=", "!="):
            raise JqlError(
                f"Error in the JQL Query: The operator '{op}' is not supported by the "
                f"'{name}' field."
            )
        return Clause(fname, op, (self.value(),))

    def value(self) -> str:
        kind, value = self.take()
        if kind not in ("word", "str"):
            raise JqlError(f"Error in the JQL Query: Expecting a value but got '{value}'.")
        return value

    def value_list(self) -> tuple[str, ...]:
        self.expect("punct", "(")
        values = [self.value()]
        while self.peek() == ("punct", ","):
            self.take()
            values.append(self.value())
        self.expect("punct", ")")
        return tuple(values)

    def order_item(self) -> tuple[str, bool]:
        _, name = self.take()
        if name.lower() not in _ORDER_FIELDS:
            raise JqlError(
                f"Error in the JQL Query: the sandbox cannot order by '{name}' "
                "(supported: updated, created, key)."
            )
        desc = False
        if self.is_word("asc", "desc"):
            desc = self.take()[1].lower() == "desc"
        return _ORDER_FIELDS[name.lower()], desc


def parse(jql: str) -> Query:
    """Parse a JQL string; raise `JqlError` with a Jira-like message when unsupported."""
    return _Parser(jql).parse()
