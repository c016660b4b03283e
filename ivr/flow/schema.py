"""The JSON Schema of flow files (for editors), the overlay schema derived from it, and a small
validator for the subset of draft-07 they use (no dependency on `jsonschema`).

Editors: put `# yaml-language-server: $schema=<path to ivr/data/flow.schema.json>` on the first
line of a flow (overlays: overlay.schema.json), and set the editor's YAML version to 1.1 so it
reads `no` and `12:30` the way the engine does.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import FlowError, FlowProblem
from .yamlpos import LBool, LDict, LFloat, LInt, LList, LNone, Located, load_located

__all__ = ["overlay_schema", "schema_problems", "schema_text", "validate"]

Schema = dict[str, Any]


@lru_cache(maxsize=2)
def _shipped(name: str) -> str:
    return resources.files("ivr").joinpath("data", name).read_text("utf-8")


def schema_text(overlay: bool = False) -> str:
    """The shipped schema file's text (flow.schema.json or overlay.schema.json)."""
    return _shipped("overlay.schema.json" if overlay else "flow.schema.json")


def _nullable(node: Any) -> Any:
    """Overlay form of a schema: nothing required, any value may be null (merge-patch remove)."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k not in ("required", "if", "then")}
    if "properties" in node:
        out["properties"] = {k: {"anyOf": [_nullable(v), {"type": "null"}]}
                             for k, v in node["properties"].items()}
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = {"anyOf": [_nullable(node["additionalProperties"]),
                                                 {"type": "null"}]}
    return out


def overlay_schema() -> Schema:
    """The overlay schema: the flow's, as a merge patch, plus overlay / description / active."""
    flow: Schema = json.loads(schema_text())
    out: Schema = _nullable(flow)
    out["title"] = "ivr flow overlay"
    out["description"] = ("An overlay laid over an ivr flow (docs/flow-format.md#overlays): "
                          "mappings merge, other values replace, null removes a key.")
    props = out["properties"]
    for key in ("flow", "overlays"):
        del props[key]
    props["overlay"] = {"type": "string", "minLength": 1,
                        "description": "Name recorded in every call's trace."}
    props["description"] = {"type": "string", "description": "What the overlay is for."}
    props["active"] = {
        "type": "object", "additionalProperties": False,
        "description": "When and where the overlay applies (default: always, everywhere).",
        "properties": {
            "from": {"type": "string", "format": "date-time",
                     "description": "ISO 8601 with a UTC offset, e.g. 2025-09-01T08:00:00+08:00."},
            "until": {"type": "string", "format": "date-time", "description": "Exclusive end."},
            "regions": {"type": "array", "items": {"type": "string", "minLength": 1},
                        "description": "Only for callers in these regions."},
        },
    }
    return out


def _type_of(value: Any) -> str:
    if isinstance(value, bool | LBool):
        return "boolean"
    if value is None or isinstance(value, LNone):
        return "null"
    if isinstance(value, int | LInt):
        return "integer"
    if isinstance(value, float | LFloat):
        return "integer" if float(value).is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | LList):
        return "array"
    return "object" if isinstance(value, dict | LDict) else type(value).__name__


def _is(value: Any, want: str) -> bool:
    got = _type_of(value)
    return got == want or (want == "number" and got == "integer")


