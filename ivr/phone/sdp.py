"""SDP offer/answer (RFC 4566, RFC 3264) for one G.711 audio stream, sans-I/O.

`parse_sdp` reads a session description into frozen values or returns an `SdpError`; it
never raises on peer input and refuses oversized bodies. `answer_offer` picks PCMU or PCMA
in the offer's order of preference plus telephone-event, and writes the answer: one line per
offered m= line, every stream but the chosen audio one refused with port 0. `reanswer` does
the same for a re-INVITE (hold, resume, a new address) on the call's codec.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Final

from ivr.phone.rtp import Codec

__all__ = [
    "Answer",
    "MediaDescription",
    "SdpError",
    "SessionDescription",
    "answer_offer",
    "build_offer",
    "parse_sdp",
    "reanswer",
]

MAX_BYTES: Final = 8192
MAX_LINES: Final = 256
MAX_MEDIA: Final = 16
MAX_FORMATS: Final = 64
_STATIC: Final[dict[int, str]] = {0: "PCMU", 8: "PCMA"}
_DIRECTIONS: Final = ("sendrecv", "sendonly", "recvonly", "inactive")
_REVERSE: Final = {"sendrecv": "sendrecv", "sendonly": "recvonly",
                   "recvonly": "sendonly", "inactive": "inactive"}


@dataclass(frozen=True)
class SdpError:
    """A session description we cannot use, and why (for the log and a 488 reason)."""

    reason: str

    def __str__(self) -> str:
        return f"sdp: {self.reason}"


@dataclass(frozen=True)
class MediaDescription:
    """One m= section."""

    kind: str
    """"audio", "video", ..."""
    port: int
    proto: str
    formats: tuple[str, ...]
    """Payload formats in the offerer's order of preference."""
    rtpmap: dict[int, str] = field(default_factory=dict)
    """Payload type -> "encoding/rate" upper-cased, e.g. "TELEPHONE-EVENT/8000"."""
    fmtp: dict[int, str] = field(default_factory=dict)
    address: str | None = None
    """This section's c= address, if it has its own."""
    direction: str | None = None


@dataclass(frozen=True)
class SessionDescription:
    """A parsed SDP body."""

    address: str | None
    """The session-level c= address."""
    media: tuple[MediaDescription, ...]
    direction: str = "sendrecv"


@dataclass(frozen=True)
class Answer:
    """What was agreed for the call's audio, and the SDP that says so."""

    codec: Codec
    payload_type: int
    telephone_event: int | None
    """The peer's payload type for RFC 4733 events, None if it offered none."""
    remote_address: str
    remote_port: int
    direction: str
    """Our direction (the reverse of the offer's)."""
    sdp: str
    session_id: int = 0
    version: int = 0
    """The o= line's session version (one more in each new answer of the session)."""

    @property
    def sending(self) -> bool:
        """Whether we may send media: not while the peer holds the call (our direction
        recvonly or inactive, or the RFC 2543 hold address 0.0.0.0)."""
        return (self.direction in ("sendrecv", "sendonly")
                and self.remote_address not in ("0.0.0.0", "::"))


def parse_sdp(body: bytes | str) -> SessionDescription | SdpError:
    """An SDP body to its description, or an error value; never raises on bad input."""
    if len(body) > MAX_BYTES:
        return SdpError(f"{len(body)} bytes, over the {MAX_BYTES}-byte limit")
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return SdpError("not UTF-8")
    lines = [line.rstrip("\r") for line in body.split("\n") if line.strip()]
    if len(lines) > MAX_LINES:
        return SdpError(f"{len(lines)} lines, over the {MAX_LINES}-line limit")
    if not lines or lines[0] != "v=0":
        return SdpError("does not start with v=0")
    session: dict[str, str | None] = {"address": None, "direction": "sendrecv"}
    sections: list[list[tuple[str, str]]] = []
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            return SdpError(f"line {line[:40]!r} is not type=value")
        kind, value = line[0], line[2:]
        if kind == "m":
            if len(sections) == MAX_MEDIA:
                return SdpError(f"more than {MAX_MEDIA} media sections")
            sections.append([])
        if sections:
            sections[-1].append((kind, value))
        elif kind == "c":
            address = _connection(value)
            if isinstance(address, SdpError):
                return address
            session["address"] = address
        elif kind == "a" and value in _DIRECTIONS:
            session["direction"] = value
    media = []
    for section in sections:
        parsed = _media(section)
        if isinstance(parsed, SdpError):
            return parsed
        media.append(parsed)
    return SessionDescription(session["address"], tuple(media),
                              session["direction"] or "sendrecv")


def _connection(value: str) -> str | SdpError:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        return SdpError(f"c= line {value[:60]!r} is not IN IP4/IP6 address")
    try:
        address = ipaddress.ip_address(parts[2].split("/")[0])
    except ValueError:
        return SdpError(f"c= address {parts[2][:60]!r} is not an IP address")
    return str(address)


