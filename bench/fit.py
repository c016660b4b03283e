"""Fit the matcher's confidence calibration — never on held-out data.

    python -m bench.fit --flow flows/bank_hotline.yaml

Data, all from outside the held-out sets: the flow's own phrases (which include the tune split
of tests/data/intents) and the built-in out-of-scope examples (which include the tune split's
out-of-scope sentences and tests/data/intents/oos_tune_extra.yaml), scored k-fold: each fold is
left out of the matcher and scored as if a caller had said it.

Positives: in-scope sentences whose top intent is right. Negatives: out-of-scope sentences and
wrong tops. Prints the logistic weights for ivr.nlu.matcher.CALIBRATION and what they give.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from ivr.flow import Flow, load_flow
from ivr.nlu.matcher import IntentMatcher, Scores, builtin_out_of_scope
from ivr.types import Lang

from .corpus import OUT_OF_SCOPE

LANGS: tuple[Lang, ...] = ("zh", "en", "ko")
FOLDS = 4


Row = tuple[list[float], float, bool]
"""features, 1.0 if the top intent is right, out-of-scope?"""


def _row(s: Scores, label: str) -> Row | None:
    if s.features is None or s.top is None:
        return None
    f = s.features
    ok = float(label != OUT_OF_SCOPE and s.top.intent == label)
    return [f.raw, f.margin, math.log1p(f.evidence), f.explained], ok, label == OUT_OF_SCOPE


def _fold_rows(flow: Flow, lang: Lang) -> list[Row]:
    rows = []
    oos = builtin_out_of_scope(lang)
    for k in range(FOLDS):
        keep = {i: [p for j, p in enumerate(it.phrases[lang]) if j % FOLDS != k]
                for i, it in flow.intents.items()}
        m = IntentMatcher(keep, lang, [p for j, p in enumerate(oos) if j % FOLDS != k])
        for i, it in flow.intents.items():
            for j, p in enumerate(it.phrases[lang]):
                if j % FOLDS == k and (r := _row(m.score(p), i)) is not None:
                    rows.append(r)
        for j, p in enumerate(oos):
            if j % FOLDS == k and (r := _row(m.score(p), OUT_OF_SCOPE)) is not None:
                rows.append(r)
    return rows


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """Logistic regression by Newton's method, with a ridge penalty."""
    a = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(a.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-a @ w))
        grad = a.T @ (p - y) + l2 * w
        hess = (a.T * (p * (1 - p))) @ a + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description="Fit the matcher's confidence calibration.")
    ap.add_argument("--flow", default="flows/bank_hotline.yaml")
    args = ap.parse_args()
    flow = load_flow(args.flow)
    rows = [r for lang in LANGS for r in _fold_rows(flow, lang)]
    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    oos = np.array([r[2] for r in rows])
    w = fit(x, y)
    print(f"{len(y)} rows ({int(y.sum())} positive)")
    print("CALIBRATION =", tuple(round(float(v), 2) for v in w))
    p = 1.0 / (1.0 + np.exp(-(np.hstack([x, np.ones((len(x), 1))]) @ w)))
    ins = ~oos
    for acc in (0.8, 0.85, 0.9):
        for conf in (0.3, 0.4, 0.55):
            routed = np.mean((p >= conf) & (y == 1) & ins) / np.mean(ins)
            confirm = np.mean((p >= conf) & (p < acc) & ins) / np.mean(ins)
            print(f"accept>={acc} confirm>={conf}: in-scope routed right {routed:.3f}, "
                  f"confirmed {confirm:.3f}; out-of-scope accepted {np.mean(p[oos] >= acc):.3f}")


if __name__ == "__main__":
    main()
