"""BANKING77 for the bench: loading, the training regimes, score matrices and the CV fit.

Everything tuned here is tuned by cross-validation on train.csv only; test.csv is read by
`bench.banking77` for the final report and never reaches this module's fitting code.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ivr.errors import UsageError
from ivr.nlu.classifier import ClassifierConfig, IntentClassifier
from ivr.nlu.matcher import IntentMatcher
from ivr.nlu.scorer import CALIBRATION, EPS

from . import ROOT

__all__ = ["GRID", "WEIGHTS", "CvResult", "Row", "baseline", "combine", "cross_validate",
           "data_dir", "examples", "first_k", "load_rows", "matcher_matrix", "pooled", "tune"]

Row = tuple[str, str]
"""(text, intent)."""

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
"""Candidate weights w of the matcher in the combination log p_classifier + w * matcher."""

_DEFAULT = ROOT.parent / "shared" / "data" / "banking77"


def data_dir(arg: str | None) -> Path:
    """--data, else $IVR_BANKING77, else ../shared/data/banking77 beside the repository."""
    return Path(arg or os.environ.get("IVR_BANKING77") or _DEFAULT)


def load_rows(path: Path) -> list[Row]:
    """The (text, category) rows of one BANKING77 CSV file, in file order."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    except (OSError, KeyError, csv.Error) as exc:
        raise UsageError(f"{path}: not a BANKING77 file ({exc})") from exc
    if not rows:
        raise UsageError(f"{path}: no rows")
    return rows


def first_k(rows: Sequence[Row], k: int | None) -> list[Row]:
    """The first k rows of each intent in file order (all when k is None)."""
    seen: dict[str, int] = defaultdict(int)
    out: list[Row] = []
    for text, label in rows:
        if k is None or seen[label] < k:
            out.append((text, label))
            seen[label] += 1
    return out


def examples(rows: Sequence[Row]) -> dict[str, list[str]]:
    """Rows as a flow's phrases per intent."""
    out: dict[str, list[str]] = defaultdict(list)
    for text, label in rows:
        out[label].append(text)
    return dict(out)


def baseline(rows: Sequence[Row]) -> Any:
    """The README's plain linear classifier, fitted: TF-IDF characters (2-5, within word
    boundaries) + words (1-2), logistic regression (C=10, scikit-learn's L-BFGS)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    model = make_pipeline(
        make_union(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)),
                   TfidfVectorizer(ngram_range=(1, 2))),
        LogisticRegression(C=10.0, max_iter=1000, random_state=0))
    model.fit([t for t, _ in rows], [y for _, y in rows])
    return model


def matcher_matrix(matcher: IntentMatcher, texts: Sequence[str],
                   intents: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The matcher's calibrated confidence per text (rows) and intent (columns)."""
    col = {i: k for k, i in enumerate(intents)}
    out = np.zeros((len(texts), len(intents)))
    for r, text in enumerate(texts):
        for cand in matcher.score(text).candidates:
            out[r, col[cand.intent]] = cand.score
    return out


def combine(proba: np.ndarray[Any, np.dtype[np.float64]],
            conf: np.ndarray[Any, np.dtype[np.float64]],
            weight: float) -> np.ndarray[Any, np.dtype[np.float64]]:
    """log p_classifier + weight * matcher confidence: a product of the classifier's
    probability and exp(weight * confidence), i.e. a log-linear pool of the two."""
    out: np.ndarray[Any, np.dtype[np.float64]] = np.log(proba + 1e-12) + weight * conf
    return out


