"""One loaded Vosk model in this process: grammar and free decoders, and the warm free pool.

A *stream* is one caller utterance decoded two ways at once, frame by frame: with the node's
phrase grammar (fast, and right when the caller says something the menu offers) and freely
with the model's whole language model (slow, and the only honest transcript of anything
else). `ivr.speech.judge` combines the two.

Free recognisers are expensive to start cold (their search graph is built on the fly), so a
`FreePool` lends warm ones to streams and replaces each after `DecoderConfig.free_life_s` of
audio, which bounds the memory they hold. Grammar recognisers are cheap to build but decode
twice as fast once their graph is built, so a `GrammarPool` keeps warm ones per grammar.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.resample import StreamResampler
from ..errors import ModelError
from ..types import SAMPLE_RATE, Lang, Word
from .modeldir import DecoderConfig, prepare_model

__all__ = [
    "VIEWS", "Conditioner", "DualResult", "DualStream", "Engine", "FreePool", "GrammarPool",
    "Hypothesis",
    "condition", "rss_mb",
]

VIEWS: dict[str, tuple[int, int]] = {"plain": (1, 1), "fast": (10, 11)}
"""Decoding views: the speed change (up, down) applied before decoding."""
_FOLD_GAIN = 10 ** (-21 / 20)
"""Level of the folded image added to narrowband audio (-21 dB: best of -12..-30 dB on the
tuning callers at 8 kHz mu-law)."""


@dataclass(frozen=True)
class Hypothesis:
    """What one decoder made of an utterance."""

    text: str
    """Best transcript (Chinese without the recogniser's spaces)."""
    alternatives: tuple[str, ...] = ()
    """Other transcripts, best first (final results only)."""
    words: tuple[Word, ...] = ()
    """Word timings of the best transcript (final results only)."""


@dataclass(frozen=True)
class DualResult:
    """Every decoder's view of one utterance: grammar decoding per view, and free decoding."""

    grammars: tuple[Hypothesis, ...]
    """From the phrase grammar, one per view in `DecoderConfig.views` order (empty when the
    stream had no grammar)."""
    free: Hypothesis | None
    """From free decoding (None when no free recogniser was available: shed under load)."""
    audio_seconds: float = 0.0
    """Audio fed to the stream."""
    final: bool = False
    """True for a final result, False for a partial one."""

    @property
    def grammar(self) -> Hypothesis | None:
        """The first view's grammar hypothesis."""
        return self.grammars[0] if self.grammars else None


def _join(text: str, lang: Lang) -> str:
    return text.replace(" ", "") if lang == "zh" else " ".join(text.split())


class Conditioner:
    """Stateful audio preparation for one decoder of one stream (see `condition`)."""

    def __init__(self, view: str, *, dither: float, narrowband: bool) -> None:
        if view not in VIEWS:
            raise ValueError(f"unknown decoding view {view!r}; known: {', '.join(VIEWS)}")
        self.dither, self.narrowband = dither, narrowband
        self._rng = np.random.default_rng(0)  # same audio, same dither, same words
        self._speed = StreamResampler.speed(*VIEWS[view]) if VIEWS[view] != (1, 1) else None
        self._n = 0  # samples seen, for the sign pattern of the fold

    def __call__(self, pcm: bytes) -> bytes:
        x = np.frombuffer(pcm, "<i2").astype(np.float32)
        if self.narrowband:
            signs = np.ones(len(x), np.float32)
            signs[(1 - self._n % 2)::2] = -1.0
            x = x + _FOLD_GAIN * signs * x
        self._n += len(x)
        if self._speed is not None:
            x = self._speed.push(x)
        if self.dither:
            x = x + self._rng.standard_normal(len(x), dtype=np.float32) * self.dither
        return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()

    def flush(self) -> bytes:
        """The samples a speed change still holds (end of the recording)."""
        if self._speed is None:
            return b""
        x = self._speed.flush()
        return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def condition(pcm: bytes, *, view: str = "plain", dither: float = 1.0,
              narrowband: bool = False) -> bytes:
    """The audio a decoder of `view` gets for a whole recording (see `Conditioner`).

    * Narrowband audio (from an 8 kHz line) is silent above 4 kHz once resampled, which the
      wideband models never saw in training. The band below 4 kHz is mirrored into the empty
      one (multiplying by (-1)^n mirrors the spectrum about 4 kHz) at -21 dB: grammar routing
      at 8 kHz mu-law went from 10 % to 14 % on the tuning callers.
    * The "fast" view plays the audio 10 % faster (Kaldi models are trained with 0.9/1.0/1.1
      speed perturbation, so both views are speech the model knows). Decoding the same
      utterance in two views and letting them vote is what gives the ensemble its edge.
    * A seeded dither (Kaldi's own is switched off, see `ivr.asr.modeldir`).
    """
    conditioner = Conditioner(view, dither=dither, narrowband=narrowband)
    return conditioner(pcm) + conditioner.flush()


class _Decoder:
    """One Vosk recogniser fed an utterance; segment results kept if Vosk splits it."""

    def __init__(self, rec: Any, lang: Lang, clock_s: float = 0.0) -> None:
        self.rec, self.lang = rec, lang
        self.segments: list[dict[str, Any]] = []
        self.seconds = 0.0
        """Audio fed, every round."""
        self.clock_s = clock_s
        """Vosk times words from the recogniser's first sample, counting every utterance it
        finished (not those abandoned with Reset): the clock at this round's start."""
        self._round = 0.0

    def feed(self, pcm: bytes) -> None:
        self.seconds += len(pcm) / 2 / SAMPLE_RATE
        self._round += len(pcm) / 2 / SAMPLE_RATE
        if self.rec.AcceptWaveform(pcm):
            self.segments.append(json.loads(self.rec.Result()))

    def partial(self) -> Hypothesis:
        done = [_best(s).get("text", "") for s in self.segments]
        now = json.loads(self.rec.PartialResult()).get("partial", "")
        return Hypothesis(_join(" ".join([*done, now]), self.lang))

    def final(self) -> Hypothesis:
        segments = [*self.segments, json.loads(self.rec.FinalResult())]
        self.segments = []
        texts: list[str] = []
        alts: list[str] = []
        words: list[Word] = []
        for seg in segments:
            options = seg.get("alternatives") or [seg]
            best = options[0]
            if best.get("text", "").strip():
                texts.append(best["text"])
                words.extend(Word(w["word"], round(float(w["start"]) - self.clock_s, 3),
                                  round(float(w["end"]) - self.clock_s, 3),
                                  float(w.get("conf", 1.0))) for w in best.get("result", ()))
            alts.extend(o.get("text", "") for o in options[1:])
        self.clock_s, self._round = self.clock_s + self._round, 0.0
        text = _join(" ".join(texts), self.lang)
        others = (a for a in (_join(x, self.lang) for x in alts) if a and a != text)
        return Hypothesis(text, tuple(dict.fromkeys(others)), tuple(words))


def _best(segment: dict[str, Any]) -> dict[str, Any]:
    options = segment.get("alternatives") or [segment]
    best: dict[str, Any] = options[0]
    return best


def _malloc_trim() -> None:
    """Hand freed heap pages back to the system (glibc keeps them otherwise)."""
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError, TypeError):  # not glibc
        ctypes.CDLL(name).malloc_trim(0)


