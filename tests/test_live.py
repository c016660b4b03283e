"""`ivr call`: the live path with a microphone stand-in (real frames, real Vosk decoding)."""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

from ivr.asr import ServiceConfig, SpeechService
from ivr.audio import frames, read_wav
from ivr.call import Hotline
from ivr.cli import main
from ivr.flow import Flow, load_flow_with_overlays
from ivr.live import Speaker, live_call
from ivr.models import resolve_model
from ivr.types import Audio

from .conftest import BANK, ROOT

AUDIO = ROOT / "samples" / "audio"


@pytest.fixture(scope="module")
def hotline(bank: Flow) -> Iterator[Hotline]:
    service = SpeechService(resolve_model("ko"), "ko", ServiceConfig(workers=1))
    yield Hotline(bank, recognizer_factory=lambda lang: service)
    service.close()


def mic(*parts: str | float) -> Iterator[bytes]:
    """20 ms frames of sample WAVs and seconds of a quiet line, as a sound card gives them
    (at four times real time: the recogniser keeps up, as it does live)."""
    rng = np.random.default_rng(0)
    chunks = [np.frombuffer(read_wav(AUDIO / f"{p}.wav").pcm, "<i2") if isinstance(p, str)
              else np.rint(rng.standard_normal(int(p * 16000)) * 3).astype("<i2")
              for p in parts]
    pcm = np.concatenate(chunks).astype("<i2").tobytes()
    start = time.perf_counter()
    for i, frame in enumerate(frames(Audio(pcm, "mic", 16000, 1, "pcm16"), 20)):
        time.sleep(max(0.0, start + i * 0.005 - time.perf_counter()))
        yield frame


class Prompts(Speaker):
    """Prompts that 'play' for a number of microphone frames, and record being cut short."""

    def __init__(self, out: io.StringIO, frames_per_prompt: int) -> None:
        super().__init__("ko", out, voice=False)
        self.frames, self.left, self.stopped = frames_per_prompt, 0, 0

    def say(self, prompts: list[str]) -> None:
        super().say(prompts)
        self.left = self.frames

    @property
    def speaking(self) -> bool:
        self.left -= 1
        return self.left > 0

    def stop(self) -> None:
        if self.left > 0:
            self.stopped += 1
        self.left = 0


def test_a_live_call_shows_prompts_partials_and_the_trace(bank: Flow, hotline: Hotline) -> None:
    out = io.StringIO()
    code = live_call(bank, "ko", None, microphone=mic(1.0, "ko_credit_report", 1.5),
                     hotline=hotline, out=out, speaker=Prompts(out, 25))
    text = out.getvalue()
    assert code == 0
    assert text.startswith("ivr> 안녕하세요")  # the greeting, printed
    assert "caller… " in text  # what the caller is saying, while they say it
    assert "\ncaller> " in text  # what was understood
    assert "-- node credit_report; path root > credit_report" in text
    assert " heard " in text and " enter " in text  # the trace at hang-up


def test_talking_over_a_prompt_stops_it(bank: Flow, hotline: Hotline) -> None:
    out = io.StringIO()
    prompts = Prompts(out, 10_000)  # a prompt that would play for minutes
    live_call(bank, "ko", None, microphone=mic(0.3, "ko_credit_report", 1.5), hotline=hotline,
              out=out, speaker=prompts)
    assert out.getvalue().count("(barge-in: prompt stopped)") == 1
    assert "node credit_report" in out.getvalue()


@pytest.mark.slow
def test_no_input_counts_from_the_end_of_the_prompt(bank: Flow, hotline: Hotline) -> None:
    out = io.StringIO()
    # the prompt plays for 4 s, so the flow's 6 s no-input timer ends at 10 s: not yet at 9 s
    live_call(bank, "ko", None, microphone=mic(9.0), hotline=hotline, out=out,
              speaker=Prompts(out, 200))
    assert " no_input" not in out.getvalue()
    out = io.StringIO()
    live_call(bank, "ko", None, microphone=mic(11.0), hotline=hotline, out=out,
              speaker=Prompts(out, 200))
    assert out.getvalue().count(" no_input") == 1


@pytest.mark.slow
def test_the_elderly_overlay_waits_longer_and_speaks_slower(bank: Flow) -> None:
    elderly = load_flow_with_overlays(BANK, [ROOT / "flows" / "overlays" / "elderly.yaml"])
    assert elderly.settings.no_input_seconds == 10 and elderly.settings.prompt_rate == 0.8
    service = SpeechService(resolve_model("ko"), "ko", ServiceConfig(workers=1))
    try:
        slow = Hotline(elderly, recognizer_factory=lambda lang: service)
        assert slow.listener("ko").config.no_input_s == 10
        out = io.StringIO()  # 4 s of prompt + 10 s: still waiting at 13 s
        live_call(elderly, "ko", None, microphone=mic(13.0), hotline=slow, out=out,
                  speaker=Prompts(out, 200))
        assert " no_input" not in out.getvalue()
        out = io.StringIO()  # at 14 s the caller has said nothing: the green channel
        live_call(elderly, "ko", None, microphone=mic(15.0), hotline=slow, out=out,
                  speaker=Prompts(out, 200))
        assert out.getvalue().count(" no_input") == 1 and "green_channel" in out.getvalue()
    finally:
        service.close()
    assert Speaker("ko", io.StringIO(), voice=False, rate=0.8).words_per_minute == 140


def test_no_audio_device_is_one_clear_line(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as if PortAudio were missing
    for flags in ([], ["--no-barge-in", "--no-voice"]):
        assert main(["call", "--flow", str(BANK), "--lang", "ko", *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("ivr: error: no audio input device") and "\n" not in err
