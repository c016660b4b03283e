"""Commands this room adds to `ivr` (registered by ivr.cli): `ivr test` and `ivr calibrate`.

Exit codes: 0 when every expectation was met (known failures allowed), 1 when one was not —
or when nothing was checked (no call in the suite has an expectation: a green run would prove
nothing) — 2 for bad input or a call that could not be played (one line each, no traceback).
A call without expectations is reported `unchecked`, never counted as passed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from ..errors import FlowErrors, UsageError
from ..textio import write_output
from ..types import LANGS
from .runner import CallRun

Handler = Callable[[argparse.Namespace], int]

__all__ = ["Progress", "register"]


class Progress:
    """A one-line progress bar on a stream, redrawn at most ten times a second."""

    def __init__(self, total: int, stream: IO[str], *, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.done = self.failed = 0
        self._drawn = 0.0

    def update(self, run: CallRun) -> None:
        """Count one finished call."""
        self.done += 1
        self.failed += not run.ok
        now = time.monotonic()
        if self.enabled and (now - self._drawn >= 0.1 or self.done == self.total):
            self._drawn = now
            filled = 30 * self.done // max(1, self.total)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/"
                              f"{self.total} calls, {self.failed} failed")
            self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled and self.done:
            self.stream.write("\n")
            self.stream.flush()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("suite", nargs="+", help="call-script files or folders of them")
    p.add_argument("--flow", required=True, help="flow YAML file")
    p.add_argument("--lang", choices=LANGS, help="language of scripts that name none")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                   help="worker processes, one speech model each (default: one per core)")
    p.add_argument("--model", help="Vosk model directory (overrides $IVR_MODEL and models/)")
    p.add_argument("--progress", action="store_true",
                   help="progress bar on stderr even when it is not a terminal")
    p.add_argument("--warm", action="store_true",
                   help="reuse recognisers between utterances, as ivr serve does (faster, but "
                        "a call's words may then depend, rarely, on the calls played before it "
                        "in the same worker); default: new ones for every utterance")


def register(sub: Any) -> dict[str, Handler]:
    """Add this room's subcommands to `sub` (argparse subparsers); return their handlers."""
    p = sub.add_parser("test", help="replay call-script suites, check expectations, report")
    _common(p)
    p.add_argument("--queue", help="file handoffs into this queue DB (default: not filed)")
    p.add_argument("--backend", metavar="URL",
                   help="the bank's service for request and authenticate steps, http(s)://host:"
                        "port (default: $IVR_BANK_URL; token from $IVR_BANK_TOKEN)")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="JSON report to FILE (stdout without FILE, or with -)")
    p.add_argument("--junit", metavar="FILE", help="JUnit XML report for CI")
    p.add_argument("--html", metavar="DIR", help="HTML report: DIR/index.html")
    p.add_argument("--baseline", metavar="PREVIOUS.json",
                   help="an earlier --json report: list calls that changed, metric deltas")
    p = sub.add_parser("calibrate", help="propose accept/confirm thresholds from a labelled "
                                         "suite")
    _common(p)
    p.add_argument("--max-false-accept", type=float, default=0.05, metavar="RATE",
                   help="largest share of labelled turns routed wrong without asking "
                        "(default 0.05)")
    p.add_argument("--svg", metavar="FILE", help="the trade-off curve as an SVG picture")
    p.add_argument("--json", action="store_true", help="the proposal as JSON")
    p.add_argument("--write", action="store_true",
                   help="write the proposed thresholds into the flow file (numbers only)")
    return {"test": _cmd_test, "calibrate": _cmd_calibrate}


def _play(args: argparse.Namespace, queue: str | None) -> tuple[Any, list[CallRun], float]:
    from ..call import bank_services
    from ..flow import load_linted
    from .expect import unknown_names
    from .runner import RunConfig, run_suite
    from .script import load_suite

    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    backend = getattr(args, "backend", None)  # ivr calibrate plays routing only
    bank_services(backend)  # a bad URL or no token: one line before any call plays
    flow = load_linted(args.flow, layered=False)  # only what lint passes runs
    scripts = load_suite(args.suite)
    if not scripts:
        raise UsageError(f"no call scripts (*.yaml) in {' '.join(args.suite)}")
    problems = unknown_names(scripts, flow)
    if problems:
        raise FlowErrors(problems)
    bar = Progress(len(scripts), sys.stderr, enabled=args.progress or sys.stderr.isatty())
    started = time.perf_counter()
    try:
        runs = run_suite(scripts, RunConfig(args.flow, args.model, queue, backend,
                                            warm=args.warm),
                         lang=args.lang,
                         jobs=args.jobs, on_done=bar.update)
    finally:
        bar.close()
    return flow, runs, time.perf_counter() - started