@dataclass
class FreePool:
    """Warm free recognisers lent to streams; each replaced after `life_s` of audio."""

    make: Any
    """Builds a new free recogniser."""
    slots: int
    """Most recognisers alive at once (busy + idle)."""
    life_s: float
    """Audio seconds before a recogniser is retired."""
    memory_mb: float = float("inf")
    """Process memory growth (MB above `baseline_mb`) at which returned ones are retired."""
    baseline_mb: float = 0.0
    """Process memory after the model loaded."""
    idle: list[tuple[Any, float, float]] = field(default_factory=list)
    """Recognisers waiting: (recogniser, audio seconds decoded, its word clock)."""
    busy: int = 0
    created: int = 0
    retired: int = 0
    shed: int = 0
    """Streams that found every slot busy and decoded with the grammar only."""

    def acquire(self, *, force: bool = False) -> tuple[Any, float, float] | None:
        """(recogniser, audio seconds decoded, word clock), or None when all are busy.

        With `force` a recogniser is built even beyond `slots` (a stream with no grammar has
        nothing else to decode with); it is retired when returned.
        """
        if self.idle:
            self.busy += 1
            return self.idle.pop()
        if self.busy >= self.slots and not force:
            self.shed += 1
            return None
        self.busy += 1
        self.created += 1
        return self.make(), 0.0, 0.0

    def release(self, rec: Any, used_s: float, *, dirty: bool, clock_s: float = 0.0) -> None:
        """Return a recogniser; `dirty` when its utterance was abandoned before the final."""
        self.busy -= 1
        grown = rss_mb() - self.baseline_mb > self.memory_mb
        if used_s >= self.life_s or grown or self.busy + len(self.idle) >= self.slots:
            self.retired += 1
            del rec
            _malloc_trim()
            return
        if dirty:
            rec.Reset()
        self.idle.append((rec, used_s, clock_s))


