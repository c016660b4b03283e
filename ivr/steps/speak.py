"""Variables spoken right per language: `{balance:amount}` as 人民币1234元5角, 천이백삼십사원 or
$1,234.50; dates as 2026年12月4日, 2026년 12월 4일 or December 4, 2026; lists of records (the
nearest ATMs, the last transactions) read item by item.

The text comes out as any other prompt (text today, audio through TTS on the phone line).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from ..types import Lang

__all__ = ["fill", "money", "sino_korean", "spoken_date", "spoken_value"]

_TEMPLATE_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_KO_DIGITS = "영일이삼사오육칠팔구"
_KO_SMALL = ((1000, "천"), (100, "백"), (10, "십"))
_KO_BIG = ((10**12, "조"), (10**8, "억"), (10**4, "만"))
_UNITS = {
    "zh": {"CNY": "元", "USD": "美元", "KRW": "韩元"},
    "en": {"CNY": "yuan", "USD": "dollars", "KRW": "won"},
    "ko": {"CNY": "위안", "USD": "달러", "KRW": "원"},
}
_ITEM_SEP = {"zh": "；", "en": "; ", "ko": "; "}
_FIELD_SEP = {"zh": "，", "en": ", ", "ko": ", "}
_OPEN = {"zh": ("已关门", "正在营业"), "en": ("closed now", "open now"),
         "ko": ("영업 종료", "영업 중")}


def sino_korean(n: int) -> str:
    """A whole number in Sino-Korean words as Korean TTS reads amounts (1234 -> 천이백삼십사)."""
    if n == 0:
        return "영"
    out = []
    for size, word in _KO_BIG:
        part, n = divmod(n, size)
        if part:
            out.append(("" if part == 1 and word == "만" else _ko_small(part)) + word)
    if n:
        out.append(_ko_small(n))
    return " ".join(out)


def _ko_small(n: int) -> str:
    out = ""
    for size, word in _KO_SMALL:
        digit, n = divmod(n, size)
        if digit:
            out += ("" if digit == 1 else _KO_DIGITS[digit]) + word
    return out + (_KO_DIGITS[n] if n else "")


def money(amount: str, currency: str, lang: Lang) -> str:
    """An amount as said in `lang` (currency CNY, USD or KRW; others read as a code)."""
    try:
        value = Decimal(amount).quantize(Decimal("0.01"))
    except InvalidOperation:
        return amount
    whole, cents = divmod(int(value * 100), 100)
    unit = _UNITS[lang].get(currency, currency)
    if lang == "zh":
        text = f"{'人民币' if currency == 'CNY' else ''}{whole}{unit}"
        if currency == "CNY":
            jiao, fen = divmod(cents, 10)
            return text + (f"{jiao}角" if jiao else "") + (f"{fen}分" if fen else "")
        return text if not cents else f"{whole}.{cents:02d}{unit}"
    if lang == "ko":
        if not cents:
            return f"{sino_korean(whole)}{unit}"
        decimals = "".join(_KO_DIGITS[int(d)] for d in f"{cents:02d}".rstrip("0"))
        return f"{sino_korean(whole)} 점 {decimals} {unit}"
    shown = f"{whole:,}" + (f".{cents:02d}" if cents else "")
    return f"${shown}" if currency == "USD" else f"{shown} {unit}"


def spoken_date(iso: str, lang: Lang) -> str:
    """An ISO date (YYYY-MM-DD) as said in `lang`; other text unchanged."""
    try:
        d = dt.date.fromisoformat(iso[:10])
    except ValueError:
        return iso
    if lang == "zh":
        return f"{d.year}年{d.month}月{d.day}日"
    if lang == "ko":
        return f"{d.year}년 {d.month}월 {d.day}일"
    return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"


def _record(item: Mapping[str, Any], lang: Lang) -> str:
    parts = []
    for key, value in item.items():
        if key in ("currency", "id"):
            continue
        if key == "amount":
            parts.append(money(str(value), str(item.get("currency", "CNY")), lang))
        elif key == "open_now" and isinstance(value, bool):
            parts.append(_OPEN[lang][value])
        elif isinstance(value, str) and _ISO_DATE.fullmatch(value):
            parts.append(spoken_date(value, lang))
        elif not isinstance(value, bool) and value is not None:
            parts.append(str(value))
    return _FIELD_SEP[lang].join(parts)


def spoken_value(value: Any, fmt: str | None, lang: Lang,
                 values: Mapping[str, Any] | None = None) -> str:
    """One variable as said: `fmt` is amount, date, count, list, digits, text, or None (read
    by its shape: a list item by item, an ISO date as a date, anything else as text)."""
    values = values or {}
    if fmt == "amount":
        return money(str(value), str(values.get("currency", "CNY")), lang)
    if fmt == "digits":
        return " ".join(str(value))
    if fmt == "count":
        return str(len(value)) if isinstance(value, Sequence) and not isinstance(value, str) \
            else str(value)
    if isinstance(value, Mapping):
        return _record(value, lang)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return _ITEM_SEP[lang].join(spoken_value(v, None, lang, values) for v in value)
    if fmt == "date" or (fmt is None and isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return spoken_date(str(value), lang)
    return str(value)


def fill(text: str, values: Mapping[str, Any], lang: Lang) -> str:
    """`text` with every `{name}` / `{name:format}` replaced by its spoken value ("" for a
    variable not set: lint makes sure every name is set somewhere in the flow)."""
    def one(m: re.Match[str]) -> str:
        name, fmt = m.group(1), m.group(2)
        return spoken_value(values[name], fmt, lang, values) if name in values else ""

    return _TEMPLATE_RE.sub(one, text)
