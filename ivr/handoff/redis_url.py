"""Redis URLs and key names for the queue: the one place a key is named, the URL's key
prefix and hidden password, client timeouts, and the sortable encoding of filing times."""

from __future__ import annotations

import re
import struct
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import QueueError

__all__ = ["DEFAULT_PREFIX", "key", "number", "parse_url", "sortable_time", "timeouts"]

DEFAULT_PREFIX = "ivr"
"""The key prefix when the URL names none."""

_TIMEOUT = 5.0
"""Seconds to wait for a connection or a reply, unless the URL sets socket_*timeout."""


def key(prefix: str, *parts: str) -> str:
    """The one place a key name is built: the prefix and the parts, joined by ":"."""
    return ":".join((prefix, *parts))


def sortable_time(t: float) -> str:
    """A float as 16 hex digits that sort byte by byte exactly as the numbers do."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", t + 0.0))  # + 0.0: -0.0 sorts as 0.0
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63
    return f"{bits:016x}"


def number(value: object) -> float | None:
    """A stored number (or a missing one) as a float or None."""
    return None if value is None else float(value)  # type: ignore[arg-type]


def parse_url(url: str) -> tuple[str, str, str, str]:
    """(URL to show, key prefix, URL for the client, password) from a redis URL."""
    parts = urlsplit(url)
    shown = parts._replace(netloc=re.sub(r":[^:@/]*@", ":***@", parts.netloc))
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as exc:
        raise QueueError(f"queue {urlunsplit(shown)}: bad URL: {exc}") from None
    prefixes = [v for k, v in query if k == "prefix"]
    prefix = prefixes[-1] if prefixes else DEFAULT_PREFIX
    if not prefix:
        raise QueueError(f"queue {urlunsplit(shown)}: prefix= names no key prefix")
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(shown), prefix, urlunsplit(parts._replace(query=rest)), parts.password or ""


def timeouts(url: str) -> dict[str, float]:
    query = dict(parse_qsl(urlsplit(url).query))
    return {k: _TIMEOUT for k in ("socket_timeout", "socket_connect_timeout") if k not in query}


