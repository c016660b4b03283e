"""A learnt intent classifier: TF-IDF n-grams and a linear model, trained on a flow's phrases.

A second source of evidence beside the matcher (ivr/nlu/matcher.py). The matcher scores how
well an utterance covers one example phrase; this model learns which n-grams tell
neighbouring intents apart (a word every intent of a group shares weighs nothing, the one
word that separates two neighbours weighs a lot), so paraphrases that share few words with
any single phrase still land.

Features per language, over the same normalised text as the matcher (ivr/nlu/normalize.py):

* **en**: stemmed words (1-2 grams) and characters within words (2-5 grams).
* **zh**: characters (1-3 grams) and toneless pinyin syllables (1-2 grams), so a
  recogniser's homophone error (鱼额 for 余额) keeps the sound features.
* **ko**: syllables (1-2 grams, spaces dropped: spacing in Korean is loose), words, and
  jamo (2-4 grams, ivr/nlu/phonetic.py), so one wrong vowel costs little.
* **zh, ko** also: the English words a caller mixes in ("帮我查下balance", "credit report
  요청합니다"), stemmed, as one more family, "latin". The language's own phrases rarely use
  them, so the same intents' English phrases are borrowed to teach them: each borrowed
  phrase is one more training row with only its English words set, leaving out words the
  language's own phrases already use (ATM, app: there they keep their own meaning). On the
  independent dev sets (dev + dev2) this routed zh 643 -> 652 and ko 655 -> 656 of 680
  sentences (the code-switched "credit score", "转agent", "password를 까먹었어요"); fitting
  takes about twice as long (1.4 -> 2.7 s in zh).

Each family is a sublinear TF-IDF block, L2-normalised. In English one dense block joins them:
the utterance's pretrained sentence vector (ivr/nlu/embedding.py, WordLlama), scaled by
`ClassifierConfig.embed_weight` (more when the intents have few phrases each: `vector_weight`),
so a paraphrase that shares no n-gram with the phrases still lands near them. The blocks are
stacked and a multinomial logistic regression (scikit-learn, L-BFGS, fixed random_state) gives
probabilities over the flow's intents. Training is deterministic: the same phrases give the
same probabilities, to the last bit, on every run.

scikit-learn is imported when the first classifier is built, not when this module is: `ivr
route` start-up does not pay for it unless a classifier is used.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..types import Candidate, Lang
from .embedding import sentence_vectors
from .normalize import normalize
from .phonetic import jamo, pinyin_syllables

__all__ = ["MAX_WEIGHTS", "ClassifierConfig", "ClassifierTooLarge", "IntentClassifier",
           "borrowed_features", "features", "latin_words", "vector_weight"]

MAX_WEIGHTS = 3_000_000
"""Most model weights (intents x n-gram features) fitted. L-BFGS keeps ~25 vectors of that
size: BANKING77's whole train set (77 x 34,208 = 2.6 M) peaks at 1.0 GB; the bank flow
(18 x ~27,000) at ~0.1 GB. A larger flow is routed by the matcher alone."""


class ClassifierTooLarge(ValueError):
    """The flow needs more than MAX_WEIGHTS weights: not fitted."""

_EN_SUFFIX = re.compile(r"(ing|ed|es|s)$")


@dataclass(frozen=True)
class ClassifierConfig:
    """Hyperparameters (chosen by cross-validation on BANKING77's train.csv, see bench)."""

    c: float = 30.0
    """Inverse L2 regularisation strength of the logistic regression (CV on BANKING77 train:
    1 -> 70.2, 10 -> 71.8, 30 -> 71.9, 100 -> 72.2 % at 10 per intent; 10 -> 90.5, 30 -> 90.8 %
    on the whole set; `python -m bench.banking77 --tune`)."""
    word_max: int = 2
    """Longest word n-gram (en, ko)."""
    char_max: int = 5
    """Longest character n-gram (en: letters within words; zh: 3 is used, see `features`)."""
    class_weight: str | None = None
    """None, or "balanced": weigh intents with few phrases up."""
    max_iter: int = 2000
    """L-BFGS iterations (converges well before this on flows of a few thousand phrases)."""
    embed_weight: float = 1.0
    """Scale of the English sentence-vector block against the unit-length TF-IDF blocks when
    the intents have `many_phrases` or more phrases each (0: no vectors at all; ignored in zh
    and ko). CV on BANKING77 train (`bench.banking77 --tune`), whole set: 0 -> 90.8, 1 -> 91.9,
    2 -> 91.6 %. 1, not 2: on the bank flow's English dev + dev2 sets 1 routes best (96.2 %
    of 680, 2: 95.9, 0: 95.3), and under the policy's out-of-scope limit (max_out_of_scope)
    2 gave a caller who reads out a card number and asks for a person P(out-of-scope) 0.21,
    a confirm instead of a handoff."""
    few_shot_embed_weight: float = 2.5
    """The vector block's scale when the median intent has `few_phrases` or fewer phrases:
    with few phrases the n-grams cover little of what callers say and the pretrained vectors
    carry more (`vector_weight`). CV on BANKING77 train, scorer top-1 (classifier + matcher),
    weight 1 / 2 / 2.5 / 3: 10 per intent (5 folds) 77.0 / 79.1 / 79.3 / 79.4 %; 20 per
    intent (2 folds) 83.7 / 84.7 / 84.7 %; 40 per intent 88.8 / 89.1 (2) %; whole set (1 fold)
    92.4 / 92.3 (2) / 92.1 (3) %. bench/results/banking77_tune.md."""
    few_phrases: int = 10
    """At or below this median of phrases per intent, `few_shot_embed_weight` applies."""
    many_phrases: int = 100
    """At or above this median, `embed_weight` applies (the bank flow: 101-125 per intent in
    English, so its classifier is unchanged); in between, geometric interpolation in the
    number of phrases."""


def vector_weight(config: ClassifierConfig, per_intent: Sequence[int]) -> float:
    """The sentence-vector block's scale for a flow with these phrase counts per intent:
    `few_shot_embed_weight` at a median of `few_phrases` or fewer, `embed_weight` at
    `many_phrases` or more, geometric in between (0 when `embed_weight` is 0)."""
    if not config.embed_weight or not per_intent:
        return config.embed_weight
    n, lo, hi = float(np.median(per_intent)), config.few_phrases, config.many_phrases
    if n >= hi or hi <= lo:
        return config.embed_weight
    t = max(0.0, math.log(n / lo) / math.log(hi / lo)) if n > lo else 0.0
    few, many = config.few_shot_embed_weight, config.embed_weight
    return float(few * (many / few) ** t)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A light English stem: -ing, -ed, -es, -s dropped from words longer than four letters."""
    return _EN_SUFFIX.sub("", word) if len(word) > 4 else word


def _ngrams(units: Sequence[str], lo: int, hi: int, sep: str = " ") -> list[str]:
    out: list[str] = []
    for n in range(lo, hi + 1):
        out += [sep.join(units[i:i + n]) for i in range(len(units) - n + 1)]
    return out


def _chars(text: str, lo: int, hi: int) -> list[str]:
    out: list[str] = []
    for n in range(lo, hi + 1):
        out += [text[i:i + n] for i in range(len(text) - n + 1)]
    return out


def _en(norm: str, cfg: ClassifierConfig) -> dict[str, list[str]]:
    words = norm.split()
    stems = [_stem(w) for w in words]
    chars: list[str] = []
    for w in words:
        chars += _chars(f" {w} ", 2, cfg.char_max)
    return {"word": _ngrams(stems, 1, cfg.word_max), "char": chars}


def _zh(norm: str, cfg: ClassifierConfig) -> dict[str, list[str]]:
    flat = norm.replace(" ", "")
    return {"char": _chars(flat, 1, min(cfg.char_max, 3)),
            "pinyin": _ngrams(pinyin_syllables(flat), 1, 2)}


def _ko(norm: str, cfg: ClassifierConfig) -> dict[str, list[str]]:
    flat = norm.replace(" ", "")
    j = jamo(flat)
    return {"syllable": _chars(flat, 1, 2), "word": _ngrams(norm.split(), 1, cfg.word_max),
            "jamo": _chars(j, 2, 4)}


_FAMILIES: dict[Lang, Callable[[str, ClassifierConfig], dict[str, list[str]]]] = {
    "en": _en, "zh": _zh, "ko": _ko}
_LATIN = re.compile(r"[a-z]+")


def latin_words(text: str) -> list[str]:
    """The English words inside an utterance of any language, stemmed ("帮我查下balance" ->
    ["balance"]; "credit report 요청합니다" -> ["credit", "report"])."""
    return [_stem(w) for w in _LATIN.findall(normalize(text, "en"))]


def features(text: str, lang: Lang, config: ClassifierConfig | None = None) -> dict[str, list[str]]:
    """The n-gram features of one utterance, per family (normalised here). In zh and ko one
    more family, "latin", holds the English words a caller mixes in (`latin_words`)."""
    out = _FAMILIES[lang](normalize(text, lang), config or ClassifierConfig())
    if lang != "en":
        out["latin"] = latin_words(text)
    return out


def borrowed_features(text: str, lang: Lang, config: ClassifierConfig | None = None,
                      known: Collection[str] = ()) -> dict[str, list[str]]:
    """The features of a phrase borrowed from the flow's English phrases into a zh or ko
    classifier: its English words in the "latin" family, every other family empty (its
    letters are not Chinese characters or Korean syllables). Words in `known` (those the
    language's own phrases already use, such as ATM or app) are left out: there the
    language's own phrases say what they mean."""
    fams = features("", lang, config)
    words = [w for w in latin_words(text) if w not in known]
    return {fam: words if fam == "latin" else [] for fam in fams}


class IntentClassifier:
    """TF-IDF n-grams + multinomial logistic regression over one language's phrases.

    Attributes:
        intents: the intent ids, sorted (the column order of `proba`).
        train_seconds: wall time the fit took (features and model).
    """

    def __init__(self, examples: Mapping[str, Iterable[str]], lang: Lang,
                 config: ClassifierConfig | None = None,
                 borrowed: Mapping[str, Iterable[str]] | None = None) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        start = time.perf_counter()
        self.lang = lang
        self.config = cfg = config or ClassifierConfig()
        texts: list[str] = []
        labels: list[str] = []
        for intent in sorted(examples):
            for phrase in examples[intent]:
                texts.append(phrase)
                labels.append(intent)
        self.intents = tuple(sorted(set(labels)))
        if len(self.intents) < 2:
            raise ValueError("a classifier needs phrases for at least two intents")
        feats = [features(t, lang, cfg) for t in texts]
        if lang != "en":  # code-switching: the same intents' English phrases teach "latin"
            known = {w for f in feats for w in f["latin"]}
            lent_phrases = borrowed or {}
            for intent in sorted(set(lent_phrases) & set(self.intents)):
                for phrase in lent_phrases[intent]:
                    lent = borrowed_features(phrase, lang, cfg, known)
                    if lent["latin"]:
                        feats.append(lent)
                        texts.append(phrase)
                        labels.append(intent)
        self._families = tuple(sorted(feats[0]))
        self._vectorizers: dict[str, Any] = {}
        tally = Counter(labels)
        counts = [tally[i] for i in self.intents]
        self._embed = vector_weight(cfg, counts) if lang == "en" else 0.0
        blocks = []
        for fam in self._families:
            vec = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, dtype=np.float64)
            blocks.append(vec.fit_transform([f[fam] for f in feats]))
            self._vectorizers[fam] = vec
        self._sparse_width = sum(b.shape[1] for b in blocks)
        if self._embed:
            blocks.append(self._vectors(texts))
        weights = len(self.intents) * sum(b.shape[1] for b in blocks)
        if weights > MAX_WEIGHTS:
            raise ClassifierTooLarge(f"{len(self.intents)} intents x n-grams = {weights:,} "
                                     f"weights, over {MAX_WEIGHTS:,}")
        self._model = LogisticRegression(C=cfg.c, max_iter=cfg.max_iter,
                                         class_weight=cfg.class_weight, random_state=0)
        self._model.fit(_hstack(blocks), labels)
        if tuple(self._model.classes_) != self.intents:
            raise RuntimeError("classifier classes out of order")
        self.train_seconds = time.perf_counter() - start

    def _vectors(self, texts: Sequence[str]) -> Any:
        from scipy.sparse import csr_matrix

        return csr_matrix(self._embed * sentence_vectors(texts))

    def _matrix(self, texts: Sequence[str]) -> Any:
        feats = [features(t, self.lang, self.config) for t in texts]
        blocks = [self._vectorizers[fam].transform([f[fam] for f in feats])
                  for fam in self._families]
        if self._embed:
            blocks.append(self._vectors(texts))
        return _hstack(blocks)

    def proba(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Probabilities for many utterances: one row each, columns in `intents` order."""
        out: np.ndarray[Any, np.dtype[np.float64]] = self._model.predict_proba(
            self._matrix(texts))
        return out

    def predict_proba(self, text: str) -> dict[str, float]:
        """Probability per intent for one utterance (sums to 1)."""
        row = self.proba([text])[0]
        return {i: float(p) for i, p in zip(self.intents, row, strict=True)}

    def contributions(self, text: str, intent: str, k: int = 5) -> tuple[tuple[str, float], ...]:
        """The k n-grams of the utterance that weigh most for `intent`: TF-IDF value x the
        model's weight, as "family:n-gram", largest first (ties by name). The English sentence
        vector counts as one item, "meaning:sentence vector" (its dimensions summed)."""
        if intent not in self.intents:
            return ()
        coef = self._model.coef_
        row = self.intents.index(intent) if coef.shape[0] > 1 else 0
        sign = -1.0 if coef.shape[0] == 1 and row == 0 else 1.0
        x = self._matrix([text]).tocsr()
        names = [f"{fam}:{g}" for fam in self._families
                 for g in self._vectorizers[fam].get_feature_names_out()]
        width = self._sparse_width
        pairs = [(names[j], round(sign * float(v * coef[row, j]), 4))
                 for j, v in zip(x.indices.tolist(), x.data.tolist(), strict=True) if j < width]
        if self._embed:
            dense = x.toarray()[0, width:]
            pairs.append(("meaning:sentence vector",
                          round(sign * float(dense @ coef[row, width:]), 4)))
        pairs.sort(key=lambda p: (-p[1], p[0]))
        return tuple(p for p in pairs[:k] if p[1] > 0)

    def top(self, text: str, k: int = 3) -> tuple[Candidate, ...]:
        """The k most probable intents, best first (ties by intent id), rounded to 4 places."""
        row = np.round(self.proba([text])[0], 4)
        order = np.lexsort((np.arange(len(row)), -row))[:k]
        return tuple(Candidate(self.intents[j], float(row[j])) for j in order.tolist())


def _identity(units: list[str]) -> list[str]:
    """The analyzer for features computed beforehand (a named function: picklable)."""
    return units


def _hstack(blocks: list[Any]) -> Any:
    from scipy.sparse import hstack

    return hstack(blocks, format="csr")
