"""`make bench-intent`: intent understanding on held-out caller sentences.

    python -m bench.intent --flow flows/bank_hotline.yaml --out bench/results

Per corpus (zh, zh with homophone errors, en, ko): routed correctly (accept or confirm to the
right node), accepted correctly, confirmation rate, out-of-scope false accepts, per-intent
accuracy, a confusion matrix (text and SVG), and throughput in utterances per second on one
core — beside a plain baseline in the same run (rapidfuzz WRatio best match over the same
phrases, threshold chosen so its out-of-scope false accepts are near 10 %).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rapidfuzz import fuzz, process

from ivr.call import Hotline
from ivr.flow import Flow, load_flow
from ivr.nlu.normalize import normalize
from ivr.qa.metrics import confusion_of
from ivr.qa.svg import confusion_svg
from ivr.types import Lang

from . import ROOT
from .corpus import OUT_OF_SCOPE, Example, load_corpus

CORPORA = ROOT / "tests" / "data" / "intents"
NAMES = ("zh", "zh_homophones", "en", "ko")

Router = Callable[[str], tuple[str | None, str]]
"""text -> (intent or None, decision)."""


@dataclass
class Result:
    """Figures for one corpus and one router."""

    corpus: str
    router: str
    n_in_scope: int = 0
    n_oos: int = 0
    routed: float = 0.0
    accepted: float = 0.0
    confirm_rate: float = 0.0
    oos_false_accept: float = 0.0
    utterances_per_second: float = 0.0
    per_intent: dict[str, float] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)


def _ours(hotline: Hotline, lang: Lang) -> Router:
    def route(text: str) -> tuple[str | None, str]:
        r = hotline.route(text, lang)
        return r.intent, r.decision
    return route


def _baseline(flow: Flow, lang: Lang, examples: list[Example]) -> Router:
    """The plain pipeline: rapidfuzz best match over the phrases, one threshold.

    The threshold is the lowest that keeps its out-of-scope false accepts at or under 10 % on
    this very corpus — the baseline's best case, as the issue describes it.
    """
    choices, owners = [], []
    for iid, intent in flow.intents.items():
        for p in intent.phrases.get(lang, ()):
            choices.append(p.lower())
            owners.append(iid)

    def best(text: str) -> tuple[str, float]:
        hit = process.extractOne(text.lower(), choices, scorer=fuzz.WRatio)
        return (owners[hit[2]], float(hit[1])) if hit else ("", 0.0)

    oos = sorted((best(e.text)[1] for e in examples if e.label == OUT_OF_SCOPE), reverse=True)
    allowed = int(0.10 * len(oos))
    threshold = oos[allowed] + 0.01 if len(oos) > allowed else 0.0

    def route(text: str) -> tuple[str | None, str]:
        intent, score = best(text)
        return (intent, "accept") if intent and score >= threshold else (None, "reprompt")
    return route


def evaluate(name: str, router_name: str, route: Router, examples: list[Example]) -> Result:
    """Run every example through one router."""
    res = Result(name, router_name)
    hits: dict[str, list[bool]] = defaultdict(list)
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    routed = accepted = confirms = fa = 0
    started = time.process_time()  # CPU time of this process: one core, robust to noisy neighbours
    for e in examples:
        intent, decision = route(e.text)
        got = intent if decision in ("accept", "confirm") and intent else "(none)"
        confusion[e.label][got] += 1
        if e.label == OUT_OF_SCOPE:
            res.n_oos += 1
            fa += decision == "accept" and intent is not None
            continue
        res.n_in_scope += 1
        ok = got == e.label
        routed += ok
        accepted += ok and decision == "accept"
        confirms += decision == "confirm"
        hits[e.label].append(ok)
    spent = time.process_time() - started
    res.routed = routed / max(res.n_in_scope, 1)
    res.accepted = accepted / max(res.n_in_scope, 1)
    res.confirm_rate = confirms / max(res.n_in_scope, 1)
    res.oos_false_accept = fa / max(res.n_oos, 1)
    res.utterances_per_second = len(examples) / spent if spent else 0.0
    res.per_intent = {k: sum(v) / len(v) for k, v in sorted(hits.items())}
    res.confusion = {k: dict(v) for k, v in sorted(confusion.items())}
    return res


def _table(results: list[Result]) -> str:
    head = ("| corpus | router | in-scope | routed | accepted | confirm | OOS false accept "
            "| utt/s |\n|---|---|---|---|---|---|---|---|")
    rows = [f"| {r.corpus} | {r.router} | {r.n_in_scope} | {r.routed:.1%} | {r.accepted:.1%} | "
            f"{r.confirm_rate:.1%} | {r.oos_false_accept:.1%} ({r.n_oos}) | "
            f"{r.utterances_per_second:,.0f} |" for r in results]
    return "\n".join([head, *rows])


def _per_intent(results: list[Result]) -> str:
    ours = [r for r in results if r.router == "ivr"]
    intents = sorted({i for r in ours for i in r.per_intent})
    head = "| intent | " + " | ".join(r.corpus for r in ours) + " |"
    sep = "|---" * (len(ours) + 1) + "|"
    rows = [f"| {i} | " + " | ".join(f"{r.per_intent.get(i, 0):.0%}" for r in ours) + " |"
            for i in intents]
    return "\n".join([head, sep, *rows])


def _confusion_text(r: Result) -> str:
    """The confusion matrix as a text table: rows wanted, columns routed (abbreviated ids)."""
    rows = sorted(r.confusion)
    cols = sorted(({c for v in r.confusion.values() for c in v} | set(rows)) - {OUT_OF_SCOPE})
    short = {c: "".join(part[:3] for part in c.split("_")) if c != "(none)" else "none"
             for c in cols}
    head = "| wanted \\ routed | " + " | ".join(short[c] for c in cols) + " |"
    sep = "|---" * (len(cols) + 1) + "|"
    body = [f"| {w} | " + " | ".join(str(r.confusion[w].get(c, "")) for c in cols) + " |"
            for w in rows]
    return "\n".join([head, sep, *body])


def main() -> None:
    ap = argparse.ArgumentParser(description="Intent understanding on held-out sentences.")
    ap.add_argument("--flow", default="flows/bank_hotline.yaml")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--split", default="heldout", choices=("heldout", "tune"))
    args = ap.parse_args()
    flow = load_flow(args.flow)
    hotline = Hotline(flow)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    for name in NAMES:
        examples = load_corpus(CORPORA / f"{name}.yaml", (args.split,))
        if not examples:
            continue
        lang = examples[0].lang
        hotline.matcher(lang)  # built before the clock starts, as in a running engine
        normalize.cache_clear()
        results.append(evaluate(name, "ivr", _ours(hotline, lang), examples))
        results.append(evaluate(name, "baseline", _baseline(flow, lang, examples), examples))
        (out / f"confusion_{name}.svg").write_text(
            confusion_svg(confusion_of(results[-2].confusion), f"{name} ({args.split})"), "utf-8")
    (out / "intent.json").write_text(json.dumps([asdict(r) for r in results], indent=1,
                                                ensure_ascii=False), "utf-8")
    matrices = "\n\n".join(f"### {r.corpus}\n\n{_confusion_text(r)}"
                             for r in results if r.router == "ivr")
    report = (f"# Intent understanding ({args.split} split)\n\n{_table(results)}\n\n"
              f"## Routed correctly per intent (ivr)\n\n{_per_intent(results)}\n\n"
              f"## Confusion matrices (ivr; pictures: confusion_*.svg)\n\n{matrices}\n")
    (out / "intent.md").write_text(report, "utf-8")
    print(report)
    print(f"written: {out}/intent.json, intent.md, confusion_*.svg")


if __name__ == "__main__":
    main()
