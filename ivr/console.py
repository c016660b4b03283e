"""The terminal as the caller's side of a call: prompts and the call's end as text lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from .call import CallResult, Prompt

__all__ = ["show_end", "show_prompts"]


def show_prompts(prompts: Sequence[Prompt], out: TextIO) -> None:
    """The engine's prompts as text lines (`ivr> …`)."""
    for prompt in prompts:
        print(f"ivr> {prompt.text}", file=out, flush=True)


def show_end(result: CallResult, out: TextIO) -> None:
    """How the call ended, in one line."""
    print(f"-- {result.outcome}; path {' > '.join(result.path)}", file=out, flush=True)
