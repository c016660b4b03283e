"""BANKING77 beside our own sets: a public benchmark of 77 English banking intents.

    python -m bench.banking77 [--data DIR] [--out bench/results] [--quick]

The data (CC BY 4.0, PolyAI) stays in ../shared/data/banking77 (or --data, or
$IVR_BANKING77); it is not copied into the repository. Each training regime — the first 10
sentences per intent in file order, and the whole train.csv — is turned into an English
flow's phrases, and test.csv is scored top-1 with no rejection by:

* **matcher**: today's IntentMatcher (ivr/nlu/matcher.py);
* **baseline**: the plain scikit-learn TF-IDF (char 2-5 + word 1-2) logistic regression the
  dataset's README describes, fitted in the same run;
* **classifier**: ivr/nlu/classifier.py alone;
* **scorer**: the routing scorer's pool of the two (ivr/nlu/scorer.py, its shipped
  calibration: what `bench.intent` reports as "scorer");
* **combined**: log p_classifier + w * matcher confidence, w fitted by cross-validation on
  train.csv (never on test.csv).

Throughput is utterances per second, one at a time, on one core (BLAS threads limited to 1).
`--quick` runs the 10-per-intent regime with 2 CV folds (about a minute). `--tune` runs the
hyperparameter search behind ClassifierConfig's defaults instead (CV on train.csv only: 2 folds
at 10, 20 and 40 per intent, 1 fold on the whole set; about 20 minutes) and writes
banking77_tune.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ivr.errors import UsageError
from ivr.nlu.classifier import ClassifierConfig, IntentClassifier
from ivr.nlu.matcher import IntentMatcher
from ivr.nlu.scorer import IntentScorer

from .banking77_cv import (
    GRID,
    Row,
    baseline,
    combine,
    cross_validate,
    data_dir,
    examples,
    first_k,
    load_rows,
    pooled,
    tune,
)

REFERENCE = {
    "10": {"encoders (paper)": 85.0, "baseline (README)": 74.1, "matcher (README)": 68.6},
    "full": {"encoders (paper)": 93.0, "baseline (README)": 91.6, "matcher (README)": 88.4},
}
"""Reference top-1 figures from the dataset's README (percent)."""
GOAL = {"10": 80.0, "full": 93.0}
ROUTERS = ("matcher", "baseline", "classifier", "scorer", "combined")


def _timed(score: Callable[[str], np.ndarray[Any, np.dtype[np.float64]]],
           texts: Sequence[str]) -> tuple[np.ndarray[Any, np.dtype[np.float64]], float]:
    """Scores for each text, one call per text, and the utterances per second."""
    start = time.perf_counter()
    rows = [score(t) for t in texts]
    return np.vstack(rows), len(texts) / (time.perf_counter() - start)


