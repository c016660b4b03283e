"""Phonetic keys: how a text sounds, so recogniser homophone errors still match.

Chinese: toneless pinyin syllables (pypinyin; 余额 and 鱼额 both give "yu e").
Korean: Hangul syllables decomposed into jamo (Unicode NFD), so one wrong vowel costs one
letter, not a whole syllable. English: the words themselves (the matcher adds letter n-grams).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from ..types import Lang

__all__ = ["jamo", "phonetic_key", "pinyin_syllables"]


@lru_cache(maxsize=32768)
def pinyin_syllables(text: str) -> tuple[str, ...]:
    """Toneless pinyin, one syllable per Chinese character; other runs (digits, latin) kept."""
    from pypinyin import Style, lazy_pinyin

    out: list[str] = []
    for item in lazy_pinyin(text, style=Style.NORMAL, errors="default", strict=False):
        out.extend(part for part in item.split() if part)
    return tuple(out)


def jamo(text: str) -> str:
    """Hangul syllables -> conjoining jamo (NFD); other characters unchanged."""
    return unicodedata.normalize("NFD", text)


def phonetic_key(text: str, lang: Lang) -> str:
    """One string that stands for the sound of `text` (already normalised)."""
    if lang == "zh":
        return " ".join(pinyin_syllables(text))
    if lang == "ko":
        return jamo(text.replace(" ", ""))
    return text
