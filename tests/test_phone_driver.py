"""The phone driver and the prompt renderer, in process: real Vosk (the embedded Korean
model), real espeak-ng prompts, the bank flow; the line is a stand-in that paces audio like
`PhoneCall.play` (20 ms a frame) and takes caller events from a queue."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ivr.audio import wav_bytes
from ivr.call import CallResult, Hotline, Prompt
from ivr.errors import UsageError
from ivr.flow import load_linted
from ivr.handoff import open_queue
from ivr.phone.audiosocket import Audio, DtmfKey
from ivr.phone.driver import PhoneDriver
from ivr.phone.prompts import PromptAudio, flow_prompts, to_line_audio
from ivr.types import Dtmf

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "flows" / "bank_hotline.yaml"
CACHE = ROOT / "var" / "prompts"
needs_tools = pytest.mark.skipif(shutil.which("sox") is None or shutil.which("espeak-ng") is None,
                                 reason="needs sox and espeak-ng")


class StandInLine:
    """A line call: caller events in a queue, played audio counted frame by frame."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[Audio | DtmfKey] = asyncio.Queue()
        self.ended = asyncio.Event()
        self.plays: list[tuple[int, int]] = []
        """(frames asked for, frames played) per `play`."""

    async def play(self, pcm: bytes) -> None:
        frames = len(pcm) // 320
        self.plays.append((frames, 0))
        for n in range(frames):
            await asyncio.sleep(0.02)
            self.plays[-1] = (frames, n + 1)


@pytest.fixture(scope="module")
def hotline() -> Iterator[Hotline]:
    h = Hotline(load_linted(FLOW), queue=open_queue(":memory:"))
    yield h
    h.close()


def caller_pcm(tmp: Path, name: str) -> bytes:
    out = tmp / f"{name}_8k.raw"
    subprocess.run(["sox", str(ROOT / "samples" / "audio" / f"{name}.wav"), "-r", "8000",
                    "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", str(out), "pad", "0",
                    "3"], check=True, capture_output=True)
    return out.read_bytes()


async def call_with(hotline: Hotline, line: StandInLine, call_id: str,
                    caller: bytes = b"", key: Dtmf | None = None) -> CallResult:
    driver = PhoneDriver(hotline, PromptAudio(hotline.flow, CACHE), "ko")

    async def speak() -> None:
        if key is not None:
            await asyncio.sleep(0.5)
            await line.events.put(DtmfKey(key))
        for i in range(0, len(caller), 320):
            await line.events.put(Audio(caller[i:i + 320]))
            await asyncio.sleep(0.02)

    speaking = asyncio.create_task(speak())
    result = await asyncio.wait_for(driver.run(line, call_id), 60)
    speaking.cancel()
    return result


@pytest.mark.slow
@needs_tools
def test_the_caller_talking_over_the_greeting_stops_it_and_is_routed(
    hotline: Hotline, tmp_path: Path
) -> None:
    line = StandInLine()
    result = asyncio.run(call_with(hotline, line, "drv-barge", caller_pcm(tmp_path, "ko_fraud")))
    assert result.path == ("root", "fraud_freeze", "fraud_report")  # no number: no freeze step
    asked, played = line.plays[0]
    assert 0 < played < asked  # the greeting was cut when the caller spoke
    assert line.plays[-1][0] == line.plays[-1][1] > 0  # the handoff prompt played out


@needs_tools
def test_a_key_cuts_the_greeting_and_reaches_the_dialog(hotline: Hotline) -> None:
    line = StandInLine()
    result = asyncio.run(call_with(hotline, line, "drv-key", key=Dtmf.D3))
    assert result.path[:2] == ("root", "card_loss")
    asked, played = line.plays[0]
    assert played < asked


@needs_tools
def test_a_caller_hanging_up_mid_turn_ends_the_session(hotline: Hotline) -> None:
    line = StandInLine()

    async def run() -> CallResult:
        driver = PhoneDriver(hotline, PromptAudio(hotline.flow, CACHE), "ko")
        task = asyncio.create_task(driver.run(line, "drv-bye"))
        await asyncio.sleep(0.5)
        line.ended.set()
        return await asyncio.wait_for(task, 10)

    result = asyncio.run(run())
    assert result.outcome.type == "hangup" and result.path == ("root",)


@needs_tools
def test_prompts_are_cached_by_language_text_and_rate(tmp_path: Path) -> None:
    flow = load_linted(FLOW)
    audio = PromptAudio(flow, tmp_path / "cache", tmp_path / "studio")
    normal = Prompt(flow.nodes["root"].prompt["ko"], "ko", "root", 1.0)
    slow = Prompt(normal.text, "ko", "root", 0.8)
    assert audio.cache_path(normal) != audio.cache_path(slow)
    assert audio.cache_path(normal) == PromptAudio(flow, tmp_path / "cache").cache_path(normal)
    fast_pcm, slow_pcm = audio.audio(normal), audio.audio(slow)
    assert audio.cache_path(normal).is_file() and audio.cache_path(slow).is_file()
    assert len(slow_pcm) > 1.1 * len(fast_pcm)  # the elderly overlay's slower rate is heard
    levels = np.abs(np.frombuffer(fast_pcm, "<i2"))
    assert levels.max() > 3000  # speech, not silence
    texts = {(p.lang, p.text) for p in flow_prompts(flow)}
    assert ("en", flow.prompts["handoff"]["en"]) in texts
    assert all("{" not in text for _, text in texts)


def test_a_studio_recording_wins_for_its_node_only(tmp_path: Path) -> None:
    flow = load_linted(FLOW)
    studio = tmp_path / "studio" / "ko"
    studio.mkdir(parents=True)
    tone = (np.sin(np.arange(44100) * 2 * np.pi * 440 / 44100) * 9000).astype(np.int16)
    (studio / "root.wav").write_bytes(wav_bytes(np.stack([tone, tone], 1), 44100))
    audio = PromptAudio(flow, tmp_path / "cache", tmp_path / "studio")
    own = Prompt(flow.nodes["root"].prompt["ko"], "ko", "root")
    pcm = audio.audio(own)
    assert len(pcm) == 2 * 8000  # one second at 8 kHz, from a 44.1 kHz stereo file
    assert not (tmp_path / "cache").exists()  # nothing synthesised
    reprompt = Prompt(flow.prompts["reprompt"]["ko"], "ko", "root")
    assert audio.studio(reprompt) is None  # the node's recording is not its reprompt
    assert pcm == to_line_audio(wav_bytes(tone, 44100), "t")  # the recording itself


def test_without_espeak_ng_render_is_one_line_naming_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    audio = PromptAudio(load_linted(FLOW), tmp_path)
    with pytest.raises(UsageError, match="apt-get install espeak-ng"):
        audio.render_all()
    bare = tmp_path / "bin"
    bare.mkdir()
    done = subprocess.run([sys.executable, "-m", "ivr.cli", "prompts", "render", "--flow",
                           str(FLOW), "--out", str(tmp_path / "out")],
                          env={"PATH": str(bare), "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "espeak-ng" in done.stderr, done.stderr


@needs_tools
def test_a_line_that_sends_nothing_is_ended_not_held_for_ever(hotline: Hotline) -> None:
    line = StandInLine()  # no audio, no key, no hang-up: a phone that stopped its RTP
    driver = PhoneDriver(hotline, PromptAudio(hotline.flow, CACHE), "ko", media_timeout_s=1.0)
    result = asyncio.run(asyncio.wait_for(driver.run(line, "drv-dead"), 30))
    assert result.path == ("root",) and result.outcome.type == "hangup"
