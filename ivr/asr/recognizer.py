"""The recogniser interface the rest of the engine uses, and its in-process Vosk version.

Everything above this room sees speech recognition through two operations: decode a whole
recording (`recognize`), or open a stream for one utterance, feed it frames, ask for partial
results while the caller speaks and for the final result at the end (`open_stream`). The
in-process `VoskRecognizer` is for tools and tests; calls use `ivr.asr.SpeechService`, which
offers the same operations from worker processes so that a crashing recogniser cannot take a
call's dialog down with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ..types import FRAME_BYTES, Audio, Lang, Utterance
from .modeldir import DecoderConfig
from .results import DualResult, StreamSpec
from .vocab import read_vocabulary
from .vosk import Engine

__all__ = ["RecognitionStream", "Recognizer", "VoskRecognizer", "utterance_from"]

class RecognitionStream(Protocol):
    """One utterance being decoded."""

    def feed(self, pcm: bytes) -> None:
        """Decode the next frame of 16 kHz PCM16 (an even number of samples)."""
        ...

    def partial(self) -> DualResult:
        """The hypotheses so far."""
        ...

    def settle(self) -> DualResult:
        """Final hypotheses for the audio so far; the stream stays open (more audio makes
        the utterance decode again from its start)."""
        ...

    def final(self) -> DualResult:
        """The final hypotheses; the stream ends."""
        ...

    def close(self) -> None:
        """Abandon the utterance."""
        ...


class Recognizer(Protocol):
    """Turns caller audio into text, whole or streamed."""

    lang: Lang
    model_dir: Path

    @property
    def vocabulary(self) -> frozenset[str]:
        """Words the model can output (a phrase grammar may only use these)."""
        ...

    def recognize(self, audio: Audio, grammar: Sequence[str] | None = None) -> Utterance:
        """Decode `audio` as one utterance; with `grammar`, the phrase grammar's transcript."""
        ...

    def open_stream(self, spec: StreamSpec) -> RecognitionStream:
        """Start one utterance, decoded as `spec` says (its grammar, freely, its line)."""
        ...

    def close(self) -> None:
        """Release what the recogniser holds (worker processes, a loaded model)."""
        ...


def utterance_from(result: DualResult, lang: Lang, seconds: float, spent: float) -> Utterance:
    """The utterance a whole-recording decode gives: the grammar transcript when there is a
    grammar (the free one joins the alternatives), else the free transcript."""
    main = result.grammar or result.free
    text = main.text if main else ""
    others = [*(main.alternatives if main else ())]
    if result.grammar is not None and result.free is not None:
        others.append(result.free.text)
    alternatives = tuple(dict.fromkeys(a for a in others if a and a != text))
    return Utterance(text=text, lang=lang, source="speech", words=main.words if main else (),
                     alternatives=alternatives, audio_seconds=seconds, decode_seconds=spent)


class VoskRecognizer:
    """Vosk decoding in this process, one loaded model reused for every utterance."""

    def __init__(self, model_dir: Path, lang: Lang, config: DecoderConfig | None = None) -> None:
        self.lang = lang
        self.model_dir = model_dir
        self.engine = Engine(model_dir, lang, config)

    @property
    def vocabulary(self) -> frozenset[str]:
        """Words the model can output."""
        return read_vocabulary(self.model_dir)

    def open_stream(self, spec: StreamSpec) -> RecognitionStream:
        """Start one utterance (see `Recognizer.open_stream`; decoding here never sheds)."""
        return self.engine.stream(spec)

    def close(self) -> None:
        """Nothing to stop: the model goes with this object."""

    def recognize(self, audio: Audio, grammar: Sequence[str] | None = None) -> Utterance:
        """Decode one recording in 20 ms frames; with a grammar, only its transcript counts.

        Free decoding runs only without a grammar here (whole-recording decoding has no use
        for the second opinion; `ivr.speech` streams use both).
        """
        started = time.perf_counter()
        spec = StreamSpec(tuple(grammar) if grammar else None, narrowband=audio.narrowband,
                          free=not grammar)
        stream = self.engine.stream(spec)
        for start in range(0, len(audio.pcm), FRAME_BYTES):
            stream.feed(audio.pcm[start:start + FRAME_BYTES])
        result = stream.final()
        return utterance_from(result, self.lang, audio.seconds, time.perf_counter() - started)