class _Validator:
    def __init__(self, root: Schema) -> None:
        self.root = root

    def resolve(self, schema: Schema) -> Schema:
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local $ref is supported, not {ref!r}")
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema

    def errors(self, value: Any, schema: Schema, path: tuple[Any, ...]
               ) -> Iterator[tuple[tuple[Any, ...], str]]:
        s = self.resolve(schema)
        types = s.get("type")
        if types is not None:
            wanted = [types] if isinstance(types, str) else list(types)
            if not any(_is(value, t) for t in wanted):
                yield path, f"must be {' or '.join(wanted)}, got {_type_of(value)}"
                return
        if "enum" in s and value not in s["enum"]:
            yield path, f"must be one of {', '.join(map(str, s['enum']))}, got {value!r}"
        if "const" in s and value != s["const"]:
            yield path, f"must be {s['const']!r}"
        for branch in ("anyOf", "oneOf"):
            if branch in s and not any(not any(self.errors(value, sub, path))
                                       for sub in s[branch]):
                yield from self.errors(value, s[branch][0], path)
        if "if" in s and not any(self.errors(value, s["if"], path)):
            yield from self.errors(value, s.get("then", {}), path)
        yield from self._scalar(value, s, path)
        if isinstance(value, dict):
            yield from self._object(value, s, path)
        elif isinstance(value, list):
            yield from self._array(value, s, path)

    def _scalar(self, value: Any, s: Schema, path: tuple[Any, ...]
                ) -> Iterator[tuple[tuple[Any, ...], str]]:
        if isinstance(value, str):
            if len(value) < s.get("minLength", 0):
                yield path, "must not be empty"
            if "pattern" in s and not re.search(s["pattern"], value):
                yield path, f"{value!r} does not match {s['pattern']}"
        elif _is(value, "number") and not isinstance(value, bool | LBool):
            if "minimum" in s and value < s["minimum"]:
                yield path, f"must be at least {s['minimum']}"
            if "maximum" in s and value > s["maximum"]:
                yield path, f"must be at most {s['maximum']}"

    def _object(self, value: dict[str, Any], s: Schema, path: tuple[Any, ...]
                ) -> Iterator[tuple[tuple[Any, ...], str]]:
        props = s.get("properties", {})
        for key in s.get("required", ()):
            if key not in value:
                yield path, f"'{key}' is required"
        extra = s.get("additionalProperties", True)
        for key, item in value.items():
            if "propertyNames" in s:
                for _, msg in self.errors(key, s["propertyNames"], path):
                    yield (*path, key), f"key {msg}"
            if key in props:
                yield from self.errors(item, props[key], (*path, key))
            elif extra is False:
                yield (*path, key), f"unknown key '{key}'"
            elif isinstance(extra, dict):
                yield from self.errors(item, extra, (*path, key))

    def _array(self, value: list[Any], s: Schema, path: tuple[Any, ...]
               ) -> Iterator[tuple[tuple[Any, ...], str]]:
        if len(value) < s.get("minItems", 0):
            yield path, f"needs at least {s['minItems']} item(s)"
        if s.get("uniqueItems") and len({json.dumps(v, default=str) for v in value}) < len(value):
            yield path, "items must be unique"
        if "items" in s:
            for k, item in enumerate(value):
                yield from self.errors(item, s["items"], (*path, k))


def validate(value: Any, schema: Schema) -> list[tuple[tuple[Any, ...], str]]:
    """(path, message) for every way `value` breaks `schema` (the draft-07 subset used here)."""
    return list(_Validator(schema).errors(value, schema, ()))


def _locate(root: Any, path: tuple[Any, ...]) -> tuple[str, int, int]:
    cur, where = root, (root.file, root.line, root.col) if isinstance(root, Located) else ("", 1, 1)
    for step in path:
        if isinstance(cur, LDict) and step in cur:
            pos, cur = cur.key_pos[step], cur[step]
            scalar = isinstance(cur, Located) and not isinstance(cur, LDict | LList) and cur.line
            where = (cur.file, cur.line, cur.col) if scalar else (pos.file, pos.line, pos.col)
        elif isinstance(cur, LList) and isinstance(step, int) and step < len(cur):
            cur = cur[step]
            if isinstance(cur, Located):
                where = (cur.file, cur.line, cur.col)
    return where


def schema_problems(path: str | Path, overlay: bool = False) -> list[FlowProblem]:
    """A YAML file checked against the flow (or overlay) schema, each problem at its place."""
    try:
        root, problems = load_located(path)
    except FlowError as exc:
        return [exc.problem]
    schema = overlay_schema() if overlay else json.loads(schema_text())
    for where, message in validate(root, copy.deepcopy(schema)):
        file, line, col = _locate(root, where)
        shown = ".".join(map(str, where)) or "the file"
        problems.append(FlowProblem(file or str(path), line, col, f"{shown}: {message}"))
    return problems
