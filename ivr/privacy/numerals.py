"""Digit tokens in every numeral system the engine hears, and the groups they form.

A *token* is one spoken or written digit: any Unicode decimal digit (ASCII, full-width,
Arabic-Indic, …), a Chinese digit (零〇一幺二两三四五六七八九, financial 壹贰貳叁參肆伍陆陸
柒捌玖拾), a Sino-Korean digit syllable (공영일이삼사오육칠팔구), a native Korean number word
(하나 둘 셋 넷 다섯 여섯 일곱 여덟 아홉 열) or an English digit word (zero, oh, o, one … nine,
"double two", "triple five"). A *group* is a maximal sequence of tokens joined only by
separators: spaces, any punctuation except ``*`` (so a mask never joins two groups), and
spoken or written dash words (杠, 横杠, 斜杠, dash, hyphen, slash, dot).

Korean syllables are also ordinary words (이 "this", 일 "work", 사 in 사용), so a Sino-Korean
syllable counts alone only when it stands as a word by itself; inside a word it counts only next
to another digit (일이삼사입니다). A native word counts only at the start of a word (넷 in
인터넷 is not four).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Group", "Token", "groups", "token_digits"]

_ZH = {
    "零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
    "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
    "壹": "1", "贰": "2", "貳": "2", "叁": "3", "參": "3", "肆": "4", "伍": "5", "陆": "6",
    "陸": "6", "柒": "7", "捌": "8", "玖": "9", "拾": "10",
}  # fmt: skip
_SINO_KO = {
    "공": "0", "영": "0", "일": "1", "이": "2", "삼": "3", "사": "4",
    "오": "5", "육": "6", "칠": "7", "팔": "8", "구": "9",
}  # fmt: skip
_NATIVE_KO = {
    "하나": "1", "둘": "2", "셋": "3", "넷": "4", "다섯": "5", "여섯": "6", "일곱": "7",
    "여덟": "8", "아홉": "9", "열": "10",
}  # fmt: skip
_EN = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip

_EN_WORD = "|".join(sorted(_EN, key=len, reverse=True))
_EN_WORD_RE = re.compile(_EN_WORD)
_NATIVE = "|".join(sorted(_NATIVE_KO, key=len, reverse=True))
_TOKEN_RE = re.compile(
    rf"(?P<en>(?<![a-z])(?:(?:double|triple)[^\S\n]+)?(?:{_EN_WORD})+(?![a-z]))"
    rf"|(?P<native>{_NATIVE})"
    rf"|(?P<sino>[{''.join(_SINO_KO)}])"
    rf"|(?P<char>\d|[{''.join(_ZH)}])",
    re.IGNORECASE,
)
_SEP_RE = re.compile(
    r"(?:[^\S\n]|[^\w\s*]|_|杠|横杠|斜杠|(?<![a-z])(?:dash|hyphen|slash|dot)(?![a-z]))*",
    re.IGNORECASE,
)
"""What may stand between two tokens of one group: spaces, punctuation but ``*``, dash words."""

_HANGUL = re.compile(r"[\uac00-\ud7a3]")


@dataclass(frozen=True)
class Token:
    """One digit token found in a text."""

    start: int
    """Where it starts in the text."""
    end: int
    """Where it ends."""
    kind: str
    """en | native | sino | char."""
    digits: str
    """The ASCII digits it stands for ("22" for "double two", "10" for 拾)."""
    weak: bool = False
    """Alone, it is more likely a word than a digit (一 in 一下, "a new one", 하나도)."""


@dataclass(frozen=True)
class Group:
    """Digit tokens joined only by separators: one number as said or written."""

    tokens: tuple[Token, ...]
    """The tokens, in order."""

    @property
    def start(self) -> int:
        """Where the group starts in the text."""
        return self.tokens[0].start

    @property
    def end(self) -> int:
        """Where the group ends."""
        return self.tokens[-1].end

    @property
    def digits(self) -> str:
        """The ASCII digits of the group, in order."""
        return "".join(t.digits for t in self.tokens)


def token_digits(kind: str, text: str) -> str:
    """The ASCII digits one token stands for."""
    if kind == "en":  # one word, or digit words run together ("nineoh"), maybe doubled
        words = text.lower().split()
        times = {"double": 2, "triple": 3}.get(words[0], 1) if len(words) > 1 else 1
        digits = "".join(_EN[w] for w in _EN_WORD_RE.findall(words[-1]))
        return digits[0] * times + digits[1:]
    if kind == "native":
        return _NATIVE_KO[text]
    if kind == "sino":
        return _SINO_KO[text]
    return _ZH.get(text) or str(unicodedata.decimal(text))


def _hangul_at(text: str, i: int) -> bool:
    return 0 <= i < len(text) and _HANGUL.match(text[i]) is not None


_HAN = re.compile(r"[\u3400-\u9fff]")
_ONE_WORD_RE = re.compile(
    r"\b(?:a|an|the|new|old|another|this|that|which|any|every|each|no|right|wrong|other|"
    r"same)\s+$", re.IGNORECASE)


def _weak(text: str, kind: str, m: re.Match[str]) -> bool:
    a, b = m.start(), m.end()
    if kind == "char" and m.group() in _ZH:
        return bool(_HAN.match(text[a - 1 : a] or " ") and _HAN.match(text[b : b + 1] or " "))
    if kind == "en" and m.group().lower() == "one":
        return bool(_ONE_WORD_RE.search(text[max(0, a - 12) : a])
                    or re.match(r"[- ]time", text[b : b + 5], re.IGNORECASE))
    return kind == "native" and _hangul_at(text, b)


def _sino_blocks_ok(text: str, toks: list[Token], strict: bool) -> list[Token]:
    """Drop Sino-Korean syllables that are parts of words (결제일이, 토요일, 사이트)."""
    out: list[Token] = []
    i = 0
    while i < len(toks):
        j = i + 1
        if toks[i].kind == "sino":
            while j < len(toks) and toks[j].kind == "sino" and toks[j].start == toks[j - 1].end:
                j += 1
            block = toks[i:j]
            left = _hangul_at(text, block[0].start - 1) and not (
                i > 0 and toks[i - 1].end == block[0].start)
            right = _hangul_at(text, block[-1].end) and not (
                j < len(toks) and toks[j].start == block[-1].end)
            inside = left or right
            if len(block) >= 3 or (strict and len(block) == 2) or not inside:
                out += block
        else:
            out.append(toks[i])
        i = j
    return out


def _tokens(text: str, strict: bool) -> list[Token]:
    out: list[Token] = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup or "char"
        if kind == "native" and _hangul_at(text, m.start() - 1) and not (
            out and out[-1].end == m.start()
        ):
            continue  # 넷 in 인터넷: part of a word, not a number
        out.append(Token(m.start(), m.end(), kind, token_digits(kind, m.group()),
                         _weak(text, kind, m)))
    return _sino_blocks_ok(text, out, strict)


def _alone_oh(group: Group) -> bool:
    """A lone "oh" or "o" is an interjection, not a zero."""
    tok = group.tokens[0]
    return len(group.tokens) == 1 and tok.kind == "en" and tok.end - tok.start <= 2


def groups(text: str, *, strict: bool = False) -> list[Group]:
    """Every digit group in `text`, in order.

    Args:
        text: Any text.
        strict: The text is known to carry a secret: two Sino-Korean digit syllables count
            even inside a word (비밀번호는일이).
    """
    found: list[Group] = []
    run: list[Token] = []
    for tok in _tokens(text, strict):
        if run and _SEP_RE.fullmatch(text, run[-1].end, tok.start):
            run.append(tok)
            continue
        if run:
            found.append(Group(tuple(run)))
        run = [tok]
    if run:
        found.append(Group(tuple(run)))
    return [g for g in found if not _alone_oh(g)]
