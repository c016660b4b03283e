"""Commands this room adds to `ivr` (registered by ivr.cli)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def register(sub: Any) -> dict[str, Handler]:
    """Add this room's subcommands to `sub` (argparse subparsers); return their handlers."""
    p = sub.add_parser("lint", help="check a flow file")
    p.add_argument("flow", help="flow YAML file")
    return {"lint": _cmd_lint}


def _cmd_lint(args: argparse.Namespace) -> int:
    from . import load_flow

    flow = load_flow(args.flow)
    print(f"{args.flow}: ok ({len(flow.nodes)} nodes, {len(flow.intents)} intents, "
          f"languages {', '.join(flow.languages)})")
    return 0
