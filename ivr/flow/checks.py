"""The checker's vocabulary: read located YAML values, collect every problem with its position.

YAML 1.1 reads some unquoted text as something else — `no` as false, `12:30` as 750 (base 60),
`0755` as 493 (octal). Where text was meant, the message says what was written, what YAML made
of it, and to quote it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from rapidfuzz import fuzz, process

from ..errors import FlowProblem
from ..types import Lang
from .yamlpos import LBool, LDict, LFloat, LInt, LList, LNone, Located, LStr, Pos

__all__ = ["Checker", "bad_id", "escape", "read_as", "show", "suggest"]

_OCTAL = re.compile(r"[-+]?0[0-7_]+")
_ID_PUNCT = "_-."
"""Besides letters, marks and digits of any script, what a plain id may contain."""


def escape(text: str) -> str:
    """`text` with every invisible, format, control, separator or bidi character shown as
    \\uXXXX, so a message never hides one or lets one reorder the line."""
    def shown(ch: str) -> str:
        if unicodedata.category(ch)[0] not in "CZ" or ch == " ":
            return ch
        return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"

    return "".join(shown(ch) for ch in text)


def bad_id(name: str) -> str | None:
    """Why `name` is not a plain id (letters, marks and digits of any script, `_`, `-`, `.`;
    in NFC), or None. Invisible and bidi characters make two ids look alike or one look like
    another; the message names the first such character by code point."""
    for ch in name:
        if unicodedata.category(ch)[0] not in "LMN" and ch not in _ID_PUNCT:
            what = unicodedata.name(ch, "") or f"({unicodedata.category(ch)})"
            return f"id '{escape(name)}' contains U+{ord(ch):04X} {what}: ids are plain names " \
                   "(letters, digits, '_', '-', '.')"
    if unicodedata.normalize("NFC", name) != name:
        return f"id '{escape(name)}' is not in Unicode NFC form: write its accents composed"
    return None


def suggest(word: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest known name, or ''."""
    best = process.extractOne(word, list(known), scorer=fuzz.ratio, score_cutoff=60)
    return f" (did you mean '{escape(best[0])}'?)" if best else ""


