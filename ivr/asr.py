"""Speech to text: a streaming Vosk recogniser, and its vocabulary.

Audio is fed in 20 ms frames; Vosk's endpointer splits it into segments, and the final result
of every segment is joined into one utterance. Chinese output loses the spaces Vosk puts
between words. A node may restrict decoding to its own phrases (a Vosk grammar); words the
model does not know are reported, never dropped silently.
"""

from __future__ import annotations

import json
import re
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from .audio import frames
from .errors import ModelError
from .types import Audio, Lang, Utterance, Word

__all__ = [
    "GrammarWords", "Recognizer", "VoskRecognizer", "grammar_words", "read_vocabulary", "segment",
]

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_FST_MAGIC = 2125659606
_SYMS_MAGIC = 2125658996


class Recognizer(Protocol):
    """Turns one caller turn of audio into an utterance."""

    lang: Lang

    def recognize(self, audio: Audio, grammar: Sequence[str] | None = None) -> Utterance:
        """Decode `audio`; with `grammar`, only those phrases can come out."""
        ...


def _read_string(buf: memoryview, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<i", buf, pos)
    return bytes(buf[pos + 4:pos + 4 + n]).decode("utf-8", "replace"), pos + 4 + n


@lru_cache(maxsize=4)
def read_vocabulary(model_dir: Path) -> frozenset[str]:
    """The words a Vosk model can output, from words.txt or the symbol table inside Gr.fst.

    Returns an empty set when the model carries neither (then grammar words go unchecked).
    """
    words_txt = model_dir / "graph" / "words.txt"
    if words_txt.is_file():
        return frozenset(line.split()[0] for line in words_txt.read_text("utf-8").splitlines()
                         if line.strip())
    gr = model_dir / "graph" / "Gr.fst"
    if not gr.is_file():
        return frozenset()
    data = memoryview(gr.read_bytes())
    try:
        if struct.unpack_from("<i", data, 0)[0] != _FST_MAGIC:
            return frozenset()
        pos = 4
        for _ in range(2):  # fst type, arc type
            _, pos = _read_string(data, pos)
        _version, flags = struct.unpack_from("<ii", data, pos)
        pos += 8 + 8 + 8 * 3  # properties, start, states, arcs
        if not flags & 1 or struct.unpack_from("<i", data, pos)[0] != _SYMS_MAGIC:
            return frozenset()
        _, pos = _read_string(data, pos + 4)
        _available, size = struct.unpack_from("<qq", data, pos)
        pos += 16
        words = []
        for _ in range(size):
            word, pos = _read_string(data, pos)
            pos += 8
            words.append(word)
    except (struct.error, UnicodeDecodeError):
        return frozenset()
    return frozenset(words)


@dataclass(frozen=True)
class GrammarWords:
    """A grammar's phrases split into words, and which of those the model lacks."""

    phrases: tuple[str, ...]
    """Phrases made only of known words (empty phrases dropped)."""
    unknown: tuple[str, ...]
    """Words the model cannot output, sorted."""


def segment(word: str, vocabulary: frozenset[str]) -> tuple[str, ...] | None:
    """Split a word into the fewest known words (조회해 -> 조회 해), or None if it can't be.

    Models like the small Korean one spell their output in morpheme-sized pieces, so a phrase
    a designer writes as 분실했어요 is decoded as 분실 했어요.
    """
    if word in vocabulary:
        return (word,)
    n = len(word)
    best: list[tuple[str, ...] | None] = [None] * (n + 1)
    best[0] = ()
    for end in range(1, n + 1):
        for start in range(max(0, end - 12), end):
            prev = best[start]
            piece = word[start:end]
            if prev is not None and piece in vocabulary:
                cand = (*prev, piece)
                if best[end] is None or len(cand) < len(best[end] or ()):
                    best[end] = cand
    return best[n]


def grammar_words(phrases: Iterable[str], vocabulary: frozenset[str]) -> GrammarWords:
    """Split phrases into words the model knows, reporting the words it cannot spell.

    With an empty vocabulary (a model without a word list) phrases pass unchecked.
    """
    kept: list[str] = []
    unknown: set[str] = set()
    for phrase in phrases:
        words: list[str] = []
        for w in _PUNCT.sub(" ", phrase).split():
            pieces = segment(w, vocabulary) if vocabulary else (w,)
            if pieces is None:
                unknown.add(w)
            else:
                words.extend(pieces)
        if words:
            kept.append(" ".join(words))
    return GrammarWords(tuple(dict.fromkeys(kept)), tuple(sorted(unknown)))


def _join(text: str, lang: Lang) -> str:
    return text.replace(" ", "") if lang == "zh" else " ".join(text.split())


class VoskRecognizer:
    """Streaming Vosk recognition with one loaded model, reused for every call."""

    def __init__(self, model_dir: Path, lang: Lang) -> None:
        try:
            import vosk
        except ImportError as exc:  # pragma: no cover - vosk is a hard dependency
            raise ModelError(f"vosk is not installed: {exc}") from None
        vosk.SetLogLevel(-1)
        self.lang = lang
        self.model_dir = model_dir
        self._vosk = vosk
        try:
            self._model = vosk.Model(str(model_dir))
        except Exception as exc:  # vosk raises a bare Exception when loading fails
            raise ModelError(f"{model_dir}: cannot load Vosk model ({exc})") from None

    @property
    def vocabulary(self) -> frozenset[str]:
        """Words the model can output."""
        return read_vocabulary(self.model_dir)

    def recognize(self, audio: Audio, grammar: Sequence[str] | None = None) -> Utterance:
        """Decode one turn in 20 ms frames; the segments' final results joined."""
        started = time.perf_counter()
        if grammar:
            rec = self._vosk.KaldiRecognizer(self._model, 16000,
                                             json.dumps(list(grammar), ensure_ascii=False))
        else:
            rec = self._vosk.KaldiRecognizer(self._model, 16000)
        rec.SetWords(True)
        rec.SetMaxAlternatives(3)
        segments: list[dict[str, Any]] = []
        for frame in frames(audio, 20):
            if rec.AcceptWaveform(frame):
                segments.append(json.loads(rec.Result()))
        fed = time.perf_counter()
        segments.append(json.loads(rec.FinalResult()))
        done = time.perf_counter()
        return self._utterance(segments, audio.seconds, done - started, done - fed)

    def _utterance(self, segments: list[dict[str, Any]], seconds: float,
                   spent: float, final: float) -> Utterance:
        texts: list[str] = []
        alts: list[str] = []
        words: list[Word] = []
        for seg in segments:
            options = seg.get("alternatives") or [seg]
            best = options[0]
            if best.get("text", "").strip():
                texts.append(best["text"])
                words.extend(Word(w["word"], float(w["start"]), float(w["end"]),
                                  float(w.get("conf", 1.0))) for w in best.get("result", ()))
            alts.extend(o.get("text", "") for o in options[1:])
        text = _join(" ".join(texts), self.lang)
        alternatives = tuple(dict.fromkeys(
            a for a in (_join(x, self.lang) for x in alts) if a and a != text))
        return Utterance(text=text, lang=self.lang, source="speech", words=tuple(words),
                         alternatives=alternatives, audio_seconds=seconds, decode_seconds=spent,
                         final_seconds=final)