def pooled(proba: np.ndarray[Any, np.dtype[np.float64]],
           conf: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The routing scorer's ranking score (ivr/nlu/scorer.py, before its monotone sigmoid):
    a * matcher + b * log(p + eps) with the shipped CALIBRATION."""
    a, b, c = CALIBRATION
    out: np.ndarray[Any, np.dtype[np.float64]] = a * conf + b * np.log(proba + EPS) + c
    return out


@dataclass(frozen=True)
class CvResult:
    """Cross-validation on train.csv for one training regime."""

    folds: int
    """How many folds were run (of a 5-fold stratified split, seed 0)."""
    accuracy: dict[str, float]
    """Mean held-out top-1 per router: baseline, matcher, classifier, scorer (the shipped
    pool, ivr/nlu/scorer.py), combined (chosen w)."""
    by_weight: dict[str, float]
    """Mean held-out top-1 of the combination per candidate weight."""
    weight: float
    """The chosen weight (best mean; ties to the smaller weight)."""


def cross_validate(train: Sequence[Row], k: int | None, config: ClassifierConfig,
                   folds: int) -> CvResult:
    """Fit the combination weight by stratified 5-fold CV on train.csv (first `folds` folds).

    Each fold trains on the other folds' rows — the first k per intent of them in file order,
    as the benchmark's regime does — and scores its own held-out rows.
    """
    from sklearn.model_selection import StratifiedKFold

    split = StratifiedKFold(5, shuffle=True, random_state=0)
    labels = [y for _, y in train]
    acc: dict[str, list[float]] = defaultdict(list)
    for fit_idx, held_idx in list(split.split(np.zeros(len(train)), labels))[:folds]:
        fit = first_k([train[i] for i in fit_idx], k)
        held = [train[i] for i in held_idx]
        texts = [t for t, _ in held]
        clf = IntentClassifier(examples(fit), "en", config)
        truth = np.array([clf.intents.index(y) for _, y in held])
        proba = clf.proba(texts)
        conf = matcher_matrix(IntentMatcher(examples(fit), "en"), texts, clf.intents)
        base = baseline(fit).predict(texts)
        acc["baseline"].append(float(np.mean([p == y for p, (_, y) in
                                              zip(base, held, strict=True)])))
        acc["matcher"].append(float(np.mean(conf.argmax(1) == truth)))
        acc["classifier"].append(float(np.mean(proba.argmax(1) == truth)))
        acc["scorer"].append(float(np.mean(pooled(proba, conf).argmax(1) == truth)))
        for w in WEIGHTS:
            acc[f"w={w}"].append(float(np.mean(combine(proba, conf, w).argmax(1) == truth)))
    by_weight = {str(w): round(100 * float(np.mean(acc[f"w={w}"])), 2) for w in WEIGHTS}
    weight = max(WEIGHTS, key=lambda w: (by_weight[str(w)], -w))
    means = {name: round(100 * float(np.mean(acc[name])), 2)
             for name in ("baseline", "matcher", "classifier", "scorer")}
    means["combined"] = by_weight[str(weight)]
    return CvResult(folds, means, by_weight, weight)


GRID: dict[str, tuple[ClassifierConfig, ...]] = {
    "10": tuple([ClassifierConfig(embed_weight=0.0)]
                + [ClassifierConfig(few_shot_embed_weight=w) for w in (1.0, 2.0, 2.5, 3.0)]
                + [ClassifierConfig(c=c) for c in (10.0, 100.0)]
                + [ClassifierConfig(char_max=m) for m in (4, 6)]
                + [ClassifierConfig(word_max=m) for m in (1, 3)]),
    "20": (ClassifierConfig(few_shot_embed_weight=1.0), ClassifierConfig()),
    "40": (ClassifierConfig(few_shot_embed_weight=1.0), ClassifierConfig()),
    "full": tuple([ClassifierConfig(embed_weight=w) for w in (0.0, 1.0, 2.0)]
                  + [ClassifierConfig(c=c) for c in (10.0, 100.0)]),
}
"""The hyperparameters tried by `--tune` (one change at a time from the default; at 20 and 40
per intent, the sentence-vector weight's interpolation against a flat weight of 1)."""


def tune(train: Sequence[Row], k: int | None, configs: Sequence[ClassifierConfig],
         folds: int) -> list[tuple[ClassifierConfig, float, float]]:
    """Mean held-out top-1 (percent) per config, CV on train.csv: of the classifier alone and
    of the routing scorer (the classifier pooled with the matcher as ivr/nlu/scorer.py does)."""
    from sklearn.model_selection import StratifiedKFold

    split = list(StratifiedKFold(5, shuffle=True, random_state=0).split(
        np.zeros(len(train)), [y for _, y in train]))[:folds]
    parts = []
    for fit_idx, held_idx in split:
        fit = first_k([train[i] for i in fit_idx], k)
        held = [train[i] for i in held_idx]
        intents = sorted({y for _, y in fit})
        conf = matcher_matrix(IntentMatcher(examples(fit), "en"), [t for t, _ in held], intents)
        truth = np.array([intents.index(y) for _, y in held])
        parts.append((fit, held, conf, truth))
    out: list[tuple[ClassifierConfig, float, float]] = []
    for config in configs:
        alone: list[float] = []
        pool: list[float] = []
        for fit, held, conf, truth in parts:
            clf = IntentClassifier(examples(fit), "en", config)
            proba = clf.proba([t for t, _ in held])
            alone.append(float(np.mean(proba.argmax(1) == truth)))
            pool.append(float(np.mean(pooled(proba, conf).argmax(1) == truth)))
        out.append((config, round(100 * float(np.mean(alone)), 2),
                    round(100 * float(np.mean(pool)), 2)))
    return out
