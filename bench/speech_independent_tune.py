"""Re-judge recorded hypotheses offline: the speech front-end's judge settings, per band.

    python -m bench.speech_independent_tune var/speech_independent/turns_dev_2.jsonl \
        [--flow flows/bank_hotline.yaml] [--judge key=value,...] [--grid]

`bench.speech_independent` records, for every caller turn, what each grammar view and the
free decoder heard (the front-end's final result, which does not depend on the judge). The
judge and the policy are then re-run here on the same hypotheses, so a judge setting is
scored in seconds instead of an hour of decoding; the figures equal the full run's for the
ivr pipeline. Tune only on dev turns; a test file is scored once, with the final settings.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ivr.asr.results import DualResult, Hypothesis
from ivr.asr.vocab import grammar_words, read_vocabulary
from ivr.call import Hotline
from ivr.flow import load_flow
from ivr.models import resolve_model
from ivr.speech import Judge, JudgeConfig, TurnContext

from .speech_accuracy import Tally, plain_route, policy_route
from .speech_independent import PIPELINES, markdown, summarize

__all__ = ["Rejudge", "load_turns", "main"]


def load_turns(path: Path) -> list[dict[str, Any]]:
    """Turns from a `_turns.json` list or a `.jsonl` log."""
    text = path.read_text("utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    turns: list[dict[str, Any]] = json.loads(text)
    return turns


class Rejudge:
    """The front-end's decision for recorded hypotheses under any judge settings."""

    def __init__(self, flow: Path) -> None:
        self.hotline = Hotline(load_flow(flow))
        f = self.hotline.flow
        self.allowed = frozenset(f.intents_at(f.start))
        call = self.hotline.open_call("tune", "ko")
        call.start()
        vocab = read_vocabulary(resolve_model("ko"))
        self.grammar = grammar_words(call.dialog.expected(), vocab, "ko").phrases
        self.matcher = self.hotline.matcher("ko")

    def decision(self, judge: Judge, turn: dict[str, Any]) -> tuple[str, str | None]:
        result = DualResult(tuple(Hypothesis(t) for t in turn["views"]),
                            Hypothesis(turn["free"]) if turn["free"] else None, final=True)
        context = TurnContext(self.grammar, self.allowed,
                              narrowband=turn["condition"] != "16k")
        verdict = judge.judge(result, context)
        return self.policy(verdict.text, verdict.unsure)

    def policy(self, text: str, unsure: bool = False) -> tuple[str, str | None]:
        """The flow's decision for `text` at the start node: accept, confirm or no."""
        return policy_route(self.matcher, self.allowed, self.hotline.flow.settings, text,
                            unsure)

    def tally(self, config: JudgeConfig, turns: Iterable[dict[str, Any]]
              ) -> dict[str, dict[str, float | int]]:
        judge = Judge(self.matcher, self.hotline.flow.settings, config)
        tallies: dict[str, Tally] = {}
        for turn in turns:
            kind, intent = self.decision(judge, turn)
            tallies.setdefault(turn["condition"], Tally()).add(turn["label"], kind, intent, "")
        return {c: t.figures() for c, t in tallies.items()}


def rebuild(rejudge: Rejudge, config: JudgeConfig, turns: list[dict[str, Any]],
            run: dict[str, Any]) -> dict[str, Any]:
    """`bench.speech_independent`'s results for recorded turns, every pipeline decided again
    with today's matcher, policy and `config` (the audio was decoded in `run`: valid while
    the start node's grammar is the one it was decoded with)."""
    f = rejudge.hotline.flow
    phrases = [(p, i) for i in sorted(rejudge.allowed) for p in f.intents[i].phrases["ko"]]
    judge = Judge(rejudge.matcher, f.settings, config)
    tallies: dict[str, dict[str, Tally]] = {p: {} for p in PIPELINES}
    for turn in turns:
        label, cond = turn["label"], turn["condition"]
        ivr = rejudge.decision(judge, turn)
        for name, (kind, intent), heard in (
                ("plain", plain_route(turn["baseline_free"], phrases), turn["baseline_free"]),
                ("grammar", rejudge.policy(turn["baseline_grammar"]), turn["baseline_grammar"]),
                ("ivr", ivr, "")):
            tallies[name].setdefault(cond, Tally()).add(label, kind, intent, heard)
    figures = {p: {c: t.figures() for c, t in tallies[p].items()} for p in PIPELINES}
    return {**run, "judge": vars(config), "summary": summarize(figures), "figures": figures,
            "examples": {p: {c: t.examples for c, t in tallies[p].items()} for p in PIPELINES},
            "rejudged": "decisions re-made offline on the recorded hypotheses "
                        "(bench.speech_independent_tune --results)"}


