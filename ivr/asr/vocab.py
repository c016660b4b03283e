"""A model's vocabulary, and phrase grammars split into words the model can output.

Vosk turns a grammar into a small bigram language model over the grammar's words and silently
drops the words its model lacks. Here every phrase is split into known words first (the small
Korean model spells its output in morpheme-sized pieces, so 분실했어요 becomes 분실 했어요), and
the words that cannot be spelled are reported, never dropped silently.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["GrammarWords", "grammar_words", "read_vocabulary", "segment", "spell_digits"]

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_FST_MAGIC = 2125659606
_SYMS_MAGIC = 2125658996
_LONGEST_PIECE = 12


def _read_string(buf: memoryview, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<i", buf, pos)
    return bytes(buf[pos + 4:pos + 4 + n]).decode("utf-8", "replace"), pos + 4 + n


@lru_cache(maxsize=4)
def read_vocabulary(model_dir: Path) -> frozenset[str]:
    """The words a Vosk model can output, from words.txt or the symbol table inside Gr.fst.

    Returns an empty set when the model carries neither (then grammar words go unchecked).
    """
    words_txt = model_dir / "graph" / "words.txt"
    if words_txt.is_file():
        return frozenset(line.split()[0] for line in words_txt.read_text("utf-8").splitlines()
                         if line.strip())
    gr = model_dir / "graph" / "Gr.fst"
    if not gr.is_file():
        return frozenset()
    data = memoryview(gr.read_bytes())
    try:
        if struct.unpack_from("<i", data, 0)[0] != _FST_MAGIC:
            return frozenset()
        pos = 4
        for _ in range(2):  # fst type, arc type
            _, pos = _read_string(data, pos)
        _version, flags = struct.unpack_from("<ii", data, pos)
        pos += 8 + 8 + 8 * 3  # properties, start, states, arcs
        if not flags & 1 or struct.unpack_from("<i", data, pos)[0] != _SYMS_MAGIC:
            return frozenset()
        _, pos = _read_string(data, pos + 4)
        _available, size = struct.unpack_from("<qq", data, pos)
        pos += 16
        words = []
        for _ in range(size):
            word, pos = _read_string(data, pos)
            pos += 8
            words.append(word)
    except (struct.error, UnicodeDecodeError):
        return frozenset()
    return frozenset(words)


@dataclass(frozen=True)
class GrammarWords:
    """A grammar's phrases split into words, and which of those the model lacks."""

    phrases: tuple[str, ...]
    """Phrases made only of known words (empty phrases dropped, duplicates once)."""
    unknown: tuple[str, ...]
    """Words the model cannot output, sorted."""
    dropped: tuple[str, ...] = ()
    """Phrases that lost at least one word, as written (so a designer can reword them)."""


def segment(word: str, vocabulary: frozenset[str]) -> tuple[str, ...] | None:
    """Split a word into the fewest known words (조회해 -> 조회 해), or None if it can't be."""
    if word in vocabulary:
        return (word,)
    n = len(word)
    best: list[tuple[str, ...] | None] = [None] * (n + 1)
    best[0] = ()
    for end in range(1, n + 1):
        for start in range(max(0, end - _LONGEST_PIECE), end):
            prev = best[start]
            piece = word[start:end]
            if prev is not None and piece in vocabulary:
                cand = (*prev, piece)
                if best[end] is None or len(cand) < len(best[end] or ()):
                    best[end] = cand
    return best[n]


_DIGITS = re.compile(r"[0-9]+")
_DIGIT_NAMES: dict[str, tuple[str, ...]] = {
    "ko": ("영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"),
    "zh": ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九"),
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
}
_EN_TENS = ("", "ten", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
            "ninety")
_EN_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
             "seventeen", "eighteen", "nineteen")


def _say_number(digits: str, lang: str) -> str:
    """How a caller says a digit string: one to two digits as a number (24 -> 이십사,
    二十四, twenty four), longer ones (card tails, 1234) digit by digit."""
    names = _DIGIT_NAMES[lang]
    if len(digits) > 2 or (len(digits) == 2 and digits[0] == "0"):
        return " ".join(names[int(d)] for d in digits)
    n = int(digits)
    if n < 10:
        return names[n]
    tens, ones = divmod(n, 10)
    if lang == "en":
        if tens == 1:
            return _EN_TEENS[ones]
        return _EN_TENS[tens] + (f" {names[ones]}" if ones else "")
    ten = "십" if lang == "ko" else "十"
    return (names[tens] if tens > 1 else "") + ten + (names[ones] if ones else "")


def spell_digits(text: str, lang: str | None) -> str:
    """`text` with its digit strings written as words in `lang` (a speech model's
    vocabulary has no digits: 끝자리 1234 -> 끝자리 일 이 삼 사, 24시간 -> 이십사 시간)."""
    if lang not in _DIGIT_NAMES:
        return text
    return _DIGITS.sub(lambda m: f" {_say_number(m.group(), lang)} ", text)


def grammar_words(phrases: Iterable[str], vocabulary: frozenset[str],
                  lang: str | None = None) -> GrammarWords:
    """Split phrases into words the model knows, reporting the words it cannot spell.

    Digit strings are spelled out in `lang` first (`spell_digits`). A word is tried as
    written, then lower-cased ("ATM" in a Korean phrase is "atm" in an English-lettered
    vocabulary). With an empty vocabulary phrases pass unchecked.
    """
    kept: list[str] = []
    unknown: set[str] = set()
    dropped: list[str] = []
    for phrase in phrases:
        words: list[str] = []
        lost = False
        for w in _PUNCT.sub(" ", spell_digits(phrase, lang)).split():
            pieces = (segment(w, vocabulary) or segment(w.lower(), vocabulary)
                      if vocabulary else (w,))
            if pieces is None:
                unknown.add(w)
                lost = True
            else:
                words.extend(pieces)
        if lost:
            dropped.append(phrase)
        if words:
            kept.append(" ".join(words))
    return GrammarWords(tuple(dict.fromkeys(kept)), tuple(sorted(unknown)),
                        tuple(dict.fromkeys(dropped)))
