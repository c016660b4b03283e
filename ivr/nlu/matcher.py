"""Rank a flow's intents for one utterance, with a calibrated confidence in 0..1.

Signals, all over normalised text:

* **Weighted n-gram coverage per phrase.** Each example phrase becomes a set of n-grams:
  characters and toneless pinyin syllables for Chinese, words and letter trigrams for English,
  syllables and jamo trigrams for Korean. An n-gram weighs its inverse frequency across
  intents, so "卡" or "my" (everywhere) weigh little and "吞" or "swallowed" (one intent) a lot.
  A phrase scores by how much of its weight the utterance covers and how much of the
  utterance's weight it explains: "卡" alone covers little of any phrase.
* **Pooled coverage per intent**: how much of the utterance's weight the intent's whole
  vocabulary explains — rambling callers mention the intent's words in their own order.
* **rapidfuzz alignment** of the phonetic key (pinyin / jamo / words) against each phrase's,
  for near-misses that n-grams split badly.

These make one raw score per intent. The confidence is a logistic function of the raw score,
the margin over the best other intent and the weight of evidence (fitted on the tune split of
tests/data/intents by `python -m ivr.bench.fit`), so thresholds in the flow mean the same
thing in every language. Ties are broken by intent id, never by order in the file.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import yaml
from rapidfuzz import fuzz, process

from ..types import Candidate, Lang
from .normalize import has_content, normalize
from .phonetic import jamo, phonetic_key, pinyin_syllables

__all__ = [
    "CALIBRATION", "OUT_OF_SCOPE", "Features", "IntentMatcher", "Scores", "builtin_out_of_scope",
    "grams",
]

OUT_OF_SCOPE = "__out_of_scope__"
"""The pseudo-intent of requests no node serves (never a candidate, only a competitor)."""

_UNSEEN = 0.35
"""Weight of an utterance n-gram no example phrase has, relative to the rarest known one."""
_PHRASE_SIDE = 0.65
"""Exponent share of phrase coverage (vs utterance coverage) in the phrase score."""
_MIX = (0.55, 0.25, 0.20)
"""Raw score = phrase n-gram score, pooled coverage, rapidfuzz ratio, in these shares."""
CALIBRATION = (2.54, 9.1, 1.07, 2.5, -4.86)
"""Logistic weights for (raw, margin, log evidence, explained, bias): `python -m ivr.bench.fit`."""

_FUZZY_POOL = 64
"""How many phrases (best by n-grams) are also aligned with rapidfuzz."""
_EN_SUFFIX = re.compile(r"(ing|ed|es|s)$")
_FAMILY = {"c": 1.0, "p": 0.8, "w": 1.0, "t": 0.45, "s": 1.0, "j": 0.6}
"""n-gram families and their weight: the sound-based ones count a little less."""


def _ngrams(units: tuple[str, ...], n_max: int, prefix: str, sep: str) -> Iterable[str]:
    for n in range(1, n_max + 1):
        for i in range(len(units) - n + 1):
            yield prefix + ":" + sep.join(units[i:i + n])


def _stem(word: str) -> str:
    return _EN_SUFFIX.sub("", word) if len(word) > 4 else word


def grams(norm: str, lang: Lang) -> frozenset[str]:
    """The n-grams of an already normalised text."""
    if not norm:
        return frozenset()
    if lang == "zh":
        return frozenset((*_ngrams(tuple(norm), 3, "c", ""),
                          *_ngrams(pinyin_syllables(norm), 2, "p", " ")))
    if lang == "en":
        words = tuple(_stem(w) for w in norm.split())
        tri = (f"t:{w[i:i + 3]}" for w in (f" {w} " for w in words) for i in range(len(w) - 2))
        return frozenset((*_ngrams(words, 2, "w", " "), *tri))
    flat = norm.replace(" ", "")
    j = jamo(flat)
    return frozenset((*_ngrams(tuple(flat), 2, "s", ""),
                      *(f"j:{j[i:i + 3]}" for i in range(len(j) - 2))))


@dataclass(frozen=True)
class Features:
    """The evidence behind the top candidate (for calibration and debugging)."""

    raw: float
    """Raw score of the top intent, 0..1."""
    margin: float
    """Raw score gap to the best other intent."""
    evidence: float
    """Matched n-gram weight of the top intent, in units of the rarest n-gram's weight."""
    explained: float
    """Share of the utterance's n-gram weight the top intent's vocabulary explains."""


