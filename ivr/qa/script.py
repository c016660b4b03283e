"""Call scripts: a recorded or written call as YAML turns, with what QA expects of it.

```yaml
call: zh-card-retained        # id; defaults to the file name
lang: zh
turns:
  - say: 我的卡被取款机吞了     # typed caller text
  - audio: balance_ko.wav     # a WAV, relative to this file
  - dtmf: "1"                 # keys
  - silence: 5                # no input
  - hangup
expect:                       # optional
  outcome: {type: node, node: card_retained}
```

A file may instead hold `calls: [ {call: ..., turns: ...}, ... ]`, with a `lang:` beside
`calls:` that every call without its own inherits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..call import CallInput, HangUp, Press, Say, Silence, Speak
from ..errors import FlowErrors, FlowProblem
from ..flow.yamlpos import LDict, LList, LStr, load_located, pos_of
from ..types import LANGS, Lang

__all__ = ["CallScript", "load_scripts"]

_TURN_KINDS = ("say", "audio", "dtmf", "silence", "hangup")


@dataclass(frozen=True)
class CallScript:
    """One call to replay."""

    call_id: str
    """Id shown in reports."""
    lang: Lang | None
    """Caller language (None: take the command line's)."""
    inputs: tuple[CallInput, ...]
    """Caller turns."""
    source: str
    """File (and line) it came from."""
    expect: dict[str, Any] = field(default_factory=dict)
    """Expectations, e.g. {"outcome": {"type": "node", "node": "card_loss"}}."""


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[FlowProblem] = []

    def add(self, where: Any, message: str) -> None:
        line, col = pos_of(where)
        self.problems.append(FlowProblem(str(self.path), line, col, message))

    def turn(self, raw: Any) -> CallInput | None:
        if isinstance(raw, LStr) and str(raw) == "hangup":
            return HangUp()
        if not isinstance(raw, LDict) or len(raw) != 1:
            self.add(raw, f"a turn is one of {', '.join(_TURN_KINDS)} (e.g. '- say: hello')")
            return None
        kind, value = next(iter(raw.items()))
        if kind == "say" and isinstance(value, LStr):
            return Say(str(value))
        if kind == "audio" and isinstance(value, LStr):
            audio = Path(str(value))
            return Speak(str(audio if audio.is_absolute() else self.path.parent / audio))
        if kind == "dtmf" and str(value) and all(k in "0123456789*#" for k in str(value)):
            return Press(str(value))
        if kind == "silence" and isinstance(value, int | float) and value >= 0:
            return Silence(float(value))
        if kind == "hangup":
            return HangUp()
        self.add(raw, f"bad turn '{kind}: {value}' (turns: {', '.join(_TURN_KINDS)}; "
                      "dtmf takes quoted keys like \"12#\")")
        return None

    def call(self, raw: Any, index: int, file_lang: Any = None) -> CallScript | None:
        if not isinstance(raw, LDict):
            self.add(raw, "a call must be a mapping with 'turns'")
            return None
        lang = raw.get("lang", file_lang)
        if lang is not None and str(lang) not in LANGS:
            self.add(lang, f"unknown language '{lang}' (known: {', '.join(LANGS)})")
            lang = None
        turns = raw.get("turns")
        if not isinstance(turns, LList) or not turns:
            self.add(raw, "'turns' must be a non-empty list")
            return None
        inputs = [t for t in (self.turn(x) for x in turns) if t is not None]
        default_id = self.path.stem if index == 0 else f"{self.path.stem}#{index + 1}"
        expect = raw.get("expect")
        return CallScript(
            call_id=str(raw.get("call") or default_id),
            lang=cast(Lang, str(lang)) if lang is not None else None,
            inputs=tuple(inputs), source=f"{self.path}:{raw.line}",
            expect=_plain(expect) if isinstance(expect, LDict) else {})


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return None if not value and type(value).__name__ == "LNone" else value


def load_scripts(path: str | Path) -> list[CallScript]:
    """Read the calls in one script file.

    Raises:
        FlowError / FlowErrors: unreadable YAML, or every problem with file:line:col.
    """
    p = Path(path)
    root, problems = load_located(p)
    reader = _Reader(p)
    reader.problems.extend(problems)
    file_lang = None
    if isinstance(root, LDict) and "calls" in root:
        items = root["calls"] if isinstance(root["calls"], LList) else LList()
        file_lang = root.get("lang")
        if not items:
            reader.add(root, "'calls' must be a non-empty list of calls")
    else:
        items = LList([root])
    scripts = [s for s in (reader.call(raw, i, file_lang) for i, raw in enumerate(items))
               if s is not None]
    if reader.problems:
        raise FlowErrors(reader.problems)
    return scripts
