"""The phone driver and the prompt renderer, in process: real Vosk (the embedded Korean
model), real espeak-ng prompts, the bank flow; the line is a stand-in that paces audio like
`PhoneCall.play` (20 ms a frame) and takes caller events from a queue."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.audio import wav_bytes
from ivr.call import Call, CallResult, Hotline, Prompt
from ivr.errors import UsageError
from ivr.flow import load_linted
from ivr.handoff import open_queue
from ivr.phone.audiosocket import Audio, DtmfKey
from ivr.phone.driver import PhoneDriver
from ivr.phone.prompts import (
    TRANSFER_FAILED,
    PromptAudio,
    flow_prompts,
    line_prompt,
    to_line_audio,
)
from ivr.types import Dtmf, Lang

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
    subprocess.run(["sox", "-D", "-R", str(ROOT / "samples" / "audio" / f"{name}.wav"),
                    "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", str(out),
                    "pad", "0", "3"], check=True, capture_output=True)
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
    assert result.path == ("root",)
    # ended through Call.fail: the handoff and the trace carry why
    assert (result.outcome.type, result.outcome.reason) == ("handoff", "line_dead")
    assert result.handoff is not None and result.handoff.reason == "line_dead"
    assert any(e.kind == "handoff" and e.get("reason") == "line_dead" for e in result.trace)
    assert hotline.queue is not None
    (filed,) = [q for q in hotline.queue.list() if q.handoff.call_id == "drv-dead"]
    assert filed.handoff.reason == "line_dead"
    # the phone driver's call is in the outcome log beside the queue: a platform failure
    (ended,) = [o for o in hotline.queue.outcomes.since(0.0) if o.call_id == "drv-dead"]
    assert (ended.kind, ended.reason, ended.node) == ("failed", "line_dead", "root")


class NotedQueue:
    """The real queue, plus `note` as the queue helper adds it (INTERFACES.md A), recorded."""

    def __init__(self, queue: object) -> None:
        self._queue = queue
        self.notes: list[tuple[str, str, str, str]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._queue, name)

    def note(self, call_id: str, event: str, actor: str, detail: str = "") -> None:
        self.notes.append((call_id, event, actor, detail))


class TransferringLine(StandInLine):
    """A SIP-like line whose REFER ends with `status`; what it played is kept."""

    def __init__(self, status: int, by: str = "refer") -> None:
        super().__init__()
        self.status = status
        self.record = SimpleNamespace(transfer_by=by)  # as PhoneCall.record says how
        self.referred: list[str] = []
        self.pcm: list[bytes] = []

    async def play(self, pcm: bytes) -> None:
        self.pcm.append(pcm)
        await super().play(pcm[:3200])  # 0.1 s each: the order matters here, not the pacing

    async def transfer(self, target: str) -> int:
        self.referred.append(target)
        return self.status


@pytest.fixture(scope="module")
def noted() -> Iterator[tuple[Hotline, NotedQueue]]:
    queue = NotedQueue(open_queue(":memory:"))
    hot = Hotline(load_linted(FLOW), queue=queue)  # type: ignore[arg-type]
    yield hot, queue
    hot.close()


@needs_tools
@pytest.mark.parametrize(("status", "by"), [(486, "refer"), (403, "refer"), (408, "refer"),
                                           (200, "refer"), (200, "bridge"), (486, "bridge")])
def test_a_transfer_that_fails_is_said_to_the_caller_and_noted(
    status: int, by: str, noted: tuple[Hotline, NotedQueue]
) -> None:
    hot, queue = noted
    queue.notes.clear()
    audio = PromptAudio(hot.flow, CACHE)
    line = TransferringLine(status, by)
    driver = PhoneDriver(hot, audio, "ko", {"fraud": "sip:agent@127.0.0.1:5090"})

    async def run() -> CallResult:
        task = asyncio.create_task(driver.run(line, f"drv-xfer-{status}"))
        await asyncio.sleep(0.3)
        await line.events.put(DtmfKey(Dtmf.D7))  # fraud_report, handed to fraud
        return await asyncio.wait_for(task, 60)

    result = asyncio.run(run())
    assert result.outcome.type == "handoff" and result.outcome.queue == "fraud", result
    assert line.referred == ["sip:agent@127.0.0.1:5090"]
    event = "transferred" if status == 200 else "transfer_failed"
    detail = f"SIP {status}" if by == "refer" else f"SIP {status} bridge"  # "transferred … bridge"
    assert queue.notes == [(f"drv-xfer-{status}", event, "engine", detail)]
    assert result.trace[-1].kind == event and result.trace[-1].get("status") == status
    assert result.trace[-1].get("by") == by
    filed = [q.handoff.call_id for q in queue.list()]
    assert f"drv-xfer-{status}" in filed  # filed before the transfer, kept
    failed = audio.audio(line_prompt(hot.flow, "transfer_failed", "ko"))
    said = [pcm == failed for pcm in line.pcm]  # the message comes last, after the REFER
    assert said == [False] * (len(said) - 1) + [status != 200], said


def test_transfer_failed_has_a_built_in_text_in_every_language() -> None:
    flow = load_linted(FLOW)
    for lang in ("ko", "zh", "en"):
        assert line_prompt(flow, "transfer_failed", lang).text == \
            flow.prompts["transfer_failed"][lang]
    bare = replace(flow, prompts={k: v for k, v in flow.prompts.items()
                                  if k != "transfer_failed"})
    for lang in ("ko", "zh", "en"):
        assert line_prompt(bare, "transfer_failed", lang).text == TRANSFER_FAILED[lang]
    assert {p.text for p in flow_prompts(bare)} >= set(TRANSFER_FAILED.values())


@pytest.mark.slow
@needs_tools
def test_warm_up_leaves_warm_recognisers_for_the_first_node_before_the_first_call() -> None:
    # The first calls after a start found every recogniser cold: settle 2.5-4.5 s against
    # ~0.1 s later, the worker fell behind real time and shed streams to one grammar view
    # (measured with bench.phone; see docs/phone.md). warm_up decodes the greeting's own
    # audio at the first node in turns side by side, so that many are warm per view.
    hotline = Hotline(load_linted(FLOW), queue=open_queue(":memory:"))
    try:
        service = hotline.recognizer("ko")
        created = sum(s["grammar_created"] for s in service.stats())
        driver = PhoneDriver(hotline, PromptAudio(hotline.flow, CACHE), "ko")
        frames = driver.warm_up(3)
        stats = service.stats()
        views = len(hotline.speech.service.decoder.views)
        assert frames >= 90  # about 2 s of greeting audio was decoded
        warm = sum(s["grammar_created"] for s in stats)
        assert warm - created >= 3 * views  # three turns side by side, each view its own
        reused = sum(s["grammar_reused"] for s in stats)
        driver.warm_up(1)  # as the first call will: it finds them warm, builds none
        stats = service.stats()
        assert sum(s["grammar_created"] for s in stats) == warm
        assert sum(s["grammar_reused"] for s in stats) >= reused + views
    finally:
        hotline.close()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 160).flatmap(  # backlogs of up to 3 batches
    lambda n: st.lists(st.one_of(st.integers(1, 3), st.just(0)), min_size=n, max_size=n)))
def test_a_backlog_goes_over_in_batches_in_order_with_nothing_lost(events: list[int]) -> None:
    # 0 is a key, n > 0 is a packet of n × 10 ms of audio. A call that fell behind gets what
    # waited in batches of at most MAX_BATCH events (one thread handoff each, not one per
    # packet); keys come after the audio sent before them. A first draft lost the event
    # after every full batch: one 20 ms frame turned ko_fraud's accept into a reprompt.
    from ivr.phone.callloop import MAX_BATCH, Upsampler
    from ivr.phone.callloop import CallLoop as _CallLoop

    line = StandInLine()
    packets = [np.full(80 * n, i % 3000, "<i2").tobytes() for i, n in enumerate(events) if n]
    packet = iter(packets)
    for n in events:
        line.events.put_nowait(DtmfKey(Dtmf.D5) if n == 0 else Audio(next(packet)))
    loop = _CallLoop(None, line, None, None)  # type: ignore[arg-type]  # batches need neither

    async def drain() -> list[object]:
        out: list[object] = []
        for _ in range(len(events) + 2):
            got = await loop._next_batch()
            if got == [] and line.events.empty():
                break
            out.append(got)
        return out

    got = asyncio.run(drain())
    frames = [f for batch in got if isinstance(batch, list) for f in batch]
    expected = Upsampler()
    assert frames == [f for p in packets for f in expected.push(p)]  # all, in order
    assert sum(isinstance(b, DtmfKey) for b in got) == events.count(0)
    audio_batches = [b for b in got if isinstance(b, list)]
    assert len(audio_batches) <= events.count(0) + 1 + len(events) // MAX_BATCH


@needs_tools
def test_the_lines_caller_number_reaches_the_call(hotline: Hotline,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # authenticate steps identify a phone caller by the number the SIP line gives
    # (P-Asserted-Identity, else From); a line without one opens the call with None
    opened: list[str | None] = []
    real = hotline.open_call

    def spy(call_id: str, lang: Lang, *, caller: str | None = None) -> Call:
        opened.append(caller)
        return real(call_id, lang, caller=caller)

    monkeypatch.setattr(hotline, "open_call", spy)
    driver = PhoneDriver(hotline, PromptAudio(hotline.flow, CACHE), "ko", media_timeout_s=0.5)
    for number in ("821012345678", None):
        line = StandInLine()
        line.caller = number  # type: ignore[attr-defined]
        asyncio.run(asyncio.wait_for(driver.run(line, f"drv-caller-{number}"), 30))
    assert opened == ["821012345678", None]
