"""Steps inside a service node: collect, authenticate, request, say, branch (docs/flow-format.md).

Read from located YAML with every problem at its file:line:col, like the rest of the flow. The
values are plain and frozen; `ivr.steps` runs them, `ivr.flow.stepcheck` checks them whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..types import Lang
from .checks import Checker, show, suggest
from .yamlpos import LBool, LDict, LInt, LList, LStr

__all__ = [
    "AUTH_FACTS", "COLLECT_KINDS", "STEP_KINDS", "Authenticate", "Branch", "Collect",
    "Condition", "Request", "Say", "Step", "parse_steps", "template_names",
]

COLLECT_KINDS = ("digits", "amount", "date", "phone", "id", "text")
AUTH_FACTS = ("caller_number", "card_tail", "birth_date", "pin")
"""What `authenticate` may send to the bank's `verify` operation."""
STEP_KINDS = ("collect", "authenticate", "request", "say", "branch")
_COLLECT_KEYS = ("slot", "kind", "length", "min", "max", "terminator", "prompt", "retries",
                 "confirm", "secret")
_AUTH_KEYS = ("using", "max_failures", "on_fail")
_REQUEST_KEYS = ("op", "with", "into", "needs_auth")
_BRANCH_KEYS = ("if", "then", "else")
_VAR = r"[A-Za-z_][A-Za-z0-9_]*"
_TEMPLATE_RE = re.compile(rf"\{{({_VAR})(?::([a-z]+))?\}}")
FORMATS = ("amount", "date", "count", "list", "digits", "text")
"""How a `{name:format}` placeholder is spoken (ivr.steps.speak)."""
_COND_RE = re.compile(rf"\s*(not\s+)?({_VAR})\s*(?:(==|!=|<=|>=|<|>)\s*(\S.*?))?\s*")


@dataclass(frozen=True)
class Collect:
    """Ask for a value and take it by keypad or speech."""

    slot: str
    """Variable the value goes into."""
    kind: str
    """digits | amount | date | phone | id | text (a place or a description, by voice)."""
    min_len: int
    """Fewest digits accepted (digits, phone, id)."""
    max_len: int
    """Most digits accepted."""
    terminator: str
    """DTMF key that ends keyed input early ("#"), or "" for none."""
    prompt: Mapping[Lang, str]
    """The question."""
    retries: int = 2
    """Invalid or missing answers asked again before handing off."""
    confirm: bool = False
    """Read the value back and ask yes or no (never for a secret)."""
    secret: bool = False
    """A PIN or code: never echoed, never stored unmasked, sent only to `authenticate`."""
    line: int = 0
    """Where it is written."""


@dataclass(frozen=True)
class Authenticate:
    """Verify the caller with the bank from collected facts."""

    using: tuple[str, ...]
    """Facts sent to `verify` (caller_number, card_tail, birth_date, pin)."""
    max_failures: int = 3
    """Failed verifications after which the caller goes to `on_fail` (or a human)."""
    on_fail: str | None = None
    """Node after too many failures; None: hand off with reason auth_failed."""
    line: int = 0
    """Where it is written."""


@dataclass(frozen=True)
class Request:
    """One call to a bank service."""

    op: str
    """Operation name (e.g. freeze_card)."""
    payload: Mapping[str, str]
    """Field -> template ("{card_tail}") or literal text."""
    into: Mapping[str, str]
    """Variable -> field of the reply."""
    needs_auth: bool = False
    """Must run only after `authenticate` succeeded (implied by any use of customer_id)."""
    line: int = 0
    """Where it is written."""


@dataclass(frozen=True)
class Say:
    """Speak a text with variables."""

    text: Mapping[Lang, str]
    """Per language, with `{name}` or `{name:format}` placeholders."""
    line: int = 0
    """Where it is written."""


@dataclass(frozen=True)
class Condition:
    """`name`, `not name`, or `name OP value` (OP: == != < > <= >=); no eval."""

    var: str
    """Variable tested."""
    op: str = "truthy"
    """truthy | falsy | == | != | < | > | <= | >=."""
    value: str | float | bool | None = None
    """Right-hand side (number, true/false, or text)."""


