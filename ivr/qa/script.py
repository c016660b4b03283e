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
expect:                       # optional: what the whole call must do
  outcome: {type: node, node: card_retained}
```

A turn may carry its own expectations beside its input, e.g.
`- {say: "I lost my card", expect: {intent: card_loss, decision: accept, node: card_loss}}`.
Turn expectations: `node` (where the call is after the turn), `intent` (`null`: nothing may
be routed), `decision` (accept, confirm, reprompt, handoff, dtmf, no_input, yes, no), `slots`
and `max_latency` (seconds, spoken turns). Call expectations: `outcome` (type, node, queue,
reason), `node`, `queue`, `reason`, `path`, `intent` (the intent that routed the call; `null`:
an out-of-scope call nothing may route), `slots` and `max_latency`.

`xfail: "why"` marks a call known to fail today: it is run and counted, but does not fail the
suite (a known failure that starts passing is reported, so the mark can be removed).

A file may instead hold `calls: [ {call: ..., turns: ...}, ... ]`, with a `lang:` beside
`calls:` that every call without its own inherits. A folder is a suite: every `*.yaml` and
`*.yml` file under it, in name order.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..call import CallInput, HangUp, Press, Say, Silence, Speak
from ..errors import FlowError, FlowErrors, FlowProblem
from ..flow.yamlpos import LBool, LDict, LList, LStr, load_located, pos_of
from ..types import LANGS, Lang

__all__ = [
    "CALL_EXPECT_KEYS",
    "DECISIONS",
    "TURN_EXPECT_KEYS",
    "CallScript",
    "load_scripts",
    "load_suite",
    "suggest",
    "suite_files",
]

_TURN_KINDS = ("say", "audio", "dtmf", "silence", "hangup")
_CALL_KEYS = ("call", "lang", "caller", "turns", "expect", "xfail")
TURN_EXPECT_KEYS = ("node", "intent", "decision", "slots", "max_latency")
"""What a turn's `expect:` may say."""
CALL_EXPECT_KEYS = ("outcome", "node", "queue", "reason", "path", "intent", "slots",
                    "max_latency", "request", "spoke", "says")
"""What a call's `expect:` may say."""
_OUTCOME_KEYS = ("type", "node", "queue", "reason")
DECISIONS = ("accept", "confirm", "reprompt", "handoff", "dtmf", "no_input", "yes", "no")
"""Every value a turn's decision can take."""


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
    """Call expectations, e.g. {"outcome": {"type": "node", "node": "card_loss"}}."""
    turn_expect: tuple[Mapping[str, Any], ...] = ()
    """Per input, its own expectations ({} for none); empty when no turn has any."""
    xfail: str | None = None
    """Why the call is known to fail today, if it is."""
    caller: str | None = None
    """The caller's number, as a phone line would give it (authenticate may use it)."""

    def turn_expectations(self, index: int) -> Mapping[str, Any]:
        """The expectations of input `index` (0-based), {} when it has none."""
        return self.turn_expect[index] if index < len(self.turn_expect) else {}

    @property
    def expected_node(self) -> str | None:
        """The business node the script expects the call to reach (`expect: {node: ...}` or
        an outcome of type node), or None: the call's navigation label, recorded with its
        outcome so the supervisor's navigation accuracy counts it."""
        raw = self.expect.get("outcome")
        outcome: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if outcome.get("type", "node") != "node":
            return None
        node = self.expect.get("node", outcome.get("node"))
        return node if isinstance(node, str) and node else None


def suggest(word: str, known: Iterable[str]) -> str:
    """" (did you mean 'x'?)" for the closest known name, or "" when none is close."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[FlowProblem] = []

    def add(self, where: Any, message: str) -> None:
        line, col = pos_of(where)
        self.problems.append(FlowProblem(str(self.path), line, col, message))

    def add_key(self, mapping: LDict, key: str, message: str) -> None:
        pos = mapping.key_pos.get(key)
        line, col = (pos[0], pos[1]) if pos else pos_of(mapping)
        self.problems.append(FlowProblem(str(self.path), line, col, message))

    def turn(self, raw: Any) -> tuple[CallInput | None, dict[str, Any]]:
        if isinstance(raw, LStr) and str(raw) == "hangup":
            return HangUp(), {}
        if isinstance(raw, LDict) and "expect" in raw and len(raw) == 2:
            expect = self.expectations(raw["expect"], TURN_EXPECT_KEYS, "turn")
            rest = LDict({k: v for k, v in raw.items() if k != "expect"})
            rest.line, rest.col = raw.line, raw.col
            return self.turn(rest)[0], expect
        if not isinstance(raw, LDict) or len(raw) != 1:
            self.add(raw, f"a turn is one of {', '.join(_TURN_KINDS)} (e.g. '- say: hello'), "
                          "with an optional 'expect'")
            return None, {}
        return self.turn_input(raw), {}

    def turn_input(self, raw: LDict) -> CallInput | None:
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
                      f"dtmf takes quoted keys like \"12#\"){suggest(str(kind), _TURN_KINDS)}")
        return None

    def expectations(self, raw: Any, known: tuple[str, ...], where: str) -> dict[str, Any]:
        if not isinstance(raw, LDict):
            self.add(raw, f"a {where}'s 'expect' must be a mapping (keys: {', '.join(known)})")
            return {}
        for key, value in raw.items():
            if key not in known:
                self.add_key(raw, key, f"unknown {where} expectation '{key}'{suggest(key, known)}")
            elif key == "outcome":
                self.outcome(value)
            elif key == "max_latency" and not (isinstance(value, int | float) and value > 0):
                self.add(value, "'max_latency' is a number of seconds above 0")
            elif key == "decision" and isinstance(value, LBool):
                self.add(value, f"decision {value.source}: write it quoted (\"{value.source}\"); "
                                "YAML reads a bare yes/no as true/false")
            elif key == "decision" and str(value) not in DECISIONS:
                self.add(value, f"unknown decision '{value}' (one of {', '.join(DECISIONS)})"
                                f"{suggest(str(value), DECISIONS)}")
            elif key in ("slots", "path") and not isinstance(value, LDict | LList):
                self.add(value, f"'{key}' must be a {'mapping' if key == 'slots' else 'list'}")
        return cast(dict[str, Any], _plain(raw))

    def outcome(self, value: Any) -> None:
        if not isinstance(value, LDict):
            self.add(value, "'outcome' must be a mapping of type, node, queue, reason")
            return
        for key in value:
            if key not in _OUTCOME_KEYS:
                self.add_key(value, key, f"unknown outcome key '{key}'"
                                         f"{suggest(key, _OUTCOME_KEYS)}")

    def call(self, raw: Any, index: int, file_lang: Any = None) -> CallScript | None:
        if not isinstance(raw, LDict):
            self.add(raw, "a call must be a mapping with 'turns'")
            return None
        for key in raw:
            if key not in _CALL_KEYS:
                self.add_key(raw, key, f"unknown call key '{key}'{suggest(key, _CALL_KEYS)}")
        lang = raw.get("lang", file_lang)
        if lang is not None and str(lang) not in LANGS:
            self.add(lang, f"unknown language '{lang}' (known: {', '.join(LANGS)})")
            lang = None
        turns = raw.get("turns")
        if not isinstance(turns, LList) or not turns:
            self.add(raw, "'turns' must be a non-empty list")
            return None
        read = [self.turn(x) for x in turns]
        kept = [(inp, exp) for inp, exp in read if inp is not None]
        default_id = self.path.stem if index == 0 else f"{self.path.stem}#{index + 1}"
        expect = raw.get("expect")
        xfail = raw.get("xfail")
        if xfail is not None and not (isinstance(xfail, LStr) and str(xfail).strip()):
            self.add(xfail, "'xfail' takes the reason the call fails today, as text")
        return CallScript(
            call_id=str(raw.get("call") or default_id),
            lang=cast(Lang, str(lang)) if lang is not None else None,
            inputs=tuple(inp for inp, _ in kept), source=f"{self.path}:{raw.line}",
            expect=self.expectations(expect, CALL_EXPECT_KEYS, "call") if expect else {},
            turn_expect=tuple(exp for _, exp in kept) if any(e for _, e in kept) else (),
            xfail=str(xfail) if isinstance(xfail, LStr) and str(xfail).strip() else None,
            caller=self.caller(raw.get("caller")))

    def caller(self, value: Any) -> str | None:
        if value is None:
            return None
        if not (isinstance(value, LStr) and str(value).isdigit() and 5 <= len(value) <= 15):
            self.add(value, "'caller' is the caller's number as digits (quoted), e.g. "
                            "\"821012345678\"")
            return None
        return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    kind = type(value).__name__
    if kind == "LNone":
        return None
    if kind == "LBool":
        return bool(value)
    if isinstance(value, float):
        return float(value)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _read(p: Path) -> tuple[list[CallScript], list[FlowProblem]]:
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
    return scripts, reader.problems


def load_scripts(path: str | Path) -> list[CallScript]:
    """Read the calls in one script file.

    Raises:
        FlowError / FlowErrors: unreadable YAML, or every problem with file:line:col.
    """
    scripts, problems = _read(Path(path))
    if problems:
        raise FlowErrors(problems)
    return scripts


def suite_files(paths: Iterable[str | Path]) -> list[Path]:
    """The script files of a suite: files as given, folders expanded to their YAML files."""
    out: list[Path] = []
    for name in paths:
        p = Path(name)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml")))
        else:
            out.append(p)
    return list(dict.fromkeys(out))


def load_suite(paths: Iterable[str | Path]) -> list[CallScript]:
    """Every call of a suite (files and folders), checking all files before failing.

    Raises:
        FlowErrors: every problem in every file, and call ids used twice.
    """
    scripts: list[CallScript] = []
    problems: list[FlowProblem] = []
    for f in suite_files(paths):
        if f.suffix not in (".yaml", ".yml") and f.exists():
            problems.append(FlowProblem(str(f), 1, 1, "not a call script (.yaml); to play a "
                                        "bare recording use `ivr replay`"))
            continue
        try:
            found, trouble = _read(f)
        except FlowError as exc:
            problems.append(exc.problem)
            continue
        scripts.extend(found)
        problems.extend(trouble)
    seen: dict[str, str] = {}
    for s in scripts:
        if s.call_id in seen:
            path, _, line = s.source.rpartition(":")
            problems.append(FlowProblem(path, int(line or 0), 1, f"call id '{s.call_id}' is "
                                        f"used twice (first at {seen[s.call_id]})"))
        seen.setdefault(s.call_id, s.source)
    if problems:
        raise FlowErrors(problems)
    return scripts
