"""The JSON Schema for editors: the bank flow and overlays validate; it agrees with the loader."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.cli import main
from ivr.flow.loader import INTENT_KEYS, NODE_KEYS, SETTINGS, TOP_KEYS
from ivr.flow.schema import overlay_schema, schema_problems, schema_text, validate

from .conftest import BANK, FLOWS, ROOT

SCHEMA: dict[str, Any] = json.loads(schema_text())
OVERLAYS = sorted((ROOT / "flows" / "overlays").glob("*.yaml"))


def test_bank_flow_validates_against_the_schema() -> None:
    assert validate(yaml.safe_load(BANK.read_text("utf-8")), SCHEMA) == []
    assert schema_problems(BANK) == []


@pytest.mark.parametrize("path", [FLOWS / "mini.yaml", FLOWS / "overlay_host.yaml",
                                  *sorted((FLOWS / "lint").glob("*.yaml"))], ids=lambda p: p.stem)
def test_good_test_flows_validate(path: Path) -> None:
    assert schema_problems(path) == []


@pytest.mark.parametrize("path", OVERLAYS, ids=lambda p: p.stem)
def test_overlays_validate_against_the_overlay_schema(path: Path) -> None:
    assert schema_problems(path, overlay=True) == []
    assert schema_problems(path)  # not a whole flow


def test_shipped_overlay_schema_is_derived_from_the_flow_schema() -> None:
    assert json.loads(schema_text(overlay=True)) == overlay_schema()


def test_schema_knows_exactly_the_loaders_keys() -> None:
    defs = SCHEMA["definitions"]
    assert set(SCHEMA["properties"]) == set(TOP_KEYS)
    assert set(defs["node"]["properties"]) == set(NODE_KEYS)
    assert set(defs["intent"]["properties"]) == set(INTENT_KEYS)
    assert set(defs["settings"]["properties"]) == {*SETTINGS, "fallback_queue"}
    for name, (default, lo, hi, integer) in SETTINGS.items():
        prop = defs["settings"]["properties"][name]
        assert (prop["default"], prop["minimum"], prop["maximum"]) == (default, lo, hi), name
        assert prop["type"] == ("integer" if integer else "number")


def test_schema_problems_point_at_the_line() -> None:
    problems = [str(p) for p in schema_problems(FLOWS / "bad" / "structure.yaml")]
    where = str(FLOWS / "bad" / "structure.yaml")
    assert f"{where}:5:1: setings: unknown key 'setings'" in problems
    assert f"{where}:3:17: languages.1: must be one of zh, en, ko, got 'fr'" in problems
    assert f"{where}:34:3: nodes.agent: 'queue' is required" in problems
    assert f"{where}:11:19: queues.vip.priority: must be one of low, normal, high, urgent, " \
           "got 'hihg'" in problems


def test_yaml_11_surprises_fail_the_schema_too() -> None:
    problems = [str(p) for p in schema_problems(FLOWS / "bad" / "yaml11.yaml")]
    assert any(":21:14: nodes.root.on_fail: must be string, got boolean" in p for p in problems)


@pytest.mark.parametrize("value, schema, expected", [
    (3, {"type": "integer", "minimum": 5}, [((), "must be at least 5")]),
    (2.0, {"type": "integer"}, []),
    (True, {"type": "integer"}, [((), "must be integer, got boolean")]),
    ({"a": None}, {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"},
                                                                     {"type": "null"}]}}}, []),
    (["x", "x"], {"type": "array", "uniqueItems": True}, [((), "items must be unique")]),
    ({"k": 1}, {"type": "object", "propertyNames": {"pattern": "^[a-k]$"}}, []),
    ({"type": "transfer"}, {"if": {"required": ["type"], "properties": {
        "type": {"const": "transfer"}}}, "then": {"required": ["queue"]}},
     [((), "'queue' is required")]),
])
def test_validator_subset(value: Any, schema: dict[str, Any], expected: list[Any]) -> None:
    assert validate(value, schema) == expected


def test_cli_prints_and_checks(tmp_path: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["schema"]) == 0
    assert json.loads(out.getvalue()) == SCHEMA
    target = tmp_path / "overlay.schema.json"
    assert main(["schema", "--overlay", "-o", str(target)]) == 0
    assert json.loads(target.read_text("utf-8")) == overlay_schema()
    with contextlib.redirect_stdout(io.StringIO()) as checked:
        assert main(["schema", "--check", str(BANK)]) == 0
        assert main(["schema", "--check", str(FLOWS / "bad" / "yaml11.yaml")]) == 2
    assert "schema problem" in checked.getvalue()
