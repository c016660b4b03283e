"""`ivr test` and `ivr calibrate` from the command line: exit codes, printed failures, reports,
baselines, and thresholds written back into a flow file (text calls: no speech model)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.flow import load_flow
from ivr.qa.calibrate import Sample, sweep, write_thresholds
from ivr.qa.summary import compare

from .conftest import BANK, FLOWS, ROOT

MINI = str(FLOWS / "mini.yaml")
TEXT_SUITES = [str(ROOT / "tests" / "calls" / f"{lang}_text.yaml") for lang in ("en", "zh", "ko")]

GOOD = """lang: en
calls:
  - call: lost
    turns: [{say: "I lost my card", expect: {intent: card_loss}}]
    expect: {node: card_loss}
  - call: agent-key
    turns: [{dtmf: "0"}]
    expect: {outcome: {type: handoff, queue: general}}
"""
BAD = """lang: en
calls:
  - call: lost
    turns: [{say: "I lost my card", expect: {intent: balance_inquiry}}]
    expect: {node: balance_inquiry}
"""


def suite(tmp_path: Path, text: str, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return str(path)


def test_green_suite_exits_0_and_prints_the_metrics(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", suite(tmp_path, GOOD), "--flow", MINI, "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 calls: 2 passed, 0 failed" in out
    assert "navigation accuracy  100.0%  (2/2 calls)" in out
    assert "intent accuracy      100.0%  (1/1 labelled turns)" in out


def test_failed_expectation_exits_1_with_turn_expected_and_heard(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", suite(tmp_path, BAD), "--flow", MINI, "-j", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  lost [en]" in out
    assert "turn 1: say 'I lost my card': heard 'I lost my card' -> accept card_loss" in out
    assert "intent: expected balance_inquiry, got card_loss" in out
    assert "final node: expected balance_inquiry, got card_loss" in out


def test_known_failures_do_not_fail_the_suite(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    text = BAD.replace("  - call: lost\n", "  - call: lost\n    xfail: matcher gap\n")
    text += ("  - call: fine\n    xfail: was broken\n"
             "    turns: [{say: \"I lost my card\"}]\n    expect: {node: card_loss}\n")
    assert main(["test", suite(tmp_path, text), "--flow", MINI, "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "XFAIL lost [en]: matcher gap" in out
    assert "XPASS fine" in out and "remove the 'xfail' mark" in out


def test_bad_scripts_and_unplayable_calls_exit_2(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", suite(tmp_path, "lang: en\nturns: [{sya: x}]\n"), "--flow", MINI]) == 2
    assert "s.yaml:2:9: bad turn 'sya: x'" in capsys.readouterr().err
    assert main(["test", suite(tmp_path, "turns: [{say: x}]\n", "nolang.yaml"),
                 "--flow", MINI]) == 2
    assert "has no 'lang'; pass --lang" in capsys.readouterr().err
    unplayable = suite(tmp_path, "lang: en\nturns: [{audio: gone.wav}]\n", "audio.yaml")
    assert main(["test", unplayable, "--flow", MINI, "-j", "1"]) == 2
    assert "ERROR audio [en]" in capsys.readouterr().out
    assert main(["test", str(tmp_path / "empty"), "--flow", MINI]) == 2
    wav = ROOT / "samples" / "audio" / "ko_yes.wav"
    assert main(["test", str(wav), "--flow", MINI]) == 2
    assert "not a call script (.yaml)" in capsys.readouterr().err


def test_json_to_stdout_junit_and_progress(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "out" / "junit.xml"
    code = main(["test", suite(tmp_path, GOOD + BAD.split("calls:\n")[1].replace(
        "call: lost", "call: lost-2")), "--flow", MINI, "-j", "1", "--json", "--junit",
        str(junit), "--progress"])
    assert code == 1
    cap = capsys.readouterr()
    report = json.loads(cap.out)  # stdout holds only the JSON; people's text went to stderr
    assert report["metrics"]["calls"] == 3 and report["metrics"]["fail"] == 1
    assert [c["status"] for c in report["calls"]] == ["pass", "pass", "fail"]
    assert report["calls"][2]["failures"][0]["turn"] == 1
    assert "[" + "#" * 30 + "] 3/3 calls, 1 failed" in cap.err and "FAIL  lost-2" in cap.err
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "3" and root.get("failures") == "1"
    [failure] = root.iter("failure")
    assert "intent expected balance_inquiry, got card_loss" in (failure.text or "")


def test_baseline_lists_changed_calls_and_metric_deltas(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    before = tmp_path / "before.json"
    assert main(["test", suite(tmp_path, GOOD), "--flow", MINI, "-j", "1", "--json",
                 str(before)]) == 0
    changed = GOOD.replace('dtmf: "0"', 'dtmf: "1"')
    capsys.readouterr()
    assert main(["test", suite(tmp_path, changed), "--flow", MINI, "-j", "1", "--baseline",
                 str(before), "--json", str(tmp_path / "after.json")]) == 1
    out = capsys.readouterr().out
    assert "since the baseline: 1 calls changed, 0 new, 0 gone" in out
    assert ("agent-key: handoff to general (caller_asked) [pass] -> node balance_inquiry "
            "[fail]") in out
    assert "navigation_accuracy" in out and "100.0% -> 50.0%  (-50.0 pts)" in out
    after = json.loads((tmp_path / "after.json").read_text("utf-8"))
    assert after["baseline"]["changed"][0]["call"] == "agent-key"
    assert after["baseline"]["metrics"]["containment_rate"]["delta"] == 0.5
    reg = compare(after, json.loads(before.read_text("utf-8")))
    assert [c.call for c in reg.changed] == ["agent-key"]
    (tmp_path / "junk.json").write_text("[1]", "utf-8")
    assert main(["test", suite(tmp_path, GOOD), "--flow", MINI, "--baseline",
                 str(tmp_path / "junk.json")]) == 2


def test_sweep_trades_right_routes_for_false_accepts() -> None:
    samples = [Sample("root", "a", "a", 0.95, 0.9), Sample("root", "a", "a", 0.7, 0.6),
               Sample("root", "b", "a", 0.75, 0.7), Sample("root", None, "b", 0.6, 0.5)]
    points = {p.accept: p for p in sweep(samples, 0.5, 0.05, (0.55, 0.72, 0.8))}
    assert (points[0.55].right, points[0.55].false_accept) == (0.5, 0.5)
    assert (points[0.72].right, points[0.72].false_accept) == (0.25, 0.25)
    assert (points[0.8].right, points[0.8].false_accept, points[0.8].confirmed) == (
        0.25, 0.0, 0.75)


def test_write_thresholds_changes_only_the_two_numbers(tmp_path: Path) -> None:
    flow = tmp_path / "bank.yaml"
    shutil.copy(BANK, flow)
    now = load_flow(flow).settings
    accept, confirm = round(now.accept - 0.03, 2), round(now.confirm - 0.02, 2)
    before = flow.read_text("utf-8").splitlines()
    changes = write_thresholds(flow, accept, confirm)
    assert [c.split()[0] for c in changes] == ["accept", "confirm"]
    assert changes[0].endswith(f"-> {accept:.2f}") and changes[1].endswith(f"-> {confirm:.2f}")
    after = flow.read_text("utf-8").splitlines()
    diff = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(diff) == 2
    for (old, new), value in zip(diff, (accept, confirm), strict=True):
        assert new.split("#")[0].rstrip().endswith(f"{value:.2f}")
        assert old.replace(old.split(":")[1].split()[0], "") == \
            new.replace(new.split(":")[1].split()[0], "")  # only the number differs
    settings = load_flow(flow).settings
    assert (settings.accept, settings.confirm) == (accept, confirm)
    assert write_thresholds(flow, accept, confirm) == []  # already there
    assert not list(tmp_path.glob(".*"))  # no temporary file left


@pytest.mark.slow
def test_calibrate_proposes_and_writes_thresholds(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "bank.yaml"
    shutil.copy(BANK, flow)
    svg = tmp_path / "curve.svg"
    code = main(["calibrate", *TEXT_SUITES, "--flow", str(flow), "-j", "1",
                 "--max-false-accept", "0.05", "--svg", str(svg), "--write"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "labelled turns" in out and "accept  right   false accept  confirmed" in out
    assert "<- now" in out and "per node:" in out and "root" in out
    proposed = next(line for line in out.splitlines() if line.startswith("  proposed"))
    settings = load_flow(flow).settings
    assert proposed.split()[:5] == ["proposed", "accept", f"{settings.accept:.2f}", "confirm",
                                f"{settings.confirm:.2f}"]
    assert "# Bank hotline" in flow.read_text("utf-8")  # comments kept
    assert svg.read_text("utf-8").startswith("<svg") and "false accept" in svg.read_text("utf-8")
    assert main(["calibrate", *TEXT_SUITES, "--flow", str(flow), "-j", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["proposed"]["samples"] >= 60 and data["proposed"]["negatives"] >= 3
    assert main(["calibrate", *TEXT_SUITES, "--flow", str(flow),
                 "--max-false-accept", "2"]) == 2


UNCHECKED = """lang: en
calls:
  - call: says-nothing-expected
    turns: [{say: "I lost my card"}]
