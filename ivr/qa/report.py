"""Printing calls: the replay JSON contract and a readable trace for people.

Everything printed here goes through `redact_result` first: transcripts are masked again and
keyed digit runs (PINs, card numbers typed on the keypad) are hidden.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..call import CallResult
from .expect import check_expect
from .redact import redact_result

__all__ = ["call_json", "format_call", "format_summary", "met_expectations"]


def call_json(result: CallResult) -> dict[str, Any]:
    """The `ivr replay --json` contract: call, turns, path, outcome."""
    result = redact_result(result)
    return {"call": result.call_id, "turns": [t.as_dict() for t in result.turns],
            "path": list(result.path), "outcome": result.outcome.as_dict()}


def format_call(result: CallResult, *, verbose: bool = False) -> str:
    """A readable account of one call: each turn, the path and the outcome."""
    result = redact_result(result)
    lines = [f"call {result.call_id} [{result.lang}]"]
    for t in result.turns:
        heard = t.heard if t.heard else "(no input)"
        intent = t.intent or "-"
        lines.append(f"  heard {heard!r:<34} -> {t.decision:<8} {intent:<20} "
                     f"{t.confidence:.2f}  at {t.node}")
    if verbose:
        lines.extend(f"    {event}" for event in result.trace)
    lines.append(f"  path    {' > '.join(result.path)}")
    lines.append(f"  outcome {result.outcome}")
    return "\n".join(lines)


def met_expectations(result: CallResult, expect: dict[str, Any]) -> list[str]:
    """What the call did differently from its script's call-level `expect` (empty when all
    met). Turn expectations need the script: see `ivr.qa.expect.check_call`."""
    return [str(f) for f in check_expect(redact_result(result), expect)]


def format_summary(results: Sequence[CallResult], failures: int, checked: int) -> str:
    """One line: how the calls ended, and expectations met."""
    kinds = Counter(r.outcome.type for r in results)
    audio = sum(r.audio_seconds for r in results)
    decode = sum(r.decode_seconds for r in results)
    rtf = f", decode RTF {decode / audio:.3f}" if audio else ""
    return (f"{len(results)} calls: {kinds['node']} reached a business node, "
            f"{kinds['handoff']} handed to a human, {kinds['hangup']} hung up; "
            f"expectations met {checked - failures}/{checked}{rtf}")
