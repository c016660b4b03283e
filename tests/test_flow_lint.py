"""`ivr lint`: golden transcripts, the bank flow clean, levels and exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
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
    report = lint_flow(BANK, [OVERLAYS / "typhoon.yaml", OVERLAYS / "elderly.yaml"])
    assert [str(f) for f in report.findings] == []
    assert report.overlays == ("typhoon", "elderly")
    assert report.exit_code(strict=True) == 0


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


# -- ids and keys (issue 10, finding 8) ----------------------------------------------------------
_HIDDEN = [("\u200b", "U+200B ZERO WIDTH SPACE"), ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
           ("\u2066", "U+2066 LEFT-TO-RIGHT ISOLATE"),
           ("\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE"), ("\u00ad", "U+00AD SOFT HYPHEN"),
           ("\u200d", "U+200D ZERO WIDTH JOINER")]
_MINI_PAY = (FLOWS / "mini.yaml").read_text("utf-8") + (
    "  pay_bill:\n    type: end\n    prompt: {zh: 再见, en: Bye}\n")


@pytest.mark.parametrize(("char", "named"), _HIDDEN, ids=[n for _, n in _HIDDEN])
def test_an_invisible_or_bidi_character_in_a_reference_is_named_by_code_point(
        char: str, named: str, tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(_MINI_PAY.replace("on_fail: human_agent", f'on_fail: "pay{char}_bill"'),
                    "utf-8")
    errors = [f.problem.message for f in lint_flow(path).findings if f.level == "error"]
    escaped = f"pay\\u{ord(char):04x}_bill"
    assert errors == [f"node 'root' on_fail: id '{escaped}' contains {named}: ids are plain "
                      "names (letters, digits, '_', '-', '.')"]
    code = main(["route", "--flow", str(path), "--lang", "en", "hello"])
    assert code == 2


@pytest.mark.parametrize(("char", "named"), _HIDDEN, ids=[n for _, n in _HIDDEN])
def test_an_invisible_or_bidi_character_in_an_id_is_refused(char: str, named: str,
                                                            tmp_path: Path) -> None:
    bad = f"card{char}_loss"
    text = (FLOWS / "mini.yaml").read_text("utf-8").replace(
        "  card_loss:\n    type: service", f'  "{bad}":\n    type: service').replace(
        "  card_loss:\n    label", f'  "{bad}":\n    label')
    path = tmp_path / "f.yaml"
    path.write_text(text, "utf-8")
    errors = [str(f) for f in lint_flow(path).findings if f.level == "error"]
    escaped = f"card\\u{ord(char):04x}_loss"
    assert any(f"node id '{escaped}' contains {named}" in e for e in errors), errors
    assert any(f"intent id '{escaped}' contains {named}" in e for e in errors), errors
    assert not any(char in e for e in errors)  # never printed raw (it would reorder the line)


@pytest.mark.parametrize("name", ["pay_bill", "잔액_조회", "查询余额", "card-loss", "v2.menu"])
def test_plain_ids_of_any_script_pass(name: str) -> None:
    from ivr.flow.checks import bad_id

    assert bad_id(name) is None


@pytest.mark.parametrize("key", ['"12"', "12", '"1#"', '"１"', '""', '"a"'])
def test_a_dtmf_entry_is_exactly_one_keypad_key(key: str, tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text((FLOWS / "mini.yaml").read_text("utf-8").replace(
        'dtmf: {"1": balance_inquiry,', f'dtmf: {{{key}: balance_inquiry,'), "utf-8")
    errors = [f.problem.message for f in lint_flow(path).findings if f.level == "error"]
    assert len(errors) == 1 and "is not a keypad key (0-9, * or #, quoted)" in errors[0], errors