@dataclass(frozen=True)
class Branch:
    """Go to another node depending on a variable."""

    cond: Condition
    """The test."""
    then: str
    """Node when it holds."""
    otherwise: str | None = None
    """Node when it does not; None: go on with the next step."""
    line: int = 0
    """Where it is written."""


Step = Collect | Authenticate | Request | Say | Branch


@dataclass(frozen=True)
class _Ctx:
    c: Checker
    nid: str
    langs: tuple[Lang, ...]
    seen: list[str] = field(default_factory=list)


def template_names(text: str) -> list[tuple[str, str | None]]:
    """(variable, format or None) for every placeholder in a text."""
    return [(m.group(1), m.group(2)) for m in _TEMPLATE_RE.finditer(text)]


def parse_condition(text: str) -> Condition | None:
    """A branch condition, or None if it is not one of the allowed forms."""
    m = _COND_RE.fullmatch(text)
    if m is None or (m.group(1) and m.group(3)):
        return None
    neg, var, op, raw = m.groups()
    if op is None:
        return Condition(var, "falsy" if neg else "truthy")
    value: str | float | bool
    if raw in ("true", "false"):
        value = raw == "true"
    else:
        try:
            value = float(raw)
        except ValueError:
            value = raw.strip("'\"")
    return Condition(var, op, value)


def _int(x: _Ctx, raw: LDict, key: str, default: int, lo: int, hi: int, what: str) -> int:
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, LInt) or isinstance(value, LBool) or not lo <= int(value) <= hi:
        x.c.add(value, f"{what}: '{key}' must be a whole number in [{lo}, {hi}], "
                       f"got {show(value)}", raw)
        return default
    return int(value)


def _bool(x: _Ctx, raw: LDict, key: str, what: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool | LBool):
        x.c.add(value, f"{what}: '{key}' must be true or false, got {show(value)}", raw)
        return False
    return bool(value)


def _collect(x: _Ctx, raw: LDict, line: int) -> Collect:
    what = f"node '{x.nid}' collect"
    x.c.unknown_keys(raw, _COLLECT_KEYS, what)
    slot = x.c.string(raw, "slot", what) or "value"
    kind = x.c.string(raw, "kind", what, required=False) or "digits"
    if kind not in COLLECT_KINDS:
        x.c.add(raw.get("kind"), f"{what}: unknown kind '{kind}' (one of "
                                 f"{', '.join(COLLECT_KINDS)}){suggest(kind, COLLECT_KINDS)}")
    length = _int(x, raw, "length", 0, 1, 32, what)
    lo = _int(x, raw, "min", length or 1, 1, 32, what)
    hi = _int(x, raw, "max", length or 32, 1, 32, what)
    if lo > hi:
        x.c.add(raw.get("min", raw), f"{what}: 'min' {lo} is above 'max' {hi}")
    term = x.c.string(raw, "terminator", what, required=False) or ""
    if term and term not in ("#", "*"):
        x.c.add(raw.get("terminator"), f"{what}: 'terminator' must be '#' or '*', got {term!r}")
    secret = _bool(x, raw, "secret", what)
    confirm = _bool(x, raw, "confirm", what)
    if secret and confirm:
        x.c.add(raw.get("confirm"), f"{what}: a secret slot '{slot}' is never read back; "
                                    "drop 'confirm'")
    return Collect(slot, kind, lo, hi, term,
                   x.c.per_lang(raw.get("prompt"), x.langs, f"{what} prompt", raw),
                   _int(x, raw, "retries", 2, 0, 5, what), confirm and not secret, secret, line)


