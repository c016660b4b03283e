"""Intents that callers will confuse: phrases too alike in writing or in sound.

Two intents understood at the same menu are compared phrase by phrase, per language, after the
matcher's own normalisation: by characters (rapidfuzz ratio of the normalised text) and by
sound (ratio of the phonetic key: toneless pinyin for Chinese, jamo for Korean). The most alike
pair of phrases stands for the pair of intents.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from ..nlu.normalize import normalize
from ..nlu.phonetic import phonetic_key
from ..types import Lang
from .model import Flow

__all__ = ["CloseIndex", "Confusion", "co_active", "confusions", "empty_phrases"]


@dataclass(frozen=True)
class Confusion:
    """The most alike phrases of two intents in one language."""

    lang: Lang
    """Language compared."""
    a: str
    """First intent (in file order)."""
    b: str
    """Second intent."""
    phrase_a: str
    """Phrase of `a`."""
    phrase_b: str
    """Phrase of `b` (its position is where the finding points)."""
    index_b: int
    """Index of `phrase_b` in b's phrase list."""
    chars: float
    """Similarity of the normalised text, 0-100."""
    sound: float
    """Similarity of the phonetic keys, 0-100."""

    @property
    def identical(self) -> bool:
        """The same phrase, once normalised."""
        return self.chars >= 100.0

    @property
    def score(self) -> float:
        """The larger of the two similarities."""
        return max(self.chars, self.sound)


def co_active(flow: Flow) -> dict[str, int]:
    """intent -> the menus that understand it, as bits; co-active intents share a bit.

    Menus are numbered in file order; a global intent is understood at every menu. Linear in
    the flow, where listing the co-active pairs would be quadratic (10,000 global intents make
    50 million pairs).
    """
    menus = [nid for nid, node in flow.nodes.items() if node.type == "menu"]
    everywhere = (1 << len(menus)) - 1
    out = {iid: everywhere if intent.is_global else 0 for iid, intent in flow.intents.items()}
    for bit, nid in enumerate(menus):
        for iid in flow.nodes[nid].intents:
            if iid in out:
                out[iid] |= 1 << bit
    return out


def _keys(flow: Flow, lang: Lang) -> dict[str, list[tuple[int, str, str, str]]]:
    """intent -> [(index, phrase, normalised, phonetic key)] for phrases that normalise to text."""
    out: dict[str, list[tuple[int, str, str, str]]] = {}
    for iid, intent in flow.intents.items():
        rows = []
        for k, phrase in enumerate(intent.phrases.get(lang, ())):
            norm = normalize(phrase, lang)
            if norm:
                rows.append((k, phrase, norm, phonetic_key(norm, lang)))
        out[iid] = rows
    return out


def empty_phrases(flow: Flow) -> list[tuple[str, Lang, int, str]]:
    """(intent, lang, index, phrase) for phrases that are only filler words once normalised."""
    return [(iid, lang, k, p) for iid, intent in flow.intents.items()
            for lang in flow.languages for k, p in enumerate(intent.phrases.get(lang, ()))
            if not normalize(p, lang)]


def _prefix(tokens: list[tuple[str, int]], slack: float, order: dict[tuple[str, int], int]
            ) -> list[tuple[str, int]] | None:
    """The rarest of a text's bigrams, of which any string `slack`-close to it shares one.

    Indel distance d turns `text` into the other string; each edit breaks at most 2 of its
    len-1 bigrams, so at least len-1-2d survive in the other string. With d at most
    slack*(len+other len) and other len at most len*(1+slack)/(1-slack), any 2*d_max+1 of its
    bigrams hold a shared one; taking the rarest (one global order) makes both strings of a
    close pair hold the same one (prefix filtering, as in all-pairs similarity joins).
    None when the text is too short for any bigram to be sure to survive.
    """
    size = len(tokens) + 1  # the text's length
    d_max = int(slack * size * 2 / (1 - slack))
    if size - 1 - 2 * d_max < 1:
        return None
    return sorted(tokens, key=order.__getitem__)[:2 * d_max + 1]


def _tokens(text: str) -> list[tuple[str, int]]:
    """Bigrams with their occurrence number, so that repeated bigrams count as a multiset."""
    seen: dict[str, int] = {}
    out = []
    for i in range(len(text) - 1):
        g = text[i:i + 2]
        seen[g] = seen.get(g, 0) + 1
        out.append((g, seen[g]))
    return out


