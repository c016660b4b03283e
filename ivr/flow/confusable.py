"""Intents that callers will confuse: phrases too alike in writing or in sound.

Two intents understood at the same menu are compared phrase by phrase, per language, after the
matcher's own normalisation: by characters (rapidfuzz ratio of the normalised text) and by
sound (ratio of the phonetic key: toneless pinyin for Chinese, jamo for Korean). The most alike
pair of phrases stands for the pair of intents.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from rapidfuzz import fuzz, process

from ..types import Lang
from .model import Flow

__all__ = ["Confusion", "co_active_pairs", "confusions", "empty_phrases"]


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


def co_active_pairs(flow: Flow) -> set[tuple[str, str]]:
    """Pairs of intents understood at the same menu, each pair in file order."""
    order = {iid: k for k, iid in enumerate(flow.intents)}
    pairs: set[tuple[str, str]] = set()
    for nid, node in flow.nodes.items():
        if node.type == "menu":
            here = sorted(set(flow.intents_at(nid)), key=order.__getitem__)
            pairs.update(combinations(here, 2))
    return pairs


def _keys(flow: Flow, lang: Lang) -> dict[str, list[tuple[int, str, str, str]]]:
    """intent -> [(index, phrase, normalised, phonetic key)] for phrases that normalise to text."""
    from ..nlu.normalize import normalize  # imported here: nlu imports flow.model
    from ..nlu.phonetic import phonetic_key

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
    from ..nlu.normalize import normalize

    return [(iid, lang, k, p) for iid, intent in flow.intents.items()
            for lang in flow.languages for k, p in enumerate(intent.phrases.get(lang, ()))
            if not normalize(p, lang)]


def confusions(flow: Flow, *, at_least: float = 90.0) -> list[Confusion]:
    """Pairs of co-active intents whose most alike phrases score `at_least` (chars or sound)."""
    pairs = co_active_pairs(flow)
    found: list[Confusion] = []
    for lang in flow.languages:
        rows = _keys(flow, lang)
        flat = [(iid, row) for iid in flow.intents for row in rows[iid]]
        if not flat:
            continue
        start: dict[str, int] = {}
        for pos, (iid, _) in enumerate(flat):
            start.setdefault(iid, pos)
        chars = process.cdist([r[2] for _, r in flat], [r[2] for _, r in flat],
                              scorer=fuzz.ratio, workers=1)
        sound = process.cdist([r[3] for _, r in flat], [r[3] for _, r in flat],
                              scorer=fuzz.ratio, workers=1)
        best = np.maximum(chars, sound) + chars / 1000.0  # ties: the same text first
        for a, b in sorted(pairs):
            if not rows[a] or not rows[b]:
                continue
            ia, ib = start[a], start[b]
            block = best[ia:ia + len(rows[a]), ib:ib + len(rows[b])]
            i, j = divmod(int(block.argmax()), block.shape[1])
            if float(block[i, j]) < at_least:
                continue
            ra, rb = rows[a][i], rows[b][j]
            found.append(Confusion(lang, a, b, ra[1], rb[1], rb[0],
                                   round(float(chars[ia + i, ib + j]), 1),
                                   round(float(sound[ia + i, ib + j]), 1)))
    return found
