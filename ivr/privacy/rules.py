"""Which digit groups may be stored as heard, and what the others become.

Positively safe, and kept as heard (never in a secret turn, see `is_secret_turn`):

* a single digit (a menu choice, "option 2", 第一), as long as the turn has fewer than
  `SPREAD` lone digits (``1 and 2 and 3 and 4`` is a PIN spread out, not four choices);
* an amount written as one number next to a currency (``$1,200.50``, ``500 dollars``,
  ``2500元``, ``50000원``), at most `AMOUNT_DIGITS` digits before the decimal point;
* a small quantity with a unit (``3 days``, ``24小时``, ``12月``, ``25일``, ``2024年``);
* an ISO date (``2024-05-01``);
* a card tail of exactly 4 digits right after "ending in", 尾号, 끝자리 …;
* a tail this module kept before (``****1234``), so masking is idempotent.

Everything else is masked: a Luhn-valid card number of 13-19 digits, outside a secret turn and
with no shorter Luhn-valid prefix that would leave a code at its end, becomes ``****`` plus its
last 4 digits; any other group of two or more tokens becomes ``***`` whole (a 3-6 digit group
may be a CVV or a PIN and has nothing safe to show).
"""

from __future__ import annotations

import re

from .numerals import Group, groups

__all__ = ["AMOUNT_DIGITS", "FULL_MASK", "SPREAD", "is_secret_turn", "lone_digits", "luhn_ok",
           "mask_text"]

FULL_MASK = "***"
"""What a PIN, CVV, code, or any number not known to be safe becomes."""

SPREAD = 3
"""Lone digits in one turn from this many on are masked too (a CVV has 3 digits)."""

AMOUNT_DIGITS = 7
"""Most digits before the decimal point an amount may have (longer: a number, masked)."""

_CARD_LENGTHS = range(13, 20)

_CUE_RE = re.compile(
    r"密码|密碼|口令|验证码|驗證碼|校验码|校驗碼|安全码|安全碼|动态码|動態碼|背面|"
    r"비밀번호|비번|암호|인증번호|보안코드|보안 코드|뒷면|핀번호|핀 번호|"
    r"(?<![a-z])(?:pin|pins|pin number|cvv2?|cvc2?|cid|csc|otp|passcodes?|passwords?|"
    r"passphrase|codes?|on the back|back of (?:the|my|your) card)(?![a-z])",
    re.IGNORECASE,
)
"""Words that say a secret is being given (or asked for) nearby."""

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?"
_AMOUNT_AFTER_RE = re.compile(
    r"\s*(?:元|块|塊|圆|圓|人民币|원|달러|(?:dollars?|bucks|usd|euros?|pounds?|cents?|yuan|rmb|"
    r"won)(?![a-z]))",
    re.IGNORECASE,
)
_AMOUNT_BEFORE_RE = re.compile(r"[$¥￥€£₩]\s*$")
_UNIT_RE = re.compile(
    r"\s*(?:天|小时|小時|分钟|分鐘|个月|個月|月|日|号|號|年|次|岁|歲|%|％|"
    r"시간|분|개월|월|일|년|번|살|"
    r"(?:days?|hours?|minutes?|weeks?|months?|years?|times|percent|am|pm)(?![a-z]))",
    re.IGNORECASE,
)
_TAIL_CUE_RE = re.compile(
    r"(?:尾号|尾號|末四位|后四位|後四位|最后四位|最後四位|끝자리|끝 자리|뒷자리|마지막 네 자리|"
    r"(?<![a-z])(?:ending(?: in| with)?|last four(?: digits)?(?: are| is)?))"
    r"(?:是|为|為|가|는|는요)?\s*$",
    re.IGNORECASE,
)
_DATE_RE = re.compile(
    r"(?:19|20)\d\d([-/.])(?:0?[1-9]|1[0-2])(?:\1(?:0?[1-9]|[12]\d|3[01]))?"
)
_MASKED_TAIL_RE = re.compile(r"\*{4}[^\S\n]*$")