class CloseIndex:
    """For each phrase, the earlier phrases that may score `at_least` in fuzz.ratio with it.

    Never misses a pair that reaches `at_least` (a superset: callers score the candidates).
    Two filters on top of the shared rare bigram (`_prefix`): lengths too far apart cannot
    reach the threshold, and when the first shared bigram comes late in either phrase's order,
    too few bigrams are left after it for the overlap a close pair needs (PPJoin's positional
    filter). Memory is the prefixes' postings, a few per phrase.
    """

    def __init__(self, texts: list[str], at_least: float) -> None:
        self.slack = 1.0 - at_least / 100.0 + 0.005  # 0.005: float rounding at the border
        tokens = [_tokens(t) for t in texts]
        freq: dict[tuple[str, int], int] = {}
        for toks in tokens:
            for tok in toks:
                freq[tok] = freq.get(tok, 0) + 1
        order = {tok: k for k, tok in enumerate(sorted(freq, key=lambda t: (freq[t], t)))}
        self.length = np.array([len(t) for t in texts], dtype=np.intp)
        self.prefixes: list[list[tuple[str, int]] | None] = []
        postings: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
        for q, toks in enumerate(tokens):
            prefix = None if self.slack >= 0.5 else _prefix(toks, self.slack, order)
            self.prefixes.append(prefix)
            for j, tok in enumerate(prefix or ()):
                qs, js = postings.setdefault(tok, ([], []))
                qs.append(q)
                js.append(j)
        self.postings = {tok: (np.array(qs, dtype=np.intp), np.array(js, dtype=np.intp))
                         for tok, (qs, js) in postings.items()}
        self.volume = sum(len(qs) ** 2 for qs, _ in postings.values()) // 2 + len(texts) * len(
            [p for p in self.prefixes if p is None])
        """About how many postings the lookups will read (pairs sharing a prefix bigram)."""
        self.short = np.array([q for q, pre in enumerate(self.prefixes) if pre is None],
                              dtype=np.intp)
        """Phrases too short for any bigram to be sure to survive: compared with all."""

    def earlier(self, p: int) -> np.ndarray:
        """Sorted indices q < p of the texts that may be close to texts[p]."""
        prefix = self.prefixes[p]
        if prefix is None:
            return np.arange(p, dtype=np.intp)
        short = self.short[self.short < p]
        hits = []
        for i, tok in enumerate(prefix):
            qs, js = self.postings[tok]
            n = int(np.searchsorted(qs, p))  # postings are in phrase order: the earlier ones
            if n:
                hits.append((qs[:n], js[:n], i))
        if not hits:
            return short
        qs = np.concatenate([h[0] for h in hits])
        js = np.concatenate([h[1] for h in hits])
        ii = np.repeat(np.array([h[2] for h in hits], dtype=np.intp), [len(h[0]) for h in hits])
        qs, first = np.unique(qs, return_index=True)  # the first shared bigram
        ii, js = ii[first], js[first]
        lp, lq = self.length[p], self.length[qs]
        d_max = np.floor(self.slack * (lp + lq))
        need = np.maximum(lp, lq) - 1 - 2 * d_max  # bigrams a close pair must share
        left = 1 + np.minimum(lp - 2 - ii, lq - 2 - js)  # shared at most, from the first on
        ok = (np.abs(lp - lq) <= d_max) & (left >= need)
        return np.union1d(qs[ok], short)


_DENSE_UP_TO = 4000
"""Up to this many phrases in a language, blocks of phrases are scored against all earlier
ones (C loops beat building candidate sets: the bank flow's ~1,800 phrases lint in ~1 s);
above it, only candidates sharing a rare bigram are scored. Memory: a block row by n floats."""
_BLOCK = 128
_INDEX_SHARE = 0.1
"""Above 0.1 n^2 postings to read, the candidate index costs more than scoring every pair."""


