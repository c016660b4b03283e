"""Streamed WAV files (`open_wav`) and a call's audio budget (`FrameBudget`).

The streaming reader must agree with `read_wav` on every file: the same one-line error for
every broken or hostile one (the corpus of `test_audio_corpus`), the same bytes, frame for
frame, for every readable one; and its memory must not grow with the file.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.trust_audio import write_noise_call
from ivr.audio import FrameBudget, frames, open_wav, read_wav, wav_bytes
from ivr.errors import AudioError, UsageError

from .conftest import ROOT
from .test_audio_corpus import BROKEN, mutate, mutation, valid_files

SAMPLES = sorted((ROOT / "samples" / "audio").glob("*.wav"))


def outcome(reader: str, path: Path, channel: str | int = "mix") -> str | list[bytes]:
    """What one reader makes of a file: its error message, or its 20 ms frames."""
    try:
        if reader == "whole":
            return list(frames(read_wav(path, channel=channel), 20))
        with open_wav(path, channel=channel) as wav:
            return list(wav.frames(20))
    except AudioError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{path}: "), str(exc)
        return str(exc)


def agree(path: Path, data: bytes | None = None, channel: str | int = "mix") -> None:
    if data is not None:
        path.write_bytes(data)
    assert outcome("stream", path, channel) == outcome("whole", path, channel)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_files_give_the_same_one_line_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.wav"
    path.write_bytes(BROKEN[name][0])
    with pytest.raises(AudioError):
        open_wav(path)
    agree(path)


def test_missing_empty_and_directory(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    for path in (tmp_path / "nope.wav", tmp_path / "empty.wav", tmp_path):
        with pytest.raises(AudioError):
            open_wav(path)
        agree(path)
    with pytest.raises(UsageError):
        open_wav(SAMPLES[0], channel="centre")


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_recordings_stream_to_the_same_frames(path: Path) -> None:
    agree(path)


@pytest.mark.slow
def test_every_truncation_and_clobbered_header_byte(tmp_path: Path) -> None:
    for number, data in enumerate(valid_files()):
        header_end = data.index(b"data") + 8
        for cut in range(len(data) + 1):
            agree(tmp_path / "cut.wav", data[:cut])
        for offset in range(header_end):
            for value in (0x00, 0xFF, 0x80):
                agree(tmp_path / f"v{number}.wav", data[:offset] + bytes([value])
                      + data[offset + 1:])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(base=st.sampled_from(range(4)), ops=st.lists(mutation, min_size=1, max_size=4))
def test_hostile_mutations_agree(tmp_path_factory: pytest.TempPathFactory, base: int,
                                 ops: list[tuple[str, int, int | bytes]]) -> None:
    data = valid_files()[base]
    for op in ops:
        data = mutate(data, *op)
    agree(tmp_path_factory.getbasetemp() / "hostile.wav", data)


@settings(max_examples=40, deadline=None)
@given(rate=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 44101]),
       channels=st.integers(1, 3), encoding=st.sampled_from(["pcm16", "mulaw", "alaw"]),
       seconds=st.floats(0.001, 9.0), channel=st.sampled_from(["mix", "left", 0]),
       seed=st.integers(0, 2**16))
def test_generated_recordings_stream_to_the_same_bytes(
        tmp_path_factory: pytest.TempPathFactory, rate: int, channels: int, encoding: str,
        seconds: float, channel: str | int, seed: int) -> None:
    n = max(1, round(rate * seconds))
    noise = np.random.default_rng(seed).normal(0, 6000, (n, channels))
    samples = np.clip(noise, -32768, 32767).astype(np.int16)
    agree(tmp_path_factory.getbasetemp() / "gen.wav", wav_bytes(samples, rate,
                                                                 encoding=encoding), channel)


def _traced_peak(path: Path, seconds: float) -> int:
    """Peak traced allocation while streaming the first `seconds` of a file."""
    tracemalloc.start()
    try:
        with open_wav(path) as wav:
            for count, _ in enumerate(wav.frames(20), 1):
                if count * 0.02 >= seconds:
                    break
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    write_noise_call(short, 30)
    write_noise_call(long, 600)  # 4.8 MB of μ-law: 19 MB once decoded at 16 kHz
    peak = _traced_peak(short, 30)
    assert peak < 2_000_000  # a few 32 KB blocks in flight, however long the file
    assert _traced_peak(long, 600) <= 1.2 * peak
    assert _traced_peak(long, 20) <= 1.2 * peak  # a turn that ends early reads no further


def test_a_file_that_shrinks_while_read_ends_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "shrinks.wav"
    write_noise_call(path, 60)
    with open_wav(path) as wav:
        stream = wav.frames(20)
        next(stream)
        path.write_bytes(path.read_bytes()[:100_000])
        rest = list(stream)
    assert 0 < len(rest) < 60 * 50


def test_reading_after_close_is_an_audio_error(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    write_noise_call(path, 10)
    with open_wav(path) as wav:
        stream = wav.frames(20)
        next(stream)
    with pytest.raises(AudioError, match="read after the file was closed"):
        list(stream)


@settings(max_examples=200, deadline=None)
@given(budget_s=st.floats(0.01, 5.0), turns=st.lists(st.integers(0, 300), max_size=6))
def test_budget_spends_frames_across_turns(budget_s: float, turns: list[int]) -> None:
    budget = FrameBudget(budget_s)
    frame = b"\0" * 640
    taken = [len(list(budget.take([frame] * n))) for n in turns]
    allowed = round(budget_s * 16000) // 320
    assert sum(taken) == min(sum(turns), allowed)
    assert budget.exhausted == (sum(turns) > allowed)
    assert budget.used_s == pytest.approx(sum(taken) * 0.02)


def test_budget_must_be_positive() -> None:
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(UsageError):
            FrameBudget(bad)
