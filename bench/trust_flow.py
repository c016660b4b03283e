"""Flow size vs cost: time and peak memory to route one sentence and to lint, per flow size.

    python -m bench.trust_flow --out bench/results [--quick]

Synthetic flows (bench.synthflow: made-up banking requests, fixed seed) of 100, 1,000 and
10,000 intents with two phrases each, one flow per language (zh, en, ko). Each measurement runs
in a fresh `python -m ivr.cli` subprocess: wall time and peak RSS (the child's ru_maxrss) for
`ivr route` of one sentence (load the flow, build the matcher, route) and for `ivr lint`.
Writes trust_flow.json and trust_flow.md with the growth per 10x (near-linear is ~10x),
beside the figures issue 10 reported for the old code.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path

from .synthflow import synthetic_flow

__all__ = ["Run", "main", "measure"]

SIZES = (100, 1_000, 10_000)
LANGS = ("zh", "en", "ko")
SENTENCE = {"en": "i want to block my credit card limit today",
            "zh": "我要挂失信用卡的密码", "ko": "신용카드 한도 변경해 주세요"}
OLD = ("Old code (issue 10, one 10,000-intent flow, 1.7 MB): route 64 s / 4.1 GB; lint killed "
       "at 300 s / 7.1 GB; 3,000 intents lint 26 s / 1.07 GB.")


_CHILD = """
import resource, sys
from ivr.cli import main
path = sys.argv[1]
try:
    code = main(sys.argv[2:])
finally:
    with open(path, "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(code)
"""
"""Runs the CLI and records the process's own peak RSS (KiB on Linux) in a file."""


@dataclass(frozen=True)
class Run:
    """One command on one flow."""

    lang: str
    """Language of the flow."""
    intents: int
    """Intents in the flow."""
    command: str
    """route or lint."""
    seconds: float
    """Wall time of the whole process (interpreter start included)."""
    peak_mb: float
    """Peak resident memory of the process."""
    exit_code: int
    """The command's exit code (lint: 1 or 0 by warnings; route: 0)."""


def measure(flow: Path, lang: str, intents: int, command: str) -> Run:
    """Run `ivr route` or `ivr lint` on a flow in a fresh process; time and peak memory."""
    args = (["route", "--flow", str(flow), "--lang", lang, SENTENCE[lang]] if command == "route"
            else ["lint", str(flow), "-q"])
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD, rss.name, *args],
                              capture_output=True, check=False)
        seconds = time.perf_counter() - start
        peak = int(Path(rss.name).read_text() or 0)
    if done.returncode == 2 or not peak:
        raise SystemExit(f"ivr {command} failed on {flow}: {done.stderr.decode()[:300]}")
    return Run(lang, intents, command, round(seconds, 2), round(peak / 1024, 1),
               done.returncode)


def _growth(runs: list[Run], lang: str, command: str, field: str) -> list[str]:
    """Ratio of each size's figure to the previous size's (per 10x intents)."""
    vals = [getattr(r, field) for r in runs if r.lang == lang and r.command == command]
    return [f"{b / a:.1f}x" for a, b in pairwise(vals)]


def _markdown(runs: list[Run]) -> str:
    lines = ["# Flow size vs cost (route one sentence, lint)", "",
             "Fresh process per cell: wall time / peak RSS (interpreter and imports included, "
             "~0.5 s / ~50 MB). Flows: bench.synthflow, two phrases per intent.", "",
             "| lang | intents | route s | route MB | lint s | lint MB |",
             "|---|---|---|---|---|---|"]
    for r in (r for r in runs if r.command == "route"):
        lint = next(x for x in runs if x.command == "lint" and (x.lang, x.intents)
                    == (r.lang, r.intents))
        lines.append(f"| {r.lang} | {r.intents:,} | {r.seconds:.2f} | {r.peak_mb:.0f} | "
                     f"{lint.seconds:.2f} | {lint.peak_mb:.0f} |")
    lines += ["", "Growth per 10x intents (route time, route memory, lint time, lint memory; "
              "near-linear is ~10x, quadratic ~100x):", ""]
    for lang in dict.fromkeys(r.lang for r in runs):
        parts = [", ".join(_growth(runs, lang, c, f)) for c in ("route", "lint")
                 for f in ("seconds", "peak_mb")]
        lines.append(f"- {lang}: route time {parts[0]}; route memory {parts[1]}; "
                     f"lint time {parts[2]}; lint memory {parts[3]}")
    lines += ["", f"Baseline: {OLD}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Generate the flows, measure each in a fresh process, write json and md."""
    ap = argparse.ArgumentParser(prog="python -m bench.trust_flow", description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    ap.add_argument("--quick", action="store_true", help="100 and 1,000 intents, English only")
    args = ap.parse_args(argv)
    sizes, langs = (SIZES[:2], ("en",)) if args.quick else (SIZES, LANGS)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        for lang in langs:
            for n in sizes:
                flow = Path(tmp) / f"{lang}_{n}.yaml"
                flow.write_text(synthetic_flow(n, lang), "utf-8")
                for command in ("route", "lint"):
                    runs.append(measure(flow, lang, n, command))
                    print(runs[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "trust_flow.json").write_text(json.dumps(
        {"runs": [asdict(r) for r in runs], "old": OLD}, indent=2) + "\n", "utf-8")
    (args.out / "trust_flow.md").write_text(_markdown(runs), "utf-8")
    print(f"written: {args.out / 'trust_flow.json'}, trust_flow.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
