"""SIP messages (RFC 3261 section 7), sans-I/O: the strict gate every datagram passes first.

`parse_message` turns one datagram into a `SipRequest`, a `SipResponse` or a `SipProblem`
value; it never raises on what a peer sends. Limits are part of it (message, header count,
line and body sizes), and so are the checks a UAS relies on: a well-formed request line or
status line, the mandatory headers, a CSeq that matches the method, a Via with a branch, a
Content-Length that matches the body. A problem with a request carries a ready `400` reply
when the request can be answered at all (RFC 3261 section 8.2.6 needs its Via, From, To,
Call-ID and CSeq), so one bad message costs one log line and one response, never the process.

The signalling stack (aiosipua, see docs/phone.md) only sees messages that passed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "MAX_BODY",
    "MAX_HEADERS",
    "MAX_MESSAGE",
    "SipProblem",
    "SipRequest",
    "SipResponse",
    "build_response",
    "parse_message",
    "serialize",
]

MAX_MESSAGE: Final = 16_384
"""Bytes in one datagram. SIP over UDP stays under the path MTU; 16 KiB is generous."""
MAX_HEADERS: Final = 64
MAX_LINE: Final = 2048
MAX_BODY: Final = 8192
METHODS: Final = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REFER", "NOTIFY",
                            "INFO", "UPDATE", "PRACK", "REGISTER", "SUBSCRIBE", "MESSAGE",
                            "PUBLISH"})
_COMPACT: Final = {"i": "call-id", "m": "contact", "e": "content-encoding",
                   "l": "content-length", "c": "content-type", "f": "from", "s": "subject",
                   "k": "supported", "t": "to", "v": "via", "r": "refer-to", "o": "event"}
_REQUIRED: Final = ("via", "from", "to", "call-id", "cseq")
_TOKEN: Final = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_URI: Final = re.compile(r"(sips?|tel):[^\s<>]+", re.IGNORECASE)
_VIA: Final = re.compile(r"SIP/2\.0/(UDP|TCP|TLS|SCTP|WS|WSS)\s+[^\s;,]+", re.IGNORECASE)
_BRANCH: Final = re.compile(r";\s*branch\s*=\s*([^\s;,]+)", re.IGNORECASE)
_CTL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class _Message:
    headers: tuple[tuple[str, str], ...]
    """(lower-case full name, value) in the order received; compact names expanded;
    Content-Length left out (it is `len(body)`)."""
    body: bytes = field(default=b"", repr=False)

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive full name), or None."""
        name = name.lower()
        return next((v for n, v in self.headers if n == name), None)

    def header_all(self, name: str) -> tuple[str, ...]:
        """Every value of a header, in order."""
        name = name.lower()
        return tuple(v for n, v in self.headers if n == name)


@dataclass(frozen=True)
class SipRequest(_Message):
    """A request that passed the gate."""

    method: str = ""
    uri: str = ""

    def __str__(self) -> str:
        return f"sip {self.method} {self.header('call-id')}"


@dataclass(frozen=True)
class SipResponse(_Message):
    """A response that passed the gate."""

    status: int = 0
    reason: str = ""

    def __str__(self) -> str:
        return f"sip {self.status} {self.reason} {self.header('call-id')}"


@dataclass(frozen=True)
class SipProblem:
    """A datagram that is not an acceptable SIP message."""

    reason: str
    """One line for the log (never the message itself: it may carry digits)."""
    reply: bytes | None = field(default=None, repr=False)
    """A 400 response to send back, when the request can be answered."""

    def __str__(self) -> str:
        return f"sip rejected: {self.reason}"


