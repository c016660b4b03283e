"""One loaded Vosk model in this process: its recognisers, and what they make of audio.

`Engine` loads the model, builds grammar and free recognisers (lent through the pools of
`ivr.asr.pool`) and opens `DualStream`s (`ivr.asr.dual`) over them; `Decoder` feeds one
recogniser an utterance and reads its JSON results back as `Hypothesis` values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ModelError
from ..types import SAMPLE_RATE, Lang, Word
from .budget import CostModel
from .dual import DualStream
from .modeldir import DecoderConfig, prepare_model
from .pool import FreePool, GrammarPool, rss_mb
from .results import Hypothesis, StreamSpec

__all__ = ["Decoder", "Engine"]


def _join(text: str, lang: Lang) -> str:
    return text.replace(" ", "") if lang == "zh" else " ".join(text.split())


def _best(segment: dict[str, Any]) -> dict[str, Any]:
    options = segment.get("alternatives") or [segment]
    best: dict[str, Any] = options[0]
    return best


_T = TypeVar("_T")


class Decoder:
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
        life_s = self.config.free_life_s if self.config.warm else 0.0  # 0: never lent twice
        self.pool = FreePool(self._new_free, self.config.free_slots, life_s,
                             self.config.free_memory_mb, rss_mb(),
                             young_max=(self.config.young_free if self.config.warm
                                       else self.config.free_slots))
        self.grammar_pool = GrammarPool(self.grammar_recognizer, life_s=life_s)
        self.degraded = 0
        """Streams opened with one grammar view because the worker was behind."""
        self.dropped = 0
        """Streams that stopped decoding freely midway because the worker was far behind."""
        self.budgeted = 0
        """Live streams that stopped decoding freely to keep the worker in its budget."""
        self.costs = CostModel()
        """What a grammar view and free decoding cost per audio second, as measured."""
        self._threads: ThreadPoolExecutor | None = None

    def side_by_side(self, jobs: Sequence[Callable[[], _T]]) -> list[_T]:
        """Run `jobs` (recognisers' work, which lets go of the GIL) on up to
        `DecoderConfig.side_by_side` threads; their results in order."""
        if len(jobs) < 2 or self.config.side_by_side < 2:
            return [job() for job in jobs]
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.config.side_by_side,
                                               thread_name_prefix="ivr-decode")
        futures = [self._threads.submit(job) for job in jobs[1:]]
        first = jobs[0]()  # this thread decodes too
        return [first, *(f.result() for f in futures)]

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

    def stream(self, spec: StreamSpec, *, views: int | None = None) -> DualStream:
        """A stream for one utterance: grammar decoding (in the first `views` views, all by
        default) if `spec.grammar`, free decoding if `spec.free` and a pool slot is open (a
        stream without a grammar always decodes freely)."""
        grammar = tuple(spec.grammar) if spec.grammar else ()
        names = self.config.views[:views] if grammar else ()
        grammars: list[tuple[Decoder, float]] = []
        for _ in names:
            rec, used, clock = self.grammar_pool.acquire(grammar)
            grammars.append((Decoder(rec, self.lang, clock), used))
        lent = self.pool.acquire(force=not grammar) if spec.free or not grammar else None
        free = (Decoder(lent[0], self.lang, lent[2]), lent[1]) if lent else None
        return DualStream(self, grammar, names, grammars, free, narrowband=spec.narrowband)

    def stats(self) -> dict[str, float]:
        """Pool figures and this process's resident memory (MB)."""
        p = self.pool
        return {"rss_mb": rss_mb(), "free_created": p.created, "free_retired": p.retired,
                "free_shed": p.shed, "free_busy": p.busy, "free_idle": len(p.idle),
                "grammar_created": self.grammar_pool.created,
                "grammar_reused": self.grammar_pool.reused,
                "one_view": self.degraded, "free_dropped": self.dropped,
                "free_budgeted": self.budgeted}

