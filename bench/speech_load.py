"""Speech under load, in real time: latency, capacity and memory of concurrent calls.

Each simulated call is a thread that plays caller turns at real-time pace (one 20 ms frame
every 20 ms) into a listening turn, with a pause between turns while the caller hears a
prompt. End of speech is known exactly (the synthetic caller's speech ends where espeak-ng's
does), so *end of speech -> decision* is measured on the wall clock, with every delay in it:
pacing, the worker's backlog, the pipe, the judge. *Lag* is how long a turn's request to its
worker waited for an answer (the backlog of frames still to decode, plus the round trip).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.asr import AsrCrash, SpeechService, StreamSpec
from ivr.audio import frames, pcm_frames
from ivr.call import Hotline
from ivr.qa.metrics import percentile
from ivr.speech import Event, TurnContext
from ivr.types import FRAME_BYTES, FRAME_MS

from .speech_accuracy import Router, Tally
from .speech_data import Caller

__all__ = ["Level", "plain_level", "run_level", "sustain", "vosk_endpointing"]

_FRAME_S = FRAME_MS / 1000


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


@dataclass
class Level:
    """What one load level measured."""

    streams: int
    latencies: list[float] = field(default_factory=list)
    judge: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)
    turns: int = 0
    cut: int = 0
    revisions: int = 0
    no_decision: int = 0
    crashed: int = 0
    """Turns whose recognition worker stopped answering (a call would be handed off)."""
    free_decoded: int = 0
    """Turns whose decision had a free-decoding transcript (not shed)."""
    tally: Tally = field(default_factory=Tally)
    """The decisions, scored as `bench.speech_accuracy` scores them."""
    wall_s: float = 0.0
    """How long the level ran."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def figures(self) -> dict[str, Any]:
        """The level's figures (milliseconds)."""
        acc = self.tally.figures()
        return {"streams": self.streams, "turns": self.turns,
                "routed_pct": acc["routed_pct"],
                "routed_or_confirmed_pct": acc["routed_or_confirmed_pct"],
                "misrouted_pct": acc["misrouted_pct"], "oos_accepted_pct":
                acc["oos_accepted_pct"], "in_scope": acc["callers"],
                "routed": self.tally.routed,
                "free_decoded_pct": round(100.0 * self.free_decoded / self.turns, 1)
                if self.turns else None, "wall_s": round(self.wall_s, 1),
                "eos_to_decision_ms_p50": _ms(percentile(self.latencies, 50)),
                "eos_to_decision_ms_p95": _ms(percentile(self.latencies, 95)),
                "result_to_decision_ms_p50": _ms(percentile(self.judge, 50)),
                "result_to_decision_ms_p95": _ms(percentile(self.judge, 95)),
                "lag_ms_p50": _ms(percentile(self.lags, 50)),
                "lag_ms_p95": _ms(percentile(self.lags, 95)),
                "pacing_late_ms_p95": _ms(percentile(self.late, 95)),
                "cut_off": self.cut, "revised": self.revisions, "asr_crash": self.crashed,
                "no_decision": self.no_decision}


def _pace(start: float, index: int) -> float:
    """Sleep until frame `index` is due; how late we are (s)."""
    due = start + index * _FRAME_S
    now = time.perf_counter()
    if due > now:
        time.sleep(due - now)
        return 0.0
    return now - due


def _one_turn(hotline: Hotline, router: Router, caller: Caller, level: Level) -> None:
    listener = hotline.listener("ko")
    turn = listener.turn(TurnContext(router.dialog_grammar, frozenset(router.allowed),
                                     narrowband=caller.audio.narrowband, realtime=True))
    start, late = time.perf_counter(), 0.0
    try:
        for i, frame in enumerate(frames(caller.audio)):
            late = max(late, _pace(start, i))
            if turn.push(frame) in (Event.COMMIT, Event.NO_INPUT):
                break
        heard = turn.finish()
    except AsrCrash:  # a call session hands this caller to an agent
        with level.lock:
            level.turns += 1
            level.crashed += 1
            level.no_decision += 1
            level.tally.add(caller.example.label, "no", None, "")
        return
    decided = heard.decided_s is not None and heard.utterance is not None
    kind, intent, text = router.ours(heard.utterance)
    with level.lock:
        level.turns += 1
        level.tally.add(caller.example.label, kind, intent, text)
        level.free_decoded += heard.result is not None and heard.result.free is not None
        level.late.append(late)
        level.revisions += heard.revisions
        if not decided:
            level.no_decision += 1
            return
        level.latencies.append(heard.decided_wall - (start + caller.speech_end_s))
        level.judge.append(heard.judge_s)
        level.lags.append(heard.compute_s - heard.judge_s)
        level.cut += (heard.decided_s or 0.0) < caller.speech_end_s - 0.05