def _emit(text: str, target: str) -> None:
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:  # report folders are created (CI writes reports/junit.xml into a fresh tree)
        write_output(target, text, make_folders=True)


def _cmd_test(args: argparse.Namespace) -> int:
    from .html import render_html, write_html
    from .junit import junit_xml
    from .metrics import compute_metrics, confusion
    from .summary import (
        compare,
        format_failures,
        format_metrics,
        format_regression,
        load_report,
        nothing_checked,
        suite_json,
    )

    baseline = load_report(args.baseline) if args.baseline else None
    flow, runs, wall = _play(args, args.queue)
    out = sys.stderr if args.json == "-" else sys.stdout
    metrics, conf = compute_metrics(runs, flow), confusion(runs, flow)
    report = suite_json(runs, metrics, conf, flow=args.flow, suite=args.suite)
    regression = compare(report, baseline) if baseline is not None else None
    if regression is not None:
        report["baseline"] = regression.as_dict()
    for run in runs:
        if run.status == "xfail":
            print(f"XFAIL {run.script.call_id} [{run.lang}]: {run.script.xfail}", file=out)
        elif run.status == "unchecked":
            print(f"UNCHECKED {run.script.call_id} [{run.lang}]: the script expects nothing "
                  f"of this call ({run.script.source})", file=out)
        elif run.status != "pass":
            print(format_failures(run), file=out)
    print(format_metrics(metrics, wall), file=out)
    if regression is not None:
        print(format_regression(regression), file=out)
    out.flush()
    if args.json:
        _emit(json.dumps(report, ensure_ascii=False, indent=1) + "\n", args.json)
    if args.junit:
        _emit(junit_xml(runs), args.junit)
    if args.html:
        page = render_html(runs, metrics, conf, flow, suite=args.suite, regression=regression)
        print(f"HTML report: {write_html(args.html, page)}", file=out)
    if any(r.status == "error" for r in runs):
        return 2
    if nothing_checked(runs):
        print(f"ivr test: nothing was checked: none of the {len(runs)} calls has an "
              "expectation (add 'expect:' to the scripts)", file=sys.stderr)
        return 1
    return 0 if all(r.ok for r in runs) else 1


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import calibrate, format_calibration, write_thresholds
    from .svg import curve_svg

    if not 0.0 <= args.max_false_accept < 1.0:
        raise UsageError(f"--max-false-accept is a share in 0..1, not {args.max_false_accept}")
    flow, runs, _ = _play(args, None)
    errors = [r for r in runs if r.status == "error"]
    for r in errors:
        print(f"ivr: error: {r.script.call_id}: {r.error}", file=sys.stderr)
    cal = calibrate(runs, flow, args.max_false_accept)
    o = cal.overall
    if args.json:
        print(json.dumps({"current": {"accept": cal.current.accept,
                                      "confirm": cal.current.confirm,
                                      "margin": cal.current.margin},
                          "proposed": {"accept": o.accept, "confirm": o.confirm,
                                       "samples": o.samples, "negatives": o.negatives,
                                       "note": o.note},
                          "curve": [p.row() for p in cal.curve]}, ensure_ascii=False))
    else:
        print(format_calibration(cal))
    if args.svg:
        _emit(curve_svg([p.row() for p in cal.curve], o.accept or cal.current.accept,
                        cal.current.accept) + "\n", args.svg)
    if args.write:
        if o.accept is None or o.confirm is None:
            raise UsageError(f"nothing written: {o.note}")
        changes = write_thresholds(args.flow, o.accept, o.confirm)
        print(f"{args.flow}: " + ("; ".join(changes) if changes else "already at the proposal"),
              file=sys.stderr if args.json else sys.stdout)
    return 2 if errors else 0
