"""The request parser: bytes in, a checked request out, or an `ApiError` (a 4xx) — pure.

Limits: a body of at most `MAX_BODY` bytes, UTF-8, one JSON object nested at most `MAX_DEPTH`
deep, no duplicate keys, no NaN/Infinity, only the operation's fields, each of its type and
size. Nothing here touches a socket or the database, so hypothesis fuzzes it in-process.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FIELDS", "MAX_BODY", "MAX_DEPTH", "ApiError", "parse_body"]

MAX_BODY = 16 * 1024
"""The largest request body read (a larger one is refused unread: 413)."""

MAX_DEPTH = 4
"""The deepest nesting of objects and arrays a request may have."""


@dataclass(frozen=True)
class ApiError(Exception):
    """A refusal: the HTTP status and the ``{"error": code}`` code."""

    status: int
    code: str


Check = Callable[[object], object]


def _text(limit: int, pattern: str | None = None) -> Check:
    regex = re.compile(pattern) if pattern else None

    def check(v: object) -> object:
        if not isinstance(v, str) or not v.strip() or len(v) > limit or not v.isprintable():
            raise ValueError
        if regex is not None and not regex.fullmatch(v):
            raise ValueError
        return v.strip()
    return check


def _int(low: int, high: int) -> Check:
    def check(v: object) -> object:
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise ValueError
        return v
    return check


def _date(v: object) -> object:
    if not isinstance(v, str) or not re.fullmatch(r"\d{4}-\d\d-\d\d", v):
        raise ValueError
    return dt.date.fromisoformat(v).isoformat()


def _datetime(v: object) -> object:
    if not isinstance(v, str) or len(v) > 40:
        raise ValueError
    when = dt.datetime.fromisoformat(v)
    if when.tzinfo is None:
        raise ValueError
    return when


def _phone(v: object) -> object:
    digits = re.sub(r"[\s\-()]", "", v) if isinstance(v, str) else ""
    if not re.fullmatch(r"\+?\d{6,16}", digits):
        raise ValueError
    return digits.lstrip("+")


def _enum(*names: str) -> Check:
    def check(v: object) -> object:
        if v not in names:
            raise ValueError
        return v
    return check


_CUSTOMER = _text(16, r"C\d{5}")
_TAIL = _text(4, r"\d{4}")
_AMOUNT = _text(20, r"\d{1,12}(\.\d{1,2})?")
_FREE = _text(200)

FIELDS: dict[str, dict[str, tuple[bool, Check]]] = {
    "verify": {"caller_number": (False, _phone), "card_tail": (False, _TAIL),
               "birth_date": (False, _date), "pin": (False, _text(8, r"\d{4,8}"))},
    "freeze_card": {"customer_id": (True, _CUSTOMER), "card_tail": (False, _TAIL)},
    "balance": {"customer_id": (True, _CUSTOMER), "currency": (False, _enum("CNY", "USD", "KRW"))},
    "transactions": {"customer_id": (True, _CUSTOMER), "limit": (True, _int(1, 50))},
    "send_sms": {"customer_id": (True, _CUSTOMER), "kind": (True, _enum("statement",
                                                                        "upload_link"))},
    "atm_nearby": {"area": (True, _text(100)), "lang": (True, _enum("zh", "en", "ko")),
                   "at": (False, _datetime)},
    "card_retained": {"customer_id": (False, _CUSTOMER), "atm": (True, _FREE),
                      "when": (True, _FREE)},
    "open_dispute": {"customer_id": (True, _CUSTOMER), "transaction": (True, _FREE),
                     "amount": (False, _AMOUNT)},
    "loan_deferral_check": {"customer_id": (True, _CUSTOMER)},
    "loan_deferral_request": {"customer_id": (True, _CUSTOMER), "months": (True, _int(1, 6))},
}
"""Per operation: field -> (required, check). A check returns the clean value or raises."""


def _depth_ok(text: str) -> bool:
    """Whether no object/array in `text` nests deeper than MAX_DEPTH (strings skipped)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ApiError(400, "duplicate_key")
    return found


def _no_constant(name: str) -> object:
    raise ApiError(400, "bad_json")


def decode_json(body: bytes) -> object:
    """The JSON value of a body within the limits, or ApiError(400 …)."""
    if len(body) > MAX_BODY:
        raise ApiError(413, "too_large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_encoding") from None
    if not _depth_ok(text):
        raise ApiError(400, "too_deep")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_json") from None


def parse_body(operation: str, body: bytes) -> dict[str, object]:
    """The checked fields of a request to `operation` (absent optional fields left out; a
    null counts as absent), or ApiError: 404 unknown operation, 400/413 a bad body."""
    fields = FIELDS.get(operation)
    if fields is None:
        raise ApiError(404, "unknown_operation")
    value = decode_json(body)
    if not isinstance(value, dict):
        raise ApiError(400, "not_an_object")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        name = unknown[0] if re.fullmatch(r"[A-Za-z0-9_]{1,32}", unknown[0]) else "?"
        raise ApiError(400, f"unknown_field:{name}")
    clean: dict[str, object] = {}
    for name, (required, check) in fields.items():
        raw = value.get(name)
        if raw is None:
            if required:
                raise ApiError(400, f"missing_field:{name}")
            continue
        try:
            clean[name] = check(raw)
        except (ValueError, TypeError, OverflowError):
            raise ApiError(400, f"invalid_field:{name}") from None
    return clean