def _authenticate(x: _Ctx, raw: LDict, line: int) -> Authenticate:
    what = f"node '{x.nid}' authenticate"
    x.c.unknown_keys(raw, _AUTH_KEYS, what)
    using = x.c.ids(raw.get("using"), f"{what}: 'using'")
    if not using:
        x.c.add(raw.get("using", raw), f"{what}: 'using' must list at least one of "
                                       f"{', '.join(AUTH_FACTS)}")
    items = raw.get("using")
    for k, fact in enumerate(using):
        if fact not in AUTH_FACTS:
            where = items[k] if isinstance(items, LList) and k < len(items) else raw
            x.c.add(where, f"{what}: unknown fact '{fact}' (one of {', '.join(AUTH_FACTS)})"
                           f"{suggest(fact, AUTH_FACTS)}")
    return Authenticate(using, _int(x, raw, "max_failures", 3, 1, 10, what),
                        x.c.string(raw, "on_fail", what, required=False), line)


def _text_map(x: _Ctx, raw: Any, what: str, where: LDict) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, LDict):
        x.c.add(raw, f"{what} must be a mapping, got {show(raw)}", where)
        return {}
    out = {}
    for key, value in raw.items():
        if isinstance(value, LStr | LInt) and not isinstance(value, LBool):
            out[key] = str(value)
        else:
            x.c.add(value, f"{what} '{key}' must be text or a number, got {show(value)}", raw)
    return out


def _request(x: _Ctx, raw: LDict, line: int) -> Request:
    what = f"node '{x.nid}' request"
    x.c.unknown_keys(raw, _REQUEST_KEYS, what)
    op = x.c.string(raw, "op", what) or ""
    if op and not re.fullmatch(r"[a-z][a-z0-9_]*", op):
        x.c.add(raw.get("op"), f"{what}: operation '{op}' must be lower_snake_case")
    return Request(op, _text_map(x, raw.get("with"), f"{what} 'with'", raw),
                   _text_map(x, raw.get("into"), f"{what} 'into'", raw),
                   _bool(x, raw, "needs_auth", what), line)


def _branch(x: _Ctx, raw: LDict, line: int) -> Branch:
    what = f"node '{x.nid}' branch"
    x.c.unknown_keys(raw, _BRANCH_KEYS, what)
    text = x.c.string(raw, "if", what) or ""
    cond = parse_condition(text)
    if cond is None:
        x.c.add(raw.get("if"), f"{what}: condition {text!r} is not 'name', 'not name' or "
                               "'name OP value' (OP one of == != < > <= >=)")
        cond = Condition("_")
    return Branch(cond, x.c.string(raw, "then", what) or "",
                  x.c.string(raw, "else", what, required=False), line)


def _step(x: _Ctx, item: Any) -> Step | None:
    if not isinstance(item, LDict) or len(item) != 1:
        x.c.add(item, f"node '{x.nid}' steps: each step is a mapping with one of "
                      f"{', '.join(STEP_KINDS)}, got {show(item)}")
        return None
    (kind, body), = item.items()
    pos = item.key_pos[kind]
    if kind not in STEP_KINDS:
        x.c.add_at(pos, f"node '{x.nid}': unknown step '{kind}' (one of "
                        f"{', '.join(STEP_KINDS)}){suggest(kind, STEP_KINDS)}")
        return None
    if kind == "say":
        return Say(x.c.per_lang(body, x.langs, f"node '{x.nid}' say", item), pos.line)
    body = x.c.mapping(body, f"node '{x.nid}' {kind}", item)
    if kind == "collect":
        return _collect(x, body, pos.line)
    if kind == "authenticate":
        return _authenticate(x, body, pos.line)
    return _request(x, body, pos.line) if kind == "request" else _branch(x, body, pos.line)


def parse_steps(c: Checker, nid: str, raw: Any, langs: tuple[Lang, ...]) -> tuple[Step, ...]:
    """A node's `steps:` list, every problem collected in `c`."""
    if raw is None:
        return ()
    if not isinstance(raw, LList):
        c.add(raw, f"node '{nid}': 'steps' must be a list, got {show(raw)}")
        return ()
    x = _Ctx(c, nid, langs)
    return tuple(s for s in (_step(x, item) for item in raw) if s is not None)