"""


def test_calls_without_expectations_are_unchecked_never_passed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "junit.xml"
    mixed = suite(tmp_path, GOOD + UNCHECKED.split("calls:\n")[1])
    assert main(["test", mixed, "--flow", MINI, "-j", "1", "--json", "--junit",
                 str(junit)]) == 0  # one unchecked call among checked ones: a warning
    cap = capsys.readouterr()
    report = json.loads(cap.out)
    assert [c["status"] for c in report["calls"]] == ["pass", "pass", "unchecked"]
    assert report["metrics"]["pass"] == 2 and report["metrics"]["unchecked"] == 1
    assert report["checked"] is True
    assert "3 calls: 2 passed, 0 failed" in cap.err and "1 unchecked (no expectations)" in cap.err
    assert "UNCHECKED says-nothing-expected [en]: the script expects nothing" in cap.err
    root = ET.parse(junit).getroot()
    assert root.get("skipped") == "1"
    [skipped] = root.iter("skipped")
    assert skipped.get("message", "").startswith("unchecked")


def test_a_suite_that_checks_nothing_fails_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "html"
    assert main(["test", suite(tmp_path, UNCHECKED), "--flow", MINI, "-j", "1", "--html",
                 str(html), "--json", str(tmp_path / "r.json")]) == 1
    cap = capsys.readouterr()
    assert "1 calls: 0 passed" in cap.out and "1 unchecked" in cap.out
    assert cap.err.strip() == ("ivr test: nothing was checked: none of the 1 calls has an "
                               "expectation (add 'expect:' to the scripts)")
    assert json.loads((tmp_path / "r.json").read_text("utf-8"))["checked"] is False
    assert "id='verdict'>NOTHING CHECKED<" in (html / "index.html").read_text("utf-8")


def test_report_paths_that_cannot_be_written_are_one_line_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = suite(tmp_path, GOOD)
    taken = tmp_path / "taken.html"
    taken.write_text("an existing file", "utf-8")
    for option, target, why in (
            ("--html", taken, f"cannot write the HTML report into {taken}: {taken} is a file"),
            ("--junit", tmp_path, f"cannot write {tmp_path}: it is a folder, not a file"),
            ("--json", taken / "r.json", f"{taken} is a file, not a folder")):
        assert main(["test", good, "--flow", MINI, "-j", "1", option, str(target)]) == 2
        err = capsys.readouterr().err
        assert why in err and len(err.strip().splitlines()) == 1, err
    assert taken.read_text("utf-8") == "an existing file"