class _Turns:
    """The callers of one level, handed out in order to whichever call is free: every
    caller `rounds` times, so every level of a run hears the same callers, equally often."""

    def __init__(self, callers: Sequence[Caller], streams: int, min_turns: int) -> None:
        rounds = max(1, -(-streams * min_turns // max(1, len(callers))))
        self._queue = list(callers) * rounds
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> Caller | None:
        with self._lock:
            if self._next >= len(self._queue):
                return None
            self._next += 1
            return self._queue[self._next - 1]


def run_level(hotline: Hotline, router: Router, callers: Sequence[Caller], streams: int,
              duration_s: float | None = None, *, gap_s: float = 1.5,
              min_turns: int = 0) -> Level:
    """`streams` concurrent calls of back-to-back turns: for about `duration_s`, or (None)
    until every caller has been heard, as many times over as gives each call `min_turns`."""
    level = Level(streams)
    started = time.perf_counter()
    stop = started + (duration_s or 0.0)
    turns = _Turns(callers, streams, min_turns)

    def call(k: int) -> None:
        time.sleep(k * gap_s / max(1, streams))  # stagger the calls
        i = k
        while True:
            if duration_s:
                if time.perf_counter() >= stop:
                    return
                caller: Caller | None = callers[i % len(callers)]
                i += streams
            else:
                caller = turns.take()
            if caller is None:
                return
            _one_turn(hotline, router, caller, level)
            time.sleep(gap_s)  # the caller hears a prompt

    with ThreadPoolExecutor(streams) as pool:
        list(pool.map(call, range(streams)))
    level.wall_s = time.perf_counter() - started
    return level


def plain_level(service: SpeechService, router: Router, callers: Sequence[Caller],
                streams: int, *, gap_s: float = 1.5, min_turns: int = 0) -> Level:
    """The plain pipeline at `streams` concurrent calls: free decoding of every frame of the
    same callers as `run_level`."""
    level = Level(streams)
    started = time.perf_counter()
    turns = _Turns(callers, streams, min_turns)

    def call(k: int) -> None:
        time.sleep(k * gap_s / max(1, streams))
        while (caller := turns.take()) is not None:
            start, late = time.perf_counter(), 0.0
            try:
                stream = service.open_stream(StreamSpec())
                for j, frame in enumerate(frames(caller.audio)):
                    late = max(late, _pace(start, j))
                    stream.feed(frame)
                asked = time.perf_counter()
                result = stream.final()
            except AsrCrash:
                with level.lock:
                    level.turns += 1
                    level.crashed += 1
                    level.tally.add(caller.example.label, "no", None, "")
                continue
            answered = time.perf_counter()
            text = result.free.text if result.free else ""
            kind, intent = router.plain(text)
            done = time.perf_counter()
            with level.lock:
                level.turns += 1
                level.free_decoded += result.free is not None
                level.tally.add(caller.example.label, kind, intent, text)
                level.late.append(late)
                level.lags.append(answered - asked)
                level.judge.append(done - answered)
            time.sleep(gap_s)

    with ThreadPoolExecutor(streams) as pool:
        list(pool.map(call, range(streams)))
    level.wall_s = time.perf_counter() - started
    return level


def vosk_endpointing(model_dir: Path, router: Router, callers: Sequence[Caller], *,
                     threads: int = 4, wait_s: float = 3.0) -> dict[str, Any]:
    """The plain pipeline's end of speech -> decision with Vosk's own endpointer, live pace.

    Free decoding with the model exactly as shipped; after the recording, silence is fed
    until Vosk ends the utterance or `wait_s` has passed since the end of speech.
    """
    import vosk

    vosk.SetLogLevel(-1)
    model = vosk.Model(str(model_dir))
    silence = bytes(FRAME_BYTES)
    level = Level(threads)
    missed = [0]

    def one(caller: Caller) -> None:
        rec = vosk.KaldiRecognizer(model, 16000)
        pcm = caller.audio.pcm
        start = time.perf_counter()
        chunks = list(pcm_frames(pcm))
        total = len(chunks) + int((wait_s - (caller.audio.seconds - caller.speech_end_s))
                                  / _FRAME_S)
        for j in range(max(total, len(chunks))):
            _pace(start, j)
            if rec.AcceptWaveform(chunks[j] if j < len(chunks) else silence):
                now = time.perf_counter()
                if now - start < caller.speech_end_s:
                    continue  # Vosk split the utterance mid-sentence; keep listening
                router.plain(json.loads(rec.Result()).get("text", ""))
                with level.lock:
                    level.latencies.append(time.perf_counter() - (start + caller.speech_end_s))
                    level.turns += 1
                return
        with level.lock:
            missed[0] += 1
            level.turns += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, callers))
    out = level.figures()
    out = {k: out[k] for k in ("turns", "eos_to_decision_ms_p50", "eos_to_decision_ms_p95")}
    out["no_endpoint_within_s"] = wait_s
    out["no_endpoint"] = missed[0]
    return out


def sustain(hotline: Hotline, callers: Sequence[Caller], streams: int, audio_target_s: float,
            *, every_s: float = 600.0) -> list[dict[str, float]]:
    """Unpaced calls on `streams` threads until `audio_target_s` of audio went through.

    Returns worker memory after loading and then every `every_s` of audio: the curve that
    shows whether memory per call stays bounded.
    """
    service = hotline.recognizer("ko")
    if not isinstance(service, SpeechService):
        raise TypeError("sustain needs the hotline's SpeechService")
    session = hotline.open_call("bench", "ko")
    session.start()
    grammar, allowed = hotline.grammar(session.dialog), hotline.flow.intents_at(session.node)
    listener = hotline.listener("ko")
    fed = [0.0]
    lock = threading.Lock()
    samples: list[dict[str, float]] = []

    def sample() -> None:
        stats = service.stats()
        samples.append({"audio_s": round(fed[0], 1),
                        "workers_rss_mb": round(sum(s["rss_mb"] for s in stats), 1),
                        "free_retired": sum(s["free_retired"] for s in stats)})

    sample()
    next_sample = [every_s]

    def call(k: int) -> None:
        i = k
        while fed[0] < audio_target_s:
            caller = callers[i % len(callers)]
            i += streams
            listener.listen(frames(caller.audio, 20), TurnContext(
                grammar, frozenset(allowed), narrowband=caller.audio.narrowband))
            with lock:
                fed[0] += caller.audio.seconds
                due = fed[0] >= next_sample[0]
                if due:
                    next_sample[0] += every_s
            if due:
                sample()

    with ThreadPoolExecutor(streams) as pool:
        list(pool.map(call, range(streams)))
    sample()
    return samples