def _parse_judge(spec: str) -> JudgeConfig:
    config = JudgeConfig()
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        getattr(config, key)  # an unknown key raises AttributeError
        number = (None if value == "None" else
                  int(value) if key in ("agree", "narrowband_lead_view") else float(value))
        change: dict[str, Any] = {key: number}
        config = replace(config, **change)
    return config


_NONE = -1.0
"""Grid value meaning None."""
_GRIDS: dict[str, dict[str, Sequence[float]]] = {
    "wide": {"fit_alone": (0.6, 0.65, 0.7, 0.75), "fit_supported": (0.5, 0.55, 0.6),
             "support": (0.15, 0.25), "free_fallback": (_NONE, 0.6, 0.7, 0.8)},
    "unsure": {"confirm_fit": (_NONE, 0.7, 0.65, 0.6, 0.55, 0.5)},
    "narrow": {"narrowband_fit_alone": (0.55, 0.6, 0.65, 0.7),
               "narrowband_fit_supported": (0.45, 0.5, 0.55, 0.6),
               "narrowband_agree_fit": (0.0, 0.5, 0.6),
               "narrowband_lead_fit": (0.5, 0.55, 0.6, 0.65, 1.1)},
}


def grid(rejudge: Rejudge, turns: list[dict[str, Any]], base: JudgeConfig, band: str
         ) -> list[tuple[JudgeConfig, dict[str, dict[str, float | int]]]]:
    """Every combination of the band's grid on top of `base`, on that band's turns."""
    out = []
    space = _GRIDS[band]
    keys = list(space)
    turns = [t for t in turns if (t["condition"] == "16k") == (band != "narrow")]
    for values in itertools.product(*(space[k] for k in keys)):
        chosen: dict[str, Any] = {k: (None if v == _NONE else v)
                                  for k, v in zip(keys, values, strict=True)}
        config = replace(base, **chosen)
        out.append((config, rejudge.tally(config, turns)))
    return out


def _line(config: JudgeConfig, figs: dict[str, dict[str, float | int]]) -> str:
    parts = [f"{c}: {f['routed_or_confirmed_pct']:5.1f} / {f['misrouted_pct']:4.1f} / "
             f"{f['oos_accepted_pct']:4.1f}" for c, f in sorted(figs.items())]
    return f"{' | '.join(parts)}  <- {vars(config)}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("turns", type=Path)
    ap.add_argument("--flow", type=Path, default=Path("flows/bank_hotline.yaml"))
    ap.add_argument("--judge", default="", help="judge settings, key=value,...")
    ap.add_argument("--grid", choices=tuple(_GRIDS), help="score a band's grid, best first")
    ap.add_argument("--results", type=Path, metavar="RUN_JSON",
                    help="rewrite this bench.speech_independent results file (and its .md) "
                         "from the turns, decided with today's code and --judge")
    args = ap.parse_args(argv)
    try:
        turns, base = load_turns(args.turns), _parse_judge(args.judge)
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        print(f"bad input: {exc}", file=sys.stderr)
        return 2
    rejudge = Rejudge(args.flow)
    if args.results is not None:
        run = json.loads(args.results.read_text("utf-8"))
        results = rebuild(rejudge, base, turns, run)
        args.results.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n",
                                "utf-8")
        text = markdown(results) + f"\n{results['rejudged']}\n"
        args.results.with_suffix(".md").write_text(text, "utf-8")
        print(text)
        return 0
    print("condition: routed / accept wrong / OOS accept (%)")
    if not args.grid:
        print(_line(base, rejudge.tally(base, turns)))
        return 0
    scored = grid(rejudge, turns, base, args.grid)
    scored.sort(key=lambda cf: -sum(float(f["routed_or_confirmed_pct"])
                                    - 3 * max(0.0, float(f["oos_accepted_pct"]) - 10.0)
                                    for f in cf[1].values()))
    for config, figs in scored[:25]:
        print(_line(config, figs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
