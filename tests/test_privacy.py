"""Card numbers, PINs and codes never survive `mask_sensitive`, in any written or spoken form."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.privacy import is_secret_name, mask_digits_keep_last4, mask_sensitive, mask_slot
from ivr.types import Slot

# -- a slow, obvious reference: spoken digits back to digits ----------------------------------

_ZH = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")
_KO = str.maketrans("공영일이삼사오육칠팔구", "00123456789")
_EN_WORDS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_EN_VALUE = {w: str(i) for i, w in enumerate(_EN_WORDS[2:], 1)} | {"zero": "0", "oh": "0"}
_EN = re.compile(rf"(?<![a-z])({'|'.join(_EN_WORDS)})(?![a-z])", re.IGNORECASE)


def normalise(text: str) -> str:
    """Every spoken digit as a digit, and every space, comma and dash removed."""
    text = _EN.sub(lambda m: _EN_VALUE[m.group().lower()], text)
    return re.sub(r"[\s,，、\-–—]", "", text.translate(_ZH).translate(_KO))


def digit_count(text: str) -> int:
    return sum(c.isdecimal() for c in normalise(text))


# -- Luhn-valid card numbers in every form ----------------------------------------------------


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the check digit will sit to the right of this one
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return luhn_check_digit(number[:-1]) == number[-1]


card_numbers = st.lists(st.integers(0, 9), min_size=15, max_size=15).map(
    lambda ds: "".join(map(str, ds))
).map(lambda body: body + luhn_check_digit(body))

_ZH_VARIANTS = {"0": "零〇", "1": "一幺", "2": "二两"}
_ZH_PLAIN = "零一二三四五六七八九"
_KO_DIGITS = "공일이삼사오육칠팔구"
_EN_DIGITS = ("zero", *_EN_WORDS[2:])


@st.composite
def spoken(draw: st.DrawFn, number: str) -> str:
    """`number` written the way a caller or a recogniser might."""
    form = draw(st.sampled_from(["plain", "spaced", "dashed", "zh", "en", "ko", "mixed"]))
    groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    if form == "plain":
        return number
    if form == "spaced":
        return " ".join(groups)
    if form == "dashed":
        return "-".join(groups)
    words = []
    for d in number:
        script = form if form != "mixed" else draw(st.sampled_from(["digit", "zh", "en", "ko"]))
        if script == "zh":
            words.append(draw(st.sampled_from(_ZH_VARIANTS.get(d, _ZH_PLAIN[int(d)]))))
        elif script == "en":
            words.append("oh" if d == "0" and draw(st.booleans()) else _EN_DIGITS[int(d)])
        elif script == "ko":
            words.append("영" if d == "0" and draw(st.booleans()) else _KO_DIGITS[int(d)])
        else:
            words.append(d)
    if form == "en":
        return draw(st.sampled_from([" ", ", ", "-"])).join(words)
    if form == "mixed":  # recognisers put spaces between words
        return " ".join(words)
    return draw(st.sampled_from(["", " "])).join(words)


SENTENCES = [
    "{}",
    "my card number is {} thanks",
    "card {}, please",
    "我的卡号是{}，谢谢",
    "卡号{}",
    "카드 번호는 {} 입니다",
    "제 카드 {}",
]


@given(number=card_numbers, data=st.data())
def test_card_numbers_never_survive_in_full(number: str, data: st.DataObject) -> None:
    assert luhn_valid(number)
    said = data.draw(spoken(number))
    sentence = data.draw(st.sampled_from(SENTENCES)).format(said)
    assert number in normalise(sentence)  # the reference really sees the number

    seen = normalise(mask_sensitive(sentence))

    assert number not in seen
    for i in range(len(number) - 4):
        assert number[i : i + 5] not in seen, (sentence, seen)
    if not any(luhn_valid(number[:n]) for n in range(13, 14)):  # else card+code: no tail
        assert number[-4:] in seen  # the last 4 stay, for the agent to confirm the card


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("卡号六二二二零二幺二三四五六七八九零幺二三四", "卡号***"),  # not Luhn-valid
        ("card **** **** **** 1234", "card **** **** **** 1234"),
        ("4111 1111 1111 1111", "****1111"),
        ("6222-0212-3456-7894 ok", "****7894 ok"),
        ("phone 13812345678", "phone ***"),
        ("four five six seven, eight nine oh one", "***"),
        ("육이이이 공이일이 삼사오육 칠팔구공", "***"),
        ("六二二二 0212 three four five six 칠팔구공", "***"),
        ("６２２２０２１２３４", "***"),
        ("4111 1111 1111 1111", "****1111"),
        ("four one one one one one one one one one one one one one one one", "****1111"),
        ("我的密码是123456", "我的密码是***"),
        ("验证码 六五四三二一", "验证码 ***"),
        ("my PIN is 1 2 3 4", "my PIN is ***"),
        ("CVV: 123", "CVV: ***"),
        ("the security code is nine eight seven", "the security code is ***"),
        ("비밀번호는 일이삼사입니다", "비밀번호는 ***입니다"),
        ("인증번호 987654", "인증번호 ***"),
    ],
)
def test_examples_are_masked(text: str, expected: str) -> None:
    assert mask_sensitive(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "转五百块",
        "transfer 500 dollars",
        "我要转账两千五百元",
        "转账 1200 元",
        "send 250 dollars to savings on 2024-05-01",
        "paid on 2024-05",
        "이체 오만 원",
        "이 카드로 이체하고 싶어요",
        "오늘 사과를 샀어요",
        "密码错了三次",
        "I forgot my password",
        "one more thing, two tickets",
        "card ending 1234",
        "两个人一起",
    ],
)
def test_amounts_and_ordinary_words_survive(text: str) -> None:
    assert mask_sensitive(text) == text


FRAGMENTS = [
    "1", "7", "0", "六", "幺", "零", "五百", "이", "공", "칠", "one", "oh", "nine", "seven",
    " ", " ", "-", ",", "，", "。", "\n", "*", "x", "a", "is ", "是", "는 ",
    "pin ", "密码", "cvv", "비밀번호", "card ", "卡号",
]  # fmt: skip
texts = st.one_of(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join), st.text())


@given(texts)
def test_masking_is_idempotent(text: str) -> None:
    once = mask_sensitive(text)
    assert mask_sensitive(once) == once


@given(texts)
def test_masking_never_adds_visible_digits(text: str) -> None:
    assert digit_count(mask_sensitive(text)) <= digit_count(text)


def test_keep_last4() -> None:
    assert mask_digits_keep_last4("6222021234567890") == "****7890"
    assert mask_digits_keep_last4("6222 0212") == "****0212"
    assert mask_digits_keep_last4("６２２２０２１２") == "****0212"
    assert mask_digits_keep_last4("1234") == "****"
    assert mask_digits_keep_last4("") == "****"


@given(st.text(alphabet="0123456789 -", max_size=30))
def test_keep_last4_shows_at_most_the_last_4(digits: str) -> None:
    masked = mask_digits_keep_last4(digits)
    plain = re.sub(r"\D", "", digits)
    shown = re.sub(r"\D", "", masked)
    assert masked.startswith("****")
    assert shown == (plain[-4:] if len(plain) > 4 else "")


def test_slots() -> None:
    tail = Slot("card_tail", "1234", "1234")
    assert mask_slot(tail) is tail
    assert mask_slot(Slot("pin", "1234", "1234")) == Slot("pin", "***", "***")
    card = Slot("card_number", "6222021234567894", "6222021234567894")
    assert mask_slot(card) == Slot("card_number", "****7894", "****7894")
    assert is_secret_name("security_code") and is_secret_name("OTP")
    assert not is_secret_name("amount")


def test_english_digit_words_run_together_are_digits() -> None:
    """Found by the generated suite: "nineoh" and "fourfivesix" carried digits past the mask."""
    assert mask_sensitive("card nine six oh seven nineoh oh oh") == "card ***"
    assert mask_sensitive("my pin is fourfivesix") == "my pin is ***"
    assert mask_sensitive("it ends twoone") == "it ends ***"
    for word in ("someone", "none", "phone", "tone", "ozone", "oh I see"):
        assert mask_sensitive(f"{word} please") == f"{word} please"
