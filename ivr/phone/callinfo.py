"""What a SIP call says about itself, sans-I/O: the number it called, the caller's language,
and keys sent as SIP INFO (RFC 2976 bodies `application/dtmf-relay` and `application/dtmf`).

Pure functions of strings, never an exception on what a peer sends (fuzzed in
tests/test_phone_callinfo.py). A keyed digit is returned as a `Dtmf`, never logged.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Final

from ivr.types import Dtmf, Lang

__all__ = ["LANG_HEADER", "call_lang", "called_number", "info_key"]

LANG_HEADER: Final = "x-ivr-lang"
"""The header a trusted PBX sets to choose the caller's language (`X-IVR-Lang: ko`)."""
_USER: Final = re.compile(r"^\s*(?:[^<]*<)?\s*(?:sips?:([^@;>?\s:]+)(?::[^@;>?\s]*)?@"
                          r"|tel:([^;>?\s]+))", re.IGNORECASE)
"""The user part of a sip/sips URI (before `@`, without a password) or a tel URI's number."""
_SIGNAL: Final = re.compile(r"^\s*signal\s*=\s*(\S)\s*$", re.IGNORECASE | re.MULTILINE)
_MAX_BODY: Final = 512
"""INFO bodies longer than this are not keys."""


def called_number(request_uri: str, to: str | None) -> str | None:
    """The user part of the Request-URI (`sip:1588@pbx` → "1588"), else of the To header
    (a Request-URI without a user, `sip:pbx:5080`, names no number)."""
    for text in (request_uri, to or ""):
        found = _USER.match(text[:2048])
        if found:
            return found.group(1) or found.group(2)
    return None


_PHONE: Final = re.compile(r"\+?[0-9]{3,20}")
"""A caller number the bank can look up: digits, an optional leading +."""


def calling_number(asserted: str | None, from_: str | None) -> str | None:
    """The caller's number: the user part of `P-Asserted-Identity` (set by a trusted PBX),
    else of `From`, when it is a phone number (`+8210…`, `01012345678`); None otherwise (an
    anonymous or named caller: steps that need the number ask or hand over). The leading + is
    dropped, as the bank keeps numbers in E.164 digits."""
    for text in (asserted or "", from_ or ""):
        found = _USER.match(text[:2048])
        user = (found.group(1) or found.group(2)) if found else None
        if user and _PHONE.fullmatch(user):
            return user.lstrip("+")
    return None


def call_lang(number: str | None, header: str | None, *, lang_for: Mapping[str, Lang],
              languages: Collection[Lang]) -> Lang | None:
    """The caller's language: the `X-IVR-Lang` header when it names one of the flow's
    `languages`, else the language mapped to the called `number`; None = the line's default.
    (Only trusted sources reach a call at all; the header is believed because of that.)"""
    wanted = (header or "").strip().lower()
    for lang in languages:
        if lang == wanted:
            return lang
    if number is not None and number in lang_for:
        return lang_for[number]
    return None


def info_key(content_type: str | None, body: str) -> Dtmf | bool | None:
    """The key a SIP INFO carries: a `Dtmf`; None when the body is DTMF but not a key we
    know (answered, ignored); False when the INFO is not DTMF at all (answered 415)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in ("application/dtmf-relay", "application/dtmf"):
        return False
    if len(body) > _MAX_BODY:
        return None
    if kind == "application/dtmf-relay":
        found = _SIGNAL.search(body)
        signal = found.group(1) if found else ""
    else:
        signal = body.strip()
    try:
        return Dtmf(signal.upper()) if len(signal) == 1 else None
    except ValueError:
        return None
