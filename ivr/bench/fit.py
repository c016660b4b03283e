"""Fit the matcher's confidence calibration on the tune split (never on held-out data).

    python -m ivr.bench.fit --flow flows/bank_hotline.yaml

Positives: in-scope tune sentences whose top intent is right. Negatives: out-of-scope
sentences and wrong tops. Prints the logistic weights for ivr.nlu.matcher.CALIBRATION and the
routed / false-accept rates they give at the flow's thresholds.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from ..flow import load_flow
from ..nlu.matcher import IntentMatcher, builtin_out_of_scope
from .corpus import OUT_OF_SCOPE, load_corpus

CORPORA = Path(__file__).resolve().parents[2] / "tests" / "data" / "intents"


def _rows(flow_path: str, langs: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    flow = load_flow(flow_path)
    xs, ys = [], []
    for lang in langs:
        examples = load_corpus(CORPORA / f"{lang}.yaml", ("tune",))
        m = IntentMatcher({i: it.phrases[lang] for i, it in flow.intents.items()},  # type: ignore[index]
                          lang, builtin_out_of_scope(lang))  # type: ignore[arg-type]
        for e in examples:
            s = m.score(e.text)
            if s.features is None or s.top is None:
                continue
            f = s.features
            xs.append([f.raw, f.margin, math.log1p(f.evidence), f.explained])
            ys.append(float(e.label != OUT_OF_SCOPE and s.top.intent == e.label))
    return np.array(xs), np.array(ys)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> np.ndarray:
    """Logistic regression by Newton's method, small ridge penalty."""
    a = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(a.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-a @ w))
        grad = a.T @ (p - y) + l2 * w
        hess = (a.T * (p * (1 - p))) @ a + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flow", default="flows/bank_hotline.yaml")
    args = ap.parse_args()
    x, y = _rows(args.flow, ("zh", "en", "ko"))
    w = fit(x, y)
    print("CALIBRATION =", tuple(round(float(v), 2) for v in w))
    p = 1.0 / (1.0 + np.exp(-(np.hstack([x, np.ones((len(x), 1))]) @ w)))
    for acc, conf in ((0.8, 0.55), (0.75, 0.5), (0.7, 0.45)):
        print(f"accept>={acc} confirm>={conf}: positives accepted {np.mean(p[y == 1] >= acc):.3f}"
              f" routed {np.mean(p[y == 1] >= conf):.3f}; negatives accepted "
              f"{np.mean(p[y == 0] >= acc):.3f}")


if __name__ == "__main__":
    main()
