"""Trim an OpenAPI description to the operations okrsync uses, for tests/fixtures/openapi/.

    python scripts/trim_openapi.py FULL.json OUT.json OPERATION_ID [OPERATION_ID ...]

Keeps the named operations, every component they reference (transitively) and `info`; drops
prose (`description`, `summary`, examples), which the validators do not read. The result is
written with sorted keys so a re-trim of the same description gives the same file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

_PROSE = {"description", "summary", "example", "examples", "externalDocs", "x-codeSamples",
          "x-atlassian-connect-scope", "x-atlassian-oauth2-scopes", "x-github"}
_HTTP = {"get", "put", "post", "delete", "patch", "head", "options"}


def _strip(node: Any, *, names: bool = False) -> Any:
    """Drop prose; inside `properties` the keys are field names (a field may be `summary`)."""
    if isinstance(node, dict):
        return {k: _strip(v, names=k == "properties" and not names) for k, v in node.items()
                if names or k not in _PROSE}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def trim(spec: dict[str, Any], operation_ids: set[str]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        kept = {m: op for m, op in item.items()
                if m in _HTTP and op.get("operationId") in operation_ids}
        if kept:
            if "parameters" in item:
                kept["parameters"] = item["parameters"]
            paths[path] = kept
    missing = operation_ids - {op["operationId"] for item in paths.values()
                               for m, op in item.items() if m in _HTTP}
    if missing:
        raise SystemExit(f"operations not in the description: {sorted(missing)}")
    paths = _strip(paths)
    components: dict[str, dict[str, Any]] = {}
    todo = _refs(paths)
    done: set[str] = set()
    while todo:
        ref = todo.pop()
        done.add(ref)
        _, _, section, name = ref.split("/", 3)
        value = _strip(spec["components"][section][name])
        components.setdefault(section, {})[name] = value
        todo |= _refs(value) - done
    return {"openapi": spec["openapi"], "info": _strip(spec["info"]) | {
        "title": spec["info"].get("title", ""), "version": spec["info"]["version"]},
        "paths": paths, "components": components}


def main(argv: list[str]) -> None:
    full, out, *ids = argv
    spec = json.loads(Path(full).read_text())
    Path(out).write_text(json.dumps(trim(spec, set(ids)), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
