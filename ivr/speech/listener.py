"""One listening turn: frames in, endpointing, dual decoding, one verdict out.

`Turn.push(frame)` is called with every 20 ms frame, live or from a file. Nothing is decoded
until the voice-activity detector hears speech; then the utterance (with its pre-roll) streams
to a recognition stream that decodes it with the node's grammar and freely side by side. At a
short pause the decoders are asked for final results so far (`settle`), judged, and the
decision is prepared; if the caller stays quiet until the turn ends, that prepared decision
is the one taken, so a caller who has finished hears the answer a quarter of a second later,
and one who pauses mid-sentence is never cut off: when they go on, the utterance is decoded
again from its start and decided at the next pause. Frames after a prepared decision are held
back, and only decoded if the caller goes on.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..asr.recognizer import RecognitionStream, Recognizer
from ..asr.results import DualResult
from ..audio.vad import Vad
from ..types import SAMPLE_RATE, Lang, Utterance
from .context import TurnContext
from .endpoint import EndpointConfig, Endpointer, Event
from .judge import Judge, Verdict

__all__ = ["Heard", "Listener", "Turn"]

_FRAME_S = 0.02


@dataclass(frozen=True)
class Heard:
    """What one listening turn produced."""

    utterance: Utterance | None
    """For the dialog; None when nothing was said (a no-input event)."""
    verdict: Verdict | None
    """How the transcript was chosen; None for no input."""
    speech_start_s: float | None = None
    """Turn audio time where speech started."""
    speech_end_s: float | None = None
    """Turn audio time of the last speech frame."""
    decided_s: float | None = None
    """Turn audio time at which the decision that stood was prepared."""
    compute_s: float = 0.0
    """Wall time from asking the decoders for results to the verdict."""
    speculations: int = 0
    """Decisions prepared at short pauses."""
    revisions: int = 0
    """Prepared decisions dropped (the caller went on, or the final result differed)."""
    audio_seconds: float = 0.0
    """Audio consumed by the turn."""
    decode_seconds: float = 0.0
    """Wall time the turn took to process."""
    judge_s: float = 0.0
    """Wall time of the judge alone for the standing decision (after the results arrived)."""
    result: DualResult | None = None
    """The decoders' final results (for reports and benchmarks)."""
    decided_wall: float = 0.0
    """`time.perf_counter()` when the standing decision was made (live latency)."""

    @property
    def latency_s(self) -> float:
        """End of speech to decision: the pause waited plus the compute time."""
        if self.speech_end_s is None or self.decided_s is None:
            return 0.0
        return max(0.0, self.decided_s - self.speech_end_s) + self.compute_s


@dataclass(frozen=True)
class _Prepared:
    verdict: Verdict
    at_s: float
    compute_s: float
    judge_s: float
    wall: float


class Listener:
    """What every turn of one language shares: the recogniser, the judge, the timers."""

    def __init__(self, recognizer: Recognizer, judge: Judge,
                 config: EndpointConfig | None = None) -> None:
        self.recognizer, self.judge = recognizer, judge
        self.config = config or EndpointConfig()
        self.lang: Lang = judge.lang

    def turn(self, context: TurnContext, *, on_partial: Callable[[str], None] | None = None,
             vad: Vad | None = None) -> Turn:
        """A new listening turn at one point of a dialog (`on_partial`: called with the
        best transcript so far while the caller speaks; `vad`: the call's detector, so the
        noise floor it learnt carries over; a new one by default)."""
        return Turn(self, context, on_partial, vad)

    def listen(self, frames: Iterable[bytes], context: TurnContext) -> Heard:
        """Run a turn over `frames` as fast as they come, until it ends (or the frames do)."""
        turn = self.turn(context)
        for frame in frames:
            if turn.push(frame) in (Event.COMMIT, Event.NO_INPUT):
                break
        return turn.finish()