def run_regime(name: str, train: Sequence[Row], test: Sequence[Row], config: ClassifierConfig,
               folds: int) -> dict[str, Any]:
    """CV on train for the combination weight, then fit on all of train and score test."""
    k = 10 if name == "10" else None
    cv = cross_validate(train, k, config, folds)
    rows = first_k(train, k)
    texts = [t for t, _ in test]
    fit: dict[str, float] = {}
    start = time.perf_counter()
    matcher = IntentMatcher(examples(rows), "en")
    fit["matcher"] = time.perf_counter() - start
    start = time.perf_counter()
    base = baseline(rows)
    fit["baseline"] = time.perf_counter() - start
    clf = IntentClassifier(examples(rows), "en", config)
    fit["classifier"] = clf.train_seconds
    intents = clf.intents
    col = {i: j for j, i in enumerate(intents)}
    truth = np.array([col[y] for _, y in test])

    def match_row(text: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        out = np.zeros(len(intents))
        for cand in matcher.score(text).candidates:
            out[col[cand.intent]] = cand.score
        return out

    base_cols = [col[c] for c in base.classes_]

    def base_row(text: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        out = np.zeros(len(intents))
        out[base_cols] = base.predict_proba([text])[0]
        return out

    conf, m_speed = _timed(match_row, texts)
    bproba, b_speed = _timed(base_row, texts)
    proba, c_speed = _timed(lambda t: clf.proba([t])[0], texts)
    scores = {"matcher": conf, "baseline": bproba, "classifier": proba,
              "scorer": pooled(proba, conf), "combined": combine(proba, conf, cv.weight)}
    speed = {"matcher": m_speed, "baseline": b_speed, "classifier": c_speed,
             "combined": 1.0 / (1.0 / m_speed + 1.0 / c_speed)}
    speed["scorer"] = speed["combined"]
    fit["combined"] = fit["scorer"] = fit["matcher"] + fit["classifier"]
    routers = {r: {"top1": round(100 * float(np.mean(scores[r].argmax(1) == truth)), 2),
                   "utt_per_s": round(speed[r], 1), "train_seconds": round(fit[r], 2)}
               for r in ROUTERS}
    return {"regime": name, "n_train": len(rows), "n_test": len(test), "routers": routers,
            "cv": asdict(cv), "reference": REFERENCE[name], "goal": GOAL[name]}


def import_seconds() -> float:
    """Wall time of importing the scikit-learn parts the classifier uses (first import)."""
    start = time.perf_counter()
    import sklearn.feature_extraction.text
    import sklearn.linear_model  # noqa: F401

    return time.perf_counter() - start


def report(result: dict[str, Any]) -> str:
    """The readable table (bench/results/banking77.md)."""
    lines = ["# BANKING77: top-1 on test.csv (no rejection)", "",
             f"Data: {result['data']} (CC BY 4.0, PolyAI; not in this repository). "
             "Tuned by cross-validation on train.csv only.", "",
             "| regime | router | top-1 % | CV top-1 % (train) | utt/s (1 core) | fit s |",
             "|---|---|---|---|---|---|"]
    for reg in result["regimes"]:
        for r in ROUTERS:
            x = reg["routers"][r]
            cvx = reg["cv"]["accuracy"][r]
            label = f"{r} (w={reg['cv']['weight']})" if r == "combined" else r
            lines.append(f"| {reg['regime']} ({reg['n_train']}) | {label} | {x['top1']:.1f} | "
                         f"{cvx:.1f} | {x['utt_per_s']:.0f} | {x['train_seconds']:.1f} |")
        for ref, v in reg["reference"].items():
            lines.append(f"| {reg['regime']} | reference: {ref} | {v:.1f} | | | |")
        lines.append(f"| {reg['regime']} | goal | {reg['goal']:.1f} | | | |")
    lines += ["", "CV weight search (mean held-out top-1 % per matcher weight w):", ""]
    for reg in result["regimes"]:
        ws = ", ".join(f"{w}: {v}" for w, v in reg["cv"]["by_weight"].items())
        lines.append(f"- {reg['regime']} ({reg['cv']['folds']} folds): {ws}")
    lines += ["", f"Classifier config: {result['config']}. scikit-learn import: "
              f"{result['import_seconds']:.2f} s (paid only when a classifier is built).",
              "scorer and combined throughput = 1 / (1/matcher + 1/classifier): both run per "
              "utterance."]
    return "\n".join(lines) + "\n"


def tune_report(train: Sequence[Row]) -> str:
    """`--tune`: per config, mean CV top-1 on train.csv of the classifier alone and of the
    routing scorer (classifier + matcher)."""
    lines = ["# BANKING77: classifier hyperparameters by CV on train.csv (never test.csv)", "",
             "| regime | folds | config | CV top-1 % classifier | CV top-1 % scorer |",
             "|---|---|---|---|---|"]
    for name, k, folds in (("10", 10, 2), ("20", 20, 2), ("40", 40, 2), ("full", None, 1)):
        for config, alone, pool in tune(train, k, GRID[name], folds):
            lines.append(f"| {name} | {folds} | {asdict(config)} | {alone:.2f} | {pool:.2f} |")
    return "\n".join(lines) + "\n"


def _top1(rank: Callable[[str], str], test: Sequence[Row]) -> tuple[float, float]:
    """Top-1 percent on test, and utterances per second (one at a time)."""
    start = time.perf_counter()
    hits = sum(rank(t) == y for t, y in test)
    return round(100 * hits / len(test), 2), round(len(test) / (time.perf_counter() - start), 1)


def _rank_all(scorer: IntentScorer, base: Any, test: Sequence[Row]
              ) -> dict[str, tuple[float, float]]:
    """Top-1 and utt/s of the scorer, its classifier alone, the plain LR and the matcher."""
    ranks: dict[str, Callable[[str], str]] = {
        "scorer": lambda t: scorer.score(t).candidates[0].intent,
        "baseline": lambda t: str(base.predict([t])[0]),
        "matcher": lambda t: scorer.matcher_score(t).candidates[0].intent}
    clf = scorer.classifier
    if clf is not None:
        ranks["classifier"] = lambda t: clf.top(t, 1)[0].intent
    return {r: _top1(f, test) for r, f in ranks.items()}


def compare(data: str | None = None) -> dict[str, Any] | None:
    """`make bench-intent`'s BANKING77 part: the routing scorer (ivr/nlu/scorer.py) vs the
    plain TF-IDF logistic regression vs the matcher, top-1 on test.csv, 10 per intent and full
    (None when the data is not there). No rejection: the top candidate counts."""
    from threadpoolctl import threadpool_limits

    folder = data_dir(data)
    if not (folder / "train.csv").is_file() or not (folder / "test.csv").is_file():
        print(f"banking77: no data in {folder}: part skipped", file=sys.stderr)
        return None
    train, test = load_rows(folder / "train.csv"), load_rows(folder / "test.csv")
    out: dict[str, Any] = {"data": str(folder), "goal": GOAL, "reference": REFERENCE,
                           "regimes": {}}
    with threadpool_limits(1):
        for name, k in (("10", 10), ("full", None)):
            rows = first_k(train, k)
            fit: dict[str, float] = {}
            start = time.perf_counter()
            scorer = IntentScorer(examples(rows), "en")  # the English sentence vectors included
            fit["scorer"] = time.perf_counter() - start
            start = time.perf_counter()
            base = baseline(rows)
            fit["baseline"] = time.perf_counter() - start
            got = _rank_all(scorer, base, test)
            out["regimes"][name] = {
                r: {"top1": got[r][0], "utt_per_s": got[r][1],
                    "fit_seconds": round(fit.get(r, fit["scorer"]), 2)} for r in got}
    return out


def compare_table(result: dict[str, Any]) -> str:
    """The BANKING77 part of bench/results/intent.md."""
    lines = ["## BANKING77 (top-1 % on test.csv, no rejection)", "",
             "| regime | scorer | its classifier alone | plain TF-IDF LR | matcher | goal | "
             "encoders (paper) |", "|---|---|---|---|---|---|---|"]
    for name, reg in result["regimes"].items():
        alone = reg.get("classifier", {}).get("top1")
        lines.append(f"| {name} per intent | {reg['scorer']['top1']:.1f} | "
                     f"{'-' if alone is None else f'{alone:.1f}'} | "
                     f"{reg['baseline']['top1']:.1f} | {reg['matcher']['top1']:.1f} | "
                     f"{result['goal'][name]:.0f} | "
                     f"{result['reference'][name]['encoders (paper)']:.0f} |")
    fits = ", ".join(f"{n}: scorer fit {r['scorer']['fit_seconds']} s "
                     f"({r['scorer']['utt_per_s']:.0f} utt/s), LR fit "
                     f"{r['baseline']['fit_seconds']} s" for n, r in result["regimes"].items())
    return "\n".join(lines) + f"\n\n{fits} (one BLAS thread)."


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="BANKING77 top-1: matcher, baseline, classifier.")
    ap.add_argument("--data", default=None, help="BANKING77 folder (default: $IVR_BANKING77 "
                    "or ../shared/data/banking77 beside the repository)")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--quick", action="store_true", help="10 per intent only, 2 CV folds")
    ap.add_argument("--tune", action="store_true", help="the hyperparameter search (CV on "
                    "train.csv) instead of the benchmark; writes banking77_tune.md")
    args = ap.parse_args(argv)
    folder = data_dir(args.data)
    if not (folder / "train.csv").is_file() or not (folder / "test.csv").is_file():
        print(f"banking77: no train.csv/test.csv in {folder} (set --data or $IVR_BANKING77)",
              file=sys.stderr)
        return 2
    try:
        train, test = load_rows(folder / "train.csv"), load_rows(folder / "test.csv")
    except UsageError as exc:
        print(f"banking77: {exc}", file=sys.stderr)
        return 2
    seconds = import_seconds()
    from threadpoolctl import threadpool_limits

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.tune:
        with threadpool_limits(1):
            text = tune_report(train)
        (out / "banking77_tune.md").write_text(text, "utf-8")
        print(text)
        return 0
    config = ClassifierConfig()
    regimes = (("10", 2),) if args.quick else (("10", 5), ("full", 3))
    with threadpool_limits(1):
        results = [run_regime(name, train, test, config, folds) for name, folds in regimes]
    result = {"data": str(folder), "quick": args.quick, "config": asdict(config),
              "import_seconds": round(seconds, 3), "regimes": results}
    suffix = "_quick" if args.quick else ""
    (out / f"banking77{suffix}.json").write_text(json.dumps(result, indent=1), "utf-8")
    text = report(result)
    (out / f"banking77{suffix}.md").write_text(text, "utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
