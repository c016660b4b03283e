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
tests/data/intents by `python -m bench.fit`), so thresholds in the flow mean the same
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
from .contrast import focus
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
CALIBRATION = (1.25, 10.38, 1.06, 2.67, -4.57)
"""Logistic weights for (raw, margin, log evidence, explained, bias): `python -m bench.fit`."""

_FUZZY_POOL = 64
"""How many phrases (best by n-grams) are also aligned with rapidfuzz."""
_DENSE_SHARE = 0.15
"""n-grams found in at least this share of the phrases are summed as dense rows."""
_EN_SUFFIX = re.compile(r"(ing|ed|es|s)$")
_FAMILY = {"c": 1.0, "p": 0.8, "w": 1.0, "t": 0.45, "s": 1.0, "j": 0.6}
"""n-gram families and their weight: the sound-based ones count a little less."""


def _ngrams(units: tuple[str, ...], n_max: int, prefix: str, sep: str) -> list[str]:
    """Unit n-grams up to n_max, as "prefix:unit<sep>unit"."""
    out = [prefix + u for u in units]
    for n in range(2, n_max + 1):
        out += [prefix + sep.join(units[i:i + n]) for i in range(len(units) - n + 1)]
    return out


def _slices(text: str, n_max: int, prefix: str) -> list[str]:
    """Substrings of 1..n_max characters, as "prefix:substring"."""
    out: list[str] = []
    for n in range(1, n_max + 1):
        out += [prefix + text[i:i + n] for i in range(len(text) - n + 1)]
    return out


@lru_cache(maxsize=65536)
def _word(word: str) -> tuple[str, tuple[str, ...]]:
    """An English word's stem and its letter trigrams (with word boundaries)."""
    stem = _EN_SUFFIX.sub("", word) if len(word) > 4 else word
    padded = f" {stem} "
    return stem, tuple(f"t:{padded[i:i + 3]}" for i in range(len(padded) - 2))


def grams(norm: str, lang: Lang) -> frozenset[str]:
    """The n-grams of an already normalised text."""
    if not norm:
        return frozenset()
    if lang == "zh":
        return frozenset(_slices(norm, 3, "c:") + _ngrams(pinyin_syllables(norm), 2, "p:", " "))
    if lang == "en":
        done = [_word(w) for w in norm.split()]
        out = _ngrams(tuple(stem for stem, _ in done), 2, "w:", " ")
        for _, tri in done:
            out += tri
        return frozenset(out)
    flat = norm.replace(" ", "")
    j = jamo(flat)
    return frozenset(_slices(flat, 2, "s:") + [f"j:{j[i:i + 3]}" for i in range(len(j) - 2)])


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
    out_of_scope_probability: float = 0.0
    """The learnt classifier's probability that the caller wants none of the flow's intents
    (ivr/nlu/scorer.py; 0 when the matcher ranks alone). The policy accepts only below the
    flow's `max_out_of_scope`."""

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