@dataclass
class GrammarPool:
    """Warm grammar recognisers, kept per grammar and lent to streams.

    A grammar recogniser builds its decoding graph on the fly as it decodes; a reused one has
    it built already and decodes about twice as fast (real-time factor 0.015 against 0.034 for
    a new one on the bank flow's 408-phrase menu, the same words). A node's grammar is the same
    for every caller at that node, so recognisers are kept per grammar, at most `idle_max` idle
    in all (least recently used dropped), each retired after `life_s` of audio.
    """

    make: Any
    """Builds a new recogniser for a grammar."""
    idle_max: int = 48
    life_s: float = 3600.0
    idle: dict[tuple[str, ...], list[tuple[Any, float, float]]] = field(default_factory=dict)
    """Per grammar: (recogniser, audio seconds decoded, its word clock)."""
    created: int = 0
    reused: int = 0

    def acquire(self, grammar: tuple[str, ...]) -> tuple[Any, float, float]:
        """(recogniser, audio seconds decoded, word clock) for `grammar`."""
        waiting = self.idle.get(grammar)
        if waiting:
            self.reused += 1
            found = waiting.pop()
            if not waiting:
                del self.idle[grammar]
            return found
        self.created += 1
        return self.make(grammar), 0.0, 0.0

    def release(self, grammar: tuple[str, ...], rec: Any, used_s: float, *, dirty: bool,
                clock_s: float) -> None:
        """Return a recogniser; `dirty` when its utterance was abandoned before the final."""
        if used_s >= self.life_s:
            return
        if dirty:
            rec.Reset()
        self.idle.setdefault(grammar, []).append((rec, used_s, clock_s))
        self.idle[grammar] = self.idle.pop(grammar)  # most recently used last
        while sum(len(v) for v in self.idle.values()) > self.idle_max:
            oldest = next(iter(self.idle))
            self.idle[oldest].pop(0)
            if not self.idle[oldest]:
                del self.idle[oldest]


