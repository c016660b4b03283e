"""Commands this room adds to `ivr` (registered by ivr.cli): lint, graph, schema."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from ..textio import write_output

__all__ = ["register"]

Handler = Callable[[argparse.Namespace], int]


def register(sub: Any) -> dict[str, Handler]:
    """Add this room's subcommands to `sub` (argparse subparsers); return their handlers."""
    p = sub.add_parser("lint", help="check a flow file (and its overlays) whole",
                       description="Every problem as file:line:col: level: message. Exit 2 on "
                       "errors, 1 on warnings with --strict, else 0.")
    p.add_argument("flow", help="flow YAML file")
    p.add_argument("--overlay", action="append", default=[], metavar="FILE",
                   help="also check this overlay laid over the flow (repeatable)")
    p.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    p.add_argument("--json", action="store_true", help="one JSON object per finding")
    p.add_argument("-q", "--quiet", action="store_true", help="errors and warnings only")

    p = sub.add_parser("graph", help="draw a flow: mermaid, dot or svg")
    p.add_argument("flow", help="flow YAML file")
    p.add_argument("--format", choices=("mermaid", "dot", "svg"), default="mermaid")
    p.add_argument("--overlay", action="append", default=[], metavar="FILE",
                   help="draw with this overlay laid over, whatever its active window")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")

    p = sub.add_parser("schema", help="the JSON Schema of flow files, for editors")
    p.add_argument("--overlay", action="store_true", help="the overlay schema instead")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--check", nargs="+", metavar="YAML",
                   help="check these files against the schema instead of printing it")
    return {"lint": _cmd_lint, "graph": _cmd_graph, "schema": _cmd_schema}


def _write(text: str, output: str | None) -> None:
    if output:
        write_output(output, text)  # a folder, a missing folder, no permission: one line
    else:
        sys.stdout.write(text)


def _cmd_lint(args: argparse.Namespace) -> int:
    from .lint import lint_flow

    report = lint_flow(args.flow, args.overlay)
    shown = [f for f in report.findings if not (args.quiet and f.level == "note")]
    for finding in shown:
        print(json.dumps(finding.as_dict(), ensure_ascii=False) if args.json else finding)
    if not args.json:
        def n(level: str, count: int) -> str:
            return f"{count} {level}{'' if count == 1 else 's'}"

        counts = ", ".join(n(lv, report.count(lv)) for lv in ("error", "warning", "note"))
        what = ""
        if report.flow is not None:
            what = (f" ({n('node', len(report.flow.nodes))}, "
                    f"{n('intent', len(report.flow.intents))}, "
                    f"languages {', '.join(report.flow.languages)}"
                    + (f"; overlays {', '.join(report.overlays)}" if report.overlays else "")
                    + ")")
        print(f"{args.flow}: {counts}{what}")
    return report.exit_code(strict=args.strict)


def _cmd_graph(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from datetime import UTC, datetime

    from . import load_flow
    from .graph import render
    from .overlay import apply_overlays, load_overlays

    flow = load_flow(args.flow)
    if args.overlay:
        layers = [replace(o, starts=None, ends=None, regions=())  # drawn as if active
                  for o in load_overlays(args.overlay)]
        flow = apply_overlays(flow, layers, now=datetime.now(UTC), region=None)
    _write(render(flow, args.format), args.output)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from .schema import schema_problems, schema_text

    if not args.check:
        _write(schema_text(overlay=args.overlay), args.output)
        return 0
    problems = [p for f in args.check for p in schema_problems(f, overlay=args.overlay)]
    for problem in problems:
        print(problem)
    print(f"{len(args.check)} file(s): {len(problems)} schema problem(s)")
    return 2 if problems else 0
