"""`ivr graph`: Mermaid, DOT and SVG pictures of a flow; the README's picture kept current."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.errors import UsageError
from ivr.flow import Flow, load_flow_with_overlays
from ivr.flow.graph import render, to_dot, to_mermaid, to_svg

from .conftest import BANK, FLOWS, ROOT

DOCS = ROOT / "docs"


def test_mermaid_has_nodes_queues_global_intents_and_retries(mini: Flow) -> None:
    text = to_mermaid(mini)
    assert text.startswith("flowchart LR\n")
    assert 'n_root{{"root<br/>(menu)"}}' in text
    assert 'q_fraud[("queue fraud<br/>urgent")]' in text
    assert 'n_root -->|"key 1"| n_balance_inquiry' in text
    # what the dialog does (max_retries 2, max_low_confidence 2): speech not understood gives
    # up at the second, no input and unknown keys at the third (ivr.nlu.escalation)
    assert ('n_root -.->|"not understood: retry ×1; no input / unknown key: retry ×2"| n_root'
            in text)
    assert 'n_root -.->|"after 2 not understood / 3 misses"| n_human_agent' in text
    assert "n_root -.->|\"says\"| g_intents" in text
    assert "g_intents -.-> n_card_loss" in text  # label left out: the intent is the node
    assert 'n_fraud_report -->|"urgent"| q_fraud' in text


def test_menu_without_on_fail_points_at_the_fallback_queue(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text((FLOWS / "mini.yaml").read_text("utf-8").replace(
        "    on_fail: human_agent\n", ""), "utf-8")
    from ivr.flow import load_flow

    assert ('n_root -.->|"after 2 not understood / 3 misses"| q_general'
            in to_mermaid(load_flow(path)))


def test_dot_is_quoted_and_complete(mini: Flow) -> None:
    text = to_dot(mini)
    assert text.startswith('digraph "mini" {') and text.rstrip().endswith("}")
    assert '"root" -> "balance_inquiry" [label="key 1"];' in text
    assert '"queue:fraud" [label="queue fraud\\nurgent" shape=cylinder' in text


def test_overlays_show_in_the_picture() -> None:
    flow = load_flow_with_overlays(BANK, [ROOT / "flows" / "overlays" / "typhoon.yaml"],
                                   "2025-09-25T10:00:00+08:00", "hainan")
    text = to_mermaid(flow)
    assert "%% flow bank_hotline + overlays typhoon" in text
    assert 'n_announcement>"announcement"]' in text and "n_announcement --> n_root" in text
    assert 'n_relief_agent -->|"high"| q_disaster_relief' in text
    assert 'n_loan_deferral -->|"if not eligible"| n_relief_agent' in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_svg_through_graphviz(mini: Flow) -> None:
    svg = to_svg(mini)
    assert "<svg" in svg and "balance_inquiry" in svg


def test_svg_without_graphviz_is_one_clear_error(mini: Flow) -> None:
    with pytest.raises(UsageError, match="not installed: use --format mermaid or dot"):
        to_svg(mini, dot_cmd="no-such-dot-program")
    with pytest.raises(UsageError, match="unknown graph format"):
        render(mini, "png")


def test_readme_picture_is_current(bank: Flow) -> None:
    """docs/bank_hotline.mmd is `ivr graph flows/bank_hotline.yaml` (regenerate if this fails)."""
    assert (DOCS / "bank_hotline.mmd").read_text("utf-8") == to_mermaid(bank)
    svg = (DOCS / "bank_hotline.svg").read_text("utf-8")
    assert svg.lstrip().startswith("<?xml") and all(nid in svg for nid in bank.nodes)


def test_cli_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "g.dot"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["graph", str(FLOWS / "mini.yaml"), "--format", "dot", "-o", str(out)]) == 0
    assert out.read_text("utf-8").startswith("digraph")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["graph", str(BANK), "--overlay",
                     str(ROOT / "flows" / "overlays" / "elderly.yaml")]) == 0
    assert "overlays elderly" in buf.getvalue()  # drawn as if active
