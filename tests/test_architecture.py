"""Imports follow the data: no room imports one on its own layer or above (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

LAYERS: dict[str, int] = {
    "types": 0, "errors": 0,
    "textio": 1, "audio": 1, "privacy": 1, "models": 1, "backend": 1,
    "asr": 2,
    "nlu": 3,
    "speech": 4, "flow": 4,
    "dialog": 5, "handoff": 5, "steps": 5,
    "call": 6,
    "console": 7,
    "chat": 8, "live": 8, "qa": 8, "phone": 8, "desk": 8,
    "cli": 9,
}
"""Every room of the package and its layer (the table in docs/architecture.md)."""

ALLOWED_SIDEWAYS = {("flow", "nlu"), ("dialog", "steps")}
"""flow is on speech's layer but lints with the matcher; nlu must never import flow. The
dialog runs a node's steps beside it; steps must never import the dialog."""


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ivr"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported ivr module) for every import in a file."""
    package = list(path.relative_to(ROOT).parts[:-1])  # ivr/a/b.py and ivr/a/__init__.py: ivr.a
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
    return [(line, t) for line, t in found if t == "ivr" or t.startswith("ivr.")]


def test_every_room_has_a_layer() -> None:
    rooms = {p.stem if p.is_file() else p.name for p in (ROOT / "ivr").iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert rooms - LAYERS.keys() == set(), "add new rooms to LAYERS and docs/architecture.md"


def test_imports_follow_the_data() -> None:
    upward = []
    for path in sorted((ROOT / "ivr").rglob("*.py")):
        rel = path.relative_to(ROOT)
        module = ".".join(rel.with_suffix("").parts)
        here = _room(module)
        for line, target in _imports(path):
            there = _room(target)
            if there in (here, "ivr") or (here, there) in ALLOWED_SIDEWAYS:
                continue
            if here in LAYERS and there in LAYERS and LAYERS[there] >= LAYERS[here]:
                upward.append(f"{rel}:{line}: {here} (layer {LAYERS[here]}) imports "
                              f"{target} ({there}, layer {LAYERS[there]})")
    assert upward == [], "\n".join(upward)
