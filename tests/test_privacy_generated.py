"""Generated attacks on the privacy boundary: PINs, CVVs and card numbers said in every
numeral system the engine hears, with any separators, cue words before, after or in an
earlier turn, split over turns — through a real dialog on the bank flow. The check maps every
digit form back to digits on its own (a slow, obvious reference, not `ivr.privacy`) and looks
for the secret in the digits anyone can read from what was stored: transcripts, turns, trace
events, slots and the handoff record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ivr.dialog import Dialog
from ivr.flow import Flow, load_flow
from ivr.nlu import IntentMatcher
from ivr.privacy import mask_sensitive
from ivr.types import Lang, Utterance

from .conftest import BANK

EXAMPLES = 1500
"""Generated calls per run (about 6 s of CPU)."""

# -- the reference: every digit form back to digits --------------------------------------------

_CHARS = {**{c: str(i % 10) for i, c in enumerate("零一二三四五六七八九")},
          **{c: str(i + 1) for i, c in enumerate("壹贰叁肆伍陆柒捌玖")},
          "〇": "0", "幺": "1", "两": "2", "貳": "2", "參": "3", "陸": "6", "拾": "10",
          **{c: str(i) for i, c in enumerate("공일이삼사오육칠팔구")}, "영": "0"}
_WORDS = {"하나": "1", "둘": "2", "셋": "3", "넷": "4", "다섯": "5", "여섯": "6", "일곱": "7",
          "여덟": "8", "아홉": "9", "열": "10", "zero": "0", "oh": "0", "one": "1", "two": "2",
          "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
          "nine": "9"}
_WORD_RE = re.compile("|".join(sorted(_WORDS, key=len, reverse=True)), re.IGNORECASE)


def readable_digits(text: str) -> str:
    """Every digit a reader could take from `text`, in order, whatever its form."""
    text = re.sub(r"double\s+(\w+)", r"\1 \1", text, flags=re.IGNORECASE)
    text = re.sub(r"triple\s+(\w+)", r"\1 \1 \1", text, flags=re.IGNORECASE)
    text = _WORD_RE.sub(lambda m: _WORDS[m.group().lower()], text)
    return "".join(_CHARS.get(c) or (str(int(c)) if c.isdecimal() else "") for c in text)


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


# -- how a caller (or a recogniser) writes a number ----------------------------------------------

FORMS = {
    "ascii": lambda d: d,
    "fullwidth": lambda d: chr(0xFF10 + int(d)),
    "arabic": lambda d: chr(0x0660 + int(d)),
    "zh": lambda d: "零一二三四五六七八九"[int(d)],
    "zh_alt": lambda d: {"0": "〇", "1": "幺", "2": "两"}.get(d, "零一二三四五六七八九"[int(d)]),
    "zh_fin": lambda d: "零壹贰叁肆伍陆柒捌玖"[int(d)],
    "ko": lambda d: "공일이삼사오육칠팔구"[int(d)],
    "ko_native": lambda d: ("공", "하나", "둘", "셋", "넷", "다섯", "여섯", "일곱", "여덟",
                            "아홉")[int(d)],
    "en": lambda d: ("oh", "one", "two", "three", "four", "five", "six", "seven", "eight",
                     "nine")[int(d)],
}
SEPARATORS = ["", " ", "-", ".", "/", "_", ", ", "、", "杠", " dash ", "—", " · ", "…"]


@st.composite
def said(draw: st.DrawFn, number: str) -> str:
    """`number` as said: one numeral system or a mix, grouped, any separators."""
    mixed = draw(st.booleans())
    form = draw(st.sampled_from(sorted(FORMS)))
    size = draw(st.sampled_from([1, 2, 3, 4, len(number)]))
    sep = draw(st.sampled_from(SEPARATORS))
    out = ""
    for i, d in enumerate(number):
        word = FORMS[draw(st.sampled_from(sorted(FORMS))) if mixed else form](d)
        if i:
            gap = sep if i % size == 0 else ""
            if not gap.strip() and ((word[0].isascii() and word.isalpha()) or
                                    (out[-1].isascii() and out[-1].isalpha())):
                gap = gap or " "  # English words need a space between them
            out += gap
        out += word
    return out


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


cards = st.integers(13, 19).flatmap(digits).map(lambda s: s[:-1] + luhn_digit(s[:-1]))

CUE_BEFORE = {
    "en": ["my pin is {}", "pin {}", "the code on the back is {}", "cvv {}", "password: {}",
           "the three digits on the back are {}", "my security code {}"],
    "zh": ["密码是{}", "我的密码{}", "背面三位数是{}", "安全码{}", "验证码是 {}"],
    "ko": ["비밀번호는 {}", "카드 뒷면 세자리 숫자는 {}", "보안코드 {}", "비번 {}"],
}
CUE_AFTER = {
    "en": ["{} is my pin", "{} that's the code on the back", "{} is the password"],
    "zh": ["{}是我的密码", "{}，这是密码", "{}是背面的安全码"],
    "ko": ["{}가 비밀번호예요", "{} 비밀번호입니다", "{}가 뒷면 숫자예요"],
}
ANNOUNCE = {
    "en": ["I need to give you my pin", "let me tell you the code on the back"],
    "zh": ["我要告诉你密码", "我说一下卡背面的数字"],
    "ko": ["비밀번호 알려 드릴게요", "카드 뒷면 숫자 말씀드릴게요"],
}
PLAIN = {"en": ["{}", "it's {}", "ok {}"], "zh": ["{}", "是{}", "嗯，{}"],
         "ko": ["{}", "네 {}", "{} 입니다"]}


@dataclass(frozen=True)
class Call:
    lang: Lang
    turns: tuple[str, ...]
    secrets: tuple[str, ...]
    """PIN or CVV digits: none of them may be readable."""
    cards: tuple[str, ...]
    """Card numbers: at most their last four may be readable."""


def _chunks(text: str, k: int) -> list[str]:
    step = max(1, -(-len(text) // k))
    return [text[i : i + step] for i in range(0, len(text), step)]


@st.composite
def calls(draw: st.DrawFn) -> Call:
    lang = draw(st.sampled_from(["en", "zh", "ko"]))
    code = draw(st.sampled_from([3, 4, 5, 6]).flatmap(digits))
    card = draw(cards)
    how = draw(st.sampled_from(["before", "after", "announced", "bare", "with_card", "split"]))
    spoken = draw(said(code))
    if how in ("before", "after"):
        table = CUE_BEFORE if how == "before" else CUE_AFTER
        turns = [draw(st.sampled_from(table[lang])).format(spoken)]
    elif how == "announced":
        turns = [draw(st.sampled_from(ANNOUNCE[lang])),
                 draw(st.sampled_from(PLAIN[lang])).format(spoken)]
    elif how == "bare":  # no cue at all: a 3-6 digit number is a potential PIN
        turns = [draw(st.sampled_from(PLAIN[lang])).format(spoken)]
    elif how == "with_card":  # card, then its code in the same breath, cue or not
        both = draw(said(card)) + draw(st.sampled_from([" ", ", ", " and ", "", "-"])) + spoken
        cue = draw(st.sampled_from(["", *CUE_AFTER[lang]]))
        turns = [cue.format(both) if cue else both]
    else:  # the code over several turns, after an announcement or not
        k = draw(st.integers(2, len(code)))
        parts = [draw(said(part)) for part in _chunks(code, k)]
        turns = ([draw(st.sampled_from(ANNOUNCE[lang]))] if draw(st.booleans()) else []) + parts
    return Call(lang, tuple(turns), (code,), (card,) if how == "with_card" else ())


# -- the dialog, as every driver runs it -------------------------------------------------------


@cache
def bank() -> Flow:
    return load_flow(BANK)


@cache
def matcher(lang: Lang) -> IntentMatcher:
    flow = bank()
    return IntentMatcher({i: it.phrases.get(lang, ()) for i, it in flow.intents.items()}, lang)


def stored(call: Call) -> str:
    """Everything the dialog keeps of the call, as one text."""
    d = Dialog(bank(), call.lang, matcher(call.lang), "gen")
    d.start()
    for text in call.turns:
        d.on_utterance(Utterance(text, call.lang))
    d.on_hangup()
    out = [t.heard for t in d.turns] + list(d.heard) + [str(s) for s in d.slots.values()]
    out += [str(v) for e in d.trace for k, v in e.data if k in ("text", "slots", "key")
            and e.kind not in ("prompt", "system", "confirm", "announcement")]
    if d.handoff is not None:
        out += list(d.handoff.heard) + [str(s) for s in d.handoff.slots]
    return "\n".join(out)


def readable_without_tails(text: str, cards: tuple[str, ...]) -> str:
    """The readable digits of each line, with each card's allowed tail ``****1234`` removed."""
    for card in cards:
        text = text.replace("****" + card[-4:], "****")
    return "\n".join(readable_digits(line) for line in text.splitlines())


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_no_secret_is_readable_from_what_the_dialog_keeps(call: Call) -> None:
    assume(all(code not in card[-4:] for code in call.secrets for card in call.cards))
    said_digits = readable_digits(" ".join(call.turns))
    assert all(code in said_digits for code in call.secrets)  # the reference sees them

    seen = readable_without_tails(stored(call), call.cards)
    for code in call.secrets:
        assert code not in seen, (call.turns, stored(call))
    for card in call.cards:
        windows = {card[i : i + 5] for i in range(len(card) - 4)}
        assert not any(w in seen for w in windows), (call.turns, stored(call))


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(calls(), st.booleans())
def test_masking_is_idempotent_and_never_adds_digits(call: Call, secret: bool) -> None:
    for text in call.turns:
        once = mask_sensitive(text, secret=secret)
        assert mask_sensitive(once) == once
        assert mask_sensitive(once, secret=secret) == once
        assert len(readable_digits(once)) <= len(readable_digits(text))