class Turn:
    """One listening turn; see the module doc."""

    def __init__(self, listener: Listener, context: TurnContext,
                 on_partial: Callable[[str], None] | None = None, vad: Vad | None = None) -> None:
        self.listener, self.context, self.on_partial = listener, context, on_partial
        self.endpointer = Endpointer(listener.config, vad)
        frames = max(1, round(listener.config.preroll_s / _FRAME_S) + 1)
        self._preroll: deque[bytes] = deque(maxlen=frames)
        self._held: list[bytes] = []
        self._stream: RecognitionStream | None = None
        self._prepared: _Prepared | None = None
        self._speculations = self._revisions = 0
        self._next_partial = 0.0
        self._started_wall: float | None = None
        self.heard: Heard | None = None

    def push(self, frame: bytes) -> Event | None:
        """Consume one frame; the endpointing event it caused, if any."""
        if self.heard is not None:
            return None
        if self._started_wall is None:
            self._started_wall = time.perf_counter()
        ep = self.endpointer
        event = ep.push(frame)
        if event is Event.NO_INPUT:
            self._end_without_speech()
        elif event is Event.START:
            self._preroll.append(frame)
            self._stream = self.listener.recognizer.open_stream(self.context.stream)
            for held in self._preroll:
                self._stream.feed(held)
            self._next_partial = ep.now + 0.3
        elif self._stream is None:
            self._preroll.append(frame)
        elif event is Event.SPECULATE:
            self._held.append(frame)
            self._prepare(self._stream)
        elif event is Event.RESUME:
            self._prepared = None
            self._revisions += 1
            for held in (*self._held, frame):
                self._stream.feed(held)
            self._held = []
        elif event is Event.COMMIT:
            self._commit(self._stream)
        elif ep.speculating:
            self._held.append(frame)
        else:
            self._stream.feed(frame)
            self._maybe_partial()
        return event

    def finish(self) -> Heard:
        """End the turn (the audio ran out if it had not ended already)."""
        if self.heard is None:
            self.endpointer.finish()
            if self._stream is None:
                return self._end_without_speech()
            self._commit(self._stream)
        return self.heard  # type: ignore[return-value]  # set by _commit

    def _maybe_partial(self) -> None:
        if self.on_partial is None or self._stream is None:
            return
        if self.endpointer.now >= self._next_partial:
            self._next_partial = self.endpointer.now + 0.3
            partial = self._stream.partial()
            best = partial.grammar or partial.free
            if best is not None and best.text:
                self.on_partial(best.text)

    def _prepare(self, stream: RecognitionStream) -> None:
        if not self.context.realtime:
            stream.partial()  # catch up with the frames sent, as live decoding would be
        started = time.perf_counter()
        result = stream.settle()
        judged = time.perf_counter()
        verdict = self._judge(result)
        done = time.perf_counter()
        self._prepared = _Prepared(verdict, self.endpointer.now, done - started, done - judged,
                                   done)
        self._speculations += 1

    def _judge(self, result: DualResult) -> Verdict:
        return self.listener.judge.judge(result, self.context)

    def _commit(self, stream: RecognitionStream) -> None:
        self._held = []
        if not self.context.realtime:
            stream.partial()  # catch up first: the wait below is then what live decoding sees
        started = time.perf_counter()
        result = stream.final()
        judged = time.perf_counter()
        verdict = self._judge(result)
        done = time.perf_counter()
        decided, prepared = self.endpointer.now, self._prepared
        compute, judging, wall = done - started, done - judged, done
        judge, allowed = self.listener.judge, self.context.allowed
        if prepared is not None and (judge.outcome(prepared.verdict, allowed)
                                     == judge.outcome(verdict, allowed)):
            decided, compute, judging = prepared.at_s, prepared.compute_s, prepared.judge_s
            wall = prepared.wall
        elif prepared is not None:
            self._revisions += 1
        ep = self.endpointer
        self.heard = Heard(self._utterance(verdict, result), verdict, ep.started_at,
                           ep.last_speech, decided, compute, self._speculations,
                           self._revisions, ep.now, self._wall(), judging, result, wall)

    def _end_without_speech(self) -> Heard:
        self.heard = Heard(None, None, audio_seconds=self.endpointer.now,
                           decode_seconds=self._wall())
        return self.heard

    def _wall(self) -> float:
        return time.perf_counter() - (self._started_wall or time.perf_counter())

    def _utterance(self, verdict: Verdict, result: DualResult) -> Utterance:
        hyps = [*result.grammars, *([result.free] if result.free else [])]
        chosen = next((h for h in hyps if verdict.text and h.text == verdict.text), None)
        others: list[str] = []
        for hyp in hyps:
            others.extend((hyp.text, *hyp.alternatives))
        alternatives = tuple(dict.fromkeys(a for a in others if a and a != verdict.text))
        seconds = result.audio_seconds or len(b"".join(self._preroll)) / 2 / SAMPLE_RATE
        return Utterance(verdict.text, self.listener.lang, "speech",
                         chosen.words if chosen is not None else (),
                         alternatives, seconds, self._wall(), unsure=verdict.unsure)
