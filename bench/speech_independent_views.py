"""Grammar views alone on independent dev callers: which view, which narrowband audio.

    python -m bench.speech_independent_views --splits dev:4,dev2:8 \
        --conditions 8k_mulaw,8k_alaw --views plain,fast [--fold-db -21] [--dither 40] \
        [--out turns.jsonl]

Decodes every caller with the start node's phrase grammar in each view, in this process
(no endpointer, no free decoding: the grammar side of the front-end only, quick enough to
compare audio conditionings), and prints per view what its transcript alone would route
(the matcher and the flow's policy) and what the judge makes of the views together.
`--out` appends the turns in `bench.speech_independent_tune`'s format, so judge settings
can be re-scored offline. Dev splits only: test is refused.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from ivr.asr import DecoderConfig, StreamSpec
from ivr.asr.vosk import Engine
from ivr.audio import pcm_frames
from ivr.models import resolve_model
from ivr.speech import JudgeConfig

from .speech_accuracy import Tally
from .speech_independent_data import independent_callers
from .speech_independent_tune import Rejudge

__all__ = ["main"]

_SPEEDS = {"faster": (5, 6), "slow": (11, 10)}
"""Views beyond `ivr.asr.condition.VIEWS`, for comparison: 1.2x and 0.91x."""


def _row(figures: dict[str, float | int]) -> str:
    return (f"{figures['routed_or_confirmed_pct']:5.1f} / {figures['misrouted_pct']:5.1f} / "
            f"{figures['oos_accepted_pct']:5.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--flow", type=Path, default=Path("flows/bank_hotline.yaml"))
    ap.add_argument("--splits", default="dev:4", help="split:step,...")
    ap.add_argument("--conditions", default="8k_mulaw,8k_alaw")
    ap.add_argument("--views", default="plain,fast")
    ap.add_argument("--fold-db", type=float, default=-21.0, help="-99: no fold")
    ap.add_argument("--dither", type=float, default=40.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    condition = importlib.import_module("ivr.asr.condition")  # the package re-exports a function
    condition.VIEWS.update(_SPEEDS)
    condition.__dict__["_FOLD_GAIN"] = 0.0 if args.fold_db <= -99 else 10 ** (args.fold_db / 20)
    views = tuple(args.views.split(","))
    callers = []
    for spec in args.splits.split(","):
        split, _, step = spec.partition(":")
        if split not in ("dev", "dev2"):
            print(f"dev splits only, not {split!r}", file=sys.stderr)
            return 2
        callers += independent_callers(split, tuple(args.conditions.split(",")), int(step or 1))
    rejudge = Rejudge(args.flow)
    engine = Engine(resolve_model("ko"), "ko", DecoderConfig(
        views=views, dither=args.dither, narrowband_dither=args.dither))
    turns: list[dict[str, Any]] = []
    for caller in callers:
        stream = engine.stream(StreamSpec(rejudge.grammar, narrowband=caller.audio.narrowband,
                                          free=False))
        for frame in pcm_frames(caller.audio.pcm):
            stream.feed(frame)
        result = stream.final()
        turns.append({"text": caller.example.text, "label": caller.example.label,
                      "condition": caller.condition,
                      "views": [h.text for h in result.grammars], "free": ""})
    if args.out is not None:
        with args.out.open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(t, ensure_ascii=False) + "\n" for t in turns)
    print(f"{len(turns)} turns; routed / accept wrong / OOS accept (%)")
    for i, view in enumerate(views):
        tallies: dict[str, Tally] = {}
        for t in turns:
            kind, intent = rejudge.policy(t["views"][i])
            tallies.setdefault(t["condition"], Tally()).add(t["label"], kind, intent, "")
        for cond, tally in sorted(tallies.items()):
            print(f"{cond:9s} view {view:7s} {_row(tally.figures())}")
    for cond, figures in sorted(rejudge.tally(JudgeConfig(), turns).items()):
        print(f"{cond:9s} judge        {_row(figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