@dataclass(frozen=True)
class Scores:
    """All intents ranked for one utterance."""

    text: str
    """The utterance as heard."""
    normalized: str
    """After normalisation; empty means nothing usable was said (no content words)."""
    candidates: tuple[Candidate, ...]
    """Every allowed intent, best first (ties by id), scored by calibrated confidence."""
    features: Features | None = None
    """Raw evidence for the top candidate."""
    out_of_scope: float = 0.0
    """Raw score of the out-of-scope pseudo-intent (a competitor to every real intent)."""

    @property
    def top(self) -> Candidate | None:
        """The best candidate, if any."""
        return self.candidates[0] if self.candidates else None

    @property
    def margin(self) -> float:
        """Gap between the best two confidences (the best one when there is one candidate)."""
        if not self.candidates:
            return 0.0
        second = self.candidates[1].score if len(self.candidates) > 1 else 0.0
        return self.candidates[0].score - second


@lru_cache(maxsize=1)
def _builtin_oos() -> dict[str, tuple[str, ...]]:
    text = resources.files("ivr").joinpath("data/out_of_scope.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return {lang: tuple(str(p) for p in phrases) for lang, phrases in data.items()}


def builtin_out_of_scope(lang: Lang) -> tuple[str, ...]:
    """The engine's own examples of requests a bank hotline does not serve (ivr/data)."""
    return _builtin_oos().get(lang, ())


class IntentMatcher:
    """Scores utterances in one language against example phrases per intent.

    `out_of_scope` phrases form a pseudo-intent that competes with every real one: when it
    explains the utterance better, the real intents' margins go negative and nothing routes.
    """

    def __init__(self, examples: Mapping[str, Iterable[str]], lang: Lang,
                 out_of_scope: Iterable[str] = ()) -> None:
        self.lang = lang
        examples = dict(examples)
        oos = tuple(out_of_scope)
        if oos:
            examples[OUT_OF_SCOPE] = oos
        self.intents = tuple(sorted(examples))
        self._oos = self.intents.index(OUT_OF_SCOPE) if oos else -1
        normed = {i: sorted({normalize(p, lang) for p in examples[i]} - {""}) for i in self.intents}
        pools = {i: frozenset().union(*(grams(p, lang) for p in normed[i])) for i in self.intents}
        df: dict[str, int] = defaultdict(int)
        for pool in pools.values():
            for g in pool:
                df[g] += 1
        n = max(len(self.intents), 1)
        self._idf = {g: _FAMILY[g[0]] * math.log(1.0 + n / c) for g, c in df.items()}
        self._unit = math.log(1.0 + n)
        owners: list[int] = []
        phrase_grams: list[frozenset[str]] = []
        keys: list[str] = []
        for k, intent in enumerate(self.intents):
            for p in normed[intent]:
                owners.append(k)
                phrase_grams.append(grams(p, lang))
                keys.append(phonetic_key(p, lang))
        self._owner = np.array(owners, dtype=np.int64)
        self._pmass = np.array([self._mass(g) for g in phrase_grams], dtype=np.float64)
        self._keys = keys
        index: dict[str, list[int]] = defaultdict(list)
        for k, gs in enumerate(phrase_grams):
            for g in gs:
                index[g].append(k)
        self._index = {g: np.array(v, dtype=np.int64) for g, v in index.items()}
        self._pools = {g: np.array(sorted(self.intents.index(i) for i in self.intents
                                          if g in pools[i]), dtype=np.int64) for g in df}

    def _weight(self, g: str) -> float:
        return self._idf.get(g, _UNSEEN * self._unit * _FAMILY[g[0]])

    def _mass(self, gs: Iterable[str]) -> float:
        return sum(self._weight(g) for g in gs)

    def _raw(self, norm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw score, matched evidence and explained share per intent (aligned with intents)."""
        ugrams = grams(norm, self.lang)
        umass = self._mass(ugrams) or 1.0
        known = [g for g in ugrams if g in self._idf]
        n_phrases, n_intents = len(self._owner), len(self.intents)
        shared: np.ndarray[Any, np.dtype[Any]]
        pooled: np.ndarray[Any, np.dtype[Any]]
        if known:
            weights = [self._idf[g] for g in known]
            posts = [self._index[g] for g in known]
            pools = [self._pools[g] for g in known]
            shared = np.bincount(np.concatenate(posts), np.repeat(weights, [len(p) for p in posts]),
                                 minlength=n_phrases)
            pooled = np.bincount(np.concatenate(pools), np.repeat(weights, [len(p) for p in pools]),
                                 minlength=n_intents)
        else:
            shared, pooled = np.zeros(n_phrases), np.zeros(n_intents)
        phrase = (shared / self._pmass) ** _PHRASE_SIDE * (shared / umass) ** (1 - _PHRASE_SIDE)
        # rapidfuzz on the phrases the n-grams already rank highest: a near-miss spelling of a
        # phrase still shares some n-grams, and aligning every phrase would cost 10x the time.
        near = np.argpartition(-phrase, _FUZZY_POOL)[:_FUZZY_POOL] if len(
            phrase) > _FUZZY_POOL else np.arange(len(phrase))
        fuzzy = np.zeros(n_phrases)
        fuzzy[near] = process.cdist([phonetic_key(norm, self.lang)], [self._keys[i] for i in near],
                                    scorer=fuzz.ratio, dtype=np.float32, workers=1)[0] / 100.0
        per_phrase = _MIX[0] * phrase + _MIX[2] * fuzzy
        best = np.zeros(n_intents)
        np.maximum.at(best, self._owner, per_phrase)
        explained = np.minimum(pooled / umass, 1.0)
        raw = best + _MIX[1] * explained
        return np.minimum(raw, 1.0), pooled / self._unit, explained

    def score(self, text: str, allowed: Collection[str] | None = None) -> Scores:
        """Rank the intents (all, or only `allowed`) for one utterance."""
        norm = normalize(text, self.lang)
        keep = [k for k, i in enumerate(self.intents) if (allowed is None or i in allowed)
                and k != self._oos]
        if not has_content(norm, self.lang) or not keep:
            return Scores(text, "", tuple(Candidate(self.intents[k], 0.0) for k in keep))
        raw, evidence, explained = self._raw(norm)
        oos = float(raw[self._oos]) if self._oos >= 0 else 0.0
        idx = np.array(keep)
        ranked = idx[np.lexsort((idx, -raw[idx]))]  # by raw score, ties by intent id order
        first = raw[ranked[0]]
        second = max(float(raw[ranked[1]]) if len(ranked) > 1 else 0.0, oos)
        margins = raw[ranked] - first
        margins[0] = first - second
        a, b, c, e, d = CALIBRATION
        z = (a * raw[ranked] + b * margins + c * np.log1p(evidence[ranked])
             + e * explained[ranked] + d)
        conf = np.round(1.0 / (1.0 + np.exp(-z)), 4)
        cands = sorted((Candidate(self.intents[k], float(v)) for k, v in zip(ranked, conf,
                                                                               strict=True)),
                       key=lambda cand: (-cand.score, cand.intent))
        top = int(ranked[0])
        feats = Features(round(float(first), 4), round(float(first - second), 4),
                         round(float(evidence[top]), 4), round(float(explained[top]), 4))
        return Scores(text, norm, tuple(cands), feats, round(oos, 4))