class Engine:
    """A loaded Vosk model: builds streams, keeps the free and grammar pools."""

    def __init__(self, model_dir: Path, lang: Lang, config: DecoderConfig | None = None) -> None:
        try:
            import vosk
        except ImportError as exc:  # pragma: no cover - vosk is a hard dependency
            raise ModelError(f"vosk is not installed: {exc}") from None
        vosk.SetLogLevel(-1)
        self.lang, self.model_dir = lang, model_dir
        self.config = config or DecoderConfig()
        self._vosk = vosk
        try:
            self._model = vosk.Model(str(prepare_model(model_dir, self.config)))
        except Exception as exc:  # vosk raises a bare Exception when loading fails
            raise ModelError(f"{model_dir}: cannot load Vosk model ({exc})") from None
        self.pool = FreePool(self._new_free, self.config.free_slots, self.config.free_life_s,
                             self.config.free_memory_mb, rss_mb())
        self.grammar_pool = GrammarPool(self.grammar_recognizer,
                                        life_s=self.config.free_life_s)
        self.degraded = 0
        """Streams opened with one grammar view because the worker was behind."""

    def _new_free(self) -> Any:
        rec = self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        rec.SetWords(True)
        rec.SetMaxAlternatives(self.config.alternatives)
        return rec

    def grammar_recognizer(self, phrases: Sequence[str]) -> Any:
        """A new recogniser restricted to `phrases` (already split into known words)."""
        rec = self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE,
                                         json.dumps(list(phrases), ensure_ascii=False))
        rec.SetWords(True)
        rec.SetMaxAlternatives(self.config.alternatives)
        return rec

    def stream(self, grammar: Sequence[str] | None, *, free: bool = True,
               narrowband: bool = False, views: int | None = None) -> DualStream:
        """A stream for one utterance: grammar decoding (in the first `views` views, all by
        default) if `grammar`, free decoding if `free` and a pool slot is open (a stream
        without a grammar always decodes freely)."""
        return DualStream(self, tuple(grammar) if grammar else None,
                          free=free or not grammar, narrowband=narrowband, views=views)

    def stats(self) -> dict[str, float]:
        """Pool figures and this process's resident memory (MB)."""
        p = self.pool
        return {"rss_mb": rss_mb(), "free_created": p.created, "free_retired": p.retired,
                "free_shed": p.shed, "free_busy": p.busy, "free_idle": len(p.idle),
                "grammar_created": self.grammar_pool.created,
                "grammar_reused": self.grammar_pool.reused,
                "one_view": self.degraded}


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * 4096 / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


class DualStream:
    """One utterance decoded with the grammar in every view, and freely, side by side.

    `settle()` gives final results for the audio so far without ending the stream: the
    decoders are finalised (a partial result lacks the end-of-sentence weights of a grammar,
    and differs from the final one more often than not), and should more audio follow, the
    utterance is decoded again from its start, which gives exactly what an uninterrupted
    decode would have.
    """

    def __init__(self, engine: Engine, grammar: tuple[str, ...] | None, *, free: bool,
                 narrowband: bool, views: int | None = None) -> None:
        self.engine, self.narrowband = engine, narrowband
        self._views = engine.config.views[:views] if grammar else ()
        self._grammar = grammar or ()
        self.grammars = []
        self._grammar_used: list[float] = []
        for _ in self._views:
            rec, used, clock = engine.grammar_pool.acquire(self._grammar)
            self.grammars.append(_Decoder(rec, engine.lang, clock))
            self._grammar_used.append(used)
        lent = engine.pool.acquire(force=not grammar) if free else None
        self.free = _Decoder(lent[0], engine.lang, lent[2]) if lent else None
        self._free_used = lent[1] if lent else 0.0
        self._audio: list[bytes] = []
        self._settled: DualResult | None = None
        self._conditioners = self._fresh_conditioners()
        self.seconds = 0.0
        self.dropped_s = 0.0
        """Audio refused past `DecoderConfig.max_utterance_s`."""
        self.closed = False

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
            for frame in self._audio:
                self._decode(frame)
        self._audio.append(pcm)
        self.seconds += len(pcm) / 2 / SAMPLE_RATE
        self._decode(pcm)

    def _decode(self, pcm: bytes) -> None:
        for conditioner, dec in zip(self._conditioners, self.grammars, strict=False):
            dec.feed(conditioner(pcm))
        if self.free is not None:
            self.free.feed(self._conditioners[-1](pcm))

    def partial(self) -> DualResult:
        """What each decoder has so far (no alternatives, no word timings)."""
        if self._settled is not None:
            return self._settled
        return DualResult(tuple(dec.partial() for dec in self.grammars),
                          self.free.partial() if self.free else None, self.seconds)

    def settle(self) -> DualResult:
        """Final results for the audio so far; the stream stays open."""
        if self._settled is None:
            self._settled = DualResult(tuple(dec.final() for dec in self.grammars),
                                       self.free.final() if self.free else None,
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
        if self.free is not None:
            self.engine.pool.release(self.free.rec, self._free_used + self.free.seconds,
                                     dirty=dirty, clock_s=self.free.clock_s)
            self.free = None
        for dec, used in zip(self.grammars, self._grammar_used, strict=True):
            self.engine.grammar_pool.release(self._grammar, dec.rec, used + dec.seconds,
                                             dirty=dirty, clock_s=dec.clock_s)
        self.grammars = []
        self._audio = []
