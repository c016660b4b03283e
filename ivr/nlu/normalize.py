"""Text normalisation per language, before matching.

Every function here is idempotent: normalising normalised text changes nothing (a hypothesis
property test holds us to it).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from ..types import Lang

__all__ = ["normalize", "strip_fillers", "to_simplified", "zh_digits"]

_ZH_FILLERS = ("嗯", "啊", "呃", "哦", "喂", "那个", "就是说", "然后呢", "这个", "吧", "呀",
               "哎", "唉", "呢", "嘛", "哈")
_EN_FILLERS = ("um", "uh", "erm", "er", "hmm", "mm", "uh huh", "like", "you know", "i mean",
               "well", "so", "okay so", "yeah so", "please")
_KO_FILLERS = ("음", "어", "아", "저기요", "저기", "그", "뭐", "좀", "그러니까", "네네")

_CONTRACTIONS = {
    "i'm": "i am", "i've": "i have", "i'd": "i would", "i'll": "i will",
    "can't": "can not", "cannot": "can not", "won't": "will not", "don't": "do not",
    "doesn't": "does not", "didn't": "did not", "isn't": "is not", "aren't": "are not",
    "wasn't": "was not", "haven't": "have not", "hasn't": "has not", "it's": "it is",
    "that's": "that is", "what's": "what is", "where's": "where is", "there's": "there is",
    "someone's": "someone is", "somebody's": "somebody is", "they're": "they are",
    "you're": "you are", "we're": "we are", "let's": "let us", "couldn't": "could not",
    "wouldn't": "would not", "shouldn't": "should not", "gonna": "going to",
    "wanna": "want to", "gotta": "got to",
}

_PUNCT = re.compile(r"[^\w\s']", re.UNICODE)
_SPACES = re.compile(r"\s+")
_ZH_DIGITS = str.maketrans({"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2",
                            "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8",
                            "九": "9"})


@lru_cache(maxsize=1)
def _opencc() -> object:
    import opencc  # a maintained dictionary, not a hand table: t2s covers phrases and variants

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=8192)
def to_simplified(text: str) -> str:
    """Traditional -> simplified Chinese (OpenCC t2s)."""
    if not any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return text
    converted: str = _opencc().convert(text)  # type: ignore[attr-defined]
    return converted


def zh_digits(text: str) -> str:
    """Chinese digit characters read one by one (幺二三四) -> ASCII digits, runs of 3+ only.

    A run like 幺二三四 is a number read out digit by digit; single characters (一下, 两个) are
    words and stay as they are.
    """
    return re.sub(r"[零〇一幺二两三四五六七八九]{3,}", lambda m: m.group().translate(_ZH_DIGITS),
                  text)


def _base(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cc", "Co", "Cs")
                   or ch in "\n\t")
    return text.lower()


def strip_fillers(text: str, lang: Lang) -> str:
    """Drop filler words (嗯, um, 음 ...) that carry no meaning."""
    if lang == "zh":
        for filler in _ZH_FILLERS:
            text = text.replace(filler, " ")
        return text
    fillers = _EN_FILLERS if lang == "en" else _KO_FILLERS
    words = text.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        two = " ".join(words[i:i + 2])
        if two in fillers and len(words[i:i + 2]) == 2:
            i += 2
        elif words[i] in fillers:
            i += 1
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


@lru_cache(maxsize=16384)
def normalize(text: str, lang: Lang) -> str:
    """Normalise one utterance for matching (see `_normalize_once`), to a fixed point.

    Dropping a filler can join its neighbours into a new filler or digit run, so the steps
    repeat until nothing changes; that makes the function idempotent.
    """
    for _ in range(8):
        out = _normalize_once(text, lang)
        if out == text:
            break
        text = out
    return text


def _normalize_once(text: str, lang: Lang) -> str:
    """Normalise one utterance for matching.

    zh: NFKC (full-width -> half-width), invisible characters dropped, traditional ->
    simplified, digit strings read out -> digits, fillers and punctuation dropped, no spaces
    (Chinese is not split on whitespace). en: lower case, contractions expanded, fillers and
    punctuation dropped. ko: fillers and punctuation dropped, spacing kept single.
    """
    text = _base(text)
    if lang == "zh":
        text = zh_digits(to_simplified(text))
    elif lang == "en":
        text = " ".join(_CONTRACTIONS.get(w, w) for w in text.replace("’", "'").split())
    text = _PUNCT.sub(" ", text)
    if lang == "en":
        text = text.replace("'", " ")
    if lang == "zh":
        return _SPACES.sub("", strip_fillers(_SPACES.sub("", text), lang))
    return _SPACES.sub(" ", strip_fillers(_SPACES.sub(" ", text).strip(), lang)).strip()
