"""Rank a flow's intents for one utterance, with a confidence in 0..1.

Two signals, both over normalised text:

* **Weighted n-gram coverage.** Each example phrase becomes a set of n-grams: characters and
  toneless pinyin syllables for Chinese, words and letter trigrams for English, syllables and
  jamo trigrams for Korean. An n-gram's weight is its inverse frequency across intents, so
  "卡" or "my" (everywhere) weigh little and "吞" or "swallowed" (one intent) weigh a lot. A
  phrase scores by how much of its weight the utterance covers and how much of the
  utterance's weight it explains: rambling callers still match, "卡" alone does not.
* **rapidfuzz alignment** of the phonetic key against each phrase's, for near-misses that
  n-grams split badly.

The score of an intent is that of its best phrase; ties are broken by intent id, never by
order in the file.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from ..types import Candidate, Lang
from .normalize import normalize
from .phonetic import jamo, phonetic_key, pinyin_syllables

__all__ = ["IntentMatcher", "Scores", "grams"]

_UNSEEN = 0.35
"""Weight of an utterance n-gram that no example phrase has, relative to the rarest known one."""
_FUZZY_WEIGHT = 0.25
"""Share of the rapidfuzz signal in the combined score."""
_PHRASE_SIDE = 0.65
"""Exponent share of phrase coverage (vs utterance coverage) in the n-gram score."""
_EN_SUFFIX = re.compile(r"(ing|ed|es|s)$")

# n-gram families and their weight multipliers: the sound-based ones count a little less
_FAMILY = {"c": 1.0, "p": 0.8, "w": 1.0, "t": 0.45, "s": 1.0, "j": 0.6}


def _ngrams(units: tuple[str, ...], n_max: int, prefix: str) -> Iterable[str]:
    for n in range(1, n_max + 1):
        for i in range(len(units) - n + 1):
            yield prefix + ":" + "".join(units[i:i + n]) if prefix in "cs" else (
                prefix + ":" + " ".join(units[i:i + n]))


def _stem(word: str) -> str:
    return _EN_SUFFIX.sub("", word) if len(word) > 4 else word


def grams(norm: str, lang: Lang) -> frozenset[str]:
    """The n-grams of an already normalised text."""
    if not norm:
        return frozenset()
    if lang == "zh":
        chars = tuple(norm)
        return frozenset((*_ngrams(chars, 3, "c"), *_ngrams(pinyin_syllables(norm), 2, "p")))
    if lang == "en":
        words = tuple(_stem(w) for w in norm.split())
        tri = (f"t:{w[i:i + 3]}" for w in (f" {w} " for w in words) for i in range(len(w) - 2))
        return frozenset((*_ngrams(words, 2, "w"), *tri))
    syllables = tuple(norm.replace(" ", ""))
    j = jamo(norm.replace(" ", ""))
    return frozenset((*_ngrams(syllables, 2, "s"), *(f"j:{j[i:i + 3]}" for i in range(len(j) - 2))))


@dataclass(frozen=True)
class Scores:
    """All intents ranked for one utterance."""

    text: str
    """The utterance as heard."""
    normalized: str
    """After normalisation; empty means nothing usable was said."""
    candidates: tuple[Candidate, ...]
    """Every allowed intent, best first (ties by id)."""

    @property
    def top(self) -> Candidate | None:
        """The best candidate, if any."""
        return self.candidates[0] if self.candidates else None

    @property
    def margin(self) -> float:
        """Gap between the best two scores (the best score when there is one candidate)."""
        if not self.candidates:
            return 0.0
        second = self.candidates[1].score if len(self.candidates) > 1 else 0.0
        return self.candidates[0].score - second


@dataclass(frozen=True)
class _Phrase:
    intent: str
    grams: frozenset[str]
    weight: float
    key: str


class IntentMatcher:
    """Scores utterances in one language against example phrases per intent."""

    def __init__(self, examples: Mapping[str, Iterable[str]], lang: Lang) -> None:
        self.lang = lang
        self.intents = tuple(sorted(examples))
        normed = {i: sorted({normalize(p, lang) for p in examples[i]} - {""}) for i in self.intents}
        df: dict[str, int] = defaultdict(int)
        for phrases in normed.values():
            for g in set().union(*(grams(p, lang) for p in phrases)) if phrases else ():
                df[g] += 1
        n = max(len(self.intents), 1)
        self._idf = {g: _FAMILY[g[0]] * math.log(1.0 + n / c) for g, c in df.items()}
        self._unseen = _UNSEEN * math.log(1.0 + n)
        self._phrases = tuple(
            _Phrase(i, gs, self._mass(gs), phonetic_key(p, lang))
            for i in self.intents for p in normed[i] for gs in (grams(p, lang),))
        self._keys = [p.key for p in self._phrases]
        index: dict[str, list[int]] = defaultdict(list)
        for k, phrase in enumerate(self._phrases):
            for g in phrase.grams:
                index[g].append(k)
        self._index = dict(index)

    def _weight(self, g: str) -> float:
        return self._idf.get(g, self._unseen * _FAMILY[g[0]])

    def _mass(self, gs: Iterable[str]) -> float:
        return sum(self._weight(g) for g in gs)

    def score(self, text: str, allowed: Collection[str] | None = None) -> Scores:
        """Rank the intents (all, or only `allowed`) for one utterance."""
        norm = normalize(text, self.lang)
        pool = [i for i in self.intents if allowed is None or i in allowed]
        if not norm or not pool:
            return Scores(text, norm, tuple(Candidate(i, 0.0) for i in pool))
        ugrams = grams(norm, self.lang)
        umass = self._mass(ugrams) or 1.0
        shared: dict[int, float] = defaultdict(float)
        for g in ugrams:
            for k in self._index.get(g, ()):
                shared[k] += self._idf[g]
        ukey = phonetic_key(norm, self.lang)
        fuzzy = process.cdist([ukey], self._keys, scorer=fuzz.ratio, dtype="float32")[0]
        best: dict[str, float] = dict.fromkeys(pool, 0.0)
        for k, phrase in enumerate(self._phrases):
            if phrase.intent not in best:
                continue
            common = shared.get(k, 0.0)
            ngram = 0.0
            if common:
                cover_p = common / phrase.weight
                cover_u = common / umass
                ngram = cover_p**_PHRASE_SIDE * cover_u ** (1 - _PHRASE_SIDE)
            s = (1 - _FUZZY_WEIGHT) * ngram + _FUZZY_WEIGHT * float(fuzzy[k]) / 100.0
            if s > best[phrase.intent]:
                best[phrase.intent] = s
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
        return Scores(text, norm, tuple(Candidate(i, round(min(1.0, s), 4)) for i, s in ranked))
