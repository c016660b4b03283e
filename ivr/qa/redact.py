"""Masking for everything QA prints or writes: call results, inputs, traces.

The engine masks transcripts as it hears them (`ivr.privacy.mask_sensitive`), but the dialog
logs DTMF key by key: a PIN or card number keyed in shows up as one harmless-looking digit per
turn and per trace event. Here a key is shown only when it is menu navigation — it moved the
call to another node — and not part of a *keyed run* (three or more DTMF turns in a row, or
DTMF trace events with no speech or no-input between them). Every other key becomes ``***``:
a key the node does not map is the caller typing something (a number, a PIN), not choosing.
Every text in a result is masked again (masking is idempotent), so a report never depends on
an earlier stage having done it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..call import CallInput, CallResult, Press, Say, Silence, Speak
from ..dialog import Turn
from ..privacy import FULL_MASK, mask_sensitive
from ..types import TraceEvent, TurnKind

__all__ = ["KEYED_RUN", "describe_input", "redact_result", "redact_text"]

KEYED_RUN = 3
"""DTMF keys in a row from this many on are a keyed secret (PIN, card number), masked whole."""

_BREAKS = frozenset({"heard", "no_input", "start"})
"""Trace events that end a run of keys (the caller did something other than keying)."""


def redact_text(text: str) -> str:
    """A caller-derived text made safe to print (card numbers, PINs, codes masked)."""
    return mask_sensitive(text)


def _runs(flags: list[bool], breaks: list[bool]) -> set[int]:
    """Indexes of items in runs of `KEYED_RUN`+ flagged items not separated by a break."""
    masked: set[int] = set()
    run: list[int] = []
    for i, (flag, brk) in enumerate(zip(flags, breaks, strict=True)):
        if flag:
            run.append(i)
        elif brk:
            if len(run) >= KEYED_RUN:
                masked.update(run)
            run = []
    if len(run) >= KEYED_RUN:
        masked.update(run)
    return masked


def _turns(turns: tuple[Turn, ...]) -> tuple[Turn, ...]:
    keyed = [t.decision == TurnKind.DTMF for t in turns]
    hide = _runs(keyed, [not k for k in keyed])
    hide.update(i for i, t in enumerate(turns)
                if t.decision == TurnKind.DTMF and t.confidence < 1.0)
    return tuple(replace(t, heard=f"dtmf:{FULL_MASK}") if i in hide
                 else replace(t, heard=redact_text(t.heard)) for i, t in enumerate(turns))


def _value(value: Any) -> Any:
    return redact_text(value) if isinstance(value, str) else value


def _trace(trace: tuple[TraceEvent, ...]) -> tuple[TraceEvent, ...]:
    keyed = [e.kind == "dtmf" for e in trace]
    hide = _runs(keyed, [e.kind in _BREAKS for e in trace])
    hide.update(i for i, e in enumerate(trace)  # a key that did not move the call on
                if keyed[i] and (i + 1 == len(trace) or trace[i + 1].kind != "enter"))
    out = []
    for i, e in enumerate(trace):
        if i in hide:
            data = tuple((k, FULL_MASK if k == "key" else v) for k, v in e.data)
        else:
            data = tuple((k, _value(v)) for k, v in e.data)
        out.append(replace(e, data=data))
    return tuple(out)


def redact_result(result: CallResult) -> CallResult:
    """The result with every caller-derived text masked and keyed runs hidden."""
    handoff = result.handoff
    if handoff is not None:
        handoff = replace(handoff, heard=tuple(redact_text(h) for h in handoff.heard))
    return replace(result, turns=_turns(result.turns), trace=_trace(result.trace),
                   handoff=handoff)


def describe_input(item: CallInput) -> str:
    """One caller input as a short, safe label: 'say "…"', 'audio x.wav', 'dtmf 1', …"""
    if isinstance(item, Say):
        return f"say {redact_text(item.text)!r}"
    if isinstance(item, Speak):
        return f"audio {Path(item.path).name}"
    if isinstance(item, Press):  # one key is a menu choice; more may be a number or a PIN
        return f"dtmf {item.keys}" if len(item.keys) == 1 else f"dtmf {FULL_MASK}"
    if isinstance(item, Silence):
        return f"silence {item.seconds:g}s"
    return "hang up"
