"""Slots in three languages, spoken or in digits; numbers read back against a slow reference."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.nlu.slots import extract_slots, spoken_number

ZH = "零一二三四五六七八九"
KO = "영일이삼사오육칠팔구"


def zh_words(n: int) -> str:
    """A plain reference: 12345 -> 一万二千三百四十五 (zeros read as 零)."""
    if n == 0:
        return "零"
    out = ""
    for big, name in ((100_000_000, "亿"), (10_000, "万"), (1, "")):
        part, n = divmod(n, big)
        if not part:
            if out and n and not out.endswith("零"):
                out += "零"
            continue
        text = ""
        for unit, uname in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
            d, part = divmod(part, unit)
            if d:
                text += ZH[d] + uname
            elif text and part and not text.endswith("零"):
                text += "零"
        out += text + name
    return out


def ko_words(n: int) -> str:
    """12345 -> 일만이천삼백사십오 (Sino-Korean, digits before every unit)."""
    out = ""
    for big, name in ((100_000_000, "억"), (10_000, "만"), (1, "")):
        part, n = divmod(n, big)
        if not part:
            continue
        for unit, uname in ((1000, "천"), (100, "백"), (10, "십"), (1, "")):
            d, part = divmod(part, unit)
            if d:
                out += KO[d] + uname
        out += name
    return out


@given(st.integers(min_value=1, max_value=999_999_999))
def test_chinese_numbers_read_back(n: int) -> None:
    assert spoken_number(zh_words(n), "zh") == n


@given(st.integers(min_value=1, max_value=999_999_999))
def test_korean_numbers_read_back(n: int) -> None:
    assert spoken_number(ko_words(n), "ko") == n


@given(st.text(alphabet=ZH + "十百千万块元 ", max_size=12))
def test_chinese_number_reader_never_crashes(text: str) -> None:
    value = spoken_number(text, "zh")
    assert value is None or value >= 0


@pytest.mark.parametrize("text, lang, expected", [
    ("卡号尾号幺二三四的余额是多少", "zh", {"card_tail": "1234"}),
    ("转五百块给我妈", "zh", {"amount": "500"}),
    ("两千三百元", "zh", {"amount": "2300"}),
    ("昨天取了一万五千块", "zh", {"amount": "15000", "date": "昨天"}),
    ("尾號五六七八的卡", "zh", {"card_tail": "5678"}),  # traditional characters
    ("my card ending in four five six seven", "en", {"card_tail": "4567"}),
    ("transfer five hundred dollars", "en", {"amount": "500"}),
    ("i sent $1,200 yesterday", "en", {"amount": "1200", "date": "yesterday"}),
    ("카드 끝자리 일이삼사 분실했어요", "ko", {"card_tail": "1234"}),
    ("오십만 원 보내려고요", "ko", {"amount": "500000"}),
    ("어제 삼만 오천 원 빠져나갔어요", "ko", {"amount": "35000", "date": "어제"}),
])
def test_slots(text: str, lang: str, expected: dict[str, str]) -> None:
    got = {s.name: s.value for s in extract_slots(text, lang)}  # type: ignore[arg-type]
    assert got == expected


def test_phone_numbers_are_masked_even_in_the_value() -> None:
    (slot,) = extract_slots("手机号13812345678", "zh")
    assert slot.name == "phone" and slot.masked == "*******5678"
    assert "1381234" not in slot.value + slot.masked + str(slot)
