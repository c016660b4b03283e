"""BANKING77: model and feature variants tried against the classifier, by CV on train.csv only.

    python -m bench.banking77_explore [--regime 10|full] [--folds 2]

Per fold of a stratified 5-fold split of train.csv (seed 0; the first `--folds` folds), the
regime's rows of the other folds train and the fold's rows are scored top-1. Variants:

* features: ours (ivr/nlu/classifier.py) or the README's raw TF-IDF (char_wb 1-5 + words
  1-3, sublinear tf);
* models: logistic regression C=30 / C=100, class_weight="balanced", linear SVM C=0.3 / 1,
  ridge; the LR pooled with the matcher (log p + w * matcher, w = 1.5 and the scorer's
  a/b = 2.29); LR and a softmax of the SVM's margins (temperature 0.2) pooled, with and
  without the matcher;
* pretrained English sentence vectors (ivr/nlu/embedding.py, WordLlama): an LR on them alone,
  and the classifier as shipped (ours + the vectors x `embed_weight`).

test.csv is never read. Results: bench/results/banking77_tune.md (section "Variants").
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ivr.nlu.classifier import ClassifierConfig, IntentClassifier, _hstack, _identity, features
from ivr.nlu.embedding import sentence_vectors
from ivr.nlu.matcher import IntentMatcher
from ivr.nlu.scorer import CALIBRATION

from .banking77_cv import Row, data_dir, examples, first_k, load_rows, matcher_matrix

Matrix = Any


def _ours(fit: Sequence[str], held: Sequence[str]) -> tuple[Matrix, Matrix]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    f, h = [features(t, "en") for t in fit], [features(t, "en") for t in held]
    vecs = {fam: TfidfVectorizer(analyzer=_identity, sublinear_tf=True) for fam in f[0]}
    x = _hstack([vecs[k].fit_transform([r[k] for r in f]) for k in sorted(vecs)])
    return x, _hstack([vecs[k].transform([r[k] for r in h]) for k in sorted(vecs)])


def _raw(fit: Sequence[str], held: Sequence[str]) -> tuple[Matrix, Matrix]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vecs = [TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5), sublinear_tf=True),
            TfidfVectorizer(ngram_range=(1, 3), sublinear_tf=True)]
    return (_hstack([v.fit_transform(fit) for v in vecs]),
            _hstack([v.transform(held) for v in vecs]))


def _models() -> dict[str, Callable[[], Any]]:
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.svm import LinearSVC

    return {"LR C=30": lambda: LogisticRegression(C=30, max_iter=2000),
            "LR C=100": lambda: LogisticRegression(C=100, max_iter=3000),
            "SVM C=0.3": lambda: LinearSVC(C=0.3), "SVM C=1": lambda: LinearSVC(C=1.0),
            "ridge": lambda: RidgeClassifier(alpha=1.0)}


def _softmax(d: np.ndarray[Any, Any], t: float) -> np.ndarray[Any, Any]:
    e = np.exp((d - d.max(1, keepdims=True)) / t)
    out: np.ndarray[Any, Any] = e / e.sum(1, keepdims=True)
    return out


def _fold(fit: list[Row], held: list[Row], acc: dict[str, list[float]]) -> None:
    from sklearn.svm import LinearSVC

    fx, hx = [t for t, _ in fit], [t for t, _ in held]
    y = np.array([lab for _, lab in fit])
    truth = np.array([lab for _, lab in held])
    for fname, make in (("ours", _ours), ("raw", _raw)):
        x, h = make(fx, hx)
        for mname, model in _models().items():
            acc[f"{fname} {mname}"].append(float(np.mean(model().fit(x, y).predict(h) == truth)))
    clf = IntentClassifier(examples(fit), "en", ClassifierConfig(embed_weight=0.0))
    cols = np.array(clf.intents)
    p = np.log(clf.proba(hx) + 1e-4)
    from sklearn.linear_model import LogisticRegression

    vec = LogisticRegression(C=30, max_iter=2000).fit(sentence_vectors(fx), y)
    acc["vectors alone LR C=30"].append(float(np.mean(vec.predict(sentence_vectors(hx))
                                                      == truth)))
    shipped = IntentClassifier(examples(fit), "en")
    acc[f"ours + {shipped.config.embed_weight} x vectors LR C=30 (shipped)"].append(
        float(np.mean(cols[shipped.proba(hx).argmax(1)] == truth)))
    m = matcher_matrix(IntentMatcher(examples(fit), "en"), hx, clf.intents)
    bal = IntentClassifier(examples(fit), "en",
                           ClassifierConfig(class_weight="balanced", embed_weight=0.0))
    acc["ours LR balanced"].append(float(np.mean(cols[bal.proba(hx).argmax(1)] == truth)))
    for w in (1.5, CALIBRATION[0] / CALIBRATION[1]):
        acc[f"ours LR + {w:.2f} x matcher"].append(float(np.mean(cols[(p + w * m).argmax(1)]
                                                                 == truth)))
    x, h = _ours(fx, hx)
    s = np.log(_softmax(LinearSVC(C=0.5).fit(x, y).decision_function(h), 0.2) + 1e-9)
    acc["ours LR + SVM(T=0.2)"].append(float(np.mean(cols[(p + s).argmax(1)] == truth)))
    acc["ours LR + SVM(T=0.2) + 2 x matcher"].append(
        float(np.mean(cols[(p + s + 2 * m).argmax(1)] == truth)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="BANKING77 variants by CV on train.csv.")
    ap.add_argument("--data", default=None)
    ap.add_argument("--regime", default="10", choices=("10", "full"))
    ap.add_argument("--folds", type=int, default=2, choices=range(1, 6))
    args = ap.parse_args(argv)
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    train = load_rows(Path(data_dir(args.data)) / "train.csv")
    k = 10 if args.regime == "10" else None
    split = StratifiedKFold(5, shuffle=True, random_state=0).split(
        np.zeros(len(train)), [lab for _, lab in train])
    acc: dict[str, list[float]] = defaultdict(list)
    with threadpool_limits(1):
        for fit_idx, held_idx in list(split)[:args.folds]:
            _fold(first_k([train[i] for i in fit_idx], k), [train[i] for i in held_idx], acc)
    print(f"| variant | CV top-1 % ({args.regime} per intent, {args.folds} folds) |\n|---|---|")
    for name, v in acc.items():
        print(f"| {name} | {100 * float(np.mean(v)):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