# -- the reported leaks, each one a test --------------------------------------------------------

REPORTED = [
    ("en", ("4111.1111.1111.1111 and 4111/1111/1111/1112",), ("41111111111111", "1112")),
    ("en", ("4111_1111_1111_1112",), ("41111111111111",)),
    ("zh", ("6222杠0212杠3456杠7890",), ("62220212",)),
    ("zh", ("陆贰贰贰零贰壹贰叁肆伍陆柒捌玖零壹贰捌",), ("62220212",)),
    ("zh", ("壹贰叁肆伍陆柒捌玖拾零",), ("12345",)),
    ("en", ("the three digits on the back are 4 5 6",), ("456",)),
    ("en", ("the code on the back is seven eight nine",), ("789",)),
    ("zh", ("背面三位数是一二三",), ("123",)),
    ("ko", ("카드 뒷면 세자리 숫자는 칠팔구",), ("789",)),
    ("en", ("1234 is my pin",), ("1234",)),
    ("ko", ("1234가 비밀번호예요",), ("1234",)),
    ("zh", ("123456是我的密码",), ("3456", "123")),
    ("ko", ("비밀번호는 하나 둘 셋 넷",), ("1234",)),
    ("ko", ("하나 둘 셋 넷 다섯 여섯 일곱 여덟 아홉 열 영 공",), ("1234",)),
    ("en", ("I need to give you my pin", "1 2 3 4"), ("1234",)),
]


def test_each_reported_leak_is_closed() -> None:
    for lang, turns, secrets in REPORTED:
        seen = readable_without_tails(stored(Call(lang, turns, secrets, ())), ())
        for secret in secrets:
            assert secret not in seen, (turns, seen)
