"""Reading a collected value from keys or speech: digits said in any numeral system the engine
hears (ivr.privacy.numerals), amounts in words (ivr.nlu.slots), dates in three languages.

Each reader returns the normalised value (ASCII digits, "1234.50", "1985-03-12") or None when
the input is not a valid answer for the step.
"""

from __future__ import annotations

import datetime as dt
import re

from ..flow.steps import Collect
from ..nlu.slots import spoken_number
from ..privacy.numerals import groups
from ..types import Lang

__all__ = ["read_keys", "read_speech"]

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_ZH_DATE = re.compile(r"(\S+?)年(\S+?)月(\S+?)[日号]")
_KO_DATE = re.compile(r"(\S+?)\s*년\s*(\S+?)\s*월\s*(\S+?)\s*일")
_EN_DATE = re.compile(rf"({'|'.join(_MONTHS)})\s+(\w+?)(?:st|nd|rd|th)?,?\s+(\d{{4}})",
                      re.IGNORECASE)


def _digits_ok(step: Collect, digits: str) -> str | None:
    return digits if digits.isdigit() and step.min_len <= len(digits) <= step.max_len else None


def _date(year: int | None, month: int | None, day: int | None) -> str | None:
    if year is None or month is None or day is None:
        return None
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _compact_date(digits: str) -> str | None:
    if len(digits) != 8 or not digits.isdigit():
        return None
    return _date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def _number(text: str, lang: Lang) -> int | None:
    text = text.strip()
    found = groups(text, strict=True)
    if found and len(found) == 1 and found[0].start == 0 and found[0].end == len(text) \
            and len(found[0].tokens) > 1:
        return int(found[0].digits)  # digit by digit: 一九八五, 일구팔오
    return spoken_number(text, lang)


def _spoken_date(text: str, lang: Lang) -> str | None:
    if lang == "en":
        m = _EN_DATE.search(text)
        if m:
            day = _number(m.group(2), "en")
            return _date(int(m.group(3)), _MONTHS.index(m.group(1).lower()) + 1, day)
    else:
        m = (_ZH_DATE if lang == "zh" else _KO_DATE).search(text.replace(" ", "")
                                                            if lang == "zh" else text)
        if m:
            return _date(*(_number(part, lang) for part in m.groups()))
    return _compact_date("".join(g.digits for g in groups(text, strict=True)))


def _amount_keys(keys: str) -> str | None:
    whole, _, cents = keys.partition("*")
    if not whole.isdigit() or (cents and not (cents.isdigit() and len(cents) <= 2)):
        return None
    value = int(whole) + (int(cents.ljust(2, "0")) / 100 if cents else 0)
    return f"{value:.2f}" if value > 0 else None


def read_keys(step: Collect, keys: str) -> str | None:
    """The value typed on the keypad (terminator already removed; `*` is a decimal point in
    an amount)."""
    if step.kind == "amount":
        return _amount_keys(keys)
    if step.kind == "date":
        return _compact_date(keys)
    if step.kind == "text":
        return None  # a place or a description is said, not keyed
    return _digits_ok(step, keys)


def read_speech(step: Collect, text: str, lang: Lang) -> str | None:
    """The value said in words or digits, in the call's language."""
    if step.kind == "date":
        return _spoken_date(text, lang)
    if step.kind == "text":
        return text.strip()[:200] or None
    if step.kind == "amount":
        m = re.search(r"\d[\d,]*(?:\.\d{1,2})?", text)
        if m:
            value = float(m.group().replace(",", ""))
            return f"{value:.2f}" if value > 0 else None
        words = re.sub(r"(块钱|块|元|원|dollars?|yuan|won|人民币)", " ", text, flags=re.I)
        number = spoken_number(words.strip(), lang)
        return f"{number:.2f}" if number else None
    digits = "".join(g.digits for g in groups(text, strict=True))
    return _digits_ok(step, digits)
