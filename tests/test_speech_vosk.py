"""The speech front-end end to end, with real Vosk decoding in real worker processes.

One recognition service (two workers, the embedded Korean model) serves every test here; the
last test kills one of its workers.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import FrozenInstanceError, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ivr.asr import RecognitionStream, ServiceConfig, SpeechService, StreamSpec
from ivr.audio import frames, read_wav
from ivr.call import Hotline, Speak
from ivr.dialog import Dialog
from ivr.flow import Flow
from ivr.handoff import open_queue
from ivr.models import resolve_model
from ivr.nlu.policy import decide
from ivr.speech import EndpointConfig, Heard, Listener, TurnContext
from ivr.types import Audio, Utterance

from .conftest import ROOT

AUDIO = ROOT / "samples" / "audio"


@pytest.fixture(scope="module")
def service() -> Iterator[SpeechService]:
    svc = SpeechService(resolve_model("ko"), "ko", ServiceConfig(workers=2))
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def hotline(bank: Flow, service: SpeechService, tmp_path_factory: pytest.TempPathFactory
            ) -> Hotline:
    queue = open_queue(tmp_path_factory.mktemp("q") / "queue.sqlite3")
    return Hotline(bank, queue=queue, recognizer_factory=lambda lang: service)


def wav(*parts: str | float) -> Audio:
    """Sample WAVs joined with silences (a float is that many seconds of a quiet line)."""
    rng = np.random.default_rng(0)
    chunks = [np.frombuffer(read_wav(AUDIO / f"{p}.wav").pcm, "<i2") if isinstance(p, str)
              else np.rint(rng.standard_normal(int(p * 16000)) * 3).astype("<i2")
              for p in parts]
    return Audio(np.concatenate(chunks).astype("<i2").tobytes(), "test", 16000, 1, "pcm16")


def listen(hotline: Hotline, audio: Audio, listener: Listener | None = None) -> Heard:
    dialog = Dialog(hotline.flow, "ko", hotline.matcher("ko"), "t")
    dialog.start()
    listener = listener or hotline.listener("ko")
    context = TurnContext(hotline.grammar(dialog), frozenset(hotline.flow.intents_at("root")))
    return listener.listen(frames(audio, 20), context)


def route(hotline: Hotline, utt: Utterance | None) -> tuple[str, str | None]:
    assert utt is not None
    d = decide(hotline.matcher("ko").score(utt.text, hotline.flow.intents_at("root")),
               hotline.flow.settings)
    return d.kind.value, d.intent


def test_settling_at_a_pause_then_going_on_decodes_as_if_uninterrupted(
        service: SpeechService, hotline: Hotline) -> None:
    dialog = Dialog(hotline.flow, "ko", hotline.matcher("ko"), "t")
    dialog.start()
    pcm = wav("ko_yes", 0.3, "ko_card_loss").pcm
    chunks = [pcm[i:i + 640] for i in range(0, len(pcm), 640)]

    def decode(settle_at: int | None) -> Any:
        stream = service.open_stream(StreamSpec(hotline.grammar(dialog)))
        for i, chunk in enumerate(chunks):
            if i == settle_at:
                stream.settle()
            stream.feed(chunk)
        return stream.final()

    whole = decode(None)
    assert decode(len(chunks) // 3) == whole  # the same words, alternatives and timings
    assert whole.grammar is not None and "분실" in whole.grammar.text


def test_the_words_do_not_depend_on_the_size_of_the_frames_fed(
        service: SpeechService, hotline: Hotline) -> None:
    """Audio reaches Vosk in `chunk_ms` pieces cut by audio time: 20 ms frames, 60 ms ones and
    odd-sized ones give the same pieces, so the same words (Vosk's own words change with the
    size of what it is fed)."""
    dialog = Dialog(hotline.flow, "ko", hotline.matcher("ko"), "t")
    dialog.start()
    pcm = wav(0.3, "ko_card_loss", 0.3).pcm

    def decode(size: int) -> Any:
        stream = service.open_stream(StreamSpec(hotline.grammar(dialog)))
        for i in range(0, len(pcm), size):
            stream.feed(pcm[i:i + size])
        result = stream.final()
        return result.grammars, result.free  # words, alternatives, timings

    whole = decode(640)
    assert decode(1920) == whole and decode(1000) == whole
    assert whole[1] is not None and "분실" in whole[0][0].text


def test_same_audio_same_words(service: SpeechService) -> None:
    audio = read_wav(AUDIO / "ko_salary_8k_mulaw.wav")
    first, second = service.recognize(audio), service.recognize(audio)
    assert (first.text, first.alternatives, first.words) == (
        second.text, second.alternatives, second.words)


def test_a_caller_who_stops_is_answered_a_quarter_second_later(hotline: Hotline) -> None:
    heard = listen(hotline, wav(0.5, "ko_card_loss", 1.5))
    assert heard.speech_end_s is not None and heard.decided_s is not None
    assert heard.decided_s - heard.speech_end_s == pytest.approx(0.24, abs=0.021)
    assert heard.revisions == 0 and heard.verdict is not None and heard.verdict.trusted
    assert route(hotline, heard.utterance) == ("accept", "card_loss")


def test_a_caller_who_pauses_mid_sentence_is_not_cut_off(hotline: Hotline) -> None:
    heard = listen(hotline, wav(0.5, "ko_elderly", 0.5, "ko_card_loss", 1.5))
    assert heard.speculations == 2 and heard.revisions == 1  # the pause, then the real end
    assert heard.decided_s is not None and heard.decided_s > 0.5 + 1.45 + 0.5 + 1.7
    assert heard.result is not None and heard.result.audio_seconds > 3.5


def test_silence_is_no_input_when_the_timer_runs_out(hotline: Hotline) -> None:
    quick = Listener(hotline.recognizer("ko"), hotline.listener("ko").judge,
                     EndpointConfig(no_input_s=2.0))
    heard = listen(hotline, read_wav(AUDIO / "silence_3s.wav"), quick)
    assert heard.utterance is None and heard.audio_seconds == 2.0


def test_the_longest_utterance_ends_the_turn(hotline: Hotline) -> None:
    short = Listener(hotline.recognizer("ko"), hotline.listener("ko").judge,
                     EndpointConfig(max_speech_s=1.0))
    heard = listen(hotline, wav(0.5, "ko_card_loss", 1.0), short)
    assert heard.speech_start_s is not None and heard.decided_s is not None
    assert heard.decided_s - heard.speech_start_s == pytest.approx(1.0, abs=0.03)


def test_out_of_menu_speech_is_not_forced_onto_a_menu_phrase(hotline: Hotline) -> None:
    for name in ("ko_weather", "ko_taxi"):
        heard = listen(hotline, wav(0.3, name, 1.2))
        assert heard.verdict is not None and not heard.verdict.trusted, heard.verdict
        assert route(hotline, heard.utterance)[0] != "accept"


def test_unknown_flow_words_are_reported_when_the_model_loads(
        bank: Flow, service: SpeechService, caplog: pytest.LogCaptureFixture) -> None:
    intent = bank.intents["card_loss"]
    odd = replace(intent, phrases={**intent.phrases, "ko": (*intent.phrases["ko"], "카드 qzxv")})
    flow = replace(bank, intents={**bank.intents, "card_loss": odd})
    with caplog.at_level(logging.WARNING):
        hotline = Hotline(flow, recognizer_factory=lambda lang: service)
        hotline.recognizer("ko")
    assert "qzxv" in hotline.unknown_words["ko"] and "qzxv" in caplog.text


class _Counting:
    """A recogniser that is not a SpeechService (the shared one, wrapped): what a hotline
    needs of it is only the `Recognizer` protocol."""

    def __init__(self, service: SpeechService) -> None:
        self.service, self.lang, self.model_dir = service, service.lang, service.model_dir
        self.closed = 0

    @property
    def vocabulary(self) -> frozenset[str]:
        return self.service.vocabulary

    def recognize(self, audio: Audio, grammar: Sequence[str] | None = None) -> Utterance:
        return self.service.recognize(audio, grammar)

    def open_stream(self, spec: StreamSpec) -> RecognitionStream:
        return self.service.open_stream(spec)

    def close(self) -> None:
        self.closed += 1


def test_a_hotline_uses_any_recognizer_through_the_protocol(bank: Flow,
                                                            service: SpeechService) -> None:
    rec = _Counting(service)
    hotline = Hotline(bank, recognizer_factory=lambda lang: rec)
    call = hotline.open_call("protocol", "ko")
    call.start()
    call.hear(frames(wav(0.3, "ko_card_loss", 1.0), 20), narrowband=False)
    assert call.node == "card_loss"
    hotline.close()
    assert rec.closed == 1  # closed through the protocol, not only if it is a SpeechService


def test_a_turn_carries_one_context_built_from_the_call(bank: Flow, hotline: Hotline) -> None:
    call = hotline.open_call("context", "ko")
    call.start()
    turn = call.listen(narrowband=True)
    assert turn.context == TurnContext(hotline.grammar(call.dialog),
                                       frozenset(bank.intents_at(call.node)), narrowband=True)
    assert turn.context.stream == StreamSpec(hotline.grammar(call.dialog), narrowband=True)
    with pytest.raises(FrozenInstanceError):
        turn.context.confirming = True  # type: ignore[misc]
    assert turn.finish().utterance is None  # no frames: a no-input turn, no stream opened


class _KillOnOpen:
    """The real service, whose worker is killed (os.kill) as soon as a stream opens on it."""

    def __init__(self, service: SpeechService) -> None:
        self.service, self.lang, self.model_dir = service, service.lang, service.model_dir
        self.killed: list[tuple[int, float]] = []

    @property
    def vocabulary(self) -> frozenset[str]:
        return self.service.vocabulary

    def recognize(self, audio: Audio, grammar: Sequence[str] | None = None) -> Utterance:
        return self.service.recognize(audio, grammar)

    def close(self) -> None:
        """The service is the fixture's to stop."""

    def open_stream(self, spec: StreamSpec) -> RecognitionStream:
        stream = self.service.open_stream(spec)
        pid = stream.worker.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        self.killed.append((pid, time.monotonic()))
        return stream