def luhn_ok(digits: str) -> bool:
    """Whether `digits` pass the Luhn check card numbers carry."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    """A card number, and not a card with a CVV or PIN said straight after it (no shorter
    Luhn-valid number inside it ends three or more digits before its end)."""
    if len(digits) not in _CARD_LENGTHS or not luhn_ok(digits):
        return False
    return not any(luhn_ok(digits[i : i + n]) for i in range(len(digits))
                   for n in range(13, len(digits) - 2 - i))


def is_secret_turn(text: str) -> bool:
    """Whether `text` names a secret (PIN, password, CVV, code, 密码, 비밀번호, …)."""
    return _CUE_RE.search(text) is not None


def _ascii_number(text: str, g: Group) -> str | None:
    """The group as written, if it is one plain ASCII number (digits, commas, a point)."""
    raw = text[g.start : g.end]
    return raw if re.fullmatch(_NUM, raw, re.ASCII) else None


def _safe(text: str, g: Group) -> bool:
    """Whether a group of two or more tokens is positively a non-secret quantity."""
    raw = _ascii_number(text, g)
    after, before = text[g.end :], text[max(0, g.start - 24) : g.start]
    if raw is not None:
        whole = raw.split(".")[0].replace(",", "")
        if len(whole) <= AMOUNT_DIGITS and (
            _AMOUNT_AFTER_RE.match(after) or _AMOUNT_BEFORE_RE.search(before)
        ):
            return True
        if len(whole) <= 3 and "," not in raw and _UNIT_RE.match(after):
            return True
        if re.fullmatch(r"(?:19|20)\d\d", raw) and re.match(r"\s*(?:年|년)", after):
            return True
        if re.fullmatch(r"\d{4}", raw) and _MASKED_TAIL_RE.search(before):
            return True
    elif _DATE_RE.fullmatch(text, g.start, g.end) or _day(text, g):
        return True
    tail = len(g.tokens) == 4 and len(g.digits) == 4
    return tail and _TAIL_CUE_RE.search(before) is not None


def _day(text: str, g: Group) -> bool:
    """"25일": digits with the Korean day counter 일 written straight after them."""
    *head, last = g.tokens
    if not head or last.kind != "sino" or text[last.start] != "일" or head[-1].end != last.start:
        return False
    return len(head) <= 2 and all(t.kind == "char" and t.digits.isdigit() for t in head)


_COUNTER_RE = re.compile(r"[次个個下遍回位天起样樣些点點会會直定般共切]")
"""Chinese measure words and word endings after 一/三 that make it a word (一下, 三次, 一起)."""


def _word_not_digit(text: str, g: Group) -> bool:
    """A weak lone token that is a word even in a turn naming a secret: "a new one", 三次."""
    tok = g.tokens[0]
    if not tok.weak:
        return False
    return tok.kind == "en" or (tok.kind == "char" and _COUNTER_RE.match(text, tok.end) is not None)


def _lone(g: Group) -> bool:
    """One digit said alone (or 열 / 拾, ten): a menu choice or a word, not a number; English
    digit words run together ("twoone") or doubled ("double two") are a number."""
    return len(g.tokens) == 1 and (len(g.digits) == 1
                                   or (len(g.digits) == 2 and g.tokens[0].kind != "en"))


def _replacement(text: str, g: Group, secret: int, lone: int) -> str | None:
    """What one group becomes, or None to keep it as heard (`secret`: 0 no, 1 cue, 2 told)."""
    if _lone(g):
        if secret == 1:  # a cue: every lone digit goes ("my pin is 1", 密码是一吗), not words
            return None if _word_not_digit(text, g) and lone < SPREAD else FULL_MASK
        weak = g.tokens[0].weak
        return FULL_MASK if secret > weak or lone >= SPREAD else None
    if secret:
        return FULL_MASK
    if _safe(text, g):
        return None
    if _is_card(g.digits):
        return "****" + g.digits[-4:]
    return FULL_MASK


def lone_digits(text: str) -> int:
    """How many lone digits (a single spoken or written digit, not a word) `text` holds."""
    return sum(1 for g in groups(text) if _lone(g) and not g.tokens[0].weak)


def mask_text(text: str, *, secret: bool = False) -> str:
    """`text` with every digit group not known to be safe masked (see the module docstring).

    Args:
        text: What the caller said, or anything derived from it.
        secret: The turn is known to carry a secret (a cue said just before, or the dialog
            is collecting one): every digit, even a single one, is masked.
    """
    level = 2 if secret else int(is_secret_turn(text))
    found = groups(text, strict=level > 0)
    lone = sum(1 for g in found if _lone(g))
    parts: list[str] = []
    pos = 0
    for g in found:
        new = _replacement(text, g, level, lone)
        if new is None:
            continue
        parts += [text[pos : g.start], new]
        pos = g.end
    if not parts:
        return text
    return "".join(parts) + text[pos:]
