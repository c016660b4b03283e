"""`ivr lint`: golden transcripts, the bank flow clean, levels and exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import time
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.flow import Flow, lint_flow
from ivr.flow.confusable import confusions
from ivr.flow.lint import check_flow

from .conftest import BANK, FLOWS, ROOT

OVERLAYS = ROOT / "flows" / "overlays"


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


@pytest.mark.parametrize("case", sorted((FLOWS / "lint").glob("*.cmd")), ids=lambda p: p.stem)
def test_lint_prints_exactly_the_expected_transcript(case: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Each tests/flows/lint/NAME.cmd holds `ivr lint` arguments; NAME.expected its output."""
    monkeypatch.chdir(case.parent)
    code, out = _run("lint", *shlex.split(case.read_text("utf-8")))
    assert out + f"exit {code}\n" == case.with_suffix(".expected").read_text("utf-8")


def test_bank_flow_lints_clean_with_and_without_its_overlays() -> None:
    started = time.perf_counter()
    report = lint_flow(BANK, [OVERLAYS / "typhoon.yaml", OVERLAYS / "elderly.yaml"])
    seconds = time.perf_counter() - started
    assert [str(f) for f in report.findings] == []
    assert report.overlays == ("typhoon", "elderly")
    assert report.exit_code(strict=True) == 0
    assert seconds < 5.0, seconds  # measured ~0.7 s


def test_cli_summary_and_strict(tmp_path: Path) -> None:
    code, out = _run("lint", str(BANK), "--strict")
    assert code == 0 and out.startswith(f"{BANK}: 0 errors, 0 warnings, 0 notes (")
    code, _ = _run("lint", str(FLOWS / "lint" / "phrases.yaml"), "-q")
    assert code == 2


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    text = (FLOWS / "mini.yaml").read_text("utf-8") + (
        "  orphan:\n    type: end\n    prompt: {zh: 再见, en: Bye}\n")
    path = tmp_path / "warn.yaml"
    path.write_text(text, "utf-8")
    assert _run("lint", str(path))[0] == 0
    code, out = _run("lint", str(path), "--strict")
    assert code == 1 and "warning: node 'orphan' is unreachable" in out


def test_json_lines_carry_level_and_code() -> None:
    _, out = _run("lint", str(FLOWS / "lint" / "graph.yaml"), "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert {r["code"] for r in rows} >= {"cycle", "dead-end", "unreachable", "unused-intent"}
    assert all(set(r) == {"path", "line", "col", "level", "code", "message"} for r in rows)


def test_unreadable_flow_is_one_error_not_a_traceback(tmp_path: Path) -> None:
    report = lint_flow(tmp_path / "nope.yaml")
    assert [f.level for f in report.findings] == ["error"] and report.flow is None
    assert report.exit_code() == 2


def test_confusions_by_sound_and_by_characters(mini: Flow) -> None:
    assert confusions(mini) == []
    flow = lint_flow(FLOWS / "lint" / "phrases.yaml").flow
    assert flow is not None
    found = confusions(flow)
    by_lang = {c.lang: c for c in found}
    assert by_lang["zh"].sound == 100.0 and by_lang["zh"].chars < 90  # 转账 / 转帐
    assert by_lang["en"].identical
    assert by_lang["ko"].sound > by_lang["ko"].chars  # jamo: one vowel off, not a syllable


def test_only_intents_heard_at_the_same_menu_are_compared(tmp_path: Path) -> None:
    text = (FLOWS / "lint" / "phrases.yaml").read_text("utf-8")
    text = text.replace("  remittance:\n", "  remittance:\n    global: false\n")
    path = tmp_path / "apart.yaml"
    path.write_text(text, "utf-8")
    report = lint_flow(path)
    assert not [f for f in report.findings if f.code in ("confusable", "same-phrase")]
    assert [f.code for f in report.findings if f.code == "unused-intent"] == ["unused-intent"]


def test_check_flow_on_the_bank_flow_is_empty(bank: Flow) -> None:
    assert check_flow(bank) == []
