"""The independent-caller speech evaluation (bench.speech_independent): data, figures, and a
handful of callers decoded end to end with real Vosk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.speech_independent import main, summarize
from bench.speech_independent_data import (
    CONDITIONS,
    TUNING_CONDITIONS,
    load_examples,
    make_independent,
    speakable,
    voice_for,
)

needs_tools = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="needs espeak-ng and sox")


@given(st.text(min_size=1, max_size=40))
def test_the_voice_is_a_function_of_the_sentence_and_in_range(text: str) -> None:
    v = voice_for(text)
    assert v == voice_for(text)
    assert 35 <= v.pitch <= 70 and 160 <= v.rate <= 240


def test_voices_vary_across_sentences() -> None:
    voices = {voice_for(e.text) for e in load_examples("test")[:40]}
    assert len({v.pitch for v in voices}) > 10 and len({v.rate for v in voices}) > 10


def test_only_hangul_sentences_are_spoken() -> None:
    assert speakable("잔액 조회하려고요.") == "잔액 조회하려고요"
    assert speakable("ATM 가기 귀찮아서요") is None
    assert speakable("끝자리 4821 계좌") is None


def test_test_is_ko_speech_whole_and_dev_is_ko_dev_only() -> None:
    test, dev = load_examples("test"), load_examples("dev")
    assert len(test) == 570 and sum(e.label == "out_of_scope" for e in test) == 60
    assert {e.split for e in dev} == {"dev"} and 200 < len(dev) < 300
    assert not {e.text for e in test} & {e.text for e in dev}
    assert all(speakable(e.text) == e.text for e in dev)


def test_dev2_is_dev_only_and_apart_from_test() -> None:
    dev2, test = load_examples("dev2"), {e.text for e in load_examples("test")}
    assert {e.split for e in dev2} == {"dev"} and 400 < len(dev2) < 500
    assert all(speakable(e.text) == e.text for e in dev2)
    assert not {e.text for e in dev2} & test


@needs_tools
def test_tuning_lines_are_8k_and_refused_on_test(tmp_path: Path) -> None:
    example = load_examples("dev2")[0]
    for cond in TUNING_CONDITIONS:
        caller = make_independent(example, cond, tmp_path)
        assert caller.audio.narrowband and caller.audio.seconds > 0.5
    assert main(["--split", "test", "--conditions", "8k_chain",
                 "--out", str(tmp_path / "out")]) == 2


def test_goal_checks() -> None:
    def fig(routed: float, wrong: float, oos: float) -> dict[str, float]:
        return {"routed_or_confirmed_pct": routed, "misrouted_pct": wrong,
                "oos_accepted_pct": oos}
    s = summarize({"plain": {"16k": fig(15, 5, 9), "8k_alaw": fig(10, 5, 9)},
                   "grammar": {"16k": fig(20, 9, 30), "8k_alaw": fig(16, 9, 30)},
                   "ivr": {"16k": fig(41, 3, 8), "8k_alaw": fig(15, 3, 12)}})
    assert s["16k"]["goal"] == {"ivr>=2x_plain": True, "ivr>=40": True, "ivr_oos<=10": True}
    assert s["8k_alaw"]["goal"] == {"ivr>=grammar": False, "ivr>=25": False,
                                    "ivr_oos<=10": False}
    assert s["8k_alaw"]["ivr"] == {"routed_pct": 15, "accept_wrong_pct": 3,
                                   "oos_accept_pct": 12}


@needs_tools
def test_the_telephone_chain_is_8k_g711_and_cached(tmp_path: Path) -> None:
    example = load_examples("dev")[0]
    for cond in CONDITIONS:
        caller = make_independent(example, cond, tmp_path)
        assert caller.audio.narrowband == (cond != "16k")
        assert caller.audio.source_rate == (16000 if cond == "16k" else 8000)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 3 and not any("part" in f for f in files)
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    make_independent(example, "8k_alaw", tmp_path)
    assert stamp == {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}


@needs_tools
@pytest.mark.slow
def test_a_handful_of_callers_end_to_end_with_real_vosk(tmp_path: Path) -> None:
    """Six dev sentences (two out of scope), two conditions, all three pipelines (~1 min)."""
    out = tmp_path / "out"
    assert main(["--split", "dev", "--step", "60", "--conditions", "16k,8k_mulaw",
                 "--out", str(out), "--cache", str(tmp_path / "wav"), "--threads", "2"]) == 0
    results = json.loads((out / "speech_independent_dev.json").read_text("utf-8"))
    assert results["sentences"] == 6 and results["out_of_scope"] == 2
    heard = results["examples"]["ivr"]["16k"]
    assert len(heard) == 6
    assert any(h["heard"] for h in heard)  # real decoding heard something
    plain = results["examples"]["plain"]["16k"]
    assert any(h["heard"] for h in plain)
    assert set(results["summary"]) == {"16k", "8k_mulaw"}
    assert "| 8k_mulaw | ivr speech front-end |" in (out / "speech_independent_dev.md").read_text()


def test_the_views_tool_refuses_the_test_split() -> None:
    from bench.speech_independent_views import main as views_main
    assert views_main(["--splits", "test:6"]) == 2