@pytest.mark.slow  # two live calls at real-time pace, one worker killed
def test_a_dead_recogniser_hands_its_caller_to_a_human_and_other_calls_go_on(
        bank: Flow, service: SpeechService, hotline: Hotline, tmp_path: Path) -> None:
    other: dict[str, Any] = {}
    audio = wav(0.5, "ko_card_loss", 1.5)

    def live_caller() -> None:  # a call on the other worker, at real-time pace
        dialog = Dialog(bank, "ko", hotline.matcher("ko"), "other")
        dialog.start()
        context = TurnContext(hotline.grammar(dialog), frozenset(bank.intents_at("root")),
                              realtime=True)
        turn = hotline.listener("ko").turn(context)
        for frame in frames(audio, 20):
            time.sleep(0.02)
            turn.push(frame)
            other["open"] = True
        other["heard"] = turn.finish()

    thread = threading.Thread(target=live_caller)
    thread.start()
    while not other.get("open") or sum(w.streams for w in service._workers) == 0:
        time.sleep(0.01)
    killer = _KillOnOpen(service)
    queue = open_queue(tmp_path / "q.sqlite3")
    crashing = Hotline(bank, queue=queue, recognizer_factory=lambda lang: killer)
    result = crashing.run("crash", "ko", [Speak(str(AUDIO / "ko_card_loss.wav"))])
    assert result.outcome.type == "handoff" and result.outcome.reason == "asr_error"
    assert killer.killed  # the recogniser really died under the call
    [waiting] = [w for w in queue.list() if w.handoff.call_id == "crash"]
    assert waiting.handoff.reason == "asr_error" and waiting.handoff.path[0] == "root"
    thread.join()
    heard = other["heard"]
    assert route(hotline, heard.utterance) == ("accept", "card_loss")  # the other call went on
    assert killer.killed[0][0] not in service.worker_pids()
    after = hotline.run("after", "ko", [Speak(str(AUDIO / "ko_card_loss.wav"))])
    assert after.outcome.node == "card_loss" and service.crashes == 1
