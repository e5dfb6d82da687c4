"""Check recorded sandbox traffic against a tracker's own OpenAPI 3.0 description.

For each exchange: the method and path match a documented operation; every query parameter
is documented, has the documented type and enum, and required ones are present; the path
parameters have their documented types; the request body validates against `requestBody`
(write context: no read-only fields); the status is documented for the operation; the answer
validates against the documented schema for that status (read context). Schemas are checked
with `openapi-schema-validator` (OpenAPI 3.0 `nullable`, `readOnly`/`writeOnly`), with
`$ref`s resolved inside the description. Formats are not checked: real Jira answers
`2024-01-01T10:00:00.000+0000` where its description says `date-time`.

Statuses every operation may answer whether documented or not (authentication, rate limits,
server errors, 304 to a conditional GET) are accepted without a body check; see
`ANY_OPERATION`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from sandbox.trackers import Exchange

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
ANY_OPERATION = frozenset({401, 429, 500, 502, 503, 504})
_HTTP = ("get", "put", "post", "delete", "patch")
_URI = "urn:okrsync:openapi"

# (operationId, status) -> a function from the documented schema (as written in the
# description) to the one the real API follows.
Quirk = Callable[["ApiDescription", dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    literals: int
    pointer: str
    node: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]

    @property
    def operation_id(self) -> str:
        return str(self.node.get("operationId", f"{self.method} {self.template}"))


@dataclass
class Checked:
    """What one description made of a list of exchanges."""

    problems: list[str] = field(default_factory=list)
    operations: dict[str, int] = field(default_factory=dict)
    answers_checked: int = 0


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class ApiDescription:
    """One trimmed OpenAPI description: a file name in `tests/fixtures/openapi/` or a path."""

    def __init__(self, filename: str, *, quirks: dict[tuple[str, int], Quirk] | None = None,
                 path_aliases: dict[str, str] | None = None) -> None:
        self.filename = filename
        self.spec: dict[str, Any] = _null_in_nullable_enums(
            json.loads((FIXTURES / filename).read_text()))
        self.quirks = quirks or {}
        self.path_aliases = path_aliases or {}
        self._registry: Registry[Any] = Registry().with_resource(
            _URI, DRAFT4.create_resource(self.spec))
        self.operations = sorted(self._operations(), key=lambda op: -op.literals)

    def _operations(self) -> Iterable[Operation]:
        for template, item in self.spec["paths"].items():
            shared = [self.resolve(p) for p in item.get("parameters", [])]
            regex = re.sub(r"\\\{([A-Za-z_][A-Za-z0-9_]*)\\\}", r"(?P<\1>[^/]+)",
                           re.escape(template))
            literals = len([s for s in template.split("/") if s and not s.startswith("{")])
            for method in _HTTP:
                if method not in item:
                    continue
                node = item[method]
                own = [self.resolve(p) for p in node.get("parameters", [])]
                names = {(p["name"], p["in"]) for p in own}
                params = tuple(own + [p for p in shared if (p["name"], p["in"]) not in names])
                yield Operation(method.upper(), template, re.compile(f"^{regex}$"), literals,
                                f"/paths/{_escape(template)}/{method}", node, params)

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def absolute(self, node: Any) -> Any:
        """A copy of a piece of the description whose `$ref`s resolve outside it."""
        if isinstance(node, dict):
            return {k: (f"{_URI}{v}" if k == "$ref" and v.startswith("#") else
                        self.absolute(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [self.absolute(v) for v in node]
        return node

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for alias, real in self.path_aliases.items():
            if path.startswith(alias):
                path = real + path.removeprefix(alias)
        for op in self.operations:
            if op.method != method:
                continue
            found = op.pattern.match(path)
            if found:
                return op, found.groupdict()
        return None

    # -- checks ------------------------------------------------------------------------------

    def check_all(self, exchanges: Iterable[Exchange], *, answers: bool = True) -> Checked:
        out = Checked()
        for exchange in exchanges:
            problems, operation = self.check(exchange, answers=answers)
            out.problems += [f"{exchange}: {p}" for p in problems]
            if operation is not None:
                out.operations[operation] = out.operations.get(operation, 0) + 1
                out.answers_checked += int(answers and exchange.complete)
        return out

    def check(self, exchange: Exchange, *, answers: bool = True) -> tuple[list[str], str | None]:
        found = self.match(exchange.method, exchange.path)
        if found is None:
            return [f"no operation in {self.filename}"], None
        op, path_values = found
        problems = self._check_parameters(op, path_values, exchange.query)
        problems += self._check_body(op, exchange)
        if answers and exchange.complete:
            problems += self._check_answer(op, exchange)
        return problems, op.operation_id

    def _check_parameters(self, op: Operation, path_values: dict[str, str],
                          query: list[tuple[str, str]]) -> list[str]:
        problems: list[str] = []
        documented = {p["name"]: p for p in op.parameters if p["in"] == "query"}
        sent: dict[str, list[str]] = {}
        for name, value in query:
            sent.setdefault(name, []).append(value)
        for name in sent.keys() - documented.keys():
            problems.append(f"query parameter {name!r} is not documented")
        for name, param in documented.items():
            if name not in sent:
                if param.get("required"):
                    problems.append(f"required query parameter {name!r} missing")
                continue
            problems += self._check_value(f"query parameter {name!r}", param, sent[name])
        for param in op.parameters:
            if param["in"] == "path" and param["name"] in path_values:
                problems += self._check_value(f"path parameter {param['name']!r}", param,
                                              [path_values[param["name"]]])
        return problems

    def _check_value(self, what: str, param: dict[str, Any], raw: list[str]) -> list[str]:
        schema = self.resolve(param.get("schema", {}))
        if schema.get("type") == "array":
            value: Any = [_coerce(self.resolve(schema.get("items", {})), part)
                          for item in raw for part in item.split(",")]
        elif len(raw) > 1:
            return [f"{what} sent {len(raw)} times"]
        else:
            value = _coerce(schema, raw[0])
        return [f"{what}: {e}" for e in _errors(OAS30WriteValidator, schema, value,
                                                self._registry)]

    def _check_body(self, op: Operation, exchange: Exchange) -> list[str]:
        documented = self.resolve(op.node.get("requestBody", {}))
        if not exchange.request_body:
            return ["request body required but not sent"] if documented.get("required") else []
        content = documented.get("content", {})
        if not content:
            return ["request body sent but none is documented"]
        media = exchange.request_headers.get("content-type", "").split(";")[0].strip()
        key = media if media in content else "application/json"
        if key not in content:
            return [f"request body type {media!r} is not documented"]
        try:
            body = exchange.request_json()
        except ValueError:
            return ["request body is not JSON"]
        pointer = f"{op.pointer}/requestBody/content/{_escape(key)}/schema"
        if "requestBody" in op.node and "$ref" in op.node["requestBody"]:
            pointer = op.node["requestBody"]["$ref"].removeprefix("#") + (
                f"/content/{_escape(key)}/schema")
        ref = {"$ref": f"{_URI}#{pointer}"}
        return [f"request body: {e}" for e in _errors(OAS30WriteValidator, ref, body,
                                                     self._registry)]

    def _check_answer(self, op: Operation, exchange: Exchange) -> list[str]:
        status = exchange.status
        responses = op.node.get("responses", {})
        key = next((k for k in (str(status), f"{status // 100}XX", "default") if k in responses),
                   None)
        if key is None:
            if status in ANY_OPERATION or (status == 304 and _conditional(exchange)):
                return []
            return [f"status {status} is not documented for {op.operation_id}"]
        response = self.resolve(responses[key])
        content = response.get("content", {})
        if not content:
            if exchange.response_body and status == 204:
                return ["204 answer carries a body"]
            return []
        media = exchange.response_type
        kind = media if media in content else "application/json"
        if kind not in content:
            return [f"answer type {media!r} is not documented for {status}"]
        if "schema" not in content[kind]:
            return []
        try:
            body = exchange.response_json()
        except ValueError:
            return ["answer is not JSON"]
        if "$ref" in responses[key]:
            pointer = responses[key]["$ref"].removeprefix("#")
        else:
            pointer = f"{op.pointer}/responses/{_escape(key)}"
        schema: dict[str, Any] = {"$ref": f"{_URI}#{pointer}/content/{_escape(kind)}/schema"}
        quirk = self.quirks.get((op.operation_id, status))
        if quirk is not None:
            schema = quirk(self, content[kind]["schema"])
        return [f"answer: {e}" for e in _errors(OAS30ReadValidator, schema, body,
                                              self._registry)]


def _null_in_nullable_enums(node: Any) -> Any:
    """OpenAPI 3.0.3 says `nullable: true` with an `enum` lacking null still forbids null, but
    generated descriptions (GitHub's `state_reason`) mean "null or one of these", and the
    real APIs answer null; read them as meant."""
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("enum"), list) and (
                None not in node["enum"]):
            node["enum"] = [*node["enum"], None]
        for value in node.values():
            _null_in_nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            _null_in_nullable_enums(value)
    return node


def _conditional(exchange: Exchange) -> bool:
    """A conditional GET may answer 304 whatever the operation documents (RFC 9110)."""
    return exchange.method == "GET" and bool(
        {"if-none-match", "if-modified-since"} & exchange.request_headers.keys())


def _coerce(schema: dict[str, Any], raw: str) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    return raw


def _errors(cls: Any, schema: dict[str, Any], value: Any, registry: Registry[Any]
            ) -> list[str]:
    validator = cls(schema, registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
            for e in validator.iter_errors(value)]


def items_of(description: ApiDescription, schema: dict[str, Any]) -> dict[str, Any]:
    """The description documents one object where the real API answers a list of them."""
    return {"type": "array", "items": description.absolute(schema)}


def also(**properties: dict[str, Any]) -> Quirk:
    """The real API answers properties the description's closed object does not list."""

    def widened(description: ApiDescription, schema: dict[str, Any]) -> dict[str, Any]:
        node = dict(description.resolve(schema))
        node["properties"] = {**node.get("properties", {}), **properties}
        return dict(description.absolute(node))

    return widened


# Where a description disagrees with the real API, the real API wins; each entry says why.
QUIRKS: dict[str, dict[tuple[str, int], Quirk]] = {
    # Atlassian documents getRemoteIssueLinks' 200 as one RemoteIssueLink; its own example
    # and the real API answer an array of them (api review, item 13).
    # Its getServerInfo example carries `defaultLocale`, which the closed schema forbids.
    "jira-cloud-platform-v3.json": {
        ("getRemoteIssueLinks", 200): items_of,
        ("getServerInfo", 200): also(defaultLocale={"type": "object"}),
    },
}


@cache
def description(filename: str, path_aliases: tuple[tuple[str, str], ...] = ()
                ) -> ApiDescription:
    """Parsed once per test process: the descriptions are read-only. `path_aliases` map a
    path prefix the description lacks onto one it has (Jira Data Center's `/rest/api/2/`,
    for which Atlassian publishes no description, onto Cloud's `/rest/api/3/`)."""
    return ApiDescription(filename, quirks=QUIRKS.get(os.path.basename(filename)),
                          path_aliases=dict(path_aliases))
