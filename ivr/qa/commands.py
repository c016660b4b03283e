"""Commands this room adds to `ivr` (registered by ivr.cli)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def register(sub: Any) -> dict[str, Handler]:
    """Add this room's subcommands to `sub` (argparse subparsers); return their handlers."""
    return {}