def parse_message(data: bytes) -> SipRequest | SipResponse | SipProblem:
    """One datagram to a message, or a problem saying why not."""
    if len(data) > MAX_MESSAGE:
        return SipProblem(f"{len(data)} bytes, over the {MAX_MESSAGE}-byte limit")
    data = data.lstrip(b"\r\n")  # keep-alive CRLFs before a message are allowed
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return SipProblem("no blank line after the headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return SipProblem("headers are not UTF-8")
    lines = text.split("\r\n")
    if any(len(line) > MAX_LINE for line in lines):
        return SipProblem(f"a header line over {MAX_LINE} characters")
    headers = _headers(lines[1:])
    if isinstance(headers, SipProblem):
        return headers
    start = lines[0].split(" ", 2)
    if start[0] == "SIP/2.0":
        return _response(start, headers, body)
    return _request(start, headers, body)


def _headers(lines: list[str]) -> tuple[tuple[str, str], ...] | SipProblem:
    out: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and out:  # obsolete line folding
            out[-1] = (out[-1][0], f"{out[-1][1]} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.fullmatch(name):
            return SipProblem("a header line is not name: value")
        if _CTL.search(value):
            return SipProblem(f"control characters in {name[:30]}")
        out.append((_COMPACT.get(name.lower(), name.lower()), value.strip()))
        if len(out) > MAX_HEADERS:
            return SipProblem(f"more than {MAX_HEADERS} headers")
    return tuple(out)


def _body(headers: tuple[tuple[str, str], ...], body: bytes) -> bytes | str:
    """The body as Content-Length says (RFC 3261 18.3), or why it cannot be."""
    lengths = [v for n, v in headers if n == "content-length"]
    if not lengths:
        return body
    if len(lengths) > 1 or not lengths[0].isdigit():
        return "Content-Length is not one number"
    length = int(lengths[0])
    if length > MAX_BODY:
        return f"body of {length} bytes, over the {MAX_BODY}-byte limit"
    if length > len(body):
        return f"Content-Length {length} but {len(body)} bytes arrived"
    return body[:length]


def _without_length(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Content-Length is a property of the body, written again by `serialize`."""
    return tuple((n, v) for n, v in headers if n != "content-length")


def _request(start: list[str], headers: tuple[tuple[str, str], ...],
             body: bytes) -> SipRequest | SipProblem:
    method = start[0]
    if len(start) != 3 or start[2] != "SIP/2.0" or not _TOKEN.fullmatch(method):
        return SipProblem("not a SIP/2.0 request line")
    probe = SipRequest(headers, b"", method, start[1])
    reply = _bad_request(probe)
    if method not in METHODS:
        return SipProblem(f"unknown method {method[:20]}", reply)
    if not _URI.fullmatch(start[1]):
        return SipProblem("Request-URI is not a sip:, sips: or tel: URI", reply)
    missing = [name for name in _REQUIRED if probe.header(name) is None]
    if missing:
        return SipProblem(f"missing {', '.join(missing)}", reply)
    checked = _check_common(probe) or _check_cseq(probe)
    if checked:
        return SipProblem(checked, reply)
    sized = _body(headers, body)
    if isinstance(sized, str):
        return SipProblem(sized, reply)
    return SipRequest(_without_length(headers), sized, method, start[1])


def _response(start: list[str], headers: tuple[tuple[str, str], ...],
              body: bytes) -> SipResponse | SipProblem:
    if len(start) < 2 or not (start[1].isdigit() and len(start[1]) == 3):
        return SipProblem("not a SIP/2.0 status line")
    status = int(start[1])
    if not 100 <= status <= 699:
        return SipProblem(f"status {status} out of range")
    probe = SipResponse(headers, b"", status, start[2] if len(start) > 2 else "")
    missing = [name for name in _REQUIRED if probe.header(name) is None]
    if missing:
        return SipProblem(f"response missing {', '.join(missing)}")
    checked = _check_common(probe)
    if checked:
        return SipProblem(checked)
    sized = _body(headers, body)
    if isinstance(sized, str):
        return SipProblem(sized)
    return SipResponse(_without_length(headers), sized, probe.status, probe.reason)


def _check_common(message: _Message) -> str | None:
    for via in message.header_all("via"):
        for hop in _split_commas(via):
            if not _VIA.match(hop) or not _BRANCH.search(hop):
                return "a Via is not SIP/2.0/transport host;branch=..."
    for name in ("from", "to"):
        value = message.header(name) or ""
        if not _URI.search(value):
            return f"{name.title()} has no sip:, sips: or tel: URI"
    call_id = message.header("call-id") or ""
    if not call_id or " " in call_id:
        return "Call-ID is empty or has a space"
    number, _, method = (message.header("cseq") or "").partition(" ")
    if not number.isdigit() or int(number) >= 2**31 or method.strip() not in METHODS:
        return "CSeq is not number METHOD"
    return None


def _check_cseq(request: SipRequest) -> str | None:
    method = (request.header("cseq") or "").partition(" ")[2].strip()
    if method != request.method:
        return f"CSeq method {method[:20]} does not match {request.method}"
    return None


def _split_commas(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _bad_request(probe: SipRequest) -> bytes | None:
    """A 400 for a request that has what a response needs, else None (it is only dropped)."""
    if probe.method == "ACK" or any(probe.header(name) is None for name in _REQUIRED):
        return None
    if _check_common(probe) is not None:
        return None
    return serialize(build_response(probe, 400, "Bad Request"))


def build_response(request: SipRequest, status: int, reason: str, *, to_tag: str | None = None,
                   headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> SipResponse:
    """A response to `request` (RFC 3261 8.2.6): its Vias, From, To (+ tag), Call-ID, CSeq."""
    to = request.header("to") or ""
    if to_tag is not None and ";tag=" not in to.replace(" ", "").lower():
        to = f"{to};tag={to_tag}"
    copied = [("via", v) for v in request.header_all("via")]
    copied += [("from", request.header("from") or ""), ("to", to),
               ("call-id", request.header("call-id") or ""), ("cseq", request.header("cseq") or "")]
    return SipResponse((*copied, *headers), body, status, reason)


_CANONICAL: Final = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate"}


def serialize(message: SipRequest | SipResponse) -> bytes:
    """A message to its datagram; Content-Length is always written from the body."""
    if isinstance(message, SipRequest):
        start = f"{message.method} {message.uri} SIP/2.0"
    else:
        start = f"SIP/2.0 {message.status} {message.reason}"
    lines = [start]
    for name, value in message.headers:
        if name != "content-length":
            lines.append(f"{_CANONICAL.get(name, name.title())}: {value}")
    lines.append(f"Content-Length: {len(message.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + message.body
