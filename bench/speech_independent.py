"""`make bench-speech-independent`: speech accuracy on independent Korean callers.

    python -m bench.speech_independent --flow flows/bank_hotline.yaml --split test \
        --out bench/results [--step N] [--conditions 16k,8k_mulaw,8k_alaw]

The sentences, voices and telephone chain are described in `bench.speech_independent_data`
(dev: the Hangul dev half of eval/independent/ko.yaml; test: eval/independent/ko_speech.yaml).
Three pipelines decode every caller turn in the same run (`bench.speech_accuracy.Router`):
plain free decoding + rapidfuzz, one phrase-grammar decode + the matcher and policy, and
ivr's speech front-end. Per condition and pipeline it reports

* **routed** — accept of the right intent, or a confirmation of it (one "네" away);
* **accept wrong** — accept of another intent (in-scope callers);
* **OOS accept** — out-of-scope callers accepted as anything.

Writes bench/results/speech_independent_<split>.json and .md. A benchmark: nothing fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ivr.asr import DecoderConfig, ServiceConfig, SpeechService
from ivr.call import Hotline
from ivr.flow import load_flow
from ivr.models import resolve_model
from ivr.speech import SpeechConfig

from .speech_accuracy import PLAIN_CUTOFF, route_all
from .speech_independent_data import CONDITIONS, independent_callers

__all__ = ["PIPELINES", "main", "markdown", "summarize"]

PIPELINES = ("plain", "grammar", "ivr")
_NAMES = {"plain": f"plain free decoding + rapidfuzz (ratio >= {PLAIN_CUTOFF:g})",
          "grammar": "plain one-phrase-grammar decoding", "ivr": "ivr speech front-end"}


def _log(message: str) -> None:
    print(f"[speech-independent {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr,
          flush=True)


def summarize(figures: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per condition: the three headline figures of each pipeline and the goal checks."""
    out: dict[str, dict[str, Any]] = {}
    for cond in sorted({c for p in figures.values() for c in p}, key=CONDITIONS.index):
        row: dict[str, Any] = {}
        for p in PIPELINES:
            f = figures.get(p, {}).get(cond)
            if f is not None:
                row[p] = {"routed_pct": f["routed_or_confirmed_pct"],
                          "accept_wrong_pct": f["misrouted_pct"],
                          "oos_accept_pct": f["oos_accepted_pct"]}
        ivr = row.get("ivr", {}).get("routed_pct", 0.0)
        if cond == "16k":
            plain = row.get("plain", {}).get("routed_pct", 0.0)
            row["goal"] = {"ivr>=2x_plain": ivr >= 2 * plain, "ivr>=40": ivr >= 40.0}
        else:
            gram = row.get("grammar", {}).get("routed_pct", 0.0)
            row["goal"] = {"ivr>=grammar": ivr >= gram, "ivr>=25": ivr >= 25.0}
        row["goal"]["ivr_oos<=10"] = row.get("ivr", {}).get("oos_accept_pct", 100.0) <= 10.0
        out[cond] = row
    return out


def markdown(results: dict[str, Any]) -> str:
    """The readable table."""
    lines = [f"# Speech on independent callers (`{results['split']}` split)", "",
             f"{results['sentences']} sentences ({results['in_scope']} in scope, "
             f"{results['out_of_scope']} out of scope) x {len(results['conditions'])} "
             f"conditions; {results['source']}. espeak-ng Korean voice, pitch 35..70 and rate "
             "160..240 wpm per sentence (hash); 8 kHz = sox band-pass 300-3400 Hz, G.711 "
             "encode, decoded by ivr.audio. routed = accept or confirm of the right intent.",
             "", "| condition | pipeline | routed | accept wrong | OOS accept |",
             "|---|---|---|---|---|"]
    for cond, row in results["summary"].items():
        for p in PIPELINES:
            if p in row:
                f = row[p]
                lines.append(f"| {cond} | {_NAMES[p]} | {f['routed_pct']:.1f}% | "
                             f"{f['accept_wrong_pct']:.1f}% | {f['oos_accept_pct']:.1f}% |")
    lines += ["", "Goals (issue 15, item 4):", ""]
    for cond, row in results["summary"].items():
        checks = ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in row["goal"].items())
        lines.append(f"- {cond}: {checks}")
    lines += ["", f"Judge: {results['judge']}", f"Decode wall time: {results['wall_s']:.0f} s", ""]
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--flow", default="flows/bank_hotline.yaml")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--split", default="test", choices=("dev", "test"))
    ap.add_argument("--step", type=int, default=1, help="every n-th sentence")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=3)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    conditions = tuple(args.conditions.split(","))
    bad = [c for c in conditions if c not in CONDITIONS]
    if bad:
        print(f"unknown condition {bad[0]!r}; use {', '.join(CONDITIONS)}", file=sys.stderr)
        return 2
    _log(f"synthesizing {args.split} callers (cached under var/)")
    callers = independent_callers(args.split, conditions, args.step)
    config = SpeechConfig(service=ServiceConfig(workers=args.workers))
    hotline = Hotline(load_flow(args.flow), speech=config)
    baseline = SpeechService(resolve_model("ko"), "ko", ServiceConfig(
        workers=args.workers, decoder=DecoderConfig(views=("plain",), free_slots=64)))
    _log(f"decoding {len(callers)} caller turns with three pipelines")
    started = time.perf_counter()
    try:
        tallies = route_all(hotline, baseline, callers, threads=args.threads,
                            progress=lambda n: n % 50 == 0 and _log(f"{n} done"))
    finally:
        baseline.close()
        hotline.close()
    figures = {p: {c: t.figures() for c, t in tallies[p].items()} for p in PIPELINES}
    sentences = callers[:len(callers) // len(conditions)]
    oos = sum(c.example.label == "out_of_scope" for c in sentences)
    results: dict[str, Any] = {
        "split": args.split, "step": args.step, "conditions": list(conditions),
        "source": ("eval/independent/ko.yaml dev, Hangul only" if args.split == "dev"
                   else "eval/independent/ko_speech.yaml"),
        "sentences": len(sentences), "in_scope": len(sentences) - oos, "out_of_scope": oos,
        "judge": vars(config.judge), "wall_s": round(time.perf_counter() - started, 1),
        "cores": os.cpu_count(), "summary": summarize(figures), "figures": figures,
        "examples": {p: {c: t.examples for c, t in tallies[p].items()} for p in PIPELINES},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"speech_independent_{args.split}"
    (out / f"{stem}.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n",
                                      "utf-8")
    text = markdown(results)
    (out / f"{stem}.md").write_text(text, "utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