class _Csr:
    """Rows of integer ids in two flat arrays (compressed sparse rows): memory as the ids."""

    def __init__(self, rows: list[list[int]]) -> None:
        lengths = np.array([len(r) for r in rows], dtype=np.intp)
        self.start = np.concatenate(([0], np.cumsum(lengths))).astype(np.intp)
        self.ids = np.fromiter((k for r in rows for k in r), dtype=np.intp,
                               count=int(self.start[-1]))

    def weighted_sum(self, rows: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
        """Per id, the sum of the weights of the given rows that hold it (length `size`)."""
        starts, ends = self.start[rows], self.start[rows + 1]
        ids = np.concatenate([self.ids[a:b] for a, b in zip(starts.tolist(), ends.tolist(),
                                                              strict=True)] or [self.ids[:0]])
        return np.bincount(ids, np.repeat(weights, ends - starts), minlength=size)


_POOL_DENSE_MAX = 1 << 21
"""Up to this many vocabulary x intents cells (16 MB), the pool is a dense 0/1 matrix (one
product per utterance, the fastest for a hotline's few intents); above, sparse rows."""


def _pool_rows(rows: list[list[int]], n_intents: int) -> np.ndarray | _Csr:
    """n-gram -> the intents whose vocabulary has it: dense when small, sparse rows when not."""
    sparse = _Csr(rows)
    if len(rows) * n_intents > _POOL_DENSE_MAX:
        return sparse
    dense = np.zeros((len(rows), n_intents))
    dense[np.repeat(np.arange(len(rows)), np.diff(sparse.start)), sparse.ids] = 1.0
    return dense


class IntentMatcher:
    """Scores utterances in one language against example phrases per intent.

    `out_of_scope` phrases form a pseudo-intent that competes with every real one: when it
    explains the utterance better, the real intents' margins go negative and nothing routes.

    Speed (one core, ~17 intents x ~90 phrases): every n-gram gets an integer id, most frequent
    first. The few n-grams found in hundreds of phrases are rows of a small dense 0/1 matrix
    (one matrix-vector product); the rest are posting lists summed with `np.bincount`.
    Memory grows with the flow, not with its square: the n-gram -> intents pool (for pooled
    coverage) is a dense matrix only while small (`_POOL_DENSE_MAX`), else flat sparse rows;
    the dense phrase rows are only n-grams in at least `_DENSE_SHARE` of the phrases.
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
        self._phrases = tuple(p for i in self.intents for p in normed[i])
        """The normalised phrases, in row order (for `nearest`)."""
        owners: list[int] = []
        phrase_grams: list[frozenset[str]] = []
        keys: list[str] = []
        for k, intent in enumerate(self.intents):
            for p in normed[intent]:
                owners.append(k)
                phrase_grams.append(grams(p, lang))
                keys.append(phonetic_key(p, lang))
        pools: dict[str, frozenset[str]] = {}
        at = 0
        for intent in self.intents:  # an intent's vocabulary: the n-grams of its phrases
            pools[intent] = frozenset().union(*phrase_grams[at:at + len(normed[intent])])
            at += len(normed[intent])
        df: dict[str, int] = defaultdict(int)
        for pool in pools.values():
            for g in pool:
                df[g] += 1
        n = max(len(self.intents), 1)
        self._unit = math.log(1.0 + n)
        self._unseen = {f: _UNSEEN * self._unit * w for f, w in _FAMILY.items()}
        postings: dict[str, list[int]] = defaultdict(list)
        for k, gs in enumerate(phrase_grams):
            for g in gs:
                postings[g].append(k)
        vocab = sorted(df, key=lambda g: (-len(postings[g]), g))  # most frequent first
        self._gid = {g: k for k, g in enumerate(vocab)}
        self._idf = np.array([_FAMILY[g[0]] * math.log(1.0 + n / df[g]) for g in vocab])
        n_phrases = len(owners)
        self._n_dense = sum(len(postings[g]) >= max(_DENSE_SHARE * n_phrases, 1) for g in vocab)
        self._dense = np.zeros((self._n_dense, n_phrases))
        for k, g in enumerate(vocab[:self._n_dense]):
            self._dense[k, postings[g]] = 1.0
        self._post = [np.array(postings[g], dtype=np.intp) for g in vocab]
        owners_of: dict[str, list[int]] = defaultdict(list)
        for k, i in enumerate(self.intents):
            for g in pools[i]:
                owners_of[g].append(k)
        self._pool = _pool_rows([owners_of[g] for g in vocab], len(self.intents))
        self._owner = np.array(owners, dtype=np.intp)
        pmass = np.bincount(np.concatenate([*self._post, np.zeros(0, np.intp)]), np.repeat(
            self._idf, [len(p) for p in self._post]), minlength=n_phrases)  # n-gram weight
        self._pscale = pmass ** -_PHRASE_SIDE if n_phrases else pmass
        self._keys = keys
        counts = np.bincount(self._owner, minlength=len(self.intents))
        self._has = np.flatnonzero(counts)
        self._starts = (np.cumsum(counts) - counts)[self._has]
        self._keep: dict[object, np.ndarray[Any, np.dtype[np.intp]]] = {}

    def _raw(self, norm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw score, matched evidence and explained share per intent (aligned with intents)."""
        per_phrase, pooled, umass = self._per_phrase(norm)
        n_intents = len(self.intents)
        if not len(per_phrase):
            zero = np.zeros(n_intents)
            return zero, zero, zero
        best = np.zeros(n_intents)
        best[self._has] = np.maximum.reduceat(per_phrase, self._starts)
        explained = np.minimum(pooled / umass, 1.0)
        raw = best + _MIX[1] * explained
        return np.minimum(raw, 1.0), pooled / self._unit, explained

    def nearest(self, text: str, intent: str, n: int = 3) -> tuple[tuple[str, float], ...]:
        """The n phrases of `intent` (normalised) closest to the utterance, with their phrase
        score (n-gram share and rapidfuzz alignment, 0..0.75), best first."""
        norm = normalize(focus(text, self.lang), self.lang)
        if intent not in self.intents or not has_content(norm, self.lang):
            return ()
        per_phrase = self._per_phrase(norm)[0]
        rows = np.flatnonzero(self._owner == self.intents.index(intent))
        order = rows[np.lexsort((rows, -per_phrase[rows]))][:n]
        return tuple((self._phrases[k], round(float(per_phrase[k]), 4)) for k in order.tolist())

    def _per_phrase(self, norm: str) -> tuple[np.ndarray, np.ndarray, float]:
        """Score per phrase, pooled n-gram weight per intent and the utterance's weight."""
        gid, unseen = self._gid, self._unseen
        ids: list[int] = []
        missing = 0.0
        for g in grams(norm, self.lang):
            k = gid.get(g)
            if k is None:
                missing += unseen[g[0]]
            else:
                ids.append(k)
        n_phrases, n_intents = len(self._owner), len(self.intents)
        if not n_phrases:
            return np.zeros(0), np.zeros(n_intents), 1.0
        idx = np.array(ids, dtype=np.intp)
        weights = self._idf[idx]
        umass = (float(weights.sum()) + missing) or 1.0
        if isinstance(self._pool, _Csr):
            pooled = self._pool.weighted_sum(idx, weights, n_intents)
        else:
            pooled = weights @ self._pool[idx]
        dense = idx < self._n_dense
        shared = weights[dense] @ self._dense[idx[dense]]
        rare = np.flatnonzero(~dense)
        if len(rare):
            posts = [self._post[ids[k]] for k in rare.tolist()]
            shared = shared + np.bincount(np.concatenate(posts), np.repeat(
                weights[rare], [len(p) for p in posts]), minlength=n_phrases)
        # (shared/pmass)^s * (shared/umass)^(1-s), with the powers of `shared` folded together
        phrase = shared * self._pscale * umass ** (_PHRASE_SIDE - 1)
        # rapidfuzz on the phrases the n-grams already rank highest: a near-miss spelling of a
        # phrase still shares some n-grams, and aligning every phrase would cost 10x the time.
        if n_phrases > _FUZZY_POOL:
            near = np.argpartition(phrase, -_FUZZY_POOL)[-_FUZZY_POOL:]
        else:
            near = np.arange(n_phrases)
        keys = self._keys
        fuzzy = process.cdist([phonetic_key(norm, self.lang)], [keys[i] for i in near.tolist()],
                              scorer=fuzz.ratio, dtype=np.float32, workers=1)[0]
        per_phrase = _MIX[0] * phrase
        per_phrase[near] += (_MIX[2] / 100.0) * fuzzy
        return per_phrase, pooled, umass

    def _allowed(self, allowed: Collection[str] | None) -> np.ndarray[Any, np.dtype[np.intp]]:
        """Indices of the allowed real intents, in id order (cached per hashable `allowed`)."""
        try:
            return self._keep[allowed]
        except (KeyError, TypeError):
            pass
        wanted = None if allowed is None else frozenset(allowed)  # a list: `in` would be slow
        keep = np.array([k for k, i in enumerate(self.intents) if (
            wanted is None or i in wanted) and k != self._oos], dtype=np.intp)
        try:
            if len(self._keep) < 256:
                self._keep[allowed] = keep
        except TypeError:  # an unhashable collection (a set): not cached
            pass
        return keep

    def score(self, text: str, allowed: Collection[str] | None = None) -> Scores:
        """Rank the intents (all, or only `allowed`) for one utterance (what it says it does
        not mean left out: ivr/nlu/contrast.py)."""
        norm = normalize(focus(text, self.lang), self.lang)
        idx = self._allowed(allowed)
        if not has_content(norm, self.lang) or not len(idx):
            return Scores(text, "", tuple(Candidate(self.intents[k], 0.0) for k in idx))
        raw, evidence, explained = self._raw(norm)
        oos = float(raw[self._oos]) if self._oos >= 0 else 0.0
        r = raw[idx]
        top = int(np.argmax(r))  # the first best: the lowest intent id among equals
        first = float(r[top])
        r[top] = -np.inf
        second = max(float(r.max()) if len(r) > 1 else 0.0, oos)
        r[top] = first
        # z = a*raw + b*margin + c*log(1+evidence) + e*explained + d, where the margin is the
        # gap to the runner-up for the top intent and (raw - first) for every other one
        a, b, c, e, d = CALIBRATION
        z = (a + b) * r + c * np.log1p(evidence[idx]) + e * explained[idx] + (d - b * first)
        z[top] += b * (first - second)
        conf = np.round(1.0 / (1.0 + np.exp(-z)), 4)
        order = np.lexsort((idx, -conf))  # by confidence, ties by intent id
        names = self.intents
        cands = tuple(Candidate(names[k], v) for k, v in zip(idx[order].tolist(),
                                                             conf[order].tolist(), strict=True))
        best = int(idx[top])
        feats = Features(round(first, 4), round(first - second, 4),
                         round(float(evidence[best]), 4), round(float(explained[best]), 4))
        return Scores(text, norm, tuple(cands), feats, round(oos, 4))
