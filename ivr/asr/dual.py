"""One utterance decoded two ways at once, frame by frame: the dual stream.

A *stream* is one caller utterance decoded with the node's phrase grammar (fast, and right
when the caller says something the menu offers; in every decoding view) and freely with the
model's whole language model (slow, and the only honest transcript of anything else).
`ivr.speech.judge` combines the two.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..types import SAMPLE_RATE
from .condition import Conditioner
from .results import DualResult

if TYPE_CHECKING:  # the engine opens streams; a stream only returns what it borrowed
    from .vosk import Decoder, Engine

__all__ = ["DualStream"]


class DualStream:
    """One utterance decoded with the grammar in every view, and freely, side by side.

    `settle()` gives final results for the audio so far without ending the stream: the
    decoders are finalised (a partial result lacks the end-of-sentence weights of a grammar,
    and differs from the final one more often than not), and should more audio follow, the
    utterance is decoded again from its start, which gives exactly what an uninterrupted
    decode would have. Open one with `Engine.stream`.
    """

    def __init__(self, engine: Engine, grammar: tuple[str, ...], views: tuple[str, ...],
                 grammars: list[tuple[Decoder, float]], free: tuple[Decoder, float] | None,
                 *, narrowband: bool) -> None:
        """`grammars`: one borrowed decoder per view, with the audio seconds its recogniser
        had decoded before; `free`: the same for free decoding (None: none was lent)."""
        self.engine, self.narrowband = engine, narrowband
        self._views, self._grammar = views, grammar
        self.grammars = [dec for dec, _ in grammars]
        self._grammar_used = [used for _, used in grammars]
        self.free = free[0] if free else None
        self._free_used = free[1] if free else 0.0
        self._audio: list[bytes] = []
        self._pending: list[bytes] = []
        """Frames not yet handed to the decoders (less than `DecoderConfig.chunk_ms`)."""
        self._held = 0
        """Bytes in `_pending`."""
        self._chunk_bytes = max(1, self.engine.config.chunk_ms * SAMPLE_RATE // 1000) * 2
        self._settled: DualResult | None = None
        self._conditioners = self._fresh_conditioners()
        self.seconds = 0.0
        self.dropped_s = 0.0
        """Audio refused past `DecoderConfig.max_utterance_s`."""
        self.closed = False
        self.view_cpu_s = self.view_s = self.free_cpu_s = self.free_s = 0.0
        """CPU seconds spent and audio seconds decoded, summed over the grammar views, and
        by free decoding (audio decoded again after a settle counts again): the worker's
        `ivr.asr.budget.CostModel` learns from them."""

    def _fresh_conditioners(self) -> list[Conditioner]:
        c = self.engine.config
        dither = c.narrowband_dither if self.narrowband else c.dither
        return [Conditioner(v, dither=dither, narrowband=self.narrowband)
                for v in (*self._views, "plain")]

    def feed(self, pcm: bytes) -> None:
        """Decode the next frame of 16 kHz PCM16 (dropped past `max_utterance_s`)."""
        if self.seconds + len(pcm) / 2 / SAMPLE_RATE > self.engine.config.max_utterance_s + 1e-9:
            self.dropped_s += len(pcm) / 2 / SAMPLE_RATE
            return
        if self._settled is not None:  # finalised at a pause, and the caller went on
            self._settled = None
            self._conditioners = self._fresh_conditioners()
            self._pending, self._held = [], 0
            for frame in self._audio:
                self._chunk(frame)
        self._audio.append(pcm)
        self.seconds += len(pcm) / 2 / SAMPLE_RATE
        self._chunk(pcm)

    def _chunk(self, pcm: bytes) -> None:
        """Hand audio to the decoders `chunk_ms` at a time: a Vosk recogniser costs less per
        second of audio in larger pieces (measured on this model, warm recognisers: free
        decoding 17 %, a grammar 12 % less CPU at 100 ms than at 20 ms). The pieces are cut
        at multiples of `chunk_ms` from the utterance's start (and at a settle), whatever the
        frames' size and never by load, so the same audio gives the same words."""
        self._pending.append(pcm)
        self._held += len(pcm)
        if self._held >= self._chunk_bytes:
            pcm = b"".join(self._pending)
            cut = len(pcm) - len(pcm) % self._chunk_bytes
            self._pending, self._held = ([pcm[cut:]] if cut < len(pcm) else []), len(pcm) - cut
            for start in range(0, cut, self._chunk_bytes):
                self._decode(pcm[start:start + self._chunk_bytes])

    def _flush(self) -> None:
        if self._pending:
            pcm = b"".join(self._pending)
            self._pending, self._held = [], 0
            self._decode(pcm)

    def _decoders(self) -> list[Decoder]:
        """The grammar views, then free decoding if the stream has it."""
        return [*self.grammars, *([self.free] if self.free is not None else [])]

    def _decode(self, pcm: bytes) -> None:
        seconds = len(pcm) / 2 / SAMPLE_RATE
        decoders = self._decoders()
        started = time.thread_time()
        audio = [c(pcm) for c in self._conditioners[:len(self.grammars)]]
        if self.free is not None:
            audio.append(self._conditioners[-1](pcm))
        conditioned = time.thread_time() - started  # counted with the views
        spent = self.engine.side_by_side([_feeder(dec, a) for dec, a in zip(decoders, audio,
                                                                            strict=True)])
        self.view_cpu_s += conditioned + sum(spent[:len(self.grammars)])
        self.view_s += seconds * len(self.grammars)
        if self.free is not None:
            self.free_cpu_s += spent[-1]
            self.free_s += seconds

    def drop_free(self) -> bool:
        """Stop decoding freely (the worker is far behind real time): the free recogniser
        goes back to the pool and the utterance is judged on the grammar views. False when
        there is nothing to drop (no free decoding, or no grammar to fall back on)."""
        if self.free is None or not self.grammars or self.closed:
            return False
        self.engine.pool.release(self.free.rec, self._free_used + self.free.seconds,
                                 dirty=True, clock_s=self.free.clock_s)
        self.free = None
        return True

    def partial(self) -> DualResult:
        """What each decoder has so far (no alternatives, no word timings; the audio of an
        unfinished chunk, under `chunk_ms`, is not in it yet)."""
        if self._settled is not None:
            return self._settled
        return DualResult(tuple(dec.partial() for dec in self.grammars),
                          self.free.partial() if self.free else None, self.seconds)

    def settle(self) -> DualResult:
        """Final results for the audio so far; the stream stays open."""
        if self._settled is None:
            self._flush()
            decoders = self._decoders()
            finals = self.engine.side_by_side([dec.final for dec in decoders])
            self._settled = DualResult(tuple(finals[:len(self.grammars)]),
                                       finals[-1] if self.free is not None else None,
                                       self.seconds, final=True)
        return self._settled

    def final(self) -> DualResult:
        """Each decoder's final result; the stream is closed afterwards."""
        result = self.settle()
        self._release(dirty=False)
        return result

    def close(self) -> None:
        """Abandon the utterance (the free recogniser goes back to the pool)."""
        self._release(dirty=self._settled is None)

    def _release(self, *, dirty: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.engine.costs.learn(self.view_cpu_s, self.view_s, self.free_cpu_s, self.free_s)
        if self.free is not None:
            self.engine.pool.release(self.free.rec, self._free_used + self.free.seconds,
                                     dirty=dirty, clock_s=self.free.clock_s)
            self.free = None
        for dec, used in zip(self.grammars, self._grammar_used, strict=True):
            self.engine.grammar_pool.release(self._grammar, dec.rec, used + dec.seconds,
                                             dirty=dirty, clock_s=dec.clock_s)
        self.grammars = []
        self._audio = []
        self._pending, self._held = [], 0


def _feeder(dec: Decoder, audio: bytes) -> Callable[[], float]:
    """A job feeding `audio` to `dec` that returns the CPU seconds it took (its thread's)."""
    def feed() -> float:
        started = time.thread_time()
        dec.feed(audio)
        return time.thread_time() - started
    return feed
