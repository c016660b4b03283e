"""Text normalisation per language, before matching.

Every function here is idempotent: normalising normalised text changes nothing (a hypothesis
property test holds us to it).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from ..types import Lang

__all__ = ["clean", "has_content", "normalize", "strip_fillers", "to_simplified", "zh_digits"]

# Fillers and greetings: they carry no request, so "你好" or "hello?" alone is no input at all.
_ZH_FILLERS = ("嗯", "啊", "呃", "哦", "喂", "那个", "就是说", "然后呢", "这个", "吧", "呀",
               "哎", "唉", "呢", "嘛", "哈", "您好", "你好", "有人吗", "在吗", "听得到吗",
               "听得见吗", "谢谢", "等一下", "等等", "稍等")
_EN_FILLERS = ("um", "uh", "erm", "er", "hmm", "mm", "uh huh", "like", "you know", "i mean",
               "well", "so", "okay so", "yeah so", "please", "hello", "hi", "hey",
               "is anyone there", "anyone there", "can you hear me", "thanks", "thank you",
               "hold on", "wait a moment", "wait a second", "one moment", "hang on")
_KO_FILLERS = ("음", "어", "아", "저기요", "저기", "그", "뭐", "좀", "그러니까", "네네", "여보세요",
               "안녕하세요", "감사합니다", "고맙습니다", "잠깐만요", "잠깐만", "잠시만요", "잠시만")

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


# Words that carry no request on their own: an utterance made only of these is a no-match.
_STOPWORDS: dict[str, frozenset[str]] = {
    "zh": frozenset(("是", "不是", "对", "不对", "好", "好的", "行", "不", "没有", "我",
                     "我的", "要", "我要", "想", "我想", "的", "了", "吗", "卡", "钱", "银行")),
    "en": frozenset(("a", "an", "the", "i", "my", "me", "to", "is", "it", "and", "yes", "no",
                     "ok", "okay", "yeah", "yep", "nope", "sure", "right", "want", "need",
                     "card", "money", "bank", "account", "help", "what", "please")),
    "ko": frozenset(("네", "예", "응", "아니요", "아뇨", "아니", "좋아요", "저", "제", "돈", "카드",
                     "은행", "계좌", "뭐", "요", "해", "해요", "주세요", "해주세요", "줘", "해줘",
                     "돼요", "했어요", "하고", "싶어요", "있어요", "없어요", "어요", "이", "가")),
}


def has_content(norm: str, lang: Lang) -> bool:
    """False when a normalised utterance is too short or only words that request nothing.

    "卡", "money", "네" alone must never route confidently anywhere.
    """
    if not norm:
        return False
    if lang == "zh":
        return len(norm) >= 2 and norm not in _STOPWORDS["zh"]
    words = norm.split()
    if lang == "ko" and len(norm.replace(" ", "")) < 2:
        return False
    return any(w not in _STOPWORDS[lang] for w in words)


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


def clean(text: str) -> str:
    """NFKC, invisible and control characters dropped, lower case."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isprintable():  # printable text has no Cf/Cc/Co/Cs character: skip the scan
        text = "".join(ch for ch in text if ch in "\n\t"
                       or unicodedata.category(ch) not in ("Cf", "Cc", "Co", "Cs"))
    return text.lower()


def strip_fillers(text: str, lang: Lang) -> str:
    """Drop filler words (嗯, um, 음 ...) that carry no meaning."""
    if lang == "zh":
        for filler in _ZH_FILLERS:
            text = text.replace(filler, " ")
        return text
    return _SPACES.sub(" ", _FILLER_RE[lang].sub(" ", text)).strip()


def _filler_re(fillers: tuple[str, ...]) -> re.Pattern[str]:
    """Whole-word fillers, longest (in words) first: at each word the longest filler wins."""
    ordered = sorted(fillers, key=lambda f: -len(f.split()))
    alts = "|".join(r"\s+".join(re.escape(w) for w in f.split()) for f in ordered)
    return re.compile(rf"(?<!\S)(?:{alts})(?!\S)")


_FILLER_RE = {"en": _filler_re(_EN_FILLERS), "ko": _filler_re(_KO_FILLERS)}


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
    text = clean(text)
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
