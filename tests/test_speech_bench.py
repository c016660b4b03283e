"""The speech benchmark's own parts: synthetic callers, tallies, the report (no decoding)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bench.corpus import Example
from bench.speech import capacity_figure
from bench.speech_accuracy import Tally
from bench.speech_data import CONDITIONS, load_callers, make_caller
from bench.speech_load import Level, _Turns
from bench.speech_report import markdown
from ivr.errors import UsageError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def test_the_corpus_has_both_splits_and_out_of_scope_callers() -> None:
    tune, heldout = load_callers("tune"), load_callers("heldout")
    assert len(heldout) >= 150 and len(tune) >= 100
    assert not {e.text for e in tune} & {e.text for e in heldout}
    assert {e.label for e in heldout} >= {"out_of_scope", "card_loss", "human_agent"}
    with pytest.raises(UsageError):
        load_callers("train")


@needs_espeak
def test_callers_in_every_condition() -> None:
    example = Example("카드를 잃어버렸어요", "card_loss", "ko", "heldout", "test")
    callers = {c: make_caller(example, c) for c in CONDITIONS}
    assert callers["16k"].audio.source_rate == 16000
    assert callers["8k_mulaw"].audio.encoding == "mulaw"
    assert callers["8k_mulaw"].audio.source_rate == 8000
    for caller in callers.values():
        assert 0.4 < caller.speech_end_s < caller.audio.seconds - 1.0

    def tail_level(c: str) -> float:
        x = np.frombuffer(callers[c].audio.pcm, "<i2").astype(np.float64)
        return float(np.sqrt(np.mean(x[-8000:] ** 2)))

    assert tail_level("8k_mulaw_noisy") > 10 * tail_level("8k_mulaw")
    again = make_caller(example, "8k_mulaw_noisy")
    assert again.audio.pcm == callers["8k_mulaw_noisy"].audio.pcm  # seeded noise
    paused = make_caller(example, "16k", paused=True, gap_s=0.5)
    assert paused.paused and paused.speech_end_s > callers["16k"].speech_end_s + 0.3


def test_tally() -> None:
    tally = Tally()
    for label, kind, intent in [("a", "accept", "a"), ("a", "confirm", "a"),
                                ("a", "accept", "b"), ("out_of_scope", "accept", "a"),
                                ("out_of_scope", "no", None)]:
        tally.add(label, kind, intent, "heard")
    assert tally.figures() == {
        "callers": 3, "routed_pct": 33.3, "routed_or_confirmed_pct": 66.7,
        "misrouted_pct": 33.3, "out_of_scope": 2, "oos_accepted_pct": 50.0,
        "oos_confirmed_pct": 0.0}


def test_the_report_has_a_table_per_section() -> None:
    level = Level(4, latencies=[0.3], judge=[0.002], lags=[0.01], late=[0.0], turns=1)
    acc = {c: Tally().figures() for c in CONDITIONS}
    results = {
        "split": "heldout", "workers": 2, "cores": 2, "callers": 3, "plain_cutoff": 50.0,
        "model_load_s": 1.0, "rtf": {"plain": 0.1, "grammar": 0.03, "ivr": 0.15},
        "accuracy": {"plain": acc, "plain_wratio": acc, "grammar": acc, "ivr": acc,
                     "ivr_vs_plain_routed_ratio": dict.fromkeys(CONDITIONS)},
        "latency": {"ivr": level.figures(), "ivr_paused_callers": level.figures(),
                    "plain_vosk_endpointing": {"turns": 1, "eos_to_decision_ms_p50": 900.0,
                                               "eos_to_decision_ms_p95": 1500.0,
                                               "no_endpoint_within_s": 3.0,
                                               "no_endpoint": 0}},
        "capacity": {"callers": 3, "min_turns_per_call": 3,
                     "levels": {"ivr": [level.figures()], "plain": [level.figures()]},
                     "capacity": {"ivr": 4, "plain": 4}, "ratio_to_plain": {"ivr": 1.0}},
        "memory": {"curve": [{"audio_s": 0.0, "workers_rss_mb": 1000.0, "free_retired": 0}],
                   "concurrent_calls": 24, "workers_rss_after_load_mb": 900.0,
                   "growth_mb": 0.0, "per_call_mb": 0.0, "per_call_since_load_mb": 4.2},
    }
    text = markdown(results)
    for heading in ("## Navigation accuracy", "## Latency", "## Capacity at equal accuracy",
                    "## Memory"):
        assert heading in text
    assert "300.0 ms" in text and "4.2 MB per call" in text
    assert "ratio to plain: ivr 1.0x" in text


def _row(streams: int, routed: float, lag: float | None) -> dict[str, float | int | None]:
    return {"streams": streams, "routed_pct": routed, "lag_ms_p95": lag}


def test_capacity_is_the_most_calls_at_the_one_call_accuracy_within_the_lag_budget() -> None:
    rows = [_row(1, 40.0, 80.0), _row(8, 38.5, 120.0), _row(24, 37.9, 200.0),
            _row(32, 40.0, 900.0)]
    assert capacity_figure(rows) == 8  # 24: 2.1 points down; 32: lag over 250 ms
    assert capacity_figure([_row(1, 40.0, 300.0), _row(8, 40.0, 100.0)]) == 8
    assert capacity_figure([_row(1, 40.0, 300.0)]) == 0
    assert capacity_figure([_row(8, 40.0, 100.0)]) == 0  # no 1-call level to compare with
    assert capacity_figure([_row(1, 40.0, None)]) == 0


def test_every_level_hears_the_same_callers_equally_often() -> None:
    callers = list("abcde")
    for streams, min_turns, rounds in ((1, 3, 1), (8, 3, 5), (2, 0, 1)):
        turns = _Turns(callers, streams, min_turns)  # type: ignore[arg-type]
        taken = list(iter(turns.take, None))
        assert taken == callers * rounds
