"""Fit the scorer's calibration (ivr/nlu/scorer.py CALIBRATION) on the independent dev split.

    python -m bench.intent_fit [--flow flows/bank_hotline.yaml]

Per language (zh, en, ko), the flow's phrases train the matcher and the classifier (with the
engine's out-of-scope examples); every sentence of eval/independent/<lang>.yaml's **dev**
split (never test) gives one row per intent: (matcher confidence, log classifier
probability) -> is this the caller's intent. A logistic regression over the rows of the three
languages pooled gives (a, b, c); the figures it prints are the dev ones it was fitted on.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, cast

import numpy as np

from ivr.flow import load_flow
from ivr.nlu.matcher import builtin_out_of_scope
from ivr.nlu.scorer import EPS, IntentScorer
from ivr.types import Lang

from . import ROOT
from .corpus import load_corpus

INDEPENDENT = ROOT / "eval" / "independent"
LANGS: tuple[Lang, ...] = ("zh", "en", "ko")


def rows(flow_path: str) -> tuple[list[list[float]], list[int]]:
    """(matcher, log p) per dev sentence and intent, and whether it is the right intent."""
    flow = load_flow(flow_path)
    x: list[list[float]] = []
    y: list[int] = []
    for lang in LANGS:
        examples = {i: it.phrases.get(lang, ()) for i, it in flow.intents.items()}
        scorer = IntentScorer(examples, lang, builtin_out_of_scope(lang))
        for e in load_corpus(INDEPENDENT / f"{lang}.yaml", ("dev",)):
            _, evidence = scorer.evidence(e.text)
            for ev in evidence:
                x.append([ev.matcher, math.log(ev.classifier + EPS)])
                y.append(int(ev.intent == e.label))
    return x, y


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fit the scorer's calibration on the dev split.")
    ap.add_argument("--flow", default="flows/bank_hotline.yaml")
    args = ap.parse_args(argv)
    from sklearn.linear_model import LogisticRegression

    x, y = rows(args.flow)
    model = LogisticRegression(C=1.0).fit(np.array(x), np.array(y))
    coef = cast(Any, model.coef_)[0]
    print(f"CALIBRATION = ({coef[0]:.2f}, {coef[1]:.2f}, {float(model.intercept_[0]):.2f})"
          f"  # {len(y)} rows from {Path(INDEPENDENT).name} dev")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
