"""Mask card numbers, PINs and codes in anything the engine stores or prints.

Callers read numbers aloud in many ways, and recognisers write them in as many: "6222 0212
3456 7890", "六二二二零二幺二…", "six two two two oh two …", "육이이이공이…". Every one of those is
a *digit run* here: digit tokens (ASCII or other Unicode decimal digits, Chinese spoken digits
零〇一幺二两三四五六七八九, Sino-Korean digits 공영일이삼사오육칠팔구, English digit words
zero/oh/one…nine) separated only by spaces, commas or dashes. Mixed forms join one run.

The rules, applied to each maximal run:

* a run of 3 or more digits just after a secret cue (密码, 验证码, pin, cvv, security code,
  비밀번호, 인증번호, …; at most `CUE_GAP` characters between them, no sentence end) is masked
  whole as ``***`` — a code has nothing safe to show, not even a tail;
* any other run of 6 or more digits (card numbers, account and phone numbers) becomes ``****``
  followed by its last 4 digits written as ASCII digits, e.g. ``****7890``;
* everything else (amounts such as "500", "五百", ISO dates such as "2024-05-01", single
  words like "one") is left alone.

Trade-offs, on purpose: over-masking is preferred to leaking, so a long amount ("1000000") or a
run of Korean syllables that happen to be digits can be masked too. Counting words with units
("五百", "five hundred") are not digit runs and always survive.

`mask_sensitive` is idempotent and never increases the number of digits a reader can recover
(kept tails come from runs of at least 6 digits, and a mask never joins neighbouring runs).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from .types import Slot

__all__ = [
    "CUE_GAP",
    "FULL_MASK",
    "is_secret_name",
    "mask_digits_keep_last4",
    "mask_sensitive",
    "mask_slot",
]

FULL_MASK = "***"
"""What a PIN, CVV or one-time code becomes."""

CUE_GAP = 16
"""Most characters allowed between a secret cue word and the digits it introduces."""

_LONG_RUN = 6
"""Runs this long or longer are masked even without a cue (keeping the last 4 digits)."""

_CUED_RUN = 3
"""Runs this long or longer are masked whole after a cue (shorter: "密码错了3次" survives)."""

_ZH_DIGITS = {
    "零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
    "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
}  # fmt: skip
_KO_DIGITS = {
    "공": "0", "영": "0", "일": "1", "이": "2", "삼": "3", "사": "4",
    "오": "5", "육": "6", "칠": "7", "팔": "8", "구": "9",
}  # fmt: skip
_EN_DIGITS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_CHAR_DIGITS = {**_ZH_DIGITS, **_KO_DIGITS}

_EN_WORD = "|".join(sorted(_EN_DIGITS, key=len, reverse=True))
_TOKEN = (
    r"(?:\d"
    rf"|[{''.join(_CHAR_DIGITS)}]"
    rf"|(?<![a-z])(?:{_EN_WORD})(?![a-z]))"
)
_SEP = r"(?:[^\S\n]|[,，、\-–—])*"  # spaces (not newlines), commas, dashes
_TOKEN_RE = re.compile(_TOKEN, re.IGNORECASE)
_RUN_RE = re.compile(rf"{_TOKEN}(?:{_SEP}{_TOKEN})*", re.IGNORECASE)

_CUES = (
    "密码", "密碼", "验证码", "驗證碼", "校验码", "安全码", "动态码",
    "비밀번호", "인증번호", "보안코드", "암호",
    r"(?<![a-z])(?:pin|cvv2?|cvc|otp|passcode|password|"
    r"(?:security|verification|one[ -]time)\s+code)(?![a-z])",
)  # fmt: skip
_CUE_BEFORE_RE = re.compile(
    rf"(?:{'|'.join(_CUES)})[^*。.!?！？;；\n]{{0,{CUE_GAP}}}$", re.IGNORECASE
)
_CUE_WINDOW = CUE_GAP + 24
"""Characters before a run searched for a cue (longest cue + gap, with room)."""

_DATE_RE = re.compile(r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?")
"""An ISO date ("2024-05-01", "2024-05") is a date, not an account number."""

_SECRET_NAME_RE = re.compile(
    r"pin|cvv|cvc|otp|passcode|password|secret|security_?code|verification", re.IGNORECASE
)


def _token_digit(token: str) -> str:
    """The ASCII digit one digit token stands for."""
    if len(token) == 1:
        if token in _CHAR_DIGITS:
            return _CHAR_DIGITS[token]
        return str(unicodedata.decimal(token))
    return _EN_DIGITS[token.lower()]


def _run_digits(run: str) -> str:
    """The ASCII digits of one digit run, in order."""
    return "".join(_token_digit(m.group()) for m in _TOKEN_RE.finditer(run))


def mask_digits_keep_last4(digits: str) -> str:
    """Mask a number, showing only its last 4 digits.

    Args:
        digits: The number; separators and other non-digit characters are ignored, and any
            Unicode decimal digit counts (written back as ASCII).

    Returns:
        ``****`` plus the last 4 digits, e.g. ``****7890``; just ``****`` when there are 4
        digits or fewer, since showing 4 of 4 would show everything.
    """
    ascii_digits = "".join(str(unicodedata.decimal(c)) for c in digits if c.isdecimal())
    if len(ascii_digits) <= 4:
        return "****"
    return "****" + ascii_digits[-4:]


def _after_cue(text: str, start: int) -> bool:
    """Whether a secret cue word closely precedes position `start` of `text`."""
    window = text[max(0, start - _CUE_WINDOW) : start]
    return _CUE_BEFORE_RE.search(window) is not None


def mask_sensitive(text: str) -> str:
    """Mask card numbers, PINs, CVVs and codes in `text`, in digits and spoken forms.

    See the module docstring for the rules. Idempotent: masking a masked text changes nothing.

    Args:
        text: A transcript, a slot value, any text that may be stored or printed.

    Returns:
        The text with every sensitive digit run replaced by ``****1234`` or ``***``.
    """
    parts: list[str] = []
    pos = 0
    for match in _RUN_RE.finditer(text):
        digits = _run_digits(match.group())
        if len(digits) >= _CUED_RUN and _after_cue(text, match.start()):
            masked = FULL_MASK
        elif len(digits) >= _LONG_RUN and not _DATE_RE.fullmatch(match.group()):
            masked = mask_digits_keep_last4(digits)
        else:
            continue
        parts.append(text[pos : match.start()])
        parts.append(masked)
        pos = match.end()
    if not parts:
        return text
    parts.append(text[pos:])
    return "".join(parts)


def is_secret_name(name: str) -> bool:
    """Whether a slot or field name says its value is a secret (pin, cvv, otp, password…)."""
    return _SECRET_NAME_RE.search(name) is not None


def mask_slot(slot: Slot) -> Slot:
    """The slot with its value and printable form masked.

    A slot whose name marks a secret (see `is_secret_name`) is masked whole; any other slot
    goes through `mask_sensitive`, so a card tail "1234" or an amount "500" stays as it is.
    """
    if is_secret_name(slot.name):
        return replace(slot, value=FULL_MASK, masked=FULL_MASK)
    value, masked = mask_sensitive(slot.value), mask_sensitive(slot.masked)
    if value == slot.value and masked == slot.masked:
        return slot
    return replace(slot, value=value, masked=masked)
