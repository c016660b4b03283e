"""Voice activity and endpointing: events from frames, with every timer, and their invariants."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.audio.vad import Vad, VadConfig, frame_level_db
from ivr.errors import UsageError
from ivr.speech.endpoint import EndpointConfig, Endpointer, Event

RATE = 16000
FRAME = 320  # 20 ms


def tone(seconds: float, level: float = 8000.0, seed: int = 0) -> list[bytes]:
    """Speech-like frames: a loud noisy signal (white noise carries lots of first-difference)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * RATE)) * level
    return _frames(x)


def quiet(seconds: float, level: float = 3.0, seed: int = 1) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return _frames(rng.standard_normal(int(seconds * RATE)) * level)


def _frames(x: np.ndarray) -> list[bytes]:
    pcm = np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()
    return [pcm[i:i + 2 * FRAME] for i in range(0, len(pcm), 2 * FRAME)]


def run(frames: list[bytes], config: EndpointConfig | None = None) -> list[tuple[str, float]]:
    ep = Endpointer(config)
    events = []
    for frame in frames:
        event = ep.push(frame)
        if event is not None:
            events.append((event.value, round(ep.now, 2)))
    if not ep.done:
        events.append((ep.finish().value, round(ep.now, 2)))
    return events


def test_levels() -> None:
    assert frame_level_db(bytes(640)) == -120.0
    assert -10 < frame_level_db(tone(0.02, 10000)[0]) < 3
    assert frame_level_db(b"\x01\x00") == -120.0  # one sample: nothing to difference


def test_noise_floor_follows_the_line_and_speech_stands_out() -> None:
    vad = Vad()
    line = quiet(2.0, level=300)  # a noisy line at about -40 dBFS
    assert not any(vad.is_speech(f) for f in line[10:])
    assert vad.floor_db == pytest.approx(frame_level_db(line[-1]), abs=3)
    assert all(vad.is_speech(f) for f in tone(0.5, 8000))


def test_a_turn_start_speculate_commit() -> None:
    events = run(quiet(0.5) + tone(1.0) + quiet(1.5))
    assert [e for e, _ in events] == ["start", "speculate", "commit"]
    start, spec, commit = (t for _, t in events)
    assert start == pytest.approx(0.5 + 0.08, abs=0.03)
    assert spec == pytest.approx(1.5 + 0.24, abs=0.03)
    assert commit == pytest.approx(1.5 + 0.8, abs=0.03)


def test_a_mid_sentence_pause_resumes_instead_of_ending() -> None:
    events = run(quiet(0.3) + tone(0.8) + quiet(0.5) + tone(0.8) + quiet(1.0))
    assert [e for e, _ in events] == ["start", "speculate", "resume", "speculate", "commit"]


def test_no_input_timer_and_its_restart() -> None:
    assert run(quiet(6.0)) == [("no_input", 5.0)]
    ep = Endpointer(EndpointConfig(no_input_s=1.0))
    frames = quiet(3.0)
    for frame in frames[:50]:  # a prompt is playing for the first second
        ep.push(frame)
        ep.restart_no_input_timer()
    events = [ep.push(f) for f in frames[50:]]
    assert events.index(Event.NO_INPUT) == 49  # one second after the prompt ended


def test_longest_utterance_ends_the_turn() -> None:
    events = run(tone(3.0), EndpointConfig(max_speech_s=1.0))
    assert events[-1] == ("commit", 1.0)  # from where the speech started


def test_clicks_are_not_speech() -> None:
    assert run(quiet(1.0) + tone(0.04) + quiet(1.0)) == [("no_input", 2.04)]


def test_end_of_audio() -> None:
    assert run(quiet(0.5)) == [("no_input", 0.5)]
    assert run(quiet(0.2) + tone(0.5))[-1][0] == "commit"


@pytest.mark.parametrize("kwargs", [
    {"speculate_s": 1.0, "commit_s": 0.5}, {"speculate_s": 0.0}, {"no_input_s": 0.0},
    {"preroll_s": -1.0}])
def test_bad_timers_are_one_usage_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError) as err:
        EndpointConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_bad_vad_config() -> None:
    with pytest.raises(UsageError):
        VadConfig(margin_db=0.0)


runs = st.lists(st.tuples(st.booleans(), st.integers(1, 60)), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(runs)
def test_event_order_holds_for_any_pattern(pattern: list[tuple[bool, int]]) -> None:
    frames: list[bytes] = []
    for i, (speech, n) in enumerate(pattern):
        frames += tone(n * 0.02, seed=i) if speech else quiet(n * 0.02, seed=i)
    events = [e for e, _ in run(frames)]
    assert events[-1] in ("commit", "no_input") and events.count(events[-1]) == 1
    if events[-1] == "no_input":
        assert events == ["no_input"]
        return
    assert events[0] == "start"
    middle = events[1:-1]
    assert all(a != b for a, b in itertools.pairwise(middle))  # spec/resume alternate
    assert set(middle) <= {"speculate", "resume"} and (not middle or middle[0] == "speculate")
