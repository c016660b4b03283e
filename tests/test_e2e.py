"""End to end: the committed sample calls through real Vosk decoding, and the CLI contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.call import Hotline
from ivr.flow import Flow
from ivr.handoff import open_queue
from ivr.qa.report import met_expectations
from ivr.qa.script import load_scripts
from ivr.speech import SpeechConfig

from .conftest import BANK, ROOT

SAMPLES = ROOT / "samples"
SCRIPTS = [pytest.param(p, marks=pytest.mark.slow) if "audio" in p.stem else p  # Vosk: ~10 s
           for p in sorted((SAMPLES / "calls").glob("*.yaml"))]


@pytest.fixture(scope="module")
def hotline(bank: Flow, tmp_path_factory: pytest.TempPathFactory) -> Hotline:
    """Cold recognisers (new for every utterance), so what a sample call is heard saying does
    not depend on which samples were decoded before it (`DecoderConfig.warm`)."""
    queue = open_queue(tmp_path_factory.mktemp("q") / "queue.sqlite3")
    return Hotline(bank, queue=queue, speech=SpeechConfig().cold())


@pytest.mark.slow
def test_cold_decoding_hears_a_caller_alike_whatever_came_before(bank: Flow) -> None:
    """Warm recognisers built their search graph in the order earlier callers led them, and
    that order can decide words (warm, ko_fraud.wav is heard as noise after
    ko_credit_report.wav). Cold, the committed Korean callers decoded forwards and backwards
    are heard alike."""
    calls = load_scripts(SAMPLES / "calls" / "ko_audio.yaml")
    heard: list[dict[str, tuple[str, ...]]] = []
    for order in (calls, calls[::-1]):
        hotline = Hotline(bank, speech=SpeechConfig().cold())
        try:
            heard.append({c.call_id: tuple(t.heard for t in hotline.run(
                c.call_id, c.lang or "ko", c.inputs).turns) for c in order})
        finally:
            hotline.close()
    assert heard[0] == heard[1]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_sample_calls_reach_the_expected_node(hotline: Hotline, script: Path) -> None:
    for call in load_scripts(script):
        assert call.expect, f"{call.call_id} has no expectation"
        result = hotline.run(call.call_id, call.lang or "ko", call.inputs)
        assert met_expectations(result, call.expect) == [], (call.call_id, result.turns)


def test_speech_turns_really_went_through_vosk(hotline: Hotline) -> None:
    call = load_scripts(SAMPLES / "calls" / "ko_audio.yaml")[0]
    result = hotline.run("vosk-check", "ko", call.inputs)
    assert result.audio_seconds > 1.0 and result.decode_seconds > 0.0
    assert "내역" in result.turns[0].heard  # the words came from the recogniser, not the script


def test_handoffs_land_in_the_queue_with_context(hotline: Hotline) -> None:
    call = next(c for c in load_scripts(SAMPLES / "calls" / "ko_multiturn.yaml")
            if c.call_id == "ko-not-understood")
    hotline.run("queued-call", "ko", call.inputs)
    assert hotline.queue is not None
    waiting = [q for q in hotline.queue.list() if q.handoff.call_id == "queued-call"]
    assert len(waiting) == 1
    record = waiting[0].handoff
    assert record.reason in ("low_confidence", "no_match") and len(record.heard) >= 2
    assert record.path[0] == "root"


def test_same_audio_same_trace(hotline: Hotline) -> None:
    call = load_scripts(SAMPLES / "calls" / "ko_multiturn.yaml")[0]
    traces = {json.dumps([e.as_dict() for e in hotline.run("det", "ko", call.inputs).trace],
                         ensure_ascii=False) for _ in range(3)}
    assert len(traces) == 1


def ivr(*args: str, stdin: str | None = None, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ivr.cli", *args], input=stdin, text=True,
                          capture_output=True, cwd=ROOT, env={**os.environ, **(env or {})},
                          timeout=120)


@pytest.mark.slow
def test_replay_json_contract_one_object_per_call_in_order(tmp_path: Path) -> None:
    wavs = [str(SAMPLES / "audio" / n) for n in ("ko_atm.wav", "ko_complaint_8k_mulaw.wav",
                                                  "ko_fraud_8k_alaw_stereo.wav")]
    out = ivr("replay", "--flow", str(BANK), "--queue", str(tmp_path / "q.db"), "--json", *wavs)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["call"] for r in rows] == ["ko_atm", "ko_complaint_8k_mulaw",
                                         "ko_fraud_8k_alaw_stereo"]
    for r in rows:
        assert set(r) == {"call", "turns", "path", "outcome"}
        assert set(r["outcome"]) == {"type", "node", "queue", "reason"}
        for t in r["turns"]:
            assert set(t) == {"heard", "intent", "confidence", "decision", "node"}
    # reached atm_locator, which asks where the caller is; the recording ends there
    assert rows[0]["outcome"] == {"type": "node", "node": "atm_locator", "queue": None,
                                  "reason": "caller_hung_up"}
    assert rows[1]["path"] == ["root", "complaint"]


def test_route_json_contract_and_stdin() -> None:
    out = ivr("route", "--flow", str(BANK), "--lang", "zh", "--json",
              stdin="我的卡被取款机吞了\n今天天气怎么样\n卡\n")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3
    assert set(rows[0]) == {"text", "intent", "node", "confidence", "decision", "candidates"}
    assert rows[0]["node"] == "card_retained" and rows[0]["decision"] == "accept"
    assert len(rows[0]["candidates"]) == 3
    assert set(rows[0]["candidates"][0]) == {"intent", "score"}
    assert rows[1]["decision"] != "accept" and rows[2]["decision"] != "accept"
    assert all(0.0 <= r["confidence"] <= 1.0 for r in rows)


@pytest.mark.parametrize("args, fragment", [
    pytest.param(["replay", "--flow", str(BANK), "README.md"], "README.md",
                 marks=pytest.mark.slow),  # loads the Korean model in a fresh process
    (["replay", "--flow", "nope.yaml", "x.wav"], "nope.yaml:1:1: no such file"),
    (["route", "--flow", str(ROOT / "tests/flows/bad/many_problems.yaml"), "--lang", "en", "hi"],
     "many_problems.yaml:3:8: start: unknown node 'rot'"),
    pytest.param(["replay", "--flow", str(BANK), "--lang", "zh",
                  str(SAMPLES / "audio/ko_atm.wav")],
                 "ivr models download vosk-model-small-cn-0.22", marks=pytest.mark.slow),
])
def test_bad_input_is_one_clear_line_exit_2(args: list[str], fragment: str,
                                            tmp_path: Path) -> None:
    out = ivr(*args, env={"IVR_QUEUE": str(tmp_path / "q.db"), "IVR_MODELS": str(tmp_path)})
    assert out.returncode == 2
    assert fragment in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


@pytest.mark.slow
def test_queue_commands_show_the_whole_context(tmp_path: Path) -> None:
    db = str(tmp_path / "q.db")
    out = ivr("replay", "--flow", str(BANK), "--queue", db,
              str(SAMPLES / "calls" / "en_text.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr
    listed = ivr("queue", "list", "--queue", db)
    assert "en-scam" in listed.stdout and listed.returncode == 0
    taken = ivr("queue", "take", "--queue", db)
    assert taken.returncode == 0
    assert "en-scam" in taken.stdout and "fraud" in taken.stdout  # urgent first
    assert "pretending to be the police" in taken.stdout  # what was heard
    stats = ivr("queue", "stats", "--queue", db, "--json")
    assert json.loads(stats.stdout)
    every = ivr("queue", "list", "--queue", db, "--json").stdout
    assert "4111111111111111" not in every and "****1111" in every


@pytest.mark.slow
def test_the_demo_replay_meets_every_sample_expectation(tmp_path: Path) -> None:
    """`make demo`'s replay, as the Makefile spells it, exits 0: every sample call meets its
    expectations. (Warm, ko_fraud.wav after ko_credit_report.wav was heard as noise and the
    demo exited 1 unnoticed: no test ran it.)"""
    recipe = (ROOT / "Makefile").read_text("utf-8").split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    [line] = [x.strip() for x in recipe.splitlines() if "$(IVR) replay" in x]
    args = line.replace("$(IVR)", "", 1).split()
    assert "--cold" in args
    args = [str(BANK) if a == "$(FLOW)" else str(tmp_path / "q.sqlite3")
            if a == "var/demo-queue.sqlite3" else a for a in args]
    files = [str(p) for p in sorted((SAMPLES / "calls").glob("*.yaml"))]
    args = [a for a in args if a != "samples/calls/*.yaml"] + files
    done = subprocess.run([sys.executable, "-m", "ivr.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "FAILED" not in done.stdout
