"""Every ```yaml block of docs/flow-format.md (and of the README, if it has any) lints as it says.

A block with `flow:` is a whole flow: it must lint with no error and no warning. A block with
`overlay:` is laid over the last whole flow above it, and so is a fragment (a block with
neither: it becomes an overlay named "fragment"). A block whose first line is
`# lint: error TEXT` shows a mistake: lint must report an error containing TEXT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ivr.flow import lint_flow

from .conftest import ROOT

DOCS = (ROOT / "docs" / "flow-format.md", ROOT / "README.md")
_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)
_ERROR = re.compile(r"\A# lint: error (.+)\n")


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks() -> list[Block]:
    out = []
    for doc in DOCS:
        text = doc.read_text("utf-8")
        for m in _BLOCK.finditer(text):
            out.append(Block(doc.name, text[:m.start()].count("\n") + 2, m.group(1)))
    return out


def _kind(block: Block) -> str:
    data = yaml.safe_load(block.text)
    assert isinstance(data, dict), f"{block}: not a mapping"
    return "flow" if "flow" in data else "overlay" if "overlay" in data else "fragment"


def _cases() -> list[tuple[Block, Block | None]]:
    """(block, the whole flow it is laid over, or None for a whole flow)."""
    out: list[tuple[Block, Block | None]] = []
    base: Block | None = None
    for block in blocks():
        if _kind(block) == "flow":
            base = block
            out.append((block, None))
        else:
            assert base is not None, f"{block}: no whole flow above it to lay it over"
            out.append((block, base))
    return out


def test_the_docs_have_examples_of_each_kind() -> None:
    kinds = [_kind(b) for b in blocks()]
    assert {"flow", "overlay", "fragment"} <= set(kinds), kinds


@pytest.mark.parametrize(("block", "base"), _cases(), ids=lambda c: str(c) if c else "")
def test_each_yaml_example_lints_as_it_says(block: Block, base: Block | None,
                                            tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    overlays = []
    if base is None:
        flow.write_text(block.text, "utf-8")
    else:
        flow.write_text(base.text, "utf-8")
        overlay = tmp_path / "example.yaml"
        text = block.text if _kind(block) == "overlay" else "overlay: fragment\n" + block.text
        overlay.write_text(text, "utf-8")
        overlays.append(overlay)
    report = lint_flow(flow, overlays)
    errors = [str(f) for f in report.findings if f.level == "error"]
    expected = _ERROR.match(block.text)
    if expected:
        assert any(expected.group(1) in e for e in errors), (str(block), errors)
    else:
        shown = [str(f) for f in report.findings if f.level != "note"]
        assert shown == [], (str(block), shown)
