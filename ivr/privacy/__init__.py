"""Mask card numbers, PINs and codes in anything the engine stores or prints: a boundary.

What is not positively known to be safe is not stored. Every *digit group* — digits in any
numeral system the engine hears (ASCII and every Unicode decimal digit, Chinese and financial
Chinese numerals, Sino-Korean and native Korean numbers, English digit words), joined by any
separators (see `ivr.privacy.numerals`) — is masked whole as ``***`` unless it is a single
digit, an amount with a currency, a small quantity with a unit, a date or a card tail after
"ending in" (see `ivr.privacy.rules`). A Luhn-valid card number of 13-19 digits keeps its last
four (``****7890``) for the agent; nothing shorter ever shows a digit.

A *secret turn* — one that names a secret (pin, password, cvv, code on the back, 密码, 背面,
비밀번호, 뒷면 …), or follows one (`secret_follows`), or answers a prompt asking for one — keeps
no digit at all, not even a single one, a tail or an amount.

Across turns, a call keeps at most one lone digit: from the second turn holding one, each is
masked (`LONE_TURNS`), since a code may be said one digit per turn with filler between; in a
turn naming a secret no lone digit is kept, only words that look like one (三次, "a new one").

`mask_sensitive` is idempotent and never increases the digits a reader can recover. The
dialog masks only what it stores or prints: the matcher and slot reader see the raw text.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import replace

from ..types import Slot
from .numerals import groups
from .rules import FULL_MASK, is_secret_turn, lone_digits, mask_text

__all__ = [
    "FULL_MASK",
    "LONE_TURNS",
    "is_secret_name",
    "is_secret_turn",
    "lone_digits",
    "mask_digits_keep_last4",
    "mask_sensitive",
    "mask_slot",
    "mask_turn_slots",
    "secret_follows",
]

_SECRET_NAME_RE = re.compile(
    r"pin|cvv|cvc|otp|passcode|password|secret|security_?code|verification", re.IGNORECASE
)
_FILLER_RE = re.compile(
    r"(?:[^\w*]|_|(?<![a-z])(?:um+|uh+|er+|and|then|it's|its|is|yes|ok|okay)(?![a-z])|"
    r"嗯|呃|啊|是|好|음|어|네|예)*",
    re.IGNORECASE,
)
LONE_TURNS = 1
"""Turns with a lone digit a call may store as heard: every later one is a digit of a code
spread over turns ("1 please", "hello", "2 please") as far as anyone can tell, and masked. A
menu choice said as a digit still routes (the matcher hears the raw text); only what is stored
of it is masked."""

_PLAIN_SLOTS = ("amount", "date")
"""Slot kinds that are quantities, not identifiers: kept as read outside secret turns."""


def mask_sensitive(text: str, *, secret: bool = False) -> str:
    """`text` with every digit group not known to be safe masked.

    Args:
        text: A transcript, a slot value, any text that may be stored or printed.
        secret: The turn is known to carry a secret even if it names none (the one after
            "I need to give you my PIN", or an answer to "please say your PIN").

    Returns:
        The text with unsafe digit groups replaced by ``***`` (or ``****1234`` for a card).
    """
    return mask_text(text, secret=secret)


def secret_follows(text: str, *, secret: bool = False) -> bool:
    """Whether the turn after `text` must be treated as carrying a secret.

    True when `text` names a secret, when it gave a number that was masked (the rest of it
    may follow), when it was nothing but a number ("4", then "1", then …), or when the turn
    was itself secret and still giving digits.
    """
    if is_secret_turn(text):
        return True
    found = groups(text)
    if not found:
        return False
    if secret or (any(len(g.tokens) > 1 for g in found) and mask_text(text) != text):
        return True
    rest = "".join(text[a.end : b.start] for a, b in itertools.pairwise(found))
    rest = text[: found[0].start] + rest + text[found[-1].end :]
    return _FILLER_RE.fullmatch(rest) is not None


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


def is_secret_name(name: str) -> bool:
    """Whether a slot or field name says its value is a secret (pin, cvv, otp, password…)."""
    return _SECRET_NAME_RE.search(name) is not None


def mask_slot(slot: Slot) -> Slot:
    """The slot with its value and printable form masked.

    A slot whose name marks a secret (see `is_secret_name`) is masked whole. A card tail of
    exactly four digits and an amount of at most seven stay (the dialog decided they were
    safe when it heard them, see `mask_turn_slots`); any other slot goes through
    `mask_sensitive`.
    """
    if is_secret_name(slot.name):
        return replace(slot, value=FULL_MASK, masked=FULL_MASK)
    plain = {"card_tail": r"\d{4}", "amount": r"\d{1,7}"}.get(slot.name)
    if plain and slot.masked == slot.value and re.fullmatch(plain, slot.value, re.ASCII):
        return slot
    value, masked = mask_sensitive(slot.value), mask_sensitive(slot.masked)
    if value == slot.value and masked == slot.masked:
        return slot
    return replace(slot, value=value, masked=masked)


def _visible(slot: Slot, heard: str) -> bool:
    """Whether every digit of the slot is in plain view in the masked transcript."""
    digits = "".join(c for c in slot.value if c.isdecimal())
    shown = "".join(g.digits for g in groups(heard))
    return digits in shown


def mask_turn_slots(slots: tuple[Slot, ...], heard: str, *, secret: bool) -> tuple[Slot, ...]:
    """The slots of one turn as they may be stored, given the turn's masked transcript.

    In a secret turn every slot is masked whole. Otherwise amounts and dates stay, and any
    other slot (card tail, phone) stays only if the transcript shows its digits anyway.
    """
    out = []
    for slot in slots:
        keep = not secret and (slot.name in _PLAIN_SLOTS or _visible(slot, heard))
        out.append(mask_slot(slot) if keep else replace(slot, value=FULL_MASK,
                                                        masked=FULL_MASK))
    return tuple(out)
