"""Slots: values a caller gives in passing — card tail digits, amounts, dates, phone numbers.

Spoken forms in the three languages are read as well as digits: 尾号幺二三四, 五百块, 两千元,
"ending in four five six seven", "five hundred dollars", 끝자리 일이삼사, 오십만 원, 어제.
Every slot carries a masked form, and only that form is printed or stored: a card tail keeps
its four digits (they are what the agent needs), a phone number keeps its last four.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..types import Lang, Slot
from .normalize import clean, to_simplified

__all__ = ["extract_slots", "spoken_number"]

_ZH_DIGIT = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
             "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_UNIT = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10_000, "亿": 100_000_000}
_KO_DIGIT = {"공": 0, "영": 0, "일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "칠": 7,
             "팔": 8, "구": 9}
_KO_UNIT = {"십": 10, "백": 100, "천": 1000}
_KO_BIG = {"만": 10_000, "억": 100_000_000}
_EN_DIGIT = {"zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
             "six": 6, "seven": 7, "eight": 8, "nine": 9}
_EN_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
             "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
             "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
             "eighty": 80, "ninety": 90}
_EN_SCALE = {"hundred": 100, "thousand": 1000, "million": 1_000_000}


def spoken_number(text: str, lang: Lang) -> int | None:
    """A number written in words (五百, 两千三百, 오십만, "five hundred") or digits; else None."""
    text = text.strip().replace(",", "")
    if text.isdigit():
        return int(text)
    if lang == "en":
        return _en_number(text.split())
    digits, units, bigs = ((_ZH_DIGIT, _ZH_UNIT, _ZH_BIG) if lang == "zh"
                           else (_KO_DIGIT, _KO_UNIT, _KO_BIG))
    total = section = 0
    current: int | None = None
    for ch in text.replace(" ", ""):
        if ch.isdigit():
            current = (current or 0) * 10 + int(ch)
        elif ch in digits:
            current = digits[ch]
        elif ch in units:
            section += (1 if current is None else current) * units[ch]
            current = None
        elif ch in bigs:
            total += (section + (current or 0) or 1) * bigs[ch]
            section, current = 0, None
        else:
            return None
    value = total + section + (current or 0)
    return value if text else None


def _en_number(words: list[str]) -> int | None:
    total = current = 0
    seen = False
    for w in words:
        if w == "and":
            continue
        if w in _EN_DIGIT:
            current += _EN_DIGIT[w]
        elif w in _EN_TEENS:
            current += _EN_TEENS[w]
        elif w in _EN_SCALE and seen:
            if _EN_SCALE[w] == 100:
                current *= 100
            else:
                total += current * _EN_SCALE[w]
                current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def _digit_string(text: str, lang: Lang) -> str:
    """Digits read one by one (幺二三四, 일이삼사, "four five six seven") -> "1234"."""
    if lang == "en":
        return "".join(str(_EN_DIGIT[w]) if w in _EN_DIGIT else w for w in text.split()
                       if w in _EN_DIGIT or w.isdigit())
    table = _ZH_DIGIT if lang == "zh" else _KO_DIGIT
    return "".join(str(table[c]) if c in table else c for c in text if c in table or c.isdigit())


_ZH_D = "零〇一幺二两三四五六七八九0-9"
_KO_D = "공영일이삼사오육칠팔구0-9"
_EN_D = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|\d)"
_ZH_NUM = f"[{_ZH_D}十百千万亿]+"
_KO_NUM = f"[{_KO_D}십백천만억]+(?:\\s[{_KO_D}십백천만억]+)*"
_EN_NUM = (r"(?:\d[\d,]*(?:\.\d+)?|(?:(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|"
           r"eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|"
           r"thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|and)\s*)+)")

_PATTERNS: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    "zh": [
        ("card_tail", re.compile(f"(?:尾号|末四位|后四位|最后四位)(?:是|为)?([{_ZH_D}]{{4}})")),
        ("amount", re.compile(f"({_ZH_NUM})(?:块钱|块|元|人民币)")),
        ("phone", re.compile(f"(?:手机号|电话|手机)(?:码|号码)?(?:是)?([{_ZH_D}]{{11}})")),
        ("date", re.compile(r"(今天|昨天|前天|明天|上周|上个月|这个月|下个月|"
                            f"[{_ZH_D}十]+月[{_ZH_D}十]+[日号])")),
    ],
    "ko": [
        ("card_tail", re.compile(f"(?:끝자리|끝 자리|뒷자리|마지막 네 자리)(?:가|는|는요)?\\s*"
                                 f"([{_KO_D}]{{4}})")),
        ("amount", re.compile(f"({_KO_NUM})\\s*원")),
        ("phone", re.compile(f"(?:전화번호|휴대폰 번호|핸드폰 번호)(?:는|가)?\\s*"
                             f"([{_KO_D}\\s-]{{11,15}})")),
        ("date", re.compile(r"(오늘|어제|그저께|내일|지난주|지난달|이번 달|다음 달|"
                            r"\d+월\s*\d+일)")),
    ],
    "en": [
        ("card_tail", re.compile(rf"(?:ending(?: in| with)?|last four(?: digits)?(?: are| is)?)"
                                 rf"\s+((?:{_EN_D}[\s-]*){{4}})")),
        ("amount", re.compile(rf"(?:\$\s*({_EN_NUM})|({_EN_NUM})\s*(?:dollars|bucks|usd|euros|"
                              r"pounds))")),
        ("phone", re.compile(rf"(?:phone|mobile|number)(?: number)?(?: is)?\s+"
                             rf"((?:{_EN_D}[\s-]*){{10,11}})")),
        ("date", re.compile(r"\b(today|yesterday|tomorrow|last week|last month|this month|"
                            r"(?:january|february|march|april|may|june|july|august|september|"
                            r"october|november|december)\s+\d{1,2}(?:st|nd|rd|th)?)\b")),
    ],
}


def _mask(name: str, value: str) -> str:
    if name == "phone":
        return "*" * max(len(value) - 4, 0) + value[-4:]
    return value  # card tails are four digits by definition; amounts and dates are not secret


def _matches(text: str, lang: Lang) -> Iterator[tuple[str, str]]:
    for name, pattern in _PATTERNS[lang]:
        for m in pattern.finditer(text):
            raw = next(g for g in m.groups() if g)
            if name in ("card_tail", "phone"):
                value = _digit_string(raw, lang)
                if (name == "card_tail" and len(value) != 4) or (name == "phone" and
                                                                 len(value) < 10):
                    continue
            elif name == "amount":
                number = spoken_number(raw.replace(" ", "") if lang != "en" else raw, lang)
                if number is None or number == 0:
                    continue
                value = str(number)
            else:
                value = raw.strip()
            yield name, value


def extract_slots(text: str, lang: Lang) -> tuple[Slot, ...]:
    """Every slot found in an utterance, in order of kind, each with its masked form."""
    norm = clean(text)
    if lang == "zh":
        norm = to_simplified(norm)
    seen: dict[tuple[str, str], Slot] = {}
    for name, value in _matches(norm, lang):
        seen.setdefault((name, value), Slot(name, value if name != "phone" else _mask(name, value),
                                            _mask(name, value)))
    return tuple(seen.values())