def show(value: Any, limit: int = 40) -> str:
    """A value for a one-line message: short, never a whole structure."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, LNone) or value is None:
        return "nothing"
    if isinstance(value, LBool):
        return repr(value.source or ("true" if value else "false"))
    if isinstance(value, LInt):
        return str(int(value))
    if isinstance(value, LFloat):
        return repr(float(value))
    text = repr(str(value))
    return text if len(text) <= limit else text[:limit - 4] + "...'"


def read_as(value: Any) -> str:
    """What YAML made of a value that should have been text, and what to do about it."""
    src = value.source if isinstance(value, Located) else ""
    if isinstance(value, LBool):
        word = "true" if value else "false"
        return f"'{src}' was read as the boolean {word} (YAML 1.1); quote it"
    if isinstance(value, LInt | LFloat):
        how = ""
        if ":" in src:
            how = " (YAML 1.1 base 60)"
        elif _OCTAL.fullmatch(src):
            how = " (YAML 1.1 octal)"
        elif src.lower().lstrip("+-").startswith(("0x", "0b")):
            how = " (hexadecimal)" if "x" in src.lower() else " (binary)"
        return f"'{src}' was read as the number {show(value)}{how}; quote it"
    if isinstance(value, LNone) or value is None:
        return "it is empty"
    return f"got {show(value)}"


class Checker:
    """Collects problems (each at a file, line and column) while reading one flow; messages
    show invisible and bidi characters escaped (see `escape`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[FlowProblem] = []

    def add(self, where: Any, message: str, default: Any = None) -> None:
        """A problem at a located value (or at `default` if `where` has no position)."""
        for cand in (where, default):
            if isinstance(cand, Located) and cand.line:
                self.problems.append(FlowProblem(cand.file or self.path, cand.line, cand.col,
                                                 escape(message)))
                return
        self.problems.append(FlowProblem(self.path, 1, 1, escape(message)))

    def add_at(self, pos: Pos, message: str) -> None:
        """A problem at a key's position."""
        self.problems.append(FlowProblem(pos.file or self.path, pos.line, pos.col,
                                         escape(message)))

    def mapping(self, value: Any, what: str, parent: Any = None) -> LDict:
        """`value` if it is a mapping, else an empty one (and a problem)."""
        if isinstance(value, LDict):
            return value
        if value is None:
            if parent is not None:
                self.add(parent, f"{what} is missing")
        else:
            self.add(value, f"{what} must be a mapping, got {show(value)}")
        return LDict()

    def unknown_keys(self, d: LDict, allowed: Iterable[str], what: str) -> None:
        """A problem for every key of `d` not in `allowed`, with the closest one suggested."""
        allowed = tuple(allowed)
        for key, pos in d.key_pos.items():
            if key not in allowed:
                self.add_at(pos, f"unknown key '{key}' in {what}{suggest(key, allowed)}")

    def text(self, value: Any, what: str, where: Any = None) -> str | None:
        """Non-empty text, or None (and a problem saying what YAML read instead)."""
        if isinstance(value, LStr) and value.strip():
            return str(value)
        if isinstance(value, LStr | LNone) or value is None:
            self.add(value, f"{what} is empty", where)
        else:
            self.add(value, f"{what} must be text: {read_as(value)}", where)
        return None

    def string(self, d: LDict, key: str, what: str, required: bool = True) -> str | None:
        """d[key] as text; a problem if it is missing (when required) or not text."""
        value = d.get(key)
        if value is None or isinstance(value, LNone):
            if required:
                self.add(value if value is not None else d, f"{what}: '{key}' is missing")
            return None
        return self.text(value, f"{what}: '{key}'", d)

    def per_lang(self, value: Any, langs: tuple[Lang, ...], what: str,
                 where: Any) -> dict[Lang, str]:
        """language -> text, one for every language of the flow."""
        out: dict[Lang, str] = {}
        if not isinstance(value, LDict):
            self.add(value if value is not None else where,
                     f"{what} is missing" if value is None else f"{what} must map language to text")
            return out
        for lang in langs:
            text = value.get(lang)
            if text is None or (isinstance(text, LStr) and not text.strip()) \
                    or isinstance(text, LNone):
                self.add(value, f"{what}: missing text for language '{lang}'")
                continue
            good = self.text(text, f"{what} '{lang}'", value)
            if good is not None:
                out[lang] = good
        return out

    def phrase_lists(self, value: Any, langs: tuple[Lang, ...], what: str,
                     where: Any) -> dict[Lang, tuple[str, ...]]:
        """language -> non-empty list of phrases, for every language of the flow."""
        out: dict[Lang, tuple[str, ...]] = {}
        if not isinstance(value, LDict):
            self.add(value if value is not None else where, f"{what} is missing or not a mapping")
            return out
        for lang in langs:
            items = value.get(lang)
            if not isinstance(items, LList) or not items:
                self.add(value, f"{what}: no phrases for language '{lang}'")
                continue
            good = []
            for item in items:
                if isinstance(item, LStr) and item.strip():
                    good.append(str(item))
                elif isinstance(item, LStr | LNone):
                    self.add(item, f"{what}: empty phrase in '{lang}'", items)
                else:
                    self.add(item, f"{what}: {read_as(item)}", items)
            out[lang] = tuple(good)
        return out

    def number(self, d: LDict, key: str, default: float, lo: float, hi: float,
               integer: bool = False) -> float:
        """d[key] as a number in [lo, hi] (default if absent)."""
        if key not in d:
            return default
        value = d[key]
        ok = isinstance(value, LInt | LFloat)
        if ok and integer and not float(value).is_integer():
            ok = False
        if not ok or not lo <= float(value) <= hi:
            kind = "an integer" if integer else "a number"
            self.add(value, f"settings: '{key}' must be {kind} in [{lo:g}, {hi:g}], "
                            f"got {show(value)}", d)
            return default
        return float(value)

    def ids(self, value: Any, what: str) -> tuple[str, ...]:
        """A list of names (intent ids, files)."""
        if value is None:
            return ()
        if not isinstance(value, LList):
            self.add(value, f"{what} must be a list, got {show(value)}")
            return ()
        return tuple(t for t in (self.text(item, f"{what} item", value) for item in value) if t)
