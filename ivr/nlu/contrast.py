"""What a caller says they do not mean is not evidence for it.

"It's not lost, it's stuck in the machine", "카드 잃어버린 건 아니고 기계 위치만 물어볼게요",
"不是丢了,是被取款机吞了": the words of the negated part (lost, 잃어버린, 丢) belong to a
neighbouring intent and pull the caller there. `focus` drops the negated part of such a
contrast before the matcher and the classifier read the sentence; what the caller does want
stays. Only contrasts are touched — a negation with nothing after it ("I did not make this
payment", "돈이 안 나왔어요", "不是我转的") is the request itself and is kept whole.

Per language, the forms (each one a rule below):

* ko: ``X 말고 Y`` (the word before 말고), ``X(은/는/이/가/게/건) 아니고|아니라 Y`` (the
  clause before the connective, back to the previous comma or sentence end), and a trailing
  ``…, X는 아니고요``; not ``뿐만 아니라``, and never a sentence-final denial (``제가 한 거
  아니에요`` is the fraud report itself, ``부당한 거 아니에요?`` the complaint).
* zh: ``不是X,(而)是Y`` and ``不是X而是Y`` (not ``…不是X,是不是…``).
* en: ``it's / I'm / that's not X, Y`` (the clause up to its comma), ``not X but Y`` (not
  "not only"), ``Y, not the X`` and ``rather than`` / ``instead of X``.

If dropping would leave too little to route (under `MIN_LEFT` characters of letters), the
sentence is kept as said.
"""

from __future__ import annotations

import re

from ..types import Lang

__all__ = ["MIN_LEFT", "focus"]

MIN_LEFT = 2
"""Fewest units (a Hangul syllable, a Han character, a Latin word) a focused sentence keeps;
with fewer, the contrast was the whole request and the sentence is scored as said."""

_KO_END = r"(?:^|[,.!?;，。？！]\s*|(?<=[요다죠네])\s+)"
"""Where a Korean clause starts: the beginning, after punctuation, or after a sentence end."""
_KO = (
    # 기계 말고 사람 / 카드말고 계좌로 / 녹음된 목소리 말고: the word before 말고 (the thing not
    # meant), with its modifier when that ends like one (된, 던, 한, 인: not 은 / 는, which are
    # also the topic particle of "노인은 기계 말고 사람이 …")
    re.compile(r"(?:\S+[된던한인]\s+)?\S+\s*말고(?:요)?(?=[\s,.!?]|$)[,\s]*"),
    # 카드 잃어버린 건 아니고요, …: the clause before 아니고 / 아니라 / 아니에요, (not 뿐만 아니라)
    re.compile(_KO_END + r"(?P<neg>(?:(?!뿐)[^,.!?;，。？！]){1,40}?"
               r"(?<!뿐만 )(?<!뿐 )(?:아니고|아니라|아니구)(?:요)?)"
               r"(?=[\s,.!?]+\S)[,.!?\s]*"),
    # 카드 먹혔어요, 분실은 아니고요: a negated clause after the request, at the end
    re.compile(r"(?:[,.!?;，。？！]\s*|(?<=[요다죠네])\s+)(?:(?!뿐)[^,.!?;，。？！]){1,40}?"
               r"(?:아니고|아니구)(?:요)?[.!?\s]*$"),
)
_ZH = (
    # 不是丢了,是被吞了 / 不是丢了而是被吞了: drop 不是 and what it negates, keep 是…
    re.compile(r"(?<!是)不是[^,，。！？!?]{1,20}?(?:[,，]\s*(?=而是|就是|是(?!不是))|(?=而是))"),
)
_EN = (
    # it's not lost, it's sitting in the ATM / I'm not calling about the bill, I'm calling to…
    # (only when the caller restates what they do mean after the comma)
    re.compile(r"\b(?:it'?s|it is|it isn'?t|that'?s|that is|this is|i'?m|i am)\s+(?:not\s+)?"
               r"(?<=not |n't )(?!only\b)[^,.;!?]{1,60}[,;]\s*(?:but\s+)?"
               r"(?=(?:it'?s|it is|i'?m|i am|i just|i only|i want|i need|i'd like|just|"
               r"that'?s|this is)\b)", re.IGNORECASE),
    # not the card but the account
    re.compile(r"\bnot\s+(?!only\b)(?:the|a|an|my|about)\s+[^,.;!?]{1,40}?\s+but\s+",
               re.IGNORECASE),
    # talk to a person, not this machine / rather than the app / instead of the machine
    re.compile(r"(?:,\s*not|\brather than|\binstead of)\s+(?:the|this|that|a|an|my|your|some)\s+"
               r"[^,.;!?]{1,30}?(?=[,.;!?]|$)", re.IGNORECASE),
)
_RULES: dict[str, tuple[re.Pattern[str], ...]] = {"ko": _KO, "zh": _ZH, "en": _EN}
_UNIT_RE = re.compile(r"[A-Za-z]+|[^\W\d_A-Za-z]")


def focus(text: str, lang: Lang) -> str:
    """`text` without the parts the caller says they do not mean (unchanged when there are
    none, or when nothing routable would be left)."""
    rules = _RULES.get(lang, ())
    out = text
    for rule in rules:
        out = rule.sub(" ", out)
    out = re.sub(r"\s{2,}", " ", out).strip()
    if out == text.strip() or len(_UNIT_RE.findall(out)) < MIN_LEFT:
        return text
    return out