class _Phrases:
    """One language's phrases in file order, with what the pair filters need as arrays."""

    def __init__(self, flat: list[tuple[str, tuple[int, str, str, str]]],
                 masks: dict[str, int]) -> None:
        self.flat = flat
        self.norms = np.array([r[2] for _, r in flat], dtype=object)
        self.sounds = np.array([r[3] for _, r in flat], dtype=object)
        number = {iid: k for k, iid in enumerate(masks)}
        self.owner = np.array([number[iid] for iid, _ in flat], dtype=np.intp)
        self.groups = list(dict.fromkeys(masks.values()))  # the distinct sets of menus
        group_of = {m: k for k, m in enumerate(self.groups)}
        self.group = np.array([group_of[masks[iid]] for iid, _ in flat], dtype=np.intp)
        self._meets: dict[int, np.ndarray] = {}

    def meets(self, g: int) -> np.ndarray:
        """Which groups share a menu with group g."""
        if g not in self._meets:
            self._meets[g] = np.array([bool(m & self.groups[g]) for m in self.groups])
        return self._meets[g]

    def comparable(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """rows x cols: the column is earlier, of another intent, understood at a same menu."""
        meets = np.stack([self.meets(int(g)) for g in self.group[rows]])
        ok: np.ndarray = ((cols[None, :] < rows[:, None])
                          & (self.owner[cols][None, :] != self.owner[rows][:, None])
                          & meets[:, self.group[cols]])
        return ok


def _blocks(ph: _Phrases, at_least: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, cols) to score: every pair that may reach `at_least` is in one of them."""
    n = len(ph.flat)
    by_chars = by_sound = None
    if n > _DENSE_UP_TO:
        by_chars = CloseIndex(list(ph.norms), at_least)
        same = all(a == b for a, b in zip(ph.norms, ph.sounds, strict=True))  # English: words
        by_sound = by_chars if same else CloseIndex(list(ph.sounds), at_least)
    if by_chars is None or by_sound is None or (
            by_chars.volume + by_sound.volume > _INDEX_SHARE * n * n):
        # small, or too alike for the index to pay (pinyin keys share most bigrams): score
        # blocks against every earlier phrase, in C; memory stays a block row by n
        for p0 in range(0, n, _BLOCK):
            p1 = min(p0 + _BLOCK, n)
            yield np.arange(p0, p1), np.arange(p1)
        return
    for p in range(n):
        found = by_chars.earlier(p)
        if by_sound is not by_chars:
            found = np.union1d(found, by_sound.earlier(p))
        if len(found):
            yield np.array([p]), found


def _most_alike(ph: _Phrases, at_least: float, start: dict[str, int]
                ) -> dict[tuple[str, str], tuple[float, int, int, float, float]]:
    """(a, b) -> (-best, i, j, chars, sound) of the most alike pair, ties by position."""
    top: dict[tuple[str, str], tuple[float, int, int, float, float]] = {}
    for rows, cols in _blocks(ph, at_least):
        chars = process.cdist(ph.norms[rows], ph.norms[cols], scorer=fuzz.ratio, workers=1)
        sound = process.cdist(ph.sounds[rows], ph.sounds[cols], scorer=fuzz.ratio, workers=1)
        best = np.maximum(chars, sound) + chars / 1000.0  # ties: the same text first
        hit = (best >= at_least) & ph.comparable(rows, cols)
        for r, c in zip(*np.nonzero(hit), strict=True):
            p, q = int(rows[r]), int(cols[c])
            a, b = ph.flat[q][0], ph.flat[p][0]
            key = (-float(best[r, c]), q - start[a], p - start[b],
                   float(chars[r, c]), float(sound[r, c]))
            if key < top.get((a, b), (np.inf, 0, 0, 0.0, 0.0)):
                top[(a, b)] = key
    return top


def confusions(flow: Flow, *, at_least: float = 90.0) -> list[Confusion]:
    """Pairs of co-active intents whose most alike phrases score `at_least` (chars or sound).

    In large flows only phrase pairs that share a rare bigram (of the text or of its sound)
    are scored: the others cannot reach `at_least` (see `_prefix`), so the result is that of
    scoring every pair, at a cost near-linear in the number of phrases.
    """
    masks = co_active(flow)
    found: list[Confusion] = []
    for lang in flow.languages:
        rows = _keys(flow, lang)
        flat = [(iid, row) for iid in flow.intents for row in rows[iid]]
        start: dict[str, int] = {}
        for pos, (iid, _) in enumerate(flat):
            start.setdefault(iid, pos)
        top = _most_alike(_Phrases(flat, masks), at_least, start)
        for (a, b), (_, i, j, chars_ij, sound_ij) in sorted(top.items()):
            ra, rb = rows[a][i], rows[b][j]
            found.append(Confusion(lang, a, b, ra[1], rb[1], rb[0], round(chars_ij, 1),
                                   round(sound_ij, 1)))
    return found