def _media(section: list[tuple[str, str]]) -> MediaDescription | SdpError:
    parts = section[0][1].split()
    if (len(parts) < 4 or not (parts[1].isascii() and parts[1].isdigit())
            or int(parts[1]) > 65535):
        return SdpError(f"m= line {section[0][1][:60]!r} is not kind port proto formats")
    if len(parts) - 3 > MAX_FORMATS:
        return SdpError(f"more than {MAX_FORMATS} formats in one m= line")
    rtpmap: dict[int, str] = {}
    fmtp: dict[int, str] = {}
    address: str | None = None
    direction: str | None = None
    for kind, value in section[1:]:
        if kind == "c":
            found = _connection(value)
            if isinstance(found, SdpError):
                return found
            address = found
        elif kind == "a" and value in _DIRECTIONS:
            direction = value
        elif kind == "a" and value.startswith(("rtpmap:", "fmtp:")):
            name, _, rest = value.partition(":")
            pt, _, text = rest.partition(" ")
            if not (pt.isascii() and pt.isdigit()) or int(pt) > 127:
                return SdpError(f"a={name} payload type {pt[:20]!r} is not 0-127")
            target = rtpmap if name == "rtpmap" else fmtp
            target[int(pt)] = text.strip().upper() if name == "rtpmap" else text.strip()
    return MediaDescription(parts[0], int(parts[1]), parts[2], tuple(parts[3:]), rtpmap,
                            fmtp, address, direction)


def _encoding(media: MediaDescription, fmt: str) -> tuple[int, str] | None:
    if not (fmt.isascii() and fmt.isdigit()) or int(fmt) > 127:
        return None
    pt = int(fmt)
    name = media.rtpmap.get(pt)
    if name is None:
        return (pt, _STATIC[pt]) if pt in _STATIC else None
    encoding, _, rate = name.partition("/")
    return (pt, encoding) if rate.split("/")[0] == "8000" else None


def answer_offer(offer: SessionDescription, *, address: str, port: int, session_id: int,
                 codecs: tuple[Codec, ...] = ("PCMU", "PCMA"),
                 version: int | None = None) -> Answer | SdpError:
    """Choose the audio codec in the offer's preference order and write the answer."""
    chosen: tuple[int, MediaDescription, int, Codec, int | None] | None = None
    for index, media in enumerate(offer.media):
        if media.kind != "audio" or media.port == 0 or media.proto != "RTP/AVP":
            continue
        encodings = [e for e in (_encoding(media, f) for f in media.formats) if e]
        voice = next(((pt, name) for pt, name in encodings if name in codecs), None)
        if voice is None:
            continue
        event = next((pt for pt, name in encodings if name == "TELEPHONE-EVENT"), None)
        chosen = (index, media, voice[0], "PCMU" if voice[1] == "PCMU" else "PCMA", event)
        break
    if chosen is None:
        return SdpError(f"no RTP/AVP audio stream offering {' or '.join(codecs)} at 8000 Hz")
    index, media, pt, codec, event = chosen
    remote = media.address or offer.address
    if remote is None:
        return SdpError("no c= address for the audio stream")
    direction = _REVERSE[media.direction or offer.direction]
    formats = [str(pt)] + ([str(event)] if event is not None else [])
    audio = [f"m=audio {port} RTP/AVP {' '.join(formats)}", f"a=rtpmap:{pt} {codec}/8000"]
    if event is not None:
        audio += [f"a=rtpmap:{event} telephone-event/8000", f"a=fmtp:{event} 0-15"]
    audio += ["a=ptime:20", f"a={direction}"]
    version = session_id if version is None else version
    lines = _session_lines(address, session_id, version)
    for i, other in enumerate(offer.media):
        lines += audio if i == index else [f"m={other.kind} 0 {other.proto} "
                                           f"{' '.join(other.formats)}"]
    return Answer(codec, pt, event, remote, media.port, direction,
                  "\r\n".join(lines) + "\r\n", session_id, version)


def reanswer(current: Answer, body: bytes | str, *, address: str, port: int) -> Answer | SdpError:
    """A re-INVITE's offer in an answered call → the new answer on the same stream (same
    address and port of ours, the o= version one more). The call's codec must still be
    offered (no codec change mid-call: an error value, so 488 and the call goes on); the
    peer's address, port, event type and direction (hold: sendonly/inactive) may change."""
    offer = parse_sdp(body)
    if isinstance(offer, SdpError):
        return offer
    return answer_offer(offer, address=address, port=port, session_id=current.session_id,
                        codecs=(current.codec,), version=current.version + 1)


def _session_lines(address: str, session_id: int, version: int | None = None) -> list[str]:
    family = "IP6" if ":" in address else "IP4"
    version = session_id if version is None else version
    return ["v=0", f"o=ivr {session_id} {version} IN {family} {address}", "s=ivr",
            f"c=IN {family} {address}", "t=0 0"]


def build_offer(*, address: str, port: int, session_id: int,
                codecs: tuple[Codec, ...] = ("PCMU", "PCMA"), telephone_event: int = 101) -> str:
    """An offer for one audio stream (a second leg, or a test caller)."""
    pts = [{"PCMU": 0, "PCMA": 8}[c] for c in codecs]
    lines = _session_lines(address, session_id)
    lines.append(f"m=audio {port} RTP/AVP {' '.join(map(str, [*pts, telephone_event]))}")
    lines += [f"a=rtpmap:{pt} {codec}/8000" for pt, codec in zip(pts, codecs, strict=True)]
    lines += [f"a=rtpmap:{telephone_event} telephone-event/8000",
              f"a=fmtp:{telephone_event} 0-15", "a=ptime:20", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"
